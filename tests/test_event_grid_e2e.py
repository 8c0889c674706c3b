"""Event Grid alerts end to end through Core Tools' local webhook on devtools.host."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.e2e import QUICK, TIMEOUT, assert_one_run, e2e_host, wait_finished
from tests.support.host import HostProcess, wait_for
from workflow.inputs import instance_id_for

__all__ = ["e2e_host"]  # the module-scoped host fixture

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "events"
WEBHOOK = "/runtime/webhooks/EventGrid?functionName=on_job_alert"
ORCHESTRATION = "cancel_running_job"
SAMPLE_JOB = "0a1b2c3d-0000-4000-8000-00000000abcd"


def resource_id(job: str) -> str:
    return (
        f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/{DEFAULT_RESOURCE_GROUP}"
        f"/providers/Microsoft.Quantum/workspaces/{DEFAULT_WORKSPACE}/jobs/{job}"
    )


def sample(name: str, job: str) -> list[dict[str, Any]]:
    """A sample event file with its job replaced by ``job`` in the simulator's workspace."""
    text = (SAMPLES / name).read_text()
    text = text.replace("rg-quantum", DEFAULT_RESOURCE_GROUP).replace(
        "ws-quantum", DEFAULT_WORKSPACE
    )
    events: list[dict[str, Any]] = json.loads(text.replace(SAMPLE_JOB, job))
    return events


def deliver(host: HostProcess, events: Any) -> requests.Response:
    return requests.post(
        host.url + WEBHOOK,
        data=json.dumps(events),
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
        timeout=TIMEOUT + 20,
    )


def instance_for(job: str) -> str:
    return instance_id_for(
        {
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobId": job,
        }
    )


def logged(host: HostProcess, line: str) -> None:
    """Wait until the host has logged ``line`` (the function logs before it answers)."""
    wait_for(lambda: line in host.log_text(), timeout=10, message=f"log line {line!r}")


def execution_id(host: HostProcess, instance_id: str) -> str:
    """The id of the run's current execution, from its ExecutionStarted history event."""
    status = requests.get(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}?showHistory=true",
        timeout=TIMEOUT,
    ).json()
    [started] = [e for e in status["historyEvents"] if e["EventType"] == "ExecutionStarted"]
    return str(started["OrchestrationInstance"]["ExecutionId"])


def no_run(host: HostProcess, job: str) -> bool:
    answer = requests.get(f"{host.url}/api/cancel-running-job/{instance_for(job)}", timeout=TIMEOUT)
    return answer.status_code == 404


@pytest.mark.parametrize("name", ["eventgrid-schema.json", "cloudevents-schema.json"])
def test_sample_events_cancel_the_job(
    e2e_host: HostProcess, simulator: SimulatorServer, name: str
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    answer = deliver(e2e_host, sample(name, job))
    assert answer.status_code == 202, answer.text
    assert_one_run(e2e_host, ORCHESTRATION, [instance_for(job)], jobId=job)
    document = wait_finished(e2e_host, instance_for(job))
    assert document["runtimeStatus"] == "Completed", document
    assert document["outputs"]["outcome"] == "cancelled"
    # The event carried no token: the run signed in with the app's identity.
    assert all(e["authPresent"] for e in simulator.requests())


def test_job_named_by_subject_only(e2e_host: HostProcess, simulator: SimulatorServer) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle="already-succeeded")
    [event] = sample("cloudevents-schema.json", job)
    event["data"] = {"reason": "no coordinates here"}
    assert deliver(e2e_host, [event]).status_code == 202
    assert wait_finished(e2e_host, instance_for(job))["outputs"]["outcome"] == "alreadyTerminal"


def test_duplicates_in_one_batch_start_one_run(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    [event] = sample("eventgrid-schema.json", job)
    other = copy.deepcopy(event)
    other["id"] = str(uuid.uuid4())
    cloud = sample("cloudevents-schema.json", job)[0]
    answer = deliver(e2e_host, [event, event, other, event])
    assert answer.status_code == 202
    requests_cloud = requests.post(
        e2e_host.url + WEBHOOK,
        data=json.dumps([cloud]),
        headers={
            "Content-Type": "application/cloudevents-batch+json",
            "aeg-event-type": "Notification",
        },
        timeout=TIMEOUT,
    )
    assert requests_cloud.status_code == 202
    # One instance really started for the five deliveries: the one the job's id names.
    assert_one_run(e2e_host, ORCHESTRATION, [instance_for(job)], jobId=job)
    assert wait_finished(e2e_host, instance_for(job))["outputs"]["outcome"] == "cancelled"
    assert simulator.job_state(job)["counters"]["cancelRequests"] == 1
    assert len([e for e in simulator.requests() if e["operation"] == "Jobs_Cancel"]) == 1


def test_ignored_event_types_start_nothing(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()))
    [event] = sample("eventgrid-schema.json", job)
    event["eventType"] = "Microsoft.Storage.BlobCreated"
    assert deliver(e2e_host, [event]).status_code == 202
    logged(e2e_host, f"event {event['id']} ignored")
    # The line names the settings that would accept the type.
    logged(e2e_host, "is in neither JOB_ALERT_EVENT_TYPES nor WORKSPACE_ALERT_EVENT_TYPES")
    assert no_run(e2e_host, job)
    assert simulator.requests() == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(data={"jobId": "not-a-guid"}), "malformed"),
        (lambda e: e.update(data={"jobId": "x"}, subject="/elsewhere"), "malformed"),
        (lambda e: e.update(data={"jobResourceId": "/subscriptions/../jobs/x"}), "malformed"),
        (lambda e: e.update(data=["junk"], subject=None), "malformed"),
        (lambda e: e.update(data=None, subject="/subscriptions/a/b"), "malformed"),
    ],
)
def test_malformed_events_are_logged_and_acknowledged(
    e2e_host: HostProcess, simulator: SimulatorServer, change: Any, reason: str
) -> None:
    job = str(uuid.uuid4())
    [event] = sample("eventgrid-schema.json", job)
    event["id"] = str(uuid.uuid4())
    change(event)
    assert deliver(e2e_host, [event]).status_code == 202
    logged(e2e_host, f"event {event['id']} {reason}")
    assert no_run(e2e_host, job)
    assert simulator.requests() == []


def test_event_tokens_endpoints_and_versions_are_ignored(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle=QUICK)
    [event] = sample("eventgrid-schema.json", job)
    event["data"].update(
        authToken="EVENT-TOKEN-should-never-be-used",
        endpoint="https://quantum.azure.com.evil.example",
        apiVersion="2024-10-01-preview",
    )
    assert deliver(e2e_host, [event]).status_code == 202
    document = wait_finished(e2e_host, instance_for(job))
    assert document["outputs"]["outcome"] == "cancelled"
    assert document["outputs"]["apiVersion"] == "2026-01-15-preview"
    assert {e["method"] for e in simulator.requests() if e["operation"] == "Jobs_Cancel"} == {
        "POST"
    }
    assert "EVENT-TOKEN" not in e2e_host.log_text()


def test_a_running_alert_job_is_reported_once(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    job = simulator.seed_job(str(uuid.uuid4()), lifecycle="stuck-cancelling")
    [event] = sample("eventgrid-schema.json", job)
    assert deliver(e2e_host, [event]).status_code == 202
    assert_one_run(e2e_host, ORCHESTRATION, [instance_for(job)], jobId=job)
    first = execution_id(e2e_host, instance_for(job))
    event["id"] = str(uuid.uuid4())  # a second alert for the same job
    assert deliver(e2e_host, [event]).status_code == 202
    instance = instance_for(job)
    logged(e2e_host, f"event {event['id']}: job {job}, instance {instance} already running")
    assert_one_run(e2e_host, ORCHESTRATION, [instance], jobId=job)
    # The same execution of the same run: not a second run that happened to start alike.
    assert execution_id(e2e_host, instance_for(job)) == first
    assert simulator.job_state(job)["counters"]["cancelRequests"] == 1
    requests.post(
        f"{e2e_host.url}/runtime/webhooks/durabletask/instances/{instance_for(job)}/terminate?reason=done",
        timeout=TIMEOUT,
    )
    wait_finished(e2e_host, instance_for(job))


def test_an_event_without_a_type_fails_so_event_grid_retries_it(
    e2e_host: HostProcess, simulator: SimulatorServer
) -> None:
    # What a CloudEvent looks like after an azure-functions older than 1.25 decoded it.
    job = simulator.seed_job(str(uuid.uuid4()))
    [event] = sample("eventgrid-schema.json", job)
    event["id"] = str(uuid.uuid4())
    del event["eventType"]
    assert deliver(e2e_host, [event]).status_code == 500
    logged(e2e_host, f"event {event['id']} has no readable type")
    assert no_run(e2e_host, job)
    assert simulator.requests() == []
