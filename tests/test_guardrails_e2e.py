"""Guardrails over real HTTP through devtools.host: the policy from GUARDRAIL_POLICY, the timer
run by hand as on any Functions host (``POST /admin/functions/watch_jobs``), the last sweep in
``GET /api/guardrails``, a dry-run sweep, and a bad policy that starts nothing while the rest
of the app keeps working. Events land on the simulator's local Event Grid topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from devtools.simulator.events import TOPIC_KEY
from tests.support.host import HostProcess, module_host, start_host, wait_for
from tests.test_cli_e2e import cli

TIMEOUT = 15
QUICK = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
WORKSPACE = {
    "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
    "resourceGroupName": DEFAULT_RESOURCE_GROUP,
    "workspaceName": DEFAULT_WORKSPACE,
}
POLICY = {
    "workspaces": [WORKSPACE],
    "rules": [
        {
            "name": "qpu-runtime",
            "filter": {"target": ["ionq.qpu.aria-1"]},
            "when": {"runningMinutesOver": 120},
            "action": "cancel",
        }
    ],
}
NEVER = "0 0 0 1 1 *"  # once a year: the timer is run by hand here


def guard_env(sim: SimulatorServer, policy: str, schedule: str = NEVER) -> dict[str, str]:
    """A host's settings with this policy, the simulator's topic and short polls."""
    return {
        "IDENTITY_HEADER": "guardrail-e2e",
        "GUARDRAIL_POLICY": policy,
        "GUARDRAIL_SCHEDULE": schedule,
        "EVENTS_TOPIC_ENDPOINT": f"{sim.url}/api/events",
        "EVENTS_TOPIC_KEY": TOPIC_KEY,
        "CANCEL_POLL_INTERVAL_SECONDS": "1",
        "CANCEL_MAX_POLL_INTERVAL_SECONDS": "1",
    }


def host_with(
    sim: SimulatorServer,
    tmp: pytest.TempPathFactory,
    name: str,
    policy: str,
    schedule: str = NEVER,
) -> HostProcess:
    env = guard_env(sim, policy, schedule)
    return start_host(tmp.mktemp(name), quantum_endpoint=sim.url, env=env)


@pytest.fixture(scope="module")
def guard_host(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    env = guard_env(_simulator_session, json.dumps(POLICY))
    yield from module_host(_simulator_session.url, tmp_path_factory, "guard-host", env)



def began_ago(sim: SimulatorServer, minutes: float) -> dict[str, float]:
    """``ages`` that make a job's beginExecutionTime ``minutes`` before the host's real clock
    (the session simulator's timeline may run behind or ahead of it after virtual-time tests)."""
    skew = (sim.clock.wall(sim.clock.now()) - datetime.now(timezone.utc)).total_seconds()
    return {"beginExecutionTime": minutes * 60 + skew}


def guardrails(host: HostProcess) -> dict[str, Any]:
    response = requests.get(f"{host.url}/api/guardrails", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_timer_run_by_hand_cancels_the_runaway_job(
    guard_host: HostProcess, sim: SimulatorServer
) -> None:
    details = {"target": "ionq.qpu.aria-1", "providerId": "ionq"}
    runaway = sim.seed_job(lifecycle=QUICK, details=details, ages=began_ago(sim, 180))
    young = sim.seed_job(lifecycle=QUICK, details=details, ages=began_ago(sim, 60))
    before = guardrails(guard_host)
    assert before["enabled"] is True and before["problems"] == []
    assert before["policy"]["rules"][0]["maxJobsPerSweep"] == 100
    answer = requests.post(
        f"{guard_host.url}/admin/functions/watch_jobs", json={"input": ""}, timeout=TIMEOUT
    )
    assert answer.status_code == 202

    def swept() -> dict[str, Any] | None:
        last = guardrails(guard_host)["lastSweep"]
        return last if last and last["runtimeStatus"] == "Completed" else None

    last = wait_for(swept, timeout=60, interval=0.3, message="the sweep finished")
    [rule] = last["outputs"]["rules"]
    assert (rule["matched"], rule["acted"], rule["outcome"]) == (1, 1, "acted")
    [entry] = rule["jobs"]
    assert entry["jobId"] == runaway and entry["started"] is True
    # lastSweep names the cancellation's run; the run itself confirms and reports.
    run = wait_for(
        lambda: finished_run(guard_host, entry["instanceId"]), timeout=30, message="the run ended"
    )
    assert run["outputs"]["outcome"] == "cancelled" and run["outputs"]["trigger"] == "guardrail"
    assert sim.job_state(runaway)["status"] == "Cancelled"
    assert sim.job_state(young)["status"] == "Executing"
    wait_for(lambda: len(sim.received_events()) == 2, timeout=15, message="both events")
    kinds = sorted(e["eventType"] for e in sim.received_events())
    assert kinds == ["Quantum.Guardrail.Violation", "Quantum.Job.CancellationFinished"]
    # A dry run reports the same evaluation, cancels nothing, publishes nothing.
    sim.seed_job(lifecycle=QUICK, details=details, ages=began_ago(sim, 150))
    events = len(sim.event_attempts)
    dry = requests.post(
        f"{guard_host.url}/api/guardrails/sweep?dryRun=true&waitSeconds=30", timeout=40
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["outputs"]["dryRun"] is True
    assert dry.json()["outputs"]["rules"][0]["matched"] == 1
    assert len(sim.event_attempts) == events
    assert guardrails(guard_host)["lastSweep"]["instanceId"] == "guardrails-sweep"


def finished_run(host: HostProcess, instance_id: str) -> dict[str, Any] | None:
    """The status document of a single-job run once it ended (None before)."""
    answer = requests.get(f"{host.url}/api/cancel-running-job/{instance_id}", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document if document["runtimeStatus"] in ("Completed", "Failed") else None


def test_a_job_an_operator_is_cancelling_over_http_gets_no_second_cancel_from_a_sweep(
    guard_host: HostProcess, sim: SimulatorServer
) -> None:
    details = {"target": "ionq.qpu.aria-1", "providerId": "ionq"}
    # The service takes the cancel, and the job reads Executing for a few seconds more.
    slow = {
        "before": [["Executing", {}]],
        "after": [["Executing", {"seconds": 6}], ["Cancelled", {}]],
    }
    job = sim.seed_job(lifecycle=slow, details=details, ages=began_ago(sim, 180))
    operator = requests.post(
        f"{guard_host.url}/api/cancel-running-job",
        json={**WORKSPACE, "jobId": job, "options": {"pollIntervalSeconds": 1}},
        timeout=TIMEOUT,
    )
    assert operator.status_code == 202, operator.text
    instance_id = operator.json()["id"]

    def cancels() -> int:
        return sum(
            1 for e in sim.requests() if e["operation"] == "Jobs_Cancel" and e["jobId"] == job
        )

    wait_for(lambda: cancels() == 1, timeout=15, message="the operator's cancel was sent")
    swept = requests.post(f"{guard_host.url}/api/guardrails/sweep?waitSeconds=30", timeout=40)
    assert swept.status_code == 200, swept.text
    [entry] = swept.json()["outputs"]["rules"][0]["jobs"]
    assert (entry["jobId"], entry["instanceId"], entry["started"]) == (job, instance_id, False)
    run = wait_for(
        lambda: finished_run(guard_host, instance_id), timeout=30, message="the run ended"
    )
    assert run["outputs"]["outcome"] == "cancelled" and run["outputs"]["trigger"] == "http"
    found = cancels()
    print(f"Jobs_Cancel requests for {job}: {found}")
    assert found == 1


def test_a_bad_policy_starts_nothing_and_the_app_keeps_working(
    sim: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bad = {**POLICY, "rules": [{**POLICY["rules"][0], "when": {"runningMinutesOver": -1}}]}
    host = host_with(sim, tmp_path_factory, "bad-policy", json.dumps(bad))
    try:
        shown = guardrails(host)
        assert shown["enabled"] is False
        assert shown["problems"] == [
            {"path": "rules[0].when.runningMinutesOver", "reason": "must be a number > 0"}
        ]
        refused = requests.post(f"{host.url}/api/guardrails/sweep", timeout=TIMEOUT)
        assert refused.status_code == 409
        assert refused.json()["invalid-params"][0]["name"] == "rules[0].when.runningMinutesOver"
        timer = requests.post(
            f"{host.url}/admin/functions/watch_jobs", json={"input": ""}, timeout=TIMEOUT
        )
        assert timer.status_code == 202
        job = sim.seed_job(lifecycle=QUICK)
        started = requests.post(
            f"{host.url}/api/cancel-running-job?waitSeconds=30",
            json={**WORKSPACE, "jobId": job, "options": {"pollIntervalSeconds": 1}},
            timeout=40,
        )
        assert started.status_code == 200 and started.json()["outputs"]["outcome"] == "cancelled"
        assert guardrails(host)["lastSweep"] is None  # neither the timer nor the route swept
    finally:
        host.stop()


def test_the_timer_fires_on_its_own_schedule(
    sim: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    host = host_with(sim, tmp_path_factory, "scheduled", json.dumps(POLICY), "*/2 * * * * *")
    try:

        def swept() -> dict[str, Any] | None:
            last = guardrails(host)["lastSweep"]
            return last if last and last["runtimeStatus"] == "Completed" else None

        last = wait_for(swept, timeout=20, interval=0.3, message="a scheduled sweep")
        assert last["outputs"]["dryRun"] is False
        assert any(e["operation"] == "Jobs_List" for e in sim.requests())
    finally:
        host.stop()


def test_the_cli_shows_the_policy_and_previews_a_sweep_without_acting(
    guard_host: HostProcess, sim: SimulatorServer
) -> None:
    details = {"target": "ionq.qpu.aria-1", "providerId": "ionq"}
    runaway = sim.seed_job(lifecycle=QUICK, details=details, ages=began_ago(sim, 200))
    shown = cli(guard_host, "guardrails", "show", "--json")
    assert shown.status == 0, shown.stderr
    assert shown.json()["enabled"] is True
    assert [rule["name"] for rule in shown.json()["policy"]["rules"]] == ["qpu-runtime"]
    plain = cli(guard_host, "guardrails", "show")
    assert plain.status == 0 and "guardrails enabled" in plain.stdout
    assert "qpu-runtime" in plain.stdout

    events = len(sim.event_attempts)
    dry = cli(guard_host, "guardrails", "sweep", "--dry-run", "--json")
    assert dry.status == 0, dry.stdout + dry.stderr
    outputs = dry.json()["outputs"]
    assert outputs["dryRun"] is True
    [rule] = outputs["rules"]
    assert runaway in {entry["jobId"] for entry in rule["jobs"]}
    # The simulator's own record: a preview sent no cancel and published nothing.
    assert sim.job_state(runaway)["counters"]["cancelRequests"] == 0
    assert sim.job_state(runaway)["status"] == "Executing"
    assert len(sim.event_attempts) == events
