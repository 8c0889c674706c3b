"""devtools.host as a subprocess: routing, errors, Event Grid, management API, one cancellation.

The full end-to-end suite against the simulator lives elsewhere; this file checks that the
stand-in answers like ``func start`` at its edges, and that one cancellation goes through the
real HTTP function, the Durable client's RPC calls, the engine and the activities.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.simulator import (
    SimulatorServer,
)
from tests.support import host as host_support
from tests.support.e2e import job_body, wait_finished
from tests.support.host import HostProcess, start_host, wait_for

devhost = host_support.devhost  # the fixture factory, made visible to this module

TIMEOUT = 10
UNKNOWN_ID = "cancel-00000000-0000-0000-0000-000000000000-0000000000000000"
Start = Callable[..., HostProcess]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """One host for the edge checks (no data-plane endpoint needed), shared by the module."""
    process = start_host(tmp_path_factory.mktemp("edge-host"))
    yield process
    if process.running:
        process.stop()


def test_unknown_route_is_404_saying_so(host: HostProcess) -> None:
    unknown = requests.get(host.url + "/api/no-such-route", timeout=TIMEOUT)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/problem+json"
    assert unknown.json()["detail"] == (
        "GET /api/no-such-route: no function of the app has this route"
    )
    elsewhere = requests.get(host.url + "/elsewhere", timeout=TIMEOUT)
    assert elsewhere.status_code == 404
    assert "/elsewhere" in elsewhere.json()["detail"]
    assert "under /api/" in elsewhere.json()["detail"]


def test_wrong_method_is_404_like_the_functions_host_and_names_the_methods(
    host: HostProcess,
) -> None:
    response = requests.delete(host.url + "/api/cancel-running-job", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "DELETE /api/cancel-running-job: this route answers GET, POST only"
    )


def test_a_chunked_json_body_is_read(host: HostProcess) -> None:
    def chunks() -> Iterator[bytes]:
        # A generator body makes requests send Transfer-Encoding: chunked.
        yield b'{"subscriptionId": "nope",'
        yield b' "jobId": "not-a-guid"}'

    response = requests.post(host.url + "/api/cancel-running-job", data=chunks(), timeout=TIMEOUT)
    assert response.status_code == 400
    names = {p["name"] for p in response.json()["invalid-params"]}
    # The body was read as JSON: the fields are judged, not "body must be a JSON object".
    assert "body" not in names
    assert {"subscriptionId", "jobId", "resourceGroupName"} <= names


@pytest.mark.parametrize("chunked", [False, True])
def test_an_over_large_body_gets_a_problem_document(host: HostProcess, chunked: bool) -> None:
    from devtools.host.server import MAX_BODY_BYTES

    big = b"x" * (MAX_BODY_BYTES + 1)
    data: Any = iter([big[: len(big) // 2], big[len(big) // 2 :]]) if chunked else big
    response = requests.post(host.url + "/api/cancel-running-job", data=data, timeout=TIMEOUT)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["invalid-params"] == [
        {"name": "body", "reason": f"must be at most {MAX_BODY_BYTES} bytes"}
    ]
    # The app's own limit answers the same kind of document, naming the body.
    app_limit = requests.post(
        host.url + "/api/cancel-running-job", data=b" " * (64 * 1024 + 1), timeout=TIMEOUT
    )
    assert app_limit.json()["invalid-params"][0]["name"] == "body"


def test_a_missing_local_settings_file_is_said(host: HostProcess) -> None:
    # The module's host runs from the project root, where local.settings.json is git-ignored.
    if Path(host_support.__file__).resolve().parents[2].joinpath("local.settings.json").exists():
        pytest.skip("this checkout has a local.settings.json")
    assert "local.settings.json not found" in host.log_text()


def test_invalid_body_is_400_problem_json(host: HostProcess) -> None:
    response = requests.post(
        host.url + "/api/cancel-running-job",
        data=b'{"subscriptionId": "nope", "authToken": "secret-token-value"}',
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    names = {p["name"] for p in problem["invalid-params"]}
    assert {"subscriptionId", "resourceGroupName", "workspaceName", "jobId"} <= names
    assert "secret-token-value" not in response.text
    # Nothing of the request body or query reaches the host's log.
    assert "secret-token-value" not in host.log_text()
    assert "POST /api/cancel-running-job 400" in host.log_text()


def test_status_of_unknown_instance_is_404(host: HostProcess) -> None:
    response = requests.get(
        f"{host.url}/api/cancel-running-job/{UNKNOWN_ID}?code=abc", timeout=TIMEOUT
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "code=abc" not in host.log_text()


def test_event_grid_validation_handshake(host: HostProcess) -> None:
    response = requests.post(
        host.url + "/runtime/webhooks/EventGrid?functionName=on_job_alert",
        headers={"aeg-event-type": "SubscriptionValidation"},
        json=[
            {
                "id": "v1",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "subject": "",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
                "dataVersion": "1",
                "eventTime": "2025-01-01T00:00:00Z",
            }
        ],
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_event_grid_unknown_function_and_ignored_event(host: HostProcess) -> None:
    url = host.url + "/runtime/webhooks/EventGrid?functionName="
    headers = {"aeg-event-type": "Notification"}
    missing = requests.post(url + "nope", headers=headers, json=[], timeout=TIMEOUT)
    assert missing.status_code == 404
    ignored = {
        "id": "e1",
        "eventType": "Some.Other.Type",
        "subject": "s",
        "data": {},
        "dataVersion": "1",
        "eventTime": "2025-01-01T00:00:00Z",
    }
    delivered = requests.post(
        url + "on_job_alert", headers=headers, json=[ignored], timeout=TIMEOUT
    )
    assert delivered.status_code == 202
    no_header = requests.post(url + "on_job_alert", json=[ignored], timeout=TIMEOUT)
    assert no_header.status_code == 400


def test_management_api_for_unknown_instance_is_404(host: HostProcess) -> None:
    base = f"{host.url}/runtime/webhooks/durabletask/instances/{UNKNOWN_ID}"
    query = "?taskHub=CancelRunningJob&connection=Storage&code=x"
    assert requests.get(base + query, timeout=TIMEOUT).status_code == 404
    assert (
        requests.post(base + "/terminate" + query + "&reason=r", timeout=TIMEOUT).status_code == 404
    )
    assert requests.delete(base + query, timeout=TIMEOUT).status_code == 404
    assert (
        requests.get(f"{host.url}/durabletask/instances/{UNKNOWN_ID}", timeout=TIMEOUT).status_code
        == 404
    )


def test_rpc_start_of_unknown_orchestrator_is_400_with_exception_message(
    host: HostProcess,
) -> None:
    response = requests.post(host.url + "/durabletask/orchestrators/nope", timeout=TIMEOUT)
    assert response.status_code == 400
    assert "doesn't exist" in response.json()["ExceptionMessage"]


def test_sigterm_stops_cleanly(devhost: Start) -> None:
    host = devhost()
    assert host.stop() == 0
    assert "host stopped" not in host.log_text()  # stdout, not the log


def test_one_full_cancellation(devhost: Start, simulator: SimulatorServer, sim_token: str) -> None:
    job_id = simulator.seed_job(str(uuid.uuid4()))
    host = devhost(quantum_endpoint=simulator.url)
    started = requests.post(
        host.url + "/api/cancel-running-job",
        json=job_body(job_id, endpoint=simulator.url, authToken=sim_token),
        timeout=TIMEOUT,
    )
    assert started.status_code == 202, started.text
    payload = started.json()
    assert started.headers["Location"] == payload["statusQueryGetUri"]
    assert payload["statusQueryGetUri"].startswith(host.url + "/runtime/webhooks/durabletask/")
    assert wait_finished(host, payload["id"])["runtimeStatus"] == "Completed"
    status = requests.get(payload["statusQueryGetUri"], timeout=TIMEOUT).json()
    assert status["runtimeStatus"] == "Completed", status
    # Like the extension, the management API shows the input unless showInput=false.
    assert status["input"]["jobId"] == job_id
    hidden = requests.get(payload["statusQueryGetUri"] + "&showInput=false", timeout=TIMEOUT)
    assert hidden.json()["input"] is None
    document = requests.get(
        f"{host.url}/api/cancel-running-job/{payload['id']}", timeout=TIMEOUT
    ).json()
    assert document["outputs"]["outcome"] == "cancelled"
    assert sim_token not in host.log_text()


def test_sigkill_then_restart_resumes_the_orchestration(
    devhost: Start, simulator: SimulatorServer, sim_token: str, tmp_path: Any
) -> None:
    lifecycle = {
        "before": [["Executing", {}]],
        "after": [
            ["CancellationRequested", {"reads": 1}],
            ["Cancelling", {"reads": 1}],
            ["Cancelled", {}],
        ],
    }
    job_id = simulator.seed_job(str(uuid.uuid4()), lifecycle=lifecycle)
    state = tmp_path / "crash-state"
    first = devhost(state_dir=state, quantum_endpoint=simulator.url)
    started = requests.post(
        first.url + "/api/cancel-running-job",
        json=job_body(job_id, endpoint=simulator.url, authToken=sim_token),
        timeout=TIMEOUT,
    ).json()

    def polling() -> bool:
        document = requests.get(
            f"{first.url}/api/cancel-running-job/{started['id']}", timeout=TIMEOUT
        ).json()
        return bool((document.get("progress") or {}).get("phase") == "confirmCancelled")

    wait_for(polling, timeout=30, message="confirm phase")
    first.kill()
    second = devhost(state_dir=state, quantum_endpoint=simulator.url)
    document = wait_finished(second, started["id"])
    assert document["runtimeStatus"] == "Completed"
    assert document["outputs"]["outcome"] == "cancelled"


START_POLICY = "AzureFunctionsJobHost__extensions__durableTask__overridableExistingInstanceStates"


@pytest.mark.parametrize(("policy", "replaced"), [(None, False), ("AnyState", True)])
def test_second_start_of_a_running_instance_follows_the_start_policy(
    devhost: Start, simulator: SimulatorServer, sim_token: str, policy: str | None, replaced: bool
) -> None:
    # The same racing start the app relies on, at the extension's own API: refused under the
    # default (NonRunningStates, from host.json or absent), replacing the run under AnyState.
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle="stuck-cancelling")
    started = devhost(
        quantum_endpoint=simulator.url, env={START_POLICY: policy} if policy else None
    )
    base = f"{started.url}/runtime/webhooks/durabletask"
    instance_id = "race-" + job
    first = job_body(
        job, endpoint=simulator.url, authToken=sim_token, apiVersion="2026-01-15-preview"
    )
    second = {**first, "options": {**first["options"], "timeoutSeconds": 30}}
    url = f"{base}/orchestrators/cancel_running_job/{instance_id}"
    assert requests.post(url, json=first, timeout=TIMEOUT).status_code == 202
    wait_for(
        lambda: simulator.job_state(job)["counters"]["cancelRequests"] == 1,
        message="the first run sent its cancel",
    )
    again = requests.post(url, json=second, timeout=TIMEOUT)
    status = requests.get(f"{base}/instances/{instance_id}", timeout=TIMEOUT).json()
    if replaced:
        assert again.status_code == 202
        assert status["input"]["options"]["timeoutSeconds"] == 30
    else:
        assert again.status_code == 409, again.text
        assert status["input"]["options"]["timeoutSeconds"] == first["options"]["timeoutSeconds"]
    requests.post(f"{base}/instances/{instance_id}/terminate?reason=done", timeout=TIMEOUT)


def test_host_json_overrides_and_defaults(tmp_path: Path) -> None:
    from devtools.host.settings import read_host_json

    (tmp_path / "host.json").write_text(
        '{"extensions": {"durableTask": {"hubName": "Hub", '
        '"storageProvider": {"maxQueuePollingInterval": "00:00:05"}}}}'
    )
    config = read_host_json(tmp_path, environ={})
    assert config.overridable_existing_instance_states == "NonRunningStates"  # the default
    assert config.max_queue_polling_interval == "00:00:05"
    polling = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    override = {START_POLICY.upper(): "AnyState", polling + "maxQueuePollingInterval": "00:00:01"}
    config = read_host_json(tmp_path, environ=override)
    assert config.overridable_existing_instance_states == "AnyState"
    assert config.max_queue_polling_interval == "00:00:01"
    assert config.hub_name == "Hub"
    # Without a host.json value, the extension's default: 1 s on Flex Consumption, else 30 s.
    (tmp_path / "host.json").write_text("{}")
    assert read_host_json(tmp_path, environ={}).max_queue_polling_interval == "00:00:30"
    flex = read_host_json(tmp_path, environ={"WEBSITE_SKU": "FlexConsumption"})
    assert flex.max_queue_polling_interval == "00:00:01"
