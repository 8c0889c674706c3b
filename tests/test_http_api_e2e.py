"""The HTTP API end to end: devtools.host over real HTTP, the app, the engine, the simulator."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devtools.simulator import SimulatorServer
from tests.support import host as host_support
from tests.support.e2e import (
    QUICK,
    TIMEOUT,
    assert_one_run,
    e2e_host,
    job_body,
    status_document,
    wait_finished,
)
from tests.support.host import HostProcess
from workflow.inputs import instance_id_for

__all__ = ["e2e_host"]  # the module-scoped host fixture
devhost = host_support.devhost  # the fixture factory, made visible to this module

START = "/api/cancel-running-job"
ORCHESTRATION = "cancel_running_job"
TOKEN = "caller-token-RECOGNISABLE.abc123"


def post(host: HostProcess, body: Any, query: str = "") -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(
        host.url + START + query,
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT + 60,
    )


def test_start_then_poll_the_status_query_uri(
    e2e_host: HostProcess, simulator: SimulatorServer, sim_token: str
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    started = post(e2e_host, job_body(job, authToken=sim_token))
    assert started.status_code == 202, started.text
    payload = started.json()
    assert payload["id"] == instance_id_for(job_body(job))  # type: ignore[arg-type]
    assert_one_run(e2e_host, ORCHESTRATION, [payload["id"]], jobId=job)
    assert started.headers["Location"] == payload["statusQueryGetUri"]
    assert started.headers["Retry-After"]
    for key in (
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
    ):
        assert payload[key].startswith(e2e_host.url + "/runtime/webhooks/durabletask/instances/")

    def management_status(query: str = "") -> dict[str, Any]:
        return requests.get(payload["statusQueryGetUri"] + query, timeout=TIMEOUT).json()

    document = wait_finished(e2e_host, payload["id"])
    assert management_status()["runtimeStatus"] == "Completed"
    assert document["runtimeStatus"] == "Completed"
    assert document["error"] is None
    outputs = document["outputs"]
    assert outputs["jobId"] == job
    assert outputs["outcome"] == "cancelled"
    assert outputs["finalStatus"] == "Cancelled"
    assert outputs["cancellationTime"]
    assert document["progress"]["lastStatus"] == "Cancelled"
    assert document["createdTime"] <= document["lastUpdatedTime"]
    assert [e["operation"] for e in simulator.requests()] == ["Jobs_Get", "Jobs_Cancel", "Jobs_Get"]
    # The management API shows the stored input unless told not to, as the Durable extension
    # does: the token is in it only sealed, as it is in the history's activity inputs.
    shown = management_status("&showHistory=true&showHistoryOutput=true")
    assert shown["input"]["sealedToken"].startswith("v1.")
    assert "authToken" not in shown["input"]
    hidden = management_status("&showInput=false")
    everything = json.dumps([payload, document, hidden, shown]) + e2e_host.log_text()
    assert sim_token not in everything


def test_wait_seconds_answers_the_status_document(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle="already-succeeded")
    answer = post(e2e_host, job_body(job), "?waitSeconds=20")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["runtimeStatus"] == "Completed"
    assert document["outputs"]["outcome"] == "alreadyTerminal"


def test_duplicate_start_returns_the_running_instance(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle="stuck-cancelling")
    body = job_body(job, options={"pollIntervalSeconds": 1, "timeoutSeconds": 600})
    first = post(e2e_host, body)
    second = post(e2e_host, body)
    assert first.status_code == second.status_code == 202
    # One instance really started (the store says so), and both answers named it.
    instance = assert_one_run(
        e2e_host, ORCHESTRATION, [first.json()["id"], second.json()["id"]], jobId=job
    )
    document = status_document(e2e_host, instance)
    assert document["runtimeStatus"] in ("Pending", "Running")

    # Terminate it through the management URL the payload gave.
    terminate = first.json()["terminatePostUri"].replace("{text}", "test")
    assert requests.post(terminate, timeout=TIMEOUT).status_code == 202
    ended = wait_finished(e2e_host, instance)
    assert ended["runtimeStatus"] == "Terminated"
    assert ended["error"] == "terminated: test"
    assert len([e for e in simulator.requests() if e["operation"] == "Jobs_Cancel"]) == 1

    # A finished run may be started again.
    again = post(e2e_host, body)
    assert again.status_code == 202
    assert assert_one_run(e2e_host, ORCHESTRATION, [again.json()["id"]], jobId=job) == instance
    restarted = status_document(e2e_host, instance)
    assert restarted["runtimeStatus"] in ("Pending", "Running")
    assert restarted["createdTime"] >= ended["createdTime"]
    requests.post(terminate, timeout=TIMEOUT)
    wait_finished(e2e_host, instance)


def test_concurrent_starts_make_one_cancel(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    body = job_body(job)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(e2e_host, body), range(8)))
    assert {a.status_code for a in answers} == {202}
    instance = assert_one_run(e2e_host, ORCHESTRATION, [a.json()["id"] for a in answers], jobId=job)
    assert wait_finished(e2e_host, instance)["outputs"]["outcome"] == "cancelled"
    assert simulator.job_state(job)["counters"]["cancelRequests"] == 1


def test_permanent_failure_in_the_status_document(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    missing = str(uuid.uuid4())
    started = post(e2e_host, job_body(missing, authToken=TOKEN.replace("RECOGNISABLE", "x")))
    assert started.status_code == 202
    document = wait_finished(e2e_host, started.json()["id"])
    assert document["runtimeStatus"] == "Failed"
    assert document["outputs"] is None
    assert "Jobs_Get failed with HTTP 401" in document["error"]
    assert "$OutOfProcData$" not in document["error"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({}, {"subscriptionId", "resourceGroupName", "workspaceName", "jobId"}),
        (job_body("not-a-guid"), {"jobId"}),
        (job_body(str(uuid.uuid4()), subscriptionId=42), {"subscriptionId"}),
        (job_body(str(uuid.uuid4()), resourceGroupName="../../etc"), {"resourceGroupName"}),
        (job_body(str(uuid.uuid4()), workspaceName="ws?x=1#y"), {"workspaceName"}),
        (job_body(str(uuid.uuid4()), apiVersion="latest"), {"apiVersion"}),
        (job_body(str(uuid.uuid4()), apiVersion="2025-06-01-preview"), {"apiVersion"}),
        (
            job_body(str(uuid.uuid4()), endpoint="https://quantum.azure.com.evil.example"),
            {"endpoint"},
        ),
        (job_body(str(uuid.uuid4()), location="westus.evil.example/"), {"location"}),
        (
            job_body(str(uuid.uuid4()), options={"pollIntervalSeconds": 0}),
            {"options.pollIntervalSeconds"},
        ),
        (job_body(str(uuid.uuid4()), options={"timeoutSeconds": 1e12}), {"options.timeoutSeconds"}),
        (job_body(str(uuid.uuid4()), options="fast"), {"options"}),
        (job_body(str(uuid.uuid4()), authToken="Bearer " + TOKEN), {"authToken"}),
        (job_body(str(uuid.uuid4()), authToken=TOKEN, extra=1), {"extra"}),
        (b"{not json", {"body"}),
        (b"[1, 2]", {"body"}),
        (b'"text"', {"body"}),
        (b"\xff\xfe", {"body"}),
        (json.dumps(job_body(str(uuid.uuid4()), authToken=TOKEN, junk="x" * 70000)), {"body"}),
    ],
)
def test_invalid_requests_are_400_problem_documents(
    e2e_host: HostProcess, simulator: SimulatorServer, body: Any, names: set[str]
) -> None:
    answer = post(e2e_host, body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 400
    assert {p["name"] for p in problem["invalid-params"]} == names
    assert TOKEN not in answer.text and "evil" not in answer.text
    assert simulator.requests() == []


@pytest.mark.parametrize("query", ["?waitSeconds=61", "?waitSeconds=-1", "?waitSeconds=soon"])
def test_invalid_wait_seconds(
    e2e_host: HostProcess, simulator: SimulatorServer, query: str
) -> None:
    answer = post(e2e_host, job_body(str(uuid.uuid4())), query)
    assert answer.status_code == 400
    assert [p["name"] for p in answer.json()["invalid-params"]] == ["waitSeconds"]


@pytest.mark.parametrize(
    "instance",
    [
        "cancel-00000000-0000-0000-0000-000000000000-0000000000000000",
        "not-an-instance",
        "..%2F..%2Fadmin",
        "cancel-x%3Fshow%3Dall",
    ],
)
def test_unknown_instance_is_404(e2e_host: HostProcess, instance: str) -> None:
    answer = requests.get(f"{e2e_host.url}/api/cancel-running-job/{instance}", timeout=TIMEOUT)
    assert answer.status_code == 404


def test_an_invalid_setting_is_a_500_naming_it(
    devhost: Any, simulator: SimulatorServer, sim_token: str
) -> None:
    host = devhost(quantum_endpoint=simulator.url, env={"CANCEL_TIMEOUT_SECONDS": "1e9"})
    job = simulator.seed_job(str(uuid.uuid4()))
    response = requests.post(
        host.url + "/api/cancel-running-job",
        json=job_body(job, endpoint=simulator.url, authToken=sim_token),
        timeout=TIMEOUT,
    )
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert "CANCEL_TIMEOUT_SECONDS" in problem["detail"] and "1e9" not in response.text
    assert host.log_text().count("the app settings are invalid: CANCEL_TIMEOUT_SECONDS") == 1
    # An alert is not acknowledged: Event Grid delivers it again once the setting is fixed.
    alert = requests.post(
        host.url + "/runtime/webhooks/EventGrid?functionName=on_job_alert",
        json=[
            {
                "id": "misconfigured-1",
                "eventType": "Quantum.Job.CostAlert",
                "subject": "/alerts",
                "data": {},
                "dataVersion": "1",
                "eventTime": "2026-01-01T00:00:00Z",
            }
        ],
        headers={"aeg-event-type": "Notification"},
        timeout=TIMEOUT,
    )
    assert alert.status_code == 500
    assert "event misconfigured-1 not handled, the app settings are invalid" in host.log_text()
    assert simulator.requests() == []


def test_without_a_caller_token_key_a_token_is_refused_and_the_identity_still_works(
    devhost: Any, simulator: SimulatorServer, sim_token: str
) -> None:
    host = devhost(quantum_endpoint=simulator.url, env={"CALLER_TOKEN_KEY": ""})
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    refused = requests.post(
        host.url + "/api/cancel-running-job",
        json=job_body(job, endpoint=simulator.url, authToken=sim_token),
        timeout=TIMEOUT,
    )
    assert refused.status_code == 400
    [problem] = refused.json()["invalid-params"]
    assert problem["name"] == "authToken" and "CALLER_TOKEN_KEY" in problem["reason"]
    assert simulator.requests() == []
    started = requests.post(
        host.url + "/api/cancel-running-job", json=job_body(job), timeout=TIMEOUT
    )
    assert started.status_code == 202
    assert wait_finished(host, started.json()["id"])["outputs"]["outcome"] == "cancelled"


def test_a_malformed_caller_token_key_is_a_500_naming_it(
    devhost: Any, simulator: SimulatorServer
) -> None:
    host = devhost(quantum_endpoint=simulator.url, env={"CALLER_TOKEN_KEY": "c2hvcnQ="})
    response = requests.post(
        host.url + "/api/cancel-running-job", json=job_body(str(uuid.uuid4())), timeout=TIMEOUT
    )
    assert response.status_code == 500
    assert "CALLER_TOKEN_KEY must be 32 random bytes" in response.json()["detail"]
    assert "c2hvcnQ=" not in response.text + host.log_text()
