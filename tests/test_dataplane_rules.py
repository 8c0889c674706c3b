"""Pure rules of the data-plane package: versions, endpoint policy, path parameters, errors."""

from __future__ import annotations

import pytest

from dataplane import status
from dataplane.client import retry_after_seconds
from dataplane.endpoint import checked_endpoint, endpoint_problem, resolve_endpoint
from dataplane.errors import (
    EndpointNotAllowed,
    InvalidParameter,
    PermanentServiceError,
    TransientServiceError,
    UnsupportedApiVersion,
    service_error,
)
from dataplane.resources import JobRef, path_parameter_problem
from dataplane.versions import LEGACY_DELETE_CANCEL_VERSIONS, api_version_problem, cancel_request
from tests.support.spec import load_spec

SUB = "0f0e0d0c-0b0a-0908-0706-050403020100"
JOB = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


class TestCancelVerb:
    @pytest.mark.parametrize("version", sorted(LEGACY_DELETE_CANCEL_VERSIONS))
    def test_legacy_versions_cancel_with_delete(self, version: str) -> None:
        request = cancel_request(version)
        assert (request.method, request.path_suffix) == ("DELETE", "")

    @pytest.mark.parametrize(
        "version", ["2025-12-01-preview", "2026-01-15-preview", "2026-08-01-preview", "2027-01-01"]
    )
    def test_new_versions_cancel_with_post(self, version: str) -> None:
        request = cancel_request(version)
        assert (request.method, request.path_suffix) == ("POST", ":cancel")

    @pytest.mark.parametrize(
        "version",
        [
            "2025-06-01-preview",  # in the gap: not a published version
            "2024-12-01-preview",
            "2021-11-01-preview",  # before the supported range
            "2019-11-04-preview",
            "2026-1-15-preview",
            "2026-01-15-Preview",
            "latest",
            "",
            "2026-01-15-preview&x=1",
        ],
    )
    def test_anything_else_is_refused(self, version: str) -> None:
        assert api_version_problem(version)
        with pytest.raises(UnsupportedApiVersion):
            cancel_request(version)

    def test_delete_is_chosen_only_for_the_explicit_legacy_list(self) -> None:
        # Every date form from 2019 to 2030: DELETE only where the list says so.
        for year in range(2019, 2031):
            for month in range(1, 13):
                for suffix in ("", "-preview"):
                    version = f"{year}-{month:02d}-01{suffix}"
                    if api_version_problem(version):
                        continue
                    if cancel_request(version).method == "DELETE":
                        assert version in LEGACY_DELETE_CANCEL_VERSIONS


class TestEndpointPolicy:
    @pytest.mark.parametrize(
        "endpoint",
        [
            "https://westus.quantum.azure.com",
            "https://westus.quantum.azure.com/",
            "https://eastus-v2.quantum.azure.com",
            "HTTPS://WestUS.Quantum.Azure.com",
            "https://westus.quantum.azure.com:443",
        ],
    )
    def test_azure_quantum_hosts_are_allowed(self, endpoint: str) -> None:
        assert endpoint_problem(endpoint, allow_loopback=False) is None
        assert checked_endpoint(endpoint, False).startswith("https://")

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://westus.quantum.azure.com",
            "https://quantum.azure.com.evil.example",
            "https://westus.quantum.azure.com.evil.example",
            "https://evilquantum.azure.com",
            "https://quantum.azure.com",
            "https://westus.quantum.azure.com@evil.example",
            "https://evil.example@westus.quantum.azure.com",
            "https://user:pw@westus.quantum.azure.com",
            "https://evil.example\\@westus.quantum.azure.com",
            "https://westus.quantum.azure.com/path",
            "https://westus.quantum.azure.com?x=1",
            "https://westus.quantum.azure.com#frag",
            "https://westus.quantum.azure.com:8443",
            "https://westus.quantum.azure.com.",
            "https://10.0.0.1",
            "https://[fe80::1]",
            "https://169.254.169.254",
            "http://127.0.0.1:8090",
            "http://localhost:8090",
            "https://westus%2equantum.azure.com",
            "https://w\u0435stus.quantum.azure.com",  # a Cyrillic letter
            "ftp://westus.quantum.azure.com",
            "westus.quantum.azure.com",
            " https://westus.quantum.azure.com",
            "",
        ],
    )
    def test_everything_else_is_refused_without_loopback(self, endpoint: str) -> None:
        assert endpoint_problem(endpoint, allow_loopback=False)
        with pytest.raises(EndpointNotAllowed):
            checked_endpoint(endpoint, False)

    @pytest.mark.parametrize(
        "endpoint", ["http://127.0.0.1:8090", "http://localhost:8090", "http://[::1]:8090"]
    )
    def test_loopback_only_when_allowed(self, endpoint: str) -> None:
        assert endpoint_problem(endpoint, allow_loopback=True) is None
        assert endpoint_problem(endpoint, allow_loopback=False)

    def test_loopback_switch_does_not_open_other_hosts(self) -> None:
        for endpoint in ("http://10.0.0.1:8090", "http://example.com", "http://0.0.0.0:8090"):
            assert endpoint_problem(endpoint, allow_loopback=True)

    def test_resolution_order(self) -> None:
        assert resolve_endpoint(None, "WestUS", None, None, False) == (
            "https://westus.quantum.azure.com"
        )
        assert resolve_endpoint(None, None, None, "eastus", False) == (
            "https://eastus.quantum.azure.com"
        )
        assert resolve_endpoint(None, None, "https://a.quantum.azure.com", "eastus", False) == (
            "https://a.quantum.azure.com"
        )
        assert resolve_endpoint(
            "https://b.quantum.azure.com", None, "https://a.quantum.azure.com", None, False
        ) == ("https://b.quantum.azure.com")
        with pytest.raises(EndpointNotAllowed, match="not both"):
            resolve_endpoint("https://b.quantum.azure.com", "westus", None, None, False)
        with pytest.raises(EndpointNotAllowed, match="no endpoint"):
            resolve_endpoint(None, None, None, None, False)
        with pytest.raises(EndpointNotAllowed):
            resolve_endpoint(None, "evil.example/x", None, None, False)
        with pytest.raises(EndpointNotAllowed):
            resolve_endpoint(None, None, "https://evil.example", None, False)


class TestPathParameters:
    def test_valid_coordinates_build_an_encoded_path(self) -> None:
        job = JobRef.checked(SUB.upper(), "rg.name-1_x", "ws-1", JOB)
        assert job.workspace.subscription_id == SUB
        assert job.path() == (
            f"/subscriptions/{SUB}/resourceGroups/rg.name-1_x/providers/"
            f"Microsoft.Quantum/workspaces/ws-1/jobs/{JOB}"
        )

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("subscriptionId", "not-a-guid"),
            ("subscriptionId", SUB + "/.."),
            ("resourceGroupName", "../../other"),
            ("resourceGroupName", "rg?x=1"),
            ("resourceGroupName", "rg#frag"),
            ("resourceGroupName", "rg%2Fx"),
            ("resourceGroupName", "1rg"),
            ("resourceGroupName", "r" * 91),
            ("resourceGroupName", ""),
            ("resourceGroupName", "rg\n"),
            ("workspaceName", "w"),
            ("workspaceName", "ws.name"),
            ("workspaceName", "w" * 51),
            ("workspaceName", "wś"),
            ("jobId", JOB + "x"),
            ("jobId", "../" + JOB),
            ("jobId", 12),
            ("jobId", None),
        ],
    )
    def test_values_outside_the_spec_are_refused(self, name: str, value: object) -> None:
        assert path_parameter_problem(name, value)
        values: dict[str, object] = {
            "subscriptionId": SUB,
            "resourceGroupName": "rg",
            "workspaceName": "ws",
            "jobId": JOB,
            name: value,
        }
        with pytest.raises(InvalidParameter) as caught:
            JobRef.checked(
                values["subscriptionId"],
                values["resourceGroupName"],
                values["workspaceName"],
                values["jobId"],
            )
        assert caught.value.parameter == name


class TestErrorsAndStatus:
    @pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
    def test_transient_codes(self, code: int) -> None:
        error = service_error("Jobs_Get", code, "Busy", "try later", 3.0)
        assert isinstance(error, TransientServiceError)
        assert error.transient
        assert error.to_info()["retryAfterSeconds"] == 3.0

    @pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 409, 307, 501])
    def test_permanent_codes(self, code: int) -> None:
        error = service_error("Jobs_Cancel", code, "Nope", "no", None)
        assert isinstance(error, PermanentServiceError)
        assert not error.transient
        info = error.to_info()
        assert (info["operation"], info["status"], info["code"]) == ("Jobs_Cancel", code, "Nope")
        assert "Jobs_Cancel" in str(error) and str(code) in str(error)

    def test_retry_after_forms(self) -> None:
        assert retry_after_seconds({"Retry-After": "7"}) == 7.0
        assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=10) == 20
        assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:00:05 GMT"}, now=10) == 0
        assert retry_after_seconds({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
        assert retry_after_seconds({"Retry-After": "soon"}) is None
        assert retry_after_seconds({}) is None

    def test_status_model_is_the_newest_spec_enum(self) -> None:
        enum = load_spec("2026-08-01-preview")["definitions"]["JobStatus"]["enum"]
        assert list(status.KNOWN_STATUSES) == enum

    def test_status_model(self) -> None:
        assert {s for s in status.KNOWN_STATUSES if status.is_terminal(s)} == {
            "Succeeded",
            "Failed",
            "Cancelled",
            "Completed",
        }
        for value in ("Paused", "", None, "cancelled", "CancellationRequested", "Finishing"):
            assert not status.is_terminal(value)
