"""The workspace-scale cancel over real HTTP through devtools.host: a dry run first, the run,
its status document, its per-job results page by page, duplicates, and workspace alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
from tests.support.bulk_checks import assert_confirmed_by_reads, assert_no_delete, assert_rate_cap
from tests.support.e2e import assert_one_run, started_instances
from tests.support.host import HostProcess, module_host, wait_for

TIMEOUT = 15
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "events"
QUICK = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
OPTIONS = {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1, "timeoutSeconds": 60}


@pytest.fixture(scope="module")
def bulk_host(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    env = {"WORKSPACE_ALERT_EVENT_TYPES": "Quantum.Workspace.CostAlert"}
    yield from module_host(_simulator_session.url, tmp_path_factory, "bulk-host", env)


@pytest.fixture
def sim(sim: SimulatorServer) -> SimulatorServer:
    """The real-clock simulator (tests/conftest.py), paging 100 jobs as the service does."""
    sim.set_options(pageSize=100)
    return sim


def body(sim: SimulatorServer, token: str, **changes: Any) -> dict[str, Any]:
    return {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "endpoint": sim.url,
        "authToken": token,
        "options": OPTIONS,
        **changes,
    }


def finished(host: HostProcess, instance_id: str) -> dict[str, Any]:
    def document() -> dict[str, Any] | None:
        answer = requests.get(f"{host.url}/api/cancel-jobs/{instance_id}", timeout=TIMEOUT)
        found: dict[str, Any] = answer.json()
        return found if found.get("runtimeStatus") not in ("Pending", "Running") else None

    result: dict[str, Any] = wait_for(document, timeout=90, interval=0.3, message="bulk run")
    return result


def test_dry_run_then_cancel_then_page_through_the_results(
    bulk_host: HostProcess, sim: SimulatorServer, sim_token: str
) -> None:
    jobs = [sim.seed_job(lifecycle=QUICK, details={"target": "ionq.simulator"}) for _ in range(130)]
    other = sim.seed_job(lifecycle=QUICK, details={"target": "rigetti.sim.qvm"})
    chosen = {"filter": {"target": ["ionq.simulator"]}}
    dry = requests.post(
        bulk_host.url + "/api/cancel-jobs",
        json=body(sim, sim_token, dryRun=True, **chosen),
        params={"waitSeconds": 30},
        timeout=60,
    )
    named = dry.json().get("instanceId", dry.json().get("id"))
    assert_one_run(bulk_host, "cancel_jobs", [named], dryRun=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["outputs"]["matched"] == 130
    assert [e for e in sim.requests() if e["operation"] == "Jobs_Cancel"] == []

    before_run = len(sim.requests())
    started = requests.post(
        bulk_host.url + "/api/cancel-jobs", json=body(sim, sim_token, **chosen), timeout=TIMEOUT
    )
    assert started.status_code == 202, started.text
    instance_id = started.json()["id"]
    again = requests.post(
        bulk_host.url + "/api/cancel-jobs", json=body(sim, sim_token, **chosen), timeout=TIMEOUT
    )
    # A duplicate request finds the same run: one instance really started, both answers name it.
    assert_one_run(bulk_host, "cancel_jobs", [instance_id, again.json()["id"]], dryRun=False)
    document = finished(bulk_host, instance_id)
    assert document["runtimeStatus"] == "Completed", document
    outputs = document["outputs"]
    assert outputs["outcomes"]["cancelled"] == 130 and outputs["matched"] == 130
    progress = document["progress"]
    assert progress["confirmed"] == 130 and progress["failed"] == 0

    seen: list[str] = []
    url: str | None = f"{bulk_host.url}/api/cancel-jobs/{instance_id}/jobs?top=50"
    while url:
        page = requests.get(url, timeout=TIMEOUT).json()
        assert len(page["value"]) <= 50
        seen += [item["jobId"] for item in page["value"]]
        url = page.get("nextLink")
    assert sorted(seen) == sorted(jobs)
    cancelled = [e["jobId"] for e in sim.requests() if e["operation"] == "Jobs_Cancel"]
    assert sorted(cancelled) == sorted(jobs) and other not in cancelled
    # Confirmed by reads the simulator logged after each job ended; the default api-version
    # is a new one, where a DELETE would delete the job.
    assert_confirmed_by_reads(sim.requests(), sim, jobs)
    assert_no_delete(sim.requests(), sim, jobs)
    # Real time, so the pacer reads the activities' answer moments: the cap (default 20 a
    # second) holds in every window of the simulator's log of this run.
    assert_rate_cap(sim.requests()[before_run:], 20, "monotonic")
    # The caller's token is nowhere in clear: not in the answers, the log, nor what the
    # management API shows of the run and its pages (inputs and histories hold it sealed).
    management = f"{bulk_host.url}/runtime/webhooks/durabletask/instances"
    shown = [requests.get(management, timeout=TIMEOUT).text]
    for page in range(2):
        shown.append(
            requests.get(
                f"{management}/{instance_id}-p{page:05d}?showHistory=true&showHistoryOutput=true",
                timeout=TIMEOUT,
            ).text
        )
    assert '"sealedToken": "v1.' in shown[0]
    text = json.dumps(document) + bulk_host.log_text() + "".join(shown)
    assert sim_token not in text
    unknown = requests.get(
        f"{bulk_host.url}/api/cancel-jobs/cancel-jobs-{'0' * 32}/jobs", timeout=TIMEOUT
    )
    assert unknown.status_code == 404


def test_every_bad_field_is_named(bulk_host: HostProcess, sim: SimulatorServer) -> None:
    answer = requests.post(
        bulk_host.url + "/api/cancel-jobs",
        json={
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobIds": ["not-a-guid"],
            "filter": {"status": ["Succeeded"], "colour": "red", "createdAfter": "yesterday"},
            "maxJobs": 0,
            "options": {"maxRequestsPerSecond": 0},
        },
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400
    names = {p["name"] for p in answer.json()["invalid-params"]}
    assert {"selector", "maxJobs", "options.maxRequestsPerSecond"} <= names
    one = requests.post(
        bulk_host.url + "/api/cancel-jobs",
        json={**body(sim, "t"), "filter": {"status": ["Succeeded"], "colour": "red"}},
        timeout=TIMEOUT,
    )
    reasons = {p["name"]: p["reason"] for p in one.json()["invalid-params"]}
    assert "filter.status" in reasons and "filter.colour" in reasons
    results = f"{bulk_host.url}/api/cancel-jobs/cancel-jobs-{'0' * 32}/jobs"
    paged = requests.get(
        results, params={"top": "0", "from": "3.50", "skip": "10"}, timeout=TIMEOUT
    )
    assert paged.status_code == 400
    assert {p["name"] for p in paged.json()["invalid-params"]} == {"top", "from"}
    assert sim.requests() == []


def test_a_workspace_alert_starts_one_run(bulk_host: HostProcess, sim: SimulatorServer) -> None:
    jobs = [sim.seed_job(lifecycle=QUICK, details={"target": "ionq.simulator"}) for _ in range(4)]
    events = json.loads((SAMPLES / "workspace-alert.json").read_text())
    text = (
        json.dumps(events)
        .replace("rg-quantum", DEFAULT_RESOURCE_GROUP)
        .replace("ws-quantum", DEFAULT_WORKSPACE)
    )
    events = json.loads(text)
    hook = bulk_host.url + "/runtime/webhooks/EventGrid?functionName=on_job_alert"
    headers = {"aeg-event-type": "Notification"}
    for _ in range(2):  # a duplicate delivery
        assert requests.post(hook, json=events, headers=headers, timeout=TIMEOUT).status_code == 202
    wait_for(
        lambda: all(sim.job_state(j)["status"] == "Cancelled" for j in jobs),
        timeout=60,
        message="alerted jobs cancelled",
    )
    assert len(started_instances(bulk_host, "cancel_jobs", trigger="eventGrid")) == 1, (
        "instances that started for the alerts:",
        started_instances(bulk_host, "cancel_jobs", trigger="eventGrid"),
    )
    cancelled = [e["jobId"] for e in sim.requests() if e["operation"] == "Jobs_Cancel"]
    # Both deliveries name one run (its id comes from the workspace and selector), and no job
    # got a second cancel; the alert never brought a token: the app's identity signed in.
    assert sorted(cancelled) == sorted(jobs)
    assert all(e["authPresent"] for e in sim.requests())


def test_ten_thousand_ids_fit_the_bulk_route_and_more_are_named(
    bulk_host: HostProcess, sim: SimulatorServer, sim_token: str
) -> None:
    # 5,000 ids are about 190 KB of JSON: over the single-job route's 64 KiB, within the bulk
    # route's 1 MiB. Over the default maxJobs, the run ends tooManyJobs with the exact count.
    ids = [f"0a1b2c3d-0000-4000-8000-{n:012d}" for n in range(10_001)]
    url = bulk_host.url + "/api/cancel-jobs"
    started = requests.post(
        url,
        json=body(sim, sim_token, jobIds=ids[:5_000]),
        params={"waitSeconds": 30},
        timeout=60,
    )
    assert started.status_code == 200, started.text
    outputs = started.json()["outputs"]
    assert outputs["outcome"] == "tooManyJobs" and outputs["matched"] == 5_000
    refused = requests.post(url, json=body(sim, sim_token, jobIds=ids), timeout=60)
    assert refused.status_code == 400
    assert [p["name"] for p in refused.json()["invalid-params"]] == ["jobIds"]
    assert sim.requests() == []
