"""Crashes: kill the engine or the host at random points and check the runs end the same.

Two levels:

* Engine (virtual time): devtools.durable stops dead at a random checkpoint (1 to 3 times per
  run, anywhere from "orchestrator ran, nothing saved" to "timer fired"); a new engine on the
  same store resumes. Outputs must equal those of an undisturbed run, field for field. A cancel
  is sent again only when its answer was lost: by a crash between the activity and the commit
  of its result, or by a fault that dropped the answer. So the cancels sent again, counted from
  the simulator's log, are at most the crashes at that checkpoint plus the lost answers.
* Host (real time): ``python -m devtools.host`` is SIGKILLed at a random moment of a real
  cancellation and restarted on the same state directory; the same cancel request is sent
  again after the restart. The run finishes with the undisturbed run's decisions, the repeat
  gets the same instance back, and with one kill the job gets at most one harmless repeat of a
  cancel whose answer the kill lost (the service answers it 204 again).

A kill counts as a crash survived only when the process held a run in flight and died by the
signal (its exit status says so).
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.durable import JsonFileStore
from devtools.durable.crash import run_with_crashes
from devtools.simulator import (
    SimulatorServer,
)
from tests.support.bulk_checks import assert_confirmed_by_reads
from tests.support.e2e import (
    check_one_run,
    job_body,
    started_instances,
    status_document,
    wait_finished,
)
from tests.support.evidence import Evidence, cancels_sent_again, disallowed_entries
from tests.support.host import HostProcess, start_host, wait_for
from tests.support.orchestration import ORCHESTRATION, Harness
from tests.support.reliability import SuiteRecords, sizes
from workflow.inputs import instance_id_for

JOB = "0a1b2c3d-0000-4000-8000-00000000c4a5"
BYSTANDER = "0a1b2c3d-0000-4000-8000-00000000b57d"
SEED = 20260415
# Moves by time only, so an activity that runs again after a crash reads the same status.
TIMED_CANCEL = {
    "before": [["Executing", {}]],
    "after": [["Executing", {"seconds": 12}], ["Cancelling", {"seconds": 20}], ["Cancelled", {}]],
}
# What a run decided; timing fields may move when a crash repeats a request.
DECISIONS = ("jobId", "outcome", "finalStatus", "cancelRequested", "cancelHttpStatus", "apiVersion")
OPTIONS = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 1800}

# Scenarios for the engine-level crashes: lifecycle and faults of the simulator.
ENGINE_SCENARIOS: dict[str, dict[str, Any]] = {
    "cancelled": {"lifecycle": TIMED_CANCEL, "faults": []},
    "throttled-cancel": {
        "lifecycle": TIMED_CANCEL,
        "faults": [{"operation": "Jobs_Cancel", "count": 2, "httpStatus": 429, "retryAfter": 9}],
    },
    "cancel-answer-lost": {
        "lifecycle": TIMED_CANCEL,
        "faults": [{"operation": "Jobs_Cancel", "count": 1, "effect": "drop", "after": True}],
    },
    "already-succeeded": {"lifecycle": "already-succeeded", "faults": []},
    "stuck-times-out": {
        "lifecycle": {"before": [["Executing", {}]], "after": [["Cancelling", {}]]},
        "faults": [],
        "options": {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 5, "timeoutSeconds": 150},
    },
}


def _prepare(harness: Harness, scenario: dict[str, Any]) -> None:
    harness.simulator.reset()
    harness.simulator.seed_job(JOB, lifecycle=scenario["lifecycle"])
    harness.simulator.seed_job(BYSTANDER)
    for rule in scenario["faults"]:
        harness.simulator.add_fault(rule)


def _stable(outputs: dict[str, Any]) -> dict[str, Any]:
    # cancellationTime is the simulator's wall-clock reading of the moment it cancelled.
    shown = dict(outputs)
    if shown.get("cancellationTime") is not None:
        shown["cancellationTime"] = "set"
    return shown


@pytest.mark.parametrize("name", list(ENGINE_SCENARIOS))
def test_engine_crashes_at_random_points_change_nothing(
    harness: Harness, records: SuiteRecords, name: str
) -> None:
    scenario = ENGINE_SCENARIOS[name]
    request = harness.request(JOB, options=scenario.get("options", OPTIONS))
    _prepare(harness, scenario)
    reference_engine = harness.engine()
    reference = harness.run(request, reference_engine)
    expected = _stable(reference.outputs)
    steps = reference_engine.stats.steps
    chooser = random.Random(f"{SEED}-{name}")
    runs = max(1, sizes().engine_crash_runs // len(ENGINE_SCENARIOS))
    for run_number in range(runs):
        _prepare(harness, scenario)
        fresh = Harness(harness.simulator, harness.token)
        crash_points = sorted(chooser.sample(range(1, steps + 1), k=chooser.randint(1, 3)))
        # Each engine counts its steps from 1, so crash points are relative to its start.
        relative = [crash_points[0]] + [max(1, b - a) for a, b in itertools.pairwise(crash_points)]
        starter = fresh.engine()
        instance_id = starter.start_new(ORCHESTRATION, instance_id_for(request), request)
        outcome = run_with_crashes(fresh.engine, relative)
        status = outcome.engine.get_status(instance_id)
        sim = harness.simulator
        entries, rules = sim.requests(), sim.fault_rules()
        runtime = status.runtime_status.value if status else None
        records.add("run", runtimeStatus=runtime)
        logged = records.add("requests", entries=entries, jobs=[JOB])
        records.add("faults", rules=rules)
        ended = status.output if status and isinstance(status.output, dict) else None
        for message in outcome.crashes:
            records.add(
                "crash",
                level="engine",
                message=message,
                runtimeStatus=runtime,
                result={k: ended.get(k) for k in DECISIONS} if ended else None,
                expected={k: expected[k] for k in DECISIONS},
            )
        where = f"{name} run {run_number}: crashes at {relative}"
        assert status is not None and status.runtime_status.value == "Completed", where
        outputs = _stable(dict(status.output))
        if scenario["faults"]:
            # A faulted attempt whose result the crash lost used up one of the simulator's
            # counted faults, so the retry timing can differ; the decisions may not.
            assert {k: outputs[k] for k in DECISIONS} == {k: expected[k] for k in DECISIONS}, where
        else:
            assert outputs == expected, where
        # A cancel whose answer was lost is sent again: harmless (the job is cancelled once
        # and the outputs report one cancellation), and never without such a loss.
        lost_by_crash = sum("(activity_executed," in message for message in outcome.crashes)
        lost_by_fault = sum(
            rule["applied"]
            for rule in rules
            if rule["operation"] == "Jobs_Cancel" and rule["after"]
        )
        assert cancels_sent_again(entries) <= lost_by_crash + lost_by_fault, where
        assert disallowed_entries(logged) == [], where


# -- the real host, SIGKILLed -------------------------------------------------------------
def test_sigkilled_host_finishes_every_run_the_same(
    simulator: SimulatorServer, sim_token: str, tmp_path: Path, records: SuiteRecords
) -> None:
    # Real time here: the host's timers are real, so the simulator's clock must move too.
    simulator.clock.set_real()
    lifecycle = {
        "before": [["Executing", {}]],
        "after": [
            ["CancellationRequested", {"seconds": 1}],
            ["Cancelling", {"seconds": 2}],
            ["Cancelled", {}],
        ],
    }
    chooser = random.Random(SEED)
    runs = sizes().host_kill_runs
    jobs: list[str] = []
    hosts: list[HostProcess] = []
    try:
        for run_number in range(runs):
            job_id = simulator.seed_job(
                str(uuid.UUID(int=chooser.getrandbits(128), version=4)), lifecycle=lifecycle
            )
            jobs.append(job_id)
            state = tmp_path / f"state-{run_number}"
            first = start_host(state, quantum_endpoint=simulator.url)
            hosts.append(first)
            body = job_body(
                job_id,
                endpoint=simulator.url,
                authToken=sim_token,
                options={
                    "pollIntervalSeconds": 1,
                    "maxPollIntervalSeconds": 1,
                    "timeoutSeconds": 120,
                },
            )
            started = requests.post(first.url + "/api/cancel-running-job", json=body, timeout=10)
            instance_id = started.json().get("id") if started.status_code == 202 else None
            # The moment of the kill is random on purpose; it is not a synchronisation.
            delay = chooser.uniform(0.0, 2.5)
            time.sleep(delay)
            held = instance_id is not None and status_document(first, instance_id)[
                "runtimeStatus"
            ] in ("Pending", "Running")
            exit_status = first.kill()
            second = start_host(state, quantum_endpoint=simulator.url)
            hosts.append(second)
            again = requests.post(second.url + "/api/cancel-running-job", json=body, timeout=10)
            named = [instance_id, again.json().get("id", again.json().get("instanceId"))]
            document = wait_finished(second, instance_id) if instance_id else {}
            outputs = document.get("outputs") or {}
            # Kept before anything is checked: how the run ended after the kill, and which
            # instances answered and really started for the job.
            crash = records.add(
                "crash",
                level="host",
                heldRun=held,
                exitStatus=exit_status,
                runtimeStatus=document.get("runtimeStatus"),
                result={k: outputs.get(k) for k in DECISIONS} if outputs else None,
                expected={
                    "jobId": job_id,
                    "outcome": "cancelled",
                    "finalStatus": "Cancelled",
                    "cancelRequested": True,
                    "cancelHttpStatus": 204,
                    "apiVersion": "2026-01-15-preview",
                },
            )
            started_ids = started_instances(second, ORCHESTRATION, jobId=job_id)
            records.add("sends", named=named, started=started_ids)
            records.add("run", runtimeStatus=document.get("runtimeStatus"))
            second.stop()
            records.add(
                "texts",
                secret=sim_token,
                places={"first host log": first.log_text(), "second host log": second.log_text()},
            )
            where = f"run {run_number}, killed after {delay:.2f} s"
            assert started.status_code == 202, started.text
            assert again.status_code in (200, 202), again.text
            check_one_run(started_ids, named)
            assert document["runtimeStatus"] == "Completed", (where, document)
            assert crash["result"] == crash["expected"], where
            mine = [e for e in simulator.requests() if e["jobId"] == job_id]
            # At most one repeat: the cancel whose answer the kill lost.
            assert cancels_sent_again(mine) <= 1, (where, mine)
            assert [e for e in mine if e["operation"] == "Jobs_Cancel"], where
    finally:
        for host in hosts:
            if host.running:
                host.stop()
        records.add("requests", entries=simulator.requests(), jobs=jobs)
    found = records.figures()
    assert found["tokens_leaked"] == 0 and found["disallowed_requests"] == 0, found


def test_sigkilled_host_resumes_a_workspace_scale_cancel(
    simulator: SimulatorServer, sim_token: str, tmp_path: Path, records: SuiteRecords
) -> None:
    # A bulk run is SIGKILLed while its cancels are going out; a new host on the same state
    # resumes it. Every job ends cancelled, and the only cancels sent twice are those in flight
    # at the kill: scheduled in the stored state, their results never committed.
    simulator.clock.set_real()
    simulator.set_options(pageSize=100)
    count = sizes().bulk_kill_jobs
    lifecycle = {
        "before": [["Executing", {}]],
        "after": [["CancellationRequested", {"seconds": 1}], ["Cancelled", {}]],
    }
    jobs = [
        simulator.seed_job(lifecycle=lifecycle, details={"target": "ionq.simulator"})
        for _ in range(count)
    ]
    state = tmp_path / "bulk-state"
    first = start_host(state, quantum_endpoint=simulator.url)
    second: HostProcess | None = None
    held: dict[str, Any] = {}
    exit_status: int | None = None
    document: dict[str, Any] = {}
    try:
        body = {
            **{k: v for k, v in job_body(jobs[0]).items() if k not in ("jobId", "options")},
            "endpoint": simulator.url,
            "authToken": sim_token,
            "filter": {"target": ["ionq.simulator"]},
            "options": {
                "pollIntervalSeconds": 1,
                "maxPollIntervalSeconds": 2,
                "timeoutSeconds": 120,
                "maxRequestsPerSecond": 50,
            },
        }
        started = requests.post(first.url + "/api/cancel-jobs", json=body, timeout=10)
        assert started.status_code == 202, started.text
        instance_id = started.json()["id"]
        wait_for(
            lambda: (
                len([e for e in simulator.requests() if e["operation"] == "Jobs_Cancel"])
                >= count // 4
            ),
            timeout=60,
            message="a quarter of the cancels sent",
        )
        held = requests.get(f"{first.url}/api/cancel-jobs/{instance_id}", timeout=10).json()
        exit_status = first.kill()
        stored = JsonFileStore(state / "instances")
        in_flight = sum(
            item["name"] == "cancel_job"
            for key in stored.list_ids()
            for item in (stored.load(key) or {}).get("activities", [])
        )
        second = start_host(state, quantum_endpoint=simulator.url)
        document = wait_for(
            lambda: _bulk_finished(second, instance_id), timeout=180, message="bulk run resumed"
        )
    finally:
        for host in (first, second):
            if host is not None and host.running:
                host.stop()
        entries = simulator.requests()
        records.add("requests", entries=entries, jobs=jobs, listings=True)
        outcomes = (document.get("outputs") or {}).get("outcomes")
        records.add(
            "crash",
            level="host",
            heldRun=held.get("runtimeStatus") in ("Pending", "Running"),
            exitStatus=exit_status,
            runtimeStatus=document.get("runtimeStatus"),
            result=outcomes,
            expected={**dict.fromkeys(outcomes or {}, 0), "cancelled": count},
        )
    records.add("run", runtimeStatus=document["runtimeStatus"])
    assert document["runtimeStatus"] == "Completed", document
    assert document["outputs"]["outcomes"]["cancelled"] == count, document["outputs"]
    assert_confirmed_by_reads(entries, simulator, jobs)
    assert cancels_sent_again(entries) <= in_flight, (cancels_sent_again(entries), in_flight)
    assert records.figures()["disallowed_requests"] == 0
    assert sim_token not in first.log_text() + (second.log_text() if second else "")


def _bulk_finished(host: HostProcess, instance_id: str) -> dict[str, Any] | None:
    document: dict[str, Any] = requests.get(
        f"{host.url}/api/cancel-jobs/{instance_id}", timeout=10
    ).json()
    return document if document["runtimeStatus"] not in ("Pending", "Running") else None


def test_a_crash_counts_as_survived_only_when_its_run_completes_as_it_should(
    harness: Harness,
) -> None:
    # Planted: the engine that restarts after a crash has lost the store (a state directory
    # that does not persist). The same crashes happen; none is survived. Records kept out
    # of the session's table.
    scenario = ENGINE_SCENARIOS["cancelled"]
    request = harness.request(JOB, options=OPTIONS)
    expected = {"jobId": JOB, "outcome": "cancelled", "finalStatus": "Cancelled"}
    found = {}
    for planted in (False, True):
        _prepare(harness, scenario)
        fresh = Harness(harness.simulator, harness.token)

        def engine(crash_at: int | None, fresh: Harness = fresh, planted: bool = planted) -> Any:
            if planted and crash_at != 1:
                fresh = Harness(harness.simulator, harness.token)  # a new, empty store
            return fresh.engine(crash_at)

        instance_id = fresh.engine().start_new(ORCHESTRATION, instance_id_for(request), request)
        outcome = run_with_crashes(engine, [1, 4])
        status = outcome.engine.get_status(instance_id)
        output = status.output if status and isinstance(status.output, dict) else {}
        records = SuiteRecords("crashes", Evidence())
        for message in outcome.crashes:
            records.add(
                "crash",
                level="engine",
                message=message,
                runtimeStatus=status.runtime_status.value if status else None,
                result={k: output.get(k) for k in expected} if output else None,
                expected=expected,
            )
        found[planted] = (len(outcome.crashes), records.figures()["crashes_survived"])
    # (crashes that happened, crashes survived): with the store kept, both; without, none
    # (the first crash loses the run, so the second engine has nothing left to crash on).
    assert found[False] == (2, 2) and found[True][0] >= 1 and found[True][1] == 0, found
