"""Behaviour of the Azure Quantum data-plane simulator over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.simulator import PRESETS, SimulatorServer, supported_names
from devtools.simulator.versions import SUPPORTED

NEW = "2026-01-15-preview"
OLD = "2024-10-01-preview"
OLD_VERSIONS = [v.name for v in SUPPORTED if not v.cancel_by_post]
NEW_VERSIONS = [v.name for v in SUPPORTED if v.cancel_by_post]
TERMINAL = {"Succeeded", "Failed", "Cancelled", "Completed"}
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Api:
    """A tiny client for the tests: adds the token and api-version."""

    sim: SimulatorServer
    token: str

    def call(
        self,
        method: str,
        url: str,
        api_version: str | None = NEW,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        params = dict(kwargs.pop("params", {}))
        if api_version is not None:
            params["api-version"] = api_version
        merged = {"Authorization": f"Bearer {self.token}"}
        merged.update(headers or {})
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, url, params=params, headers=merged, timeout=10, **kwargs)

    def get(self, job_id: str, api_version: str = NEW) -> requests.Response:
        return self.call("GET", self.sim.job_url(job_id), api_version)

    def status(self, job_id: str, api_version: str = NEW) -> str:
        response = self.get(job_id, api_version)
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    def cancel(self, job_id: str, api_version: str = NEW) -> requests.Response:
        if api_version in NEW_VERSIONS:
            return self.call("POST", self.sim.job_url(job_id) + ":cancel", api_version)
        return self.call("DELETE", self.sim.job_url(job_id), api_version)

    def create(
        self,
        job_id: str,
        api_version: str = NEW,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> requests.Response:
        body: dict[str, Any] = {
            "containerUri": "https://store.blob.core.windows.net/c",
            "name": "job",
            "providerId": "quantinuum",
            "target": "quantinuum.sim.h2-1e",
            "itemType": "Job",
        }
        body.update(fields)
        body.update(extra or {})
        return self.call("PUT", self.sim.job_url(job_id), api_version, json=body)


@pytest.fixture
def api(simulator: SimulatorServer, sim_token: str) -> Api:
    return Api(simulator, sim_token)


def new_id() -> str:
    return str(uuid.uuid4())


def run_to_end(api: Api, job_id: str, limit: int = 30) -> list[str]:
    """GET until terminal, advancing the manual clock between reads; returns the statuses."""
    seen = []
    for _ in range(limit):
        seen.append(api.status(job_id))
        if seen[-1] in TERMINAL:
            return seen
        api.sim.clock.advance(4000)
    return seen


# -- Jobs_Create / Jobs_Get ------------------------------------------------------------------
def test_create_answers_201_then_200_and_owns_server_fields(api: Api) -> None:
    job_id = new_id()
    first = api.create(
        job_id, status="Succeeded", creationTime="1999-01-01T00:00:00Z", metadata={"k": "v"}
    )
    assert first.status_code == 201
    body = first.json()
    assert body["id"] == job_id and body["status"] == "Waiting"
    assert body["metadata"] == {"k": "v"} and body["creationTime"] != "1999-01-01T00:00:00Z"
    assert "cancellationTime" not in body
    again = api.create(job_id, name="renamed")
    assert again.status_code == 200 and again.json()["name"] == "renamed"


@pytest.mark.parametrize("missing", ["containerUri", "name", "providerId", "target", "itemType"])
def test_create_rejects_missing_required_fields(api: Api, missing: str) -> None:
    response = api.create(new_id(), extra={missing: None})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingRequiredProperty"
    assert response.json()["error"]["target"] == missing


def test_create_rejects_bad_bodies(api: Api) -> None:
    url = api.sim.job_url(new_id())
    garbage = api.call("PUT", url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "InvalidRequestBody"
    assert api.create(new_id(), itemType="Session").status_code == 400
    mismatch = api.create(new_id(), id=new_id())
    assert mismatch.status_code == 400 and mismatch.json()["error"]["target"] == "id"


def test_default_lifecycle_runs_on_the_clock(api: Api) -> None:
    job_id = new_id()
    api.create(job_id)
    assert api.status(job_id) == "Waiting"
    running = api.get(job_id).json()
    assert running["status"] == "Executing" and "beginExecutionTime" in running
    api.sim.clock.advance(299)
    assert api.status(job_id) == "Executing"
    api.sim.clock.advance(1)
    done = api.get(job_id).json()
    assert done["status"] == "Succeeded" and "endExecutionTime" in done
    assert "cancellationTime" not in done
    assert api.sim.job_state(job_id)["counters"]["reads"] == 4


@pytest.mark.parametrize("version", supported_names())
def test_every_version_serves_get(api: Api, version: str) -> None:
    job_id = api.sim.seed_job()
    response = api.get(job_id, version)
    assert response.status_code == 200 and response.json()["status"] == "Waiting"


def test_old_versions_report_the_nearest_old_status(api: Api) -> None:
    job_id = api.sim.seed_job(lifecycle="queued-finishing")
    assert api.status(job_id, OLD) == "Waiting"  # Queued
    api.sim.clock.advance(300)
    assert api.status(job_id, NEW) == "Finishing"
    assert api.status(job_id, OLD) == "Executing"  # Finishing
    completed = api.sim.seed_job(lifecycle="already-completed")
    assert api.status(completed, OLD) == "Succeeded"
    assert api.status(completed, NEW) == "Completed"
    paused = api.sim.seed_job(lifecycle=[["Paused", {}]])
    assert api.status(paused, OLD) == "Paused"  # unknown values pass through


# -- cancel and delete ---------------------------------------------------------------------
@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_delete_cancels_under_old_versions(api: Api, version: str) -> None:
    job_id = api.sim.seed_job()
    response = api.call("DELETE", api.sim.job_url(job_id), version)
    assert response.status_code == 204 and response.content == b""
    assert "Content-Length" not in response.headers or response.headers["Content-Length"] == "0"
    state = api.sim.job_state(job_id)
    assert not state["deleted"] and state["counters"]["cancelRequests"] == 1
    assert run_to_end(api, job_id)[-1] == "Cancelled"
    details = api.get(job_id).json()
    assert details["cancellationTime"] and details["endExecutionTime"]


@pytest.mark.parametrize("version", NEW_VERSIONS)
def test_post_cancel_answers_204_without_body_by_default(api: Api, version: str) -> None:
    job_id = api.sim.seed_job()
    response = api.call("POST", api.sim.job_url(job_id) + ":cancel", version)
    assert response.status_code == 204 and response.content == b""
    assert api.status(job_id, version) == "CancellationRequested"


def test_post_cancel_answers_200_with_body_when_configured(api: Api) -> None:
    api.sim.set_options(cancelResponse=200)
    job_id = api.sim.seed_job()
    response = api.cancel(job_id)
    assert response.status_code == 200
    assert response.json()["status"] == "CancellationRequested"
    assert response.json()["id"] == job_id


@pytest.mark.parametrize("version", NEW_VERSIONS)
def test_delete_really_deletes_under_new_versions(api: Api, version: str) -> None:
    job_id = api.sim.seed_job()
    assert api.call("DELETE", api.sim.job_url(job_id), version).status_code == 204
    missing = api.get(job_id, version)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "JobNotFound"
    state = api.sim.job_state(job_id)
    assert state["deleted"] and state["counters"]["deletes"] == 1
    assert state["counters"]["cancelRequests"] == 0


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_post_cancel_does_not_exist_in_old_versions(api: Api, version: str) -> None:
    job_id = api.sim.seed_job()
    response = api.call("POST", api.sim.job_url(job_id) + ":cancel", version)
    assert response.status_code == 404
    assert response.headers["x-ms-error-code"] == response.json()["error"]["code"]
    assert api.sim.job_state(job_id)["counters"]["cancelRequests"] == 0


@pytest.mark.parametrize(
    "preset", ["already-succeeded", "already-failed", "already-cancelled", "already-completed"]
)
@pytest.mark.parametrize("version", [OLD, NEW])
def test_cancel_of_a_finished_job_is_409(api: Api, preset: str, version: str) -> None:
    job_id = api.sim.seed_job(lifecycle=preset)
    response = api.cancel(job_id, version)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "InvalidJobState" == response.headers["x-ms-error-code"]
    assert "already finished" in error["message"]


def test_repeated_cancel_is_idempotent_and_counted(api: Api) -> None:
    job_id = api.sim.seed_job(lifecycle="stuck-cancelling")
    assert api.cancel(job_id).status_code == 204
    api.status(job_id)
    assert api.cancel(job_id).status_code == 204
    assert api.cancel(job_id, OLD).status_code == 204
    counters = api.sim.job_state(job_id)["counters"]
    assert counters["cancelRequests"] == 3 and counters["repeatedCancels"] == 2


def test_unknown_job_is_404_for_every_operation(api: Api) -> None:
    job_id = new_id()
    for response in (
        api.get(job_id),
        api.cancel(job_id),
        api.cancel(job_id, OLD),
        api.call("DELETE", api.sim.job_url(job_id), NEW),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "JobNotFound"


# -- lifecycles ----------------------------------------------------------------------------
PRESET_ENDINGS: dict[str, tuple[bool, str, bool]] = {
    # preset: (cancel after the first read?, final status, cancellationTime set?)
    "default": (True, "Cancelled", True),
    "slow-cancel": (True, "Cancelled", True),
    "loses-race-succeeded": (True, "Succeeded", False),
    "loses-race-failed": (True, "Failed", False),
    "executing-after-cancel": (True, "Cancelled", True),
    "queued-finishing": (False, "Succeeded", False),
    "completed": (False, "Completed", False),
    "unknown-status": (False, "Succeeded", False),
    "already-succeeded": (False, "Succeeded", False),
    "already-failed": (False, "Failed", False),
    "already-cancelled": (False, "Cancelled", True),
    "already-completed": (False, "Completed", False),
}


def test_every_preset_is_covered() -> None:
    assert set(PRESETS) == set(PRESET_ENDINGS) | {"stuck-cancelling"}


@pytest.mark.parametrize("preset", sorted(PRESET_ENDINGS))
def test_each_preset_reaches_its_end(api: Api, preset: str) -> None:
    cancel, final, cancelled_time = PRESET_ENDINGS[preset]
    job_id = api.sim.seed_job(lifecycle=preset)
    api.status(job_id)
    if cancel:
        assert api.cancel(job_id).status_code == 204
    seen = run_to_end(api, job_id)
    assert seen[-1] == final, seen
    details = api.get(job_id).json()
    assert ("cancellationTime" in details) is cancelled_time
    assert "endExecutionTime" in details
    if preset == "unknown-status":
        assert "Paused" in seen
    if preset == "executing-after-cancel":
        assert seen[:3] == ["Executing"] * 3 and "Cancelling" in seen


def test_stuck_cancelling_never_ends(api: Api) -> None:
    job_id = api.sim.seed_job(lifecycle="stuck-cancelling")
    api.cancel(job_id)
    seen = run_to_end(api, job_id, limit=8)
    assert seen[-1] == "Cancelling" and seen[0] == "CancellationRequested"


def test_slow_cancel_takes_its_seconds(api: Api) -> None:
    job_id = api.sim.seed_job(lifecycle="slow-cancel", lifecycle_params={"slowCancelSeconds": 1800})
    api.cancel(job_id)
    assert api.status(job_id) == "CancellationRequested"
    api.sim.clock.advance(1799)
    assert api.status(job_id) == "Cancelling"
    api.sim.clock.advance(1)
    assert api.status(job_id) == "Cancelled"


def test_cancel_during_finishing_loses_the_race(api: Api) -> None:
    job_id = api.sim.seed_job(lifecycle="queued-finishing")
    assert api.status(job_id) == "Queued"
    api.sim.clock.advance(300)
    assert api.status(job_id) == "Finishing"
    assert api.cancel(job_id).status_code == 204
    assert run_to_end(api, job_id) == ["Finishing", "Succeeded"]


def test_custom_scripts_through_the_control_api(api: Api) -> None:
    job_id = new_id()
    seeded = requests.post(
        f"{api.sim.url}/_simulator/jobs",
        timeout=5,
        json={
            "jobId": job_id,
            "lifecycle": {
                "before": [
                    ["Queued", {"reads": 2}],
                    ["Executing", {"seconds": 10}],
                    ["Succeeded", {}],
                ],
                "after": [["Cancelling", {"reads": 1}], ["Cancelled", {}]],
            },
            "details": {"name": "custom"},
        },
    )
    assert seeded.status_code == 201 and seeded.json()["details"]["name"] == "custom"
    assert [api.status(job_id) for _ in range(3)] == ["Queued", "Queued", "Executing"]
    api.cancel(job_id)
    assert [api.status(job_id) for _ in range(2)] == ["Cancelling", "Cancelled"]
    created = new_id()
    api.create(created)
    changed = requests.put(
        f"{api.sim.url}/_simulator/jobs/{created}/lifecycle",
        timeout=5,
        json={"lifecycle": "already-failed"},
    )
    assert changed.status_code == 200 and api.status(created) == "Failed"
    bad = requests.post(
        f"{api.sim.url}/_simulator/jobs", timeout=5, json={"lifecycle": [["Queued", {"reads": 0}]]}
    )
    assert bad.status_code == 400


def test_default_lifecycle_and_executing_seconds_options(api: Api) -> None:
    api.sim.set_options(defaultLifecycle="completed", executingSeconds=5)
    job_id = new_id()
    api.create(job_id)
    api.status(job_id)
    api.sim.clock.advance(5)
    assert api.status(job_id) == "Completed"


# -- auth, api-version, paths --------------------------------------------------------------
def test_auth_is_required(api: Api) -> None:
    job_id = api.sim.seed_job()
    url = api.sim.job_url(job_id)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = requests.get(url, params={"api-version": NEW}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "AuthenticationFailed"
    wrong = requests.get(
        url,
        params={"api-version": NEW},
        timeout=5,
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert wrong.status_code == 401
    assert wrong.headers["x-ms-error-code"] == "InvalidAuthenticationToken"
    api.sim.set_options(token=None)
    anything = requests.get(
        url, params={"api-version": NEW}, timeout=5, headers={"Authorization": "Bearer whatever"}
    )
    assert anything.status_code == 200
    assert api.sim.job_state(job_id)["counters"]["reads"] == 1


def test_api_version_is_required_and_checked(api: Api) -> None:
    job_id = api.sim.seed_job()
    missing = api.call("GET", api.sim.job_url(job_id), api_version=None)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    unsupported = api.get(job_id, "2021-01-01")
    assert unsupported.status_code == 400
    error = unsupported.json()["error"]
    assert error["code"] == "UnsupportedApiVersion"
    assert all(name in error["message"] for name in supported_names())


BAD_PATHS = {
    "subscriptionId": (
        "/subscriptions/11111111-2222-3333-4444-55555555555A/resourceGroups/rg"
        "/providers/Microsoft.Quantum/workspaces/ws/jobs/{job}"
    ),
    "resourceGroupName": (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/"
        "1rg/providers/Microsoft.Quantum/workspaces/ws/jobs/{job}"
    ),
    "workspaceName": (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/"
        "providers/Microsoft.Quantum/workspaces/w/jobs/{job}"
    ),
    "jobId": (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/"
        "providers/Microsoft.Quantum/workspaces/ws/jobs/not-a-guid"
    ),
}


@pytest.mark.parametrize("parameter", sorted(BAD_PATHS))
def test_path_parameters_follow_the_spec_patterns(api: Api, parameter: str) -> None:
    path = BAD_PATHS[parameter].format(job=new_id())
    response = api.call("GET", api.sim.url + path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter" and error["target"] == parameter
    assert parameter in error["message"]


def test_encoded_slash_stays_inside_its_segment(api: Api) -> None:
    path = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg%2Fevil/"
        f"providers/Microsoft.Quantum/workspaces/ws/jobs/{new_id()}"
    )
    response = api.call("GET", api.sim.url + path)
    assert response.status_code == 400
    assert response.json()["error"]["target"] == "resourceGroupName"
    encoded_ok = api.sim.seed_job(resource_group="rg.a")
    ok = api.call("GET", api.sim.job_url(encoded_ok, resource_group="rg%2Ea"))
    assert ok.status_code == 200


def test_fixed_segments_match_case_insensitively(api: Api) -> None:
    job_id = api.sim.seed_job()
    url = (
        api.sim.job_url(job_id)
        .replace("/resourceGroups/", "/RESOURCEGROUPS/")
        .replace("Microsoft.Quantum", "microsoft.quantum")
        .replace("RG-QUANTUM", "rg-quantum")
    )
    assert api.call("GET", url.replace("rg-quantum", "RG-Quantum")).status_code == 200


def test_unknown_paths_and_wrong_verbs(api: Api) -> None:
    job_id = api.sim.seed_job()
    unknown = api.call("GET", api.sim.job_url(job_id) + "/outputs")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NotFound"
    assert api.call("GET", api.sim.url + "/nothing").status_code == 404
    for method, url in (
        ("PATCH", api.sim.job_url(job_id)),
        ("POST", api.sim.jobs_url()),
        ("GET", api.sim.job_url(job_id) + ":cancel"),
    ):
        response = api.call(method, url)
        assert response.status_code == 405, (method, url)
        assert response.json()["error"]["code"] == "MethodNotAllowed"
        assert response.headers["Allow"]


# -- Jobs_List -----------------------------------------------------------------------------
def test_list_pages_with_a_next_link_followed_verbatim(api: Api, sim_token: str) -> None:
    api.sim.set_options(pageSize=4)
    ids = []
    for _ in range(10):
        ids.append(api.sim.seed_job())
        api.sim.clock.advance(1)
    url: str | None = api.sim.jobs_url() + f"?api-version={OLD}&orderby=creationTime%20desc"
    seen: list[str] = []
    pages = 0
    while url:
        response = requests.get(url, headers={"Authorization": f"Bearer {sim_token}"}, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["id"] for item in body["value"])
        url = body.get("nextLink")
        if url:
            assert url.startswith(api.sim.url) and f"api-version={OLD}" in url
        pages += 1
    assert pages == 3 and seen == list(reversed(ids))


def test_list_filters_by_status_and_honours_top_and_skip(api: Api) -> None:
    done = [api.sim.seed_job(lifecycle="already-succeeded") for _ in range(3)]
    failed = api.sim.seed_job(lifecycle="already-failed")
    api.sim.seed_job()  # Waiting
    other_ws = api.sim.seed_job(workspace="ws-other", lifecycle="already-succeeded")
    one = api.call("GET", api.sim.jobs_url(), params={"filter": "status eq 'Succeeded'"})
    assert sorted(item["id"] for item in one.json()["value"]) == sorted(done)
    assert other_ws not in one.text
    both = api.call(
        "GET", api.sim.jobs_url(), params={"filter": "status eq 'Succeeded' or status eq 'Failed'"}
    )
    assert len(both.json()["value"]) == 4 and failed in both.text
    # top sizes a page (as the SDK uses it): the rest follows through nextLink, top kept.
    window = api.call("GET", api.sim.jobs_url(), params={"top": "2", "skip": "1"})
    assert [item["id"] for item in window.json()["value"]] == done[1:3]
    assert "skip=3" in window.json()["nextLink"] and "top=2" in window.json()["nextLink"]


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "name eq 'x'"},
        {"filter": "status ne 'A'"},
        {"filter": "State eq 'Executing' and"},
        {"filter": "(State eq 'Executing'"},
        {"filter": "startswith(Target, 'x')"},
        {"filter": "CreationTime eq 2026-01-01"},
        {"filter": "CreationTime ge 'yesterday'"},
        {"filter": ""},
        {"orderby": "cost"},
        {"orderby": "Name sideways"},
        {"top": "0"},
        {"skip": "-1"},
    ],
)
def test_list_rejects_unsupported_queries(api: Api, params: dict[str, str]) -> None:
    response = api.call("GET", api.sim.jobs_url(), params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidParameter"


# -- faults --------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_http_error_faults(api: Api, status: int) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "httpStatus": status})
    faulted = api.get(job_id)
    assert faulted.status_code == status
    assert faulted.headers["x-ms-error-code"] == faulted.json()["error"]["code"]
    assert api.get(job_id).status_code == 200  # count consumed
    assert api.sim.job_state(job_id)["counters"]["reads"] == 1


def test_retry_after_in_seconds_and_http_date(api: Api) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "httpStatus": 503, "retryAfter": 7})
    api.sim.add_fault(
        {
            "operation": "Jobs_Get",
            "count": 1,
            "httpStatus": 429,
            "retryAfter": 30,
            "retryAfterFormat": "http-date",
        }
    )
    first = api.get(job_id)
    assert first.status_code == 503 and first.headers["Retry-After"] == "7"
    second = api.get(job_id)
    assert second.status_code == 429
    when = parsedate_to_datetime(second.headers["Retry-After"])
    assert 20 < when.timestamp() - time.time() <= 31


def test_before_fault_stops_the_cancel_and_after_fault_does_not(api: Api) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Cancel", "count": 1, "httpStatus": 503})
    assert api.cancel(job_id).status_code == 503
    assert api.sim.job_state(job_id)["counters"]["cancelRequests"] == 0
    api.sim.add_fault({"operation": "Jobs_Cancel", "count": 1, "after": True, "effect": "drop"})
    with pytest.raises(requests.ConnectionError):
        api.cancel(job_id)
    state = api.sim.job_state(job_id)
    assert state["counters"]["cancelRequests"] == 1 and state["status"] == ("CancellationRequested")
    entry = api.sim.requests()[-1]
    assert entry["status"] is None and entry["fault"]["effect"] == "drop"
    assert entry["fault"]["after"] is True


@pytest.mark.parametrize("effect", ["drop", "reset"])
def test_connection_faults_surface_as_connection_errors(api: Api, effect: str) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Get", "jobId": job_id, "count": 1, "effect": effect})
    with pytest.raises(requests.ConnectionError):
        api.get(job_id)
    assert api.get(job_id).status_code == 200


def test_delay_fault_is_a_real_sleep(api: Api) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "delaySeconds": 0.3})
    started = time.monotonic()
    assert api.get(job_id).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "delaySeconds": 0.5})
        requests.get(
            api.sim.job_url(job_id),
            params={"api-version": NEW},
            timeout=0.1,
            headers={"Authorization": f"Bearer {api.token}"},
        )


def test_body_faults(api: Api) -> None:
    job_id = api.sim.seed_job()
    api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "effect": "malformedJson"})
    api.sim.add_fault({"operation": "Jobs_Get", "count": 1, "effect": "missingStatus"})
    api.sim.add_fault(
        {"operation": "Jobs_Get", "count": 1, "effect": "statusOverride", "jobStatus": "Paused"}
    )
    garbled = api.get(job_id)
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        json.loads(garbled.text)
    missing = api.get(job_id)
    assert missing.status_code == 200 and "status" not in missing.json()
    assert api.get(job_id).json()["status"] == "Paused"
    # Before-faults: none of the three counted as a read.
    assert api.sim.job_state(job_id)["counters"]["reads"] == 0
    listed = api.sim.add_fault({"operation": "Jobs_List", "count": 1, "effect": "missingStatus"})
    assert listed["id"]
    assert all("status" not in item for item in api.call("GET", api.sim.jobs_url()).json()["value"])


def test_fault_targeting_and_probability(api: Api) -> None:
    hit, miss = api.sim.seed_job(), api.sim.seed_job()
    api.sim.add_fault({"operation": "any", "jobId": hit, "httpStatus": 500})
    assert api.get(hit).status_code == 500 and api.get(hit).status_code == 500
    assert api.get(miss).status_code == 200
    api.sim.clear_faults()
    api.sim.add_fault({"operation": "Jobs_Get", "probability": 0.0, "httpStatus": 500})
    assert all(api.get(miss).status_code == 200 for _ in range(5))
    api.sim.clear_faults()

    def pattern() -> list[int]:
        api.sim.set_options(randomSeed=42)
        api.sim.clear_faults()
        api.sim.add_fault({"operation": "Jobs_Get", "probability": 0.5, "httpStatus": 503})
        return [api.get(miss).status_code for _ in range(12)]

    first, second = pattern(), pattern()
    assert first == second and {200, 503} == set(first)


def test_bad_fault_rules_are_rejected(api: Api) -> None:
    for rule in (
        {"operation": "Jobs_Explode"},
        {"effect": "teleport"},
        {"count": 1, "probability": 0.5},
        {"httpStatus": 200},
        {"effect": "statusOverride"},
        {"delaySeconds": 999},
    ):
        response = requests.post(f"{api.sim.url}/_simulator/faults", json=rule, timeout=5)
        assert response.status_code == 400, rule


# -- request log, headers, redirect --------------------------------------------------------
def test_request_log_records_requests_but_never_the_token(api: Api, sim_token: str) -> None:
    job_id = api.sim.seed_job()
    api.call("GET", api.sim.job_url(job_id), headers={"x-ms-client-request-id": "client-1"})
    api.cancel(job_id, OLD)
    requests.get(api.sim.job_url(job_id), params={"api-version": NEW}, timeout=5)
    entries = api.sim.requests()
    assert [e["operation"] for e in entries] == ["Jobs_Get", "Jobs_Cancel", "Jobs_Get"]
    first = entries[0]
    assert first["method"] == "GET" and first["path"].endswith(f"/jobs/{job_id}")
    assert first["apiVersion"] == NEW and first["jobId"] == job_id
    assert first["status"] == 200 and first["fault"] is None
    assert first["clientRequestId"] == "client-1" and first["time"].endswith("Z")
    assert isinstance(first["monotonic"], float)
    assert entries[1]["method"] == "DELETE" and entries[1]["status"] == 204
    assert entries[2]["status"] == 401 and entries[2]["authPresent"] is False
    over_http = requests.get(f"{api.sim.url}/_simulator/requests", timeout=5).text
    for text in (json.dumps(entries), over_http):
        assert sim_token not in text and "Bearer" not in text
    assert requests.delete(f"{api.sim.url}/_simulator/requests", timeout=5).status_code == 204
    assert api.sim.requests() == []


def test_request_log_keeps_the_raw_path(api: Api) -> None:
    path = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg%2Fx/"
        f"providers/Microsoft.Quantum/workspaces/ws/jobs/{new_id()}"
    )
    api.call("GET", api.sim.url + path)
    assert api.sim.requests()[-1]["path"] == path


def test_request_ids_and_client_request_id_echo(api: Api) -> None:
    job_id = api.sim.seed_job()
    asked = {"x-ms-client-request-id": "abc-123", "x-ms-return-client-request-id": "true"}
    echoed = api.call("GET", api.sim.job_url(job_id), headers=asked)
    assert echoed.headers["x-ms-client-request-id"] == "abc-123"
    silent = api.call("GET", api.sim.job_url(job_id), headers={"x-ms-client-request-id": "x"})
    assert "x-ms-client-request-id" not in silent.headers
    uuid.UUID(echoed.headers["x-ms-request-id"])
    plain = api.get(new_id())
    assert "x-ms-client-request-id" not in plain.headers
    assert plain.headers["x-ms-request-id"] != echoed.headers["x-ms-request-id"]


def test_redirect_switch(api: Api) -> None:
    job_id = api.sim.seed_job()
    api.sim.set_redirect(job_id)
    response = api.get(job_id)
    assert response.status_code == 307
    location = response.headers["Location"]
    assert location.startswith("https://") and "127.0.0.1" not in location
    assert api.sim.job_state(job_id)["counters"]["reads"] == 0
    custom = requests.put(
        f"{api.sim.url}/_simulator/redirects/{job_id}",
        timeout=5,
        json={"location": "http://127.0.0.2:9/elsewhere"},
    )
    assert custom.status_code == 204
    assert api.get(job_id).headers["Location"] == "http://127.0.0.2:9/elsewhere"
    api.sim.clear_redirect(job_id)
    assert api.get(job_id).status_code == 200


def test_keep_alive_and_exact_lengths(api: Api, sim_token: str) -> None:
    job_id = api.sim.seed_job()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim_token}"
        for _ in range(3):
            got = session.get(api.sim.job_url(job_id), params={"api-version": NEW}, timeout=5)
            assert int(got.headers["Content-Length"]) == len(got.content)
        cancelled = session.post(
            api.sim.job_url(job_id) + ":cancel", params={"api-version": NEW}, timeout=5
        )
        assert cancelled.status_code == 204 and cancelled.content == b""
        again = session.get(api.sim.job_url(job_id), params={"api-version": NEW}, timeout=5)
        assert again.status_code == 200
    assert len({e["seq"] for e in api.sim.requests()}) == 5


# -- control API over HTTP -----------------------------------------------------------------
def test_control_api_over_http(api: Api) -> None:
    base = f"{api.sim.url}/_simulator"
    health = requests.get(f"{base}/health", timeout=5).json()
    assert health["status"] == "ok" and health["supportedApiVersions"] == supported_names()
    options = requests.put(
        f"{base}/options", timeout=5, json={"cancelResponse": 200, "pageSize": 3}
    ).json()
    assert options["cancelResponse"] == 200 and options["pageSize"] == 3
    assert (
        requests.put(f"{base}/options", json={"cancelResponse": 201}, timeout=5).status_code == 400
    )
    seeded = requests.post(
        f"{base}/jobs", timeout=5, json={"lifecycle": "default", "workspaceName": "ws-two"}
    ).json()
    job_id = seeded["jobId"]
    assert seeded["workspaceName"] == "ws-two" and seeded["status"] == "Waiting"
    clock = requests.post(f"{base}/clock", json={"advanceSeconds": 60}, timeout=5).json()
    assert clock["mode"] == "manual" and clock["now"] >= 60
    rule = requests.post(f"{base}/faults", json={"operation": "Jobs_Get", "count": 2}, timeout=5)
    assert rule.status_code == 201
    assert requests.get(f"{base}/faults", timeout=5).json()["faults"][0]["count"] == 2
    assert requests.delete(f"{base}/faults", timeout=5).status_code == 204
    state = requests.get(f"{base}/jobs/{job_id}", timeout=5).json()
    assert state["counters"] == {
        "reads": 0,
        "cancelRequests": 0,
        "repeatedCancels": 0,
        "deletes": 0,
    }
    assert requests.get(f"{base}/jobs/{new_id()}", timeout=5).status_code == 404
    assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    assert requests.post(f"{base}/reset", timeout=5).status_code == 204
    assert requests.get(f"{base}/jobs", timeout=5).json()["jobs"] == []
    assert api.sim.options.cancel_response == 204


def test_real_clock_mode_moves_by_itself(api: Api) -> None:
    api.sim.clock.set_real()
    job_id = api.sim.seed_job(lifecycle=[["Executing", {"seconds": 0.2}], ["Succeeded", {}]])
    assert api.status(job_id) == "Executing"
    time.sleep(0.25)
    assert api.status(job_id) == "Succeeded"


# -- CLI -----------------------------------------------------------------------------------
def test_cli_starts_serves_and_stops_on_sigterm() -> None:
    job_id = new_id()
    seed = f"11111111-2222-3333-4444-555555555555/rg/ws/{job_id}:already-succeeded"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.simulator",
            "--port",
            "0",
            "--token",
            "cli-token",
            "--seed",
            seed,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        job = requests.get(
            f"{url}/subscriptions/11111111-2222-3333-4444-555555555555/"
            f"resourceGroups/rg/providers/Microsoft.Quantum/workspaces/ws/jobs/"
            f"{job_id}",
            params={"api-version": NEW},
            timeout=5,
            headers={"Authorization": "Bearer cli-token"},
        )
        assert job.status_code == 200 and job.json()["status"] == "Succeeded"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_list_filter_grammar_of_the_official_sdk(api: Api) -> None:
    # The shapes azure-quantum's Workspace._create_filter sends, and their nesting.
    sim = api.sim
    running = [
        sim.seed_job(
            details={"name": f"run-{n}", "providerId": "ionq", "target": "ionq.simulator"},
            lifecycle=[["Executing", {}]],
        )
        for n in range(3)
    ]
    other = sim.seed_job(
        details={"name": "keep", "providerId": "quantinuum", "target": "quantinuum.sim.h2-1e"},
        lifecycle=[["Waiting", {}]],
    )
    done = sim.seed_job(
        details={"name": "run-done", "providerId": "ionq"}, lifecycle="already-succeeded"
    )

    def ids(expression: str, **extra: str) -> list[str]:
        response = api.call("GET", sim.jobs_url(), params={"filter": expression, **extra})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["value"]]

    assert ids("(State eq 'Executing')") == running
    assert ids("(State eq 'Executing' or State eq 'Waiting') and (ProviderId eq 'ionq')") == running
    assert ids("(ProviderId eq 'quantinuum') and (Target eq 'quantinuum.sim.h2-1e')") == [other]
    assert ids("startswith(Name, 'run-') and State eq 'Succeeded'") == [done]
    assert ids("ItemType eq 'Job' and JobType eq 'QuantumComputing'") == [*running, other, done]
    assert ids("CreationTime ge 2000-01-01 and CreationTime le 2999-12-31") == [
        *running,
        other,
        done,
    ]
    assert ids("CreationTime ge 2999-01-01") == []
    assert ids("status eq 'Waiting' or status eq 'Succeeded'") == [other, done]  # old spelling
    ordered = ids("ProviderId eq 'ionq'", orderby="Name desc")
    assert ordered == [done, *reversed(running)]


def test_sessions_get_close_and_list_their_jobs(api: Api) -> None:
    sim = api.sim
    session = sim.seed_session()
    inside = [sim.seed_job(details={"sessionId": session}) for _ in range(2)]
    sim.seed_job()  # another job, outside the session
    base = f"{sim.workspace_url()}/sessions/{session}"
    got = api.call("GET", base)
    assert got.status_code == 200 and got.json()["id"] == session
    assert got.json()["status"] == "Executing"
    listed = api.call("GET", f"{base}/jobs")
    assert [item["id"] for item in listed.json()["value"]] == inside
    assert sim.session_state(session) == {"closed": False, "closeRequests": 0}
    closed = api.call("POST", f"{base}:close")
    assert closed.status_code == 200 and closed.json()["itemType"] == "Session"
    assert sim.session_state(session) == {"closed": True, "closeRequests": 1}
    unknown = api.call("GET", f"{sim.workspace_url()}/sessions/{new_id()}")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SessionNotFound"
    legacy = api.call("GET", base, api_version="2024-10-01-preview")
    assert legacy.status_code == 404
