"""Guardrails: the policy check, each condition at its boundary, and whole sweeps through the
app's real ``enforce_guardrails`` (function_app.app, devtools.durable's replay engine, virtual
time) against the simulator, held to its request log and to the events its local Event Grid
topic received."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from appsettings import load_settings
from devtools.durable import ManualClock
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from devtools.simulator.events import TOPIC_KEY
from tests.support.orchestration import Harness, Run
from triggers.guardrails import sweep_input
from workflow.guardrail_policy import (
    check_policy_document,
    check_policy_setting,
    check_policy_text,
    read_policy_file,
)
from workflow.guardrail_rules import reasons
from workflow.inputs import checked_cancel_input, instance_id_for
from workflow.instance_ids import SWEEP_INSTANCE_ID

QPU = "ionq.qpu.aria-1"
# Running until cancelled; Cancelled on the first read after the cancel.
RUNNING = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
QUEUED = {"before": [["Waiting", {}]], "after": [["Cancelled", {}]]}
WORKSPACE = {
    "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
    "resourceGroupName": DEFAULT_RESOURCE_GROUP,
    "workspaceName": DEFAULT_WORKSPACE,
}


@pytest.fixture
def guard(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A harness whose virtual clock starts at the simulator's wall time (job ages line up),
    the app signing in with the identity the simulator stands in for, and events going to
    the simulator's local Event Grid topic."""
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{simulator.url}/_simulator/identity/token")
    monkeypatch.setenv("IDENTITY_HEADER", "guardrail-tests")
    monkeypatch.setenv("EVENTS_TOPIC_ENDPOINT", f"{simulator.url}/api/events")
    monkeypatch.setenv("EVENTS_TOPIC_KEY", TOPIC_KEY)
    monkeypatch.setenv("CANCEL_POLL_INTERVAL_SECONDS", "5")
    simulator.set_options(token=None)
    start = simulator.clock.wall(simulator.clock.now())
    harness = Harness(simulator, "unused", clock=ManualClock(start))
    yield harness
    harness.close()


def seed(sim: SimulatorServer, minutes: float, lifecycle: Any = RUNNING, **more: Any) -> str:
    """A job on the QPU that began executing (or was created, when queued) ``minutes`` ago."""
    ages = {"creationTime": minutes * 60 + 60, "beginExecutionTime": minutes * 60}
    if lifecycle is QUEUED:
        ages = {"creationTime": minutes * 60}
    details = {"target": QPU, "providerId": "ionq", **more.pop("details", {})}
    return sim.seed_job(lifecycle=lifecycle, details=details, ages=ages, **more)


def policy(
    *rules: dict[str, Any], workspaces: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"workspaces": workspaces or [dict(WORKSPACE)], "rules": list(rules)}


def rule(name: str = "qpu-runtime", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "filter": {"target": [QPU]},
        "when": {"runningMinutesOver": 120},
        "action": "cancel",
        **changes,
    }


def sweep(guard: Harness, document: dict[str, Any], dry_run: bool = False) -> Run:
    check = check_policy_document(document)
    assert check.ok, check.problems
    env_endpoint = {"endpoint": guard.simulator.url}
    for workspace in check.policy["workspaces"]:  # type: ignore[index]
        workspace.setdefault("endpoint", env_endpoint["endpoint"])  # type: ignore[typeddict-item]
    request = sweep_input(check, load_settings(), dry_run)
    return guard.run_orchestration("enforce_guardrails", SWEEP_INSTANCE_ID, request)


def cancels(run: Run) -> Counter[str]:
    return Counter(str(e["jobId"]).lower() for e in run.calls("Jobs_Cancel"))


def rule_report(run: Run, name: str) -> dict[str, Any]:
    return next(r for r in run.outputs["rules"] if r["name"] == name)


def events_of(sim: SimulatorServer, kind: str) -> list[dict[str, Any]]:
    return [e for e in sim.received_events() if e["eventType"] == kind]


# -- the policy check ---------------------------------------------------------------------
def problems_of(document: object) -> dict[str, str]:
    check = check_policy_document(document)
    assert check.policy is None
    return {p.name: p.reason for p in check.problems}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "policy"),
        ({"workspaces": [WORKSPACE]}, "rules"),
        (policy(), "rules"),  # empty rules
        ({**policy(rule()), "extra": 1}, "extra"),
        (policy(rule(colour="red")), "rules[0].colour"),
        (policy(rule(when={"runningMinutesOver": "120"})), "rules[0].when.runningMinutesOver"),
        (policy(rule(when={"runningMinutesOver": 0})), "rules[0].when.runningMinutesOver"),
        (policy(rule(when={"runningMinutesOver": True})), "rules[0].when.runningMinutesOver"),
        (policy(rule(when={})), "rules[0].when"),
        (policy(rule(when={"costEstimateOver": -1})), "rules[0].when.costEstimateOver"),
        (policy(rule(when={"runningMinutesOver": 5, "slow": 1})), "rules[0].when.slow"),
        (
            policy(rule(when={"quotaUtilizationOver": {"dimension": "qgs", "fraction": 0.9}})),
            "rules[0].when.quotaUtilizationOver.providerId",
        ),
        (
            policy(
                rule(
                    when={
                        "quotaUtilizationOver": {
                            "dimension": "q",
                            "providerId": "ionq",
                            "fraction": 2,
                        }
                    }
                )
            ),
            "rules[0].when.quotaUtilizationOver.fraction",
        ),
        (policy(rule(action="delete")), "rules[0].action"),
        (policy(rule(maxJobsPerSweep=0)), "rules[0].maxJobsPerSweep"),
        (policy(rule(maxJobsPerSweep=1001)), "rules[0].maxJobsPerSweep"),
        (policy(rule(name="bad name!")), "rules[0].name"),
        (policy(rule(), rule(name="QPU-runtime")), "rules[1].name"),
        (policy(rule(filter={"status": ["Succeeded"]})), "rules[0].filter.status"),
        (policy(rule(filter={"target": "ionq"})), "rules[0].filter.target"),
        (policy(rule(filter={"owner": ["x"]})), "rules[0].filter.owner"),
        (
            policy(rule(), workspaces=[{**WORKSPACE, "subscriptionId": "nope"}]),
            "workspaces[0].subscriptionId",
        ),
        (
            policy(rule(), workspaces=[{**WORKSPACE, "endpoint": "https://evil.example.com"}]),
            "workspaces[0].endpoint",
        ),
        (policy(rule(), workspaces=[WORKSPACE, WORKSPACE]), "workspaces[1]"),
        (
            policy(rule(), workspaces=[{**WORKSPACE, "apiVersion": "latest"}]),
            "workspaces[0].apiVersion",
        ),
        ({"workspaces": [WORKSPACE] * 51, "rules": [rule()]}, "workspaces"),
    ],
)
def test_every_bad_policy_names_its_problem_by_json_path(document: object, path: str) -> None:
    found = problems_of(document)
    assert path in found, found


def test_all_problems_are_listed_at_once_with_their_reasons() -> None:
    found = problems_of(
        policy(rule(when={"runningMinutesOver": -5}, action="stop"), rule(name="x", when={}))
    )
    assert found["rules[0].when.runningMinutesOver"] == "must be a number > 0"
    assert set(found) >= {"rules[0].action", "rules[1].when"}


def test_a_good_policy_loads_with_its_defaults_filled_in() -> None:
    check = check_policy_document(policy(rule()))
    assert check.ok and not check.problems
    loaded = check.policy["rules"][0]  # type: ignore[index]
    assert loaded["maxJobsPerSweep"] == 100
    assert "Executing" in loaded["filter"]["status"]  # the bulk path's default statuses


def test_policy_text_files_and_the_setting(tmp_path: Path) -> None:
    assert check_policy_text("{not json").problems[0].reason == "is not valid JSON"
    assert (
        read_policy_file(tmp_path / "missing.json")
        .problems[0]
        .reason.startswith("names a file that does not exist")
    )
    (tmp_path / "policy.json").write_text(json.dumps(policy(rule())), encoding="utf-8")
    (tmp_path / "broken.json").write_text("[1,", encoding="utf-8")
    assert check_policy_setting("@policy.json", tmp_path).ok  # type: ignore[union-attr]
    assert not check_policy_setting("@broken.json", tmp_path).ok  # type: ignore[union-attr]
    outside = check_policy_setting("@../policy.json", tmp_path / "sub")
    assert outside is not None and "inside the app's folder" in outside.problems[0].reason
    assert check_policy_setting("", tmp_path) is None
    assert check_policy_setting(json.dumps(policy(rule())), tmp_path).ok  # type: ignore[union-attr]


# -- conditions at their boundaries ---------------------------------------------------------
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def job(status: str, **fields: Any) -> dict[str, Any]:
    return {"jobId": "j", "status": status, "providerId": "ionq", **fields}


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_each_condition_holds_just_past_its_boundary() -> None:
    running = {"runningMinutesOver": 120.0}
    assert reasons(job("Executing", beginExecutionTime=ago(121)), running, NOW, None) == [
        "running 121 min > 120"
    ]
    assert reasons(job("Executing", beginExecutionTime=ago(119)), running, NOW, None) is None
    assert reasons(job("Executing", beginExecutionTime=ago(120)), running, NOW, None) is None
    assert reasons(job("Waiting", beginExecutionTime=ago(300)), running, NOW, None) is None
    queued = {"queuedMinutesOver": 30.0}
    assert reasons(job("Queued", creationTime=ago(31)), queued, NOW, None) == ["queued 31 min > 30"]
    assert reasons(job("Waiting", creationTime=ago(29)), queued, NOW, None) is None
    assert reasons(job("Executing", creationTime=ago(99)), queued, NOW, None) is None
    cost = {"costEstimateOver": 10.0}
    assert reasons(job("Executing", costEstimate=10.5), cost, NOW, None) == [
        "cost estimate 10.5 > 10"
    ]
    assert reasons(job("Executing", costEstimate=10.0), cost, NOW, None) is None
    assert reasons(job("Executing"), cost, NOW, None) is None  # no estimate: never matches
    quota = {"quotaUtilizationOver": {"dimension": "qgs", "providerId": "ionq", "fraction": 0.9}}
    full = [{"dimension": "qgs", "providerId": "ionq", "utilization": 95, "limit": 100}]
    low = [{"dimension": "qgs", "providerId": "ionq", "utilization": 89, "limit": 100}]
    assert reasons(job("Executing"), quota, NOW, full) == ["quota qgs of ionq at 0.95 >= 0.9"]  # type: ignore[arg-type]
    assert reasons(job("Executing"), quota, NOW, low) is None  # type: ignore[arg-type]
    other = job("Executing", providerId="quantinuum")
    assert reasons(other, quota, NOW, full) is None  # type: ignore[arg-type]


# -- sweeps ---------------------------------------------------------------------------------
def test_a_sweep_cancels_exactly_the_jobs_past_the_limit(guard: Harness) -> None:
    sim = guard.simulator
    over = seed(sim, 121)
    under = seed(sim, 119)
    other_target = seed(sim, 300, details={"target": "ionq.simulator"})
    finished = seed(sim, 300, lifecycle="already-succeeded")
    stopping = seed(sim, 300, lifecycle="stuck-cancelling")
    run = sweep(guard, policy(rule()))
    assert cancels(run) == Counter({over: 1})
    report = rule_report(run, "qpu-runtime")
    assert (report["matched"], report["acted"], report["outcome"]) == (1, 1, "acted")
    [entry] = report["jobs"]
    assert entry["jobId"] == over and entry["reason"] == "qpu-runtime: running 121 min > 120"
    assert entry["started"] is True and entry["instanceId"].startswith(f"cancel-{over}")
    assert not {under, other_target, finished, stopping} & set(cancels(run))
    # The cancellation is the job's usual run, started through the client as the triggers
    # start it (no parent: the sweep did not wait for it), marked as the guardrail's.
    child = guard.engine().get_status(entry["instanceId"], show_history=True)
    [started] = [e for e in child.history or [] if e["EventType"] == 0]  # type: ignore[union-attr]
    assert started["ParentInstance"] is None
    assert child is not None and child.output["trigger"] == "guardrail"
    assert child.output["rule"] == "qpu-runtime" and child.output["outcome"] == "cancelled"


def test_queued_and_cost_conditions_select_their_jobs(guard: Harness) -> None:
    sim = guard.simulator
    waiting = seed(sim, 31, lifecycle=QUEUED)
    seed(sim, 29, lifecycle=QUEUED)
    costly = seed(sim, 5, cost_estimate=12.5)
    seed(sim, 5, cost_estimate=9.0)
    seed(sim, 5)  # no cost estimate
    run = sweep(
        guard,
        policy(
            rule("queued", when={"queuedMinutesOver": 30}),
            rule("costly", when={"costEstimateOver": 10}, action="alert"),
        ),
    )
    assert cancels(run) == Counter({waiting: 1})
    assert [j["jobId"] for j in rule_report(run, "costly")["jobs"]] == [costly]
    alerts = [
        e for e in events_of(sim, "Quantum.Guardrail.Violation") if e["data"]["action"] == "alert"
    ]
    assert [e["data"]["jobId"] for e in alerts] == [costly]


def test_a_quota_rule_acts_only_on_its_providers_jobs(guard: Harness) -> None:
    sim = guard.simulator
    sim.set_quotas([{"dimension": "qgs", "providerId": "ionq", "utilization": 95, "limit": 100}])
    ionq = seed(sim, 1)
    seed(sim, 1, details={"providerId": "quantinuum", "target": QPU})
    when = {"quotaUtilizationOver": {"dimension": "qgs", "providerId": "ionq", "fraction": 0.9}}
    run = sweep(guard, policy(rule("quota", when=when)))
    assert cancels(run) == Counter({ionq: 1})
    assert len(run.calls("Quotas_List")) == 1


def test_a_rule_over_max_jobs_per_sweep_cancels_nothing_and_alerts_once(guard: Harness) -> None:
    sim = guard.simulator
    for _ in range(4):
        seed(sim, 200)
    run = sweep(guard, policy(rule(maxJobsPerSweep=3)))
    assert run.calls("Jobs_Cancel") == []
    report = rule_report(run, "qpu-runtime")
    assert (report["matched"], report["acted"], report["outcome"]) == (4, 0, "tooManyJobs")
    [alert] = events_of(sim, "Quantum.Guardrail.Violation")
    assert alert["data"]["action"] == "tooManyJobs" and alert["data"]["matched"] == 4


def test_a_dry_run_sends_no_cancel_and_no_event(guard: Harness) -> None:
    sim = guard.simulator
    seed(sim, 200)
    run = sweep(guard, policy(rule()), dry_run=True)
    assert run.calls("Jobs_Cancel") == [] and sim.event_attempts == []
    report = rule_report(run, "qpu-runtime")
    assert (report["matched"], report["acted"], report["outcome"]) == (1, 0, "dryRun")


def test_cancel_wins_over_alert_and_the_report_names_every_rule(guard: Harness) -> None:
    sim = guard.simulator
    both = seed(sim, 200, cost_estimate=50.0)
    run = sweep(
        guard,
        policy(rule("costly", when={"costEstimateOver": 10}, action="alert"), rule("runtime")),
    )
    assert cancels(run) == Counter({both: 1})
    [entry] = rule_report(run, "costly")["jobs"]
    assert entry["rules"] == ["costly", "runtime"] and entry["action"] == "cancel"
    assert "running 200 min > 120" in entry["reason"] and "cost estimate 50 > 10" in entry["reason"]
    violations = events_of(sim, "Quantum.Guardrail.Violation")
    assert [(e["data"]["rule"], e["data"]["action"]) for e in violations] == [("runtime", "cancel")]


def test_a_job_whose_run_is_going_gets_no_second_cancel(guard: Harness) -> None:
    sim = guard.simulator
    slow = seed(sim, 200, lifecycle={"before": [["Executing", {}]], "after": [["Executing", {}]]})
    # An operator's cancellation is running (the job still reads Executing).
    request = checked_cancel_input(
        {
            **WORKSPACE,
            "jobId": slow,
            "endpoint": sim.url,
            "options": {"pollIntervalSeconds": 5, "timeoutSeconds": 600},
        },
        load_settings(),
    )
    engine = guard.engine()
    engine.start_new("cancel_running_job", instance_id_for(request), request)
    engine.run_until_idle(max_steps=6, raise_on_budget=False)
    assert len(cancels_of(sim, slow)) == 1
    run = sweep(guard, policy(rule()))
    [entry] = rule_report(run, "qpu-runtime")["jobs"]
    assert (entry["instanceId"], entry["started"]) == (instance_id_for(request), False)
    assert len(cancels_of(sim, slow)) == 1
    # The operator's run is the one that ran; it was not replaced by a guardrail run.
    operator = guard.engine().get_status(instance_id_for(request))
    assert operator is not None and operator.input["trigger"] == "http"


def test_a_sweep_ends_without_waiting_for_its_cancellations(guard: Harness) -> None:
    sim = guard.simulator
    job_id = seed(sim, 200, lifecycle=SLOW)
    engine = guard.engine()
    engine.start_new("enforce_guardrails", SWEEP_INSTANCE_ID, sweep_request(guard))
    done = step_until(engine, lambda: finished(engine, SWEEP_INSTANCE_ID))
    [entry] = done.output["rules"][0]["jobs"]
    child = engine.get_status(entry["instanceId"])
    # The sweep is over while its cancellation is still confirming.
    assert child is not None and child.runtime_status.value in ("Pending", "Running")
    assert sim.job_state(job_id)["status"] != "Cancelled"
    assert events_of(sim, "Quantum.Job.CancellationFinished") == []
    engine.run_until_idle()
    child = engine.get_status(entry["instanceId"])
    assert child is not None and child.output["outcome"] == "cancelled"
    [finished_event] = events_of(sim, "Quantum.Job.CancellationFinished")
    assert finished_event["data"]["instanceId"] == entry["instanceId"]
    assert finished_event["data"]["rule"] == "qpu-runtime"


#: Takes the cancel, then reads Executing for two minutes before Cancelled.
SLOW = {
    "before": [["Executing", {}]],
    "after": [["Executing", {"seconds": 120}], ["Cancelled", {}]],
}


def sweep_request(guard: Harness) -> Any:
    check = check_policy_document(
        policy(rule(), workspaces=[{**WORKSPACE, "endpoint": guard.simulator.url}])
    )
    return sweep_input(check, load_settings(), False)


def finished(engine: Any, instance_id: str) -> Any:
    status = engine.get_status(instance_id)
    done = status is not None and status.runtime_status.value == "Completed"
    return status if done else None


def step_until(engine: Any, condition: Any, most: int = 10_000) -> Any:
    """Run the engine one step at a time until ``condition()`` gives a value."""
    for _ in range(most):
        found = condition()
        if found:
            return found
        engine.run_until_idle(max_steps=1, raise_on_budget=False)
    raise AssertionError("the condition never held")


def cancels_of(sim: SimulatorServer, job_id: str) -> list[dict[str, Any]]:
    return [e for e in sim.requests() if e["operation"] == "Jobs_Cancel" and e["jobId"] == job_id]


def test_one_unreachable_workspace_does_not_stop_the_others(guard: Harness) -> None:
    sim = guard.simulator
    over = seed(sim, 200)
    # Nothing listens on port 9: every listing attempt is refused, retried, then given up.
    gone = {**WORKSPACE, "workspaceName": "ws-gone", "endpoint": "http://127.0.0.1:9"}
    run = sweep(guard, policy(rule(), workspaces=[gone, dict(WORKSPACE)]))
    assert run.status.runtime_status.value == "Completed"
    assert cancels(run) == Counter({over: 1})
    failed = [w for w in run.outputs["workspaces"] if not w["ok"]]
    assert [w["workspaceName"] for w in failed] == ["ws-gone"]
    assert "ConnectError" in failed[0]["error"] and "ws-gone" in failed[0]["error"]


# -- outcome events ---------------------------------------------------------------------------
def test_one_event_per_fact_with_no_token(guard: Harness) -> None:
    sim = guard.simulator
    over = seed(sim, 200)
    sweep(guard, policy(rule()))
    kinds = Counter(e["eventType"] for e in sim.received_events())
    assert kinds == Counter(
        {"Quantum.Guardrail.Violation": 1, "Quantum.Job.CancellationFinished": 1}
    )
    [finished] = events_of(sim, "Quantum.Job.CancellationFinished")
    assert finished["subject"].endswith(f"/jobs/{over}") and finished["dataVersion"] == "1.0"
    assert finished["data"]["outcome"] == "cancelled" and finished["data"]["trigger"] == "guardrail"
    text = json.dumps(sim.received_events())
    assert "sealedToken" not in text and "authToken" not in text and "Bearer" not in text


def test_a_refused_publish_is_retried_with_the_same_ids_and_changes_no_outcome(
    guard: Harness,
) -> None:
    sim = guard.simulator
    sim.refuse_events(503, 503)
    [job_id] = [seed(sim, 1)]
    run = guard.run(guard.request(job_id, authToken="caller-token-1"))
    assert run.outputs["outcome"] == "cancelled"
    attempts = sim.event_attempts
    assert [a["status"] for a in attempts] == [503, 503, 200]
    assert len({tuple(a["ids"]) for a in attempts}) == 1  # the same event id every attempt
    assert "caller-token-1" not in json.dumps(sim.received_events())
    assert len(cancels(run)) == 1


def test_a_topic_that_stays_down_never_fails_or_repeats_the_cancel(guard: Harness) -> None:
    sim = guard.simulator
    sim.refuse_events(*[503] * 10)
    job_id = seed(sim, 1)
    run = guard.run(guard.request(job_id))
    assert run.outputs["outcome"] == "cancelled"
    assert [a["status"] for a in sim.event_attempts] == [503] * 5  # bounded: five attempts
    assert sim.received_events() == [] and len(cancels(run)) == 1


def test_a_failed_run_publishes_failed_and_a_bulk_run_its_totals(guard: Harness) -> None:
    sim = guard.simulator
    missing = "0a1b2c3d-0000-4000-8000-0000000b0404"
    run = guard.run(guard.request(missing))
    assert run.status.runtime_status.value == "Failed"
    [failed] = events_of(sim, "Quantum.Job.CancellationFinished")
    assert failed["data"]["outcome"] == "failed" and "HTTP 404" in failed["data"]["error"]
    seed(sim, 1)
    from workflow.bulk_inputs import bulk_instance_id, checked_bulk_input

    request = checked_bulk_input(
        {**WORKSPACE, "endpoint": sim.url, "filter": {"target": [QPU]}}, load_settings()
    )
    guard.run_orchestration("cancel_jobs", bulk_instance_id(request), request)
    [bulk] = events_of(sim, "Quantum.Workspace.CancellationFinished")
    assert bulk["data"]["outcomes"]["cancelled"] == 1 and "jobs" not in bulk["data"]
    assert bulk["data"]["trigger"] == "http"


def test_a_second_sweep_while_the_first_ones_cancellations_run_sends_no_second_cancel(
    guard: Harness,
) -> None:
    sim = guard.simulator
    job_id = seed(sim, 200, lifecycle=SLOW)
    request = sweep_request(guard)
    engine = guard.engine()
    engine.start_new("enforce_guardrails", SWEEP_INSTANCE_ID, request)
    # Sweeps share one instance id: a second start while the first runs is refused.
    with pytest.raises(Exception, match="already exists"):
        engine.start_new("enforce_guardrails", SWEEP_INSTANCE_ID, request)
    first = step_until(engine, lambda: finished(engine, SWEEP_INSTANCE_ID))
    step_until(engine, lambda: cancels_of(sim, job_id))
    [entry] = first.output["rules"][0]["jobs"]
    assert entry["started"] is True
    # The next sweep starts while the first one's cancellation still runs, finds the job
    # (still reading Executing) and its run going, and starts nothing.
    engine.start_new("enforce_guardrails", SWEEP_INSTANCE_ID, request)
    second = step_until(engine, lambda: finished(engine, SWEEP_INSTANCE_ID))
    child = engine.get_status(entry["instanceId"])
    assert child is not None and child.runtime_status.value == "Running"
    [again] = second.output["rules"][0]["jobs"]
    assert (again["instanceId"], again["started"]) == (entry["instanceId"], False)
    engine.run_until_idle()
    print("Jobs_Cancel requests for the job:", len(cancels_of(sim, job_id)))
    assert len(cancels_of(sim, job_id)) == 1
    assert engine.get_status(entry["instanceId"]).output["outcome"] == "cancelled"  # type: ignore[union-attr]


def test_the_benchmark_figures_come_from_the_simulator_log_and_move_with_the_cap(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.guardrail_sweep import measure

    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")
    capped = measure(simulator, workspaces=3, jobs=100, cap=2)
    assert capped.list_pages == 3 and capped.cancelled == 6  # 2 runaways per 100 jobs
    assert capped.by_operation["Jobs_Cancel"] == 6 and capped.busiest_second <= 2
    assert capped.busiest_second_all >= capped.busiest_second
    # The planted defect: a cap ten times higher lets the same listing burst past 2 a second.
    loose = measure(simulator, workspaces=3, jobs=100, cap=20)
    assert loose.requests == capped.requests and loose.busiest_second > 2


def test_a_bulk_run_that_stops_publishes_failed(guard: Harness) -> None:
    from workflow.bulk_inputs import bulk_instance_id, checked_bulk_input

    sim = guard.simulator
    sim.add_fault({"operation": "Jobs_List", "httpStatus": 403, "count": 50})
    request = checked_bulk_input({**WORKSPACE, "endpoint": sim.url, "filter": {}}, load_settings())
    run = guard.run_orchestration("cancel_jobs", bulk_instance_id(request), request)
    assert run.status.runtime_status.value == "Failed"
    [stopped] = events_of(sim, "Quantum.Workspace.CancellationFinished")
    assert stopped["data"]["outcome"] == "failed" and "HTTP 403" in stopped["data"]["error"]


def test_a_loopback_workspace_needs_the_loopback_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from triggers.guardrails import PolicyNotUsable

    check = check_policy_document(
        policy(rule(), workspaces=[{**WORKSPACE, "endpoint": "http://127.0.0.1:8090"}])
    )
    assert check.ok  # the form is right; whether loopback may be used is the app's setting
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "false")
    with pytest.raises(PolicyNotUsable) as refused:
        sweep_input(check, load_settings(), dry_run=False)
    assert refused.value.problems[0].name == "workspaces[0].endpoint"


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2026-12-02T07:41:13", "2026-12-02T07:45:00"),
        ("*/2 * * * * *", "2026-12-02T07:41:13", "2026-12-02T07:41:14"),
        ("0 30 9 * * 1-5", "2026-12-05T10:00:00", "2026-12-07T09:30:00"),  # Sat → Mon
        ("15,45 0 0 1 1 *", "2026-12-02T00:00:00", "2027-01-01T00:00:15"),
        ("0 30 9 * Jan Mon", "2026-12-02T00:00:00", "2027-01-04T09:30:00"),
    ],
)
def test_the_host_reads_ncrontab_as_the_functions_host_does(
    schedule: str, after: str, expected: str
) -> None:
    from devtools.host.timers import parse_schedule

    moment = datetime.fromisoformat(after).replace(tzinfo=timezone.utc)
    fires = parse_schedule(schedule).next_after(moment)
    assert fires == datetime.fromisoformat(expected).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "schedule", ["0 */5 * * *", "0 61 * * * *", "x * * * * *", "0 0 0 31 2 *", "0 0 0 * Foo *"]
)
def test_a_schedule_the_host_cannot_use_is_refused(schedule: str) -> None:
    from devtools.host.timers import ScheduleError, parse_schedule

    with pytest.raises((ScheduleError, ValueError)):
        parse_schedule(schedule).next_after(NOW)


def test_too_many_jobs_names_every_workspace_even_past_the_reported_jobs(guard: Harness) -> None:
    sim = guard.simulator
    sim.set_options(pageSize=100)
    other = {**WORKSPACE, "workspaceName": "ws-other"}
    for _ in range(110):
        seed(sim, 200)
    sim.seed_job(
        workspace="ws-other",
        lifecycle=RUNNING,
        details={"target": QPU, "providerId": "ionq"},
        ages={"creationTime": 200 * 60 + 60, "beginExecutionTime": 200 * 60},
    )
    run = sweep(guard, policy(rule(), workspaces=[dict(WORKSPACE), other]))
    report = rule_report(run, "qpu-runtime")
    assert (report["matched"], report["outcome"], len(report["jobs"])) == (111, "tooManyJobs", 100)
    assert run.calls("Jobs_Cancel") == []
    [alert] = events_of(sim, "Quantum.Guardrail.Violation")
    named = {w["workspaceName"] for w in alert["data"]["workspace"]}
    assert named == {DEFAULT_WORKSPACE, "ws-other"} and alert["data"]["matched"] == 111


def test_a_long_listing_continues_as_new_and_loses_nothing(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.guardrail_sweep import measure
    from orchestrators.enforce_guardrails import LIST_TICKS

    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")
    # One page a second across more workspaces than one execution lists.
    row = measure(simulator, workspaces=LIST_TICKS + 3, jobs=120, cap=1)
    assert row.list_pages == 2 * (LIST_TICKS + 3)
    assert row.cancelled == 3 * (LIST_TICKS + 3)  # jobs 0, 50 and 100 of each workspace
    assert row.busiest_second <= 1
    assert row.generations >= 4  # listing slices, then acting


def test_pages_wait_for_a_throttled_quota_and_are_then_evaluated(guard: Harness) -> None:
    sim = guard.simulator
    sim.set_quotas([{"dimension": "qgs", "providerId": "ionq", "utilization": 95, "limit": 100}])
    sim.add_fault({"operation": "Quotas_List", "httpStatus": 503, "count": 1})
    job_id = seed(sim, 1)
    when = {"quotaUtilizationOver": {"dimension": "qgs", "providerId": "ionq", "fraction": 0.9}}
    run = sweep(guard, policy(rule("quota", when=when)))
    # The page came in while Quotas_List was retried; it was held, then evaluated.
    assert [e["status"] for e in run.calls("Quotas_List")] == [503, 200]
    assert cancels(run) == Counter({job_id: 1})
