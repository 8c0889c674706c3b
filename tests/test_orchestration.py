"""The cancel_running_job orchestration, every branch, through the real replay engine.

Each test runs the orchestration registered in function_app.app in devtools.durable (real
history, replay determinism checked on every episode) against the simulator over HTTP, and
asserts on the outputs and on the simulator's request log.
"""

from __future__ import annotations

import base64
import itertools
import os
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from devtools.durable.errors import SimulatedCrash
from devtools.durable.functions import ActivityOutcome
from tests.support.orchestration import ORCHESTRATION, Harness
from workflow.inputs import instance_id_for
from workflow.times import parse_iso

JOB = "0a1b2c3d-0000-4000-8000-00000000c0de"
# Moves by time only, so an activity that runs again after a crash reads the same status.
TIMED_CANCEL = {
    "before": [["Executing", {}]],
    "after": [["Executing", {"seconds": 12}], ["Cancelling", {"seconds": 20}], ["Cancelled", {}]],
}
SECONDS = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 1800}


def start_executing(harness: Harness, lifecycle: object = "default", **params: object) -> None:
    """Seed a job on ``lifecycle`` (the default one answers Waiting to its first read)."""
    harness.simulator.seed_job(JOB, lifecycle=lifecycle, lifecycle_params=params or None)


@pytest.mark.parametrize(
    ("lifecycle", "status"),
    [
        ("already-succeeded", "Succeeded"),
        ("already-failed", "Failed"),
        ("already-cancelled", "Cancelled"),
        ("already-completed", "Completed"),
    ],
)
def test_finished_job_gets_no_cancel(harness: Harness, lifecycle: str, status: str) -> None:
    harness.simulator.seed_job(JOB, lifecycle=lifecycle)
    run = harness.run(harness.request(JOB))
    outputs = run.outputs
    assert outputs["outcome"] == "alreadyTerminal"
    assert outputs["finalStatus"] == status
    assert outputs["cancelRequested"] is False
    assert [e["operation"] for e in run.calls()] == ["Jobs_Get"]


def test_running_job_is_cancelled_and_confirmed(harness: Harness) -> None:
    start_executing(harness)
    run = harness.run(harness.request(JOB, options=SECONDS))
    outputs = run.outputs
    assert outputs["outcome"] == "cancelled"
    assert outputs["finalStatus"] == "Cancelled"
    assert outputs["cancellationTime"]
    assert outputs["cancelRequested"] is True and outputs["cancelHttpStatus"] == 204
    gets = run.calls("Jobs_Get")
    assert len(run.calls("Jobs_Cancel")) == 1
    assert outputs["polls"] == len(gets) - 1 == 3
    # The first wait is pollIntervalSeconds, then it doubles.
    cancel_at = run.calls("Jobs_Cancel")[0]["clock"]
    gaps = [
        round(b["clock"] - a, 3)
        for a, b in zip([cancel_at] + [g["clock"] for g in gets[1:]], gets[1:], strict=False)
    ]
    assert gaps == [5.0, 10.0, 20.0]
    # A fresh GUID per attempt (the service's logs know the request by it), never reused.
    ids = [e["clientRequestId"] for e in run.calls()]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i) for i in ids)
    assert run.status.custom_status["lastStatus"] == "Cancelled"


def test_job_still_executing_after_the_cancel(harness: Harness) -> None:
    start_executing(harness, "executing-after-cancel")
    run = harness.run(harness.request(JOB, options=SECONDS))
    assert run.outputs["outcome"] == "cancelled"
    statuses = [e for e in run.calls("Jobs_Get")]
    assert len(statuses) >= 5  # three stale "Executing" reads did not stop the polling
    assert len(run.calls("Jobs_Cancel")) == 1


def test_queued_job_is_cancelled(harness: Harness) -> None:
    start_executing(harness, "queued-finishing")
    run = harness.run(harness.request(JOB))
    assert run.outputs["outcome"] == "cancelled"


def test_cancel_during_finishing_loses_the_race(harness: Harness) -> None:
    harness.simulator.seed_job(
        JOB,
        lifecycle={
            "before": [["Finishing", {"reads": 5}], ["Succeeded", {}]],
            "after": [["Cancelled", {}]],
            "afterCancelWhen": {"Finishing": [["Finishing", {"reads": 1}], ["Succeeded", {}]]},
        },
    )
    run = harness.run(harness.request(JOB))
    assert run.outputs["outcome"] == "finishedBeforeCancel"
    assert run.outputs["finalStatus"] == "Succeeded"
    assert run.outputs["cancellationTime"] is None


def test_unknown_status_is_not_final(harness: Harness) -> None:
    harness.simulator.seed_job(
        JOB,
        lifecycle={
            "before": [["Executing", {}]],
            "after": [["Paused", {"reads": 3}], ["Cancelled", {}]],
        },
    )
    run = harness.run(harness.request(JOB, options=SECONDS))
    assert run.outputs["outcome"] == "cancelled"
    assert run.outputs["polls"] == 4


@pytest.mark.parametrize(
    ("lifecycle", "final"), [("loses-race-succeeded", "Succeeded"), ("loses-race-failed", "Failed")]
)
def test_cancel_that_loses_the_race(harness: Harness, lifecycle: str, final: str) -> None:
    start_executing(harness, lifecycle)
    run = harness.run(harness.request(JOB))
    assert run.outputs["outcome"] == "finishedBeforeCancel"
    assert run.outputs["finalStatus"] == final
    assert run.outputs["cancelRequested"] is True


def test_conflict_because_the_job_just_finished(harness: Harness) -> None:
    harness.simulator.seed_job(
        JOB,
        lifecycle={
            "before": [["Executing", {"reads": 1}], ["Succeeded", {}]],
            "after": [["Cancelled", {}]],
        },
    )
    run = harness.run(harness.request(JOB, options=SECONDS))
    outputs = run.outputs
    assert outputs["outcome"] == "finishedBeforeCancel"
    assert outputs["cancelRequested"] is False and outputs["cancelHttpStatus"] == 409
    cancel, confirm = run.calls("Jobs_Cancel")[0], run.calls("Jobs_Get")[1]
    assert confirm["clock"] == cancel["clock"]  # confirmed at once, no wait
    assert outputs["polls"] == 1


def test_stuck_in_cancelling_times_out(harness: Harness) -> None:
    start_executing(harness, "stuck-cancelling")
    options = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 60, "timeoutSeconds": 600}
    run = harness.run(harness.request(JOB, options=options))
    outputs = run.outputs
    assert outputs["outcome"] == "timedOut"
    assert outputs["finalStatus"] == "Cancelling"
    last = run.calls("Jobs_Get")[-1]
    assert last["clock"] - run.calls("Jobs_Get")[0]["clock"] == pytest.approx(600)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_throttled_cancel_waits_as_long_as_asked(harness: Harness, form: str) -> None:
    start_executing(harness)
    if form == "seconds":
        rule = {"retryAfter": 45}
    else:
        # An HTTP-date is absolute: 45 s after the wall clock now (the client reads it so).
        moment = datetime.now(timezone.utc).timestamp() + 45
        rule = {
            "retryAfter": format_datetime(datetime.fromtimestamp(moment, timezone.utc), usegmt=True)
        }
    harness.simulator.add_fault({"operation": "Jobs_Cancel", "httpStatus": 429, "count": 2, **rule})
    run = harness.run(harness.request(JOB))
    assert run.outputs["outcome"] == "cancelled"
    cancels = run.calls("Jobs_Cancel")
    assert [c["status"] for c in cancels] == [429, 429, 204]
    for earlier, later in itertools.pairwise(cancels):
        assert later["clock"] - earlier["clock"] >= 43  # never sooner than asked
    assert run.outputs["activityCalls"] == len(run.calls())


def test_burst_of_503s_is_retried_with_backoff(harness: Harness) -> None:
    start_executing(harness)
    harness.simulator.add_fault({"operation": "Jobs_Get", "httpStatus": 503, "count": 4})
    run = harness.run(harness.request(JOB))
    assert run.outputs["outcome"] == "cancelled"
    gets = run.calls("Jobs_Get")
    assert [g["status"] for g in gets[:5]] == [503, 503, 503, 503, 200]
    gaps = [round(b["clock"] - a["clock"]) for a, b in itertools.pairwise(gets[:5])]
    assert gaps == [2, 4, 8, 16]


def test_retries_are_bounded(harness: Harness) -> None:
    start_executing(harness)
    harness.simulator.add_fault({"operation": "Jobs_Get", "httpStatus": 500, "count": 50})
    run = harness.run(harness.request(JOB))
    status = run.status
    assert status.runtime_status.value == "Failed"
    assert len(run.calls("Jobs_Get")) == 6
    assert run.calls("Jobs_Cancel") == []
    assert "Jobs_Get failed with HTTP 500" in status.output
    # The failed run's progress says where it stopped, not a retry that will never come.
    assert status.custom_status["phase"] == "getJob"
    assert "retrying" not in status.custom_status


def test_no_token_and_no_identity_fails_at_once_saying_what_to_set(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import DefaultAzureCredential

    from dataplane import auth

    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("AZURE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(auth, "_identity", {})
    # A developer's own logins (Azure CLI, VS Code, …) are outside the test's control: only
    # the sources a bare machine has stay in the chain.
    monkeypatch.setattr(
        auth,
        "identity_credential",
        lambda client_id: DefaultAzureCredential(
            exclude_cli_credential=True,
            exclude_developer_cli_credential=True,
            exclude_powershell_credential=True,
            exclude_shared_token_cache_credential=True,
            exclude_visual_studio_code_credential=True,
        ),
    )
    start_executing(harness)
    request = harness.request(JOB)
    request.pop("sealedToken")  # type: ignore[misc]
    run = harness.run(request)
    status = run.status
    assert status.runtime_status.value == "Failed"
    error = str(status.output)
    assert "Jobs_Get failed with CredentialMissing" in error
    assert "permanent error, not retried; 1 attempt" in error
    for setting in ("authToken", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID"):
        assert setting in error
    assert harness.simulator.requests() == []


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"httpStatus": 401}, "401"),
        ({"httpStatus": 403}, "403"),
        (None, "404 JobNotFound"),
    ],
)
def test_permanent_errors_fail_fast(
    harness: Harness, rule: dict[str, int] | None, code: str
) -> None:
    if rule is not None:
        start_executing(harness)
        harness.simulator.add_fault({"operation": "Jobs_Get", "count": 1, **rule})
    run = harness.run(harness.request(JOB))
    status = run.status
    assert status.runtime_status.value == "Failed"
    assert len(run.calls()) == 1  # no retry, no cancel
    assert f"Jobs_Get failed with HTTP {code}" in status.output
    assert "permanent error, not retried" in status.output
    assert harness.token not in repr(status.output) + repr(status.custom_status)


def test_permanent_error_on_cancel(harness: Harness) -> None:
    start_executing(harness)
    harness.simulator.add_fault({"operation": "Jobs_Cancel", "httpStatus": 403, "count": 1})
    run = harness.run(harness.request(JOB))
    assert run.status.runtime_status.value == "Failed"
    assert "Jobs_Cancel failed with HTTP 403" in run.status.output
    assert len(run.calls("Jobs_Cancel")) == 1


@pytest.mark.parametrize(
    ("api_version", "verb"),
    [
        ("2022-09-12-preview", "DELETE"),
        ("2024-10-01-preview", "DELETE"),
        ("2025-12-01-preview", "POST"),
        ("2026-01-15-preview", "POST"),
        ("2026-08-01-preview", "POST"),
    ],
)
def test_each_api_version_uses_its_own_verb(harness: Harness, api_version: str, verb: str) -> None:
    start_executing(harness)
    run = harness.run(harness.request(JOB, apiVersion=api_version))
    assert run.outputs["outcome"] == "cancelled"
    assert run.outputs["apiVersion"] == api_version
    [cancel] = run.calls("Jobs_Cancel")
    assert cancel["method"] == verb
    assert all(e["apiVersion"] == api_version for e in run.calls())
    if verb == "POST":
        assert all(e["method"] != "DELETE" for e in run.calls())
    assert not harness.simulator.job_state(JOB)["deleted"]


def test_hundreds_of_polls_keep_the_history_bounded(harness: Harness) -> None:
    start_executing(harness, "stuck-cancelling")
    options = {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1, "timeoutSeconds": 300}
    engine = harness.engine()
    run = harness.run(harness.request(JOB, options=options), engine)
    outputs = run.outputs
    assert outputs["outcome"] == "timedOut"
    assert outputs["polls"] == 300
    # 20 polls per execution: 14 hand-overs, the 15th execution finishes.
    assert run.status.generation == 14
    # One execution never holds more than 20 polls: each is a timer and an activity.
    assert engine.stats.peak_history_length < 200
    assert engine.stats.nondeterminism_detected == 0


def test_crash_after_every_step_gives_the_same_outputs(harness: Harness) -> None:
    start_executing(harness, TIMED_CANCEL)
    request = harness.request(JOB, options=SECONDS)
    engine = harness.engine()
    reference = harness.run(request, engine).outputs
    steps = engine.stats.steps
    assert steps > 20
    for crash_at in range(1, steps + 1):
        harness.simulator.reset()
        start_executing(harness, TIMED_CANCEL)
        fresh = Harness(harness.simulator, harness.token)
        doomed = fresh.engine(crash_at)
        instance_id = doomed.start_new(ORCHESTRATION, instance_id_for(request), request)
        with pytest.raises(SimulatedCrash):
            doomed.run_until_idle()
        survivor = fresh.engine()
        survivor.run_until_idle()
        status = survivor.get_status(instance_id)
        assert status is not None and status.runtime_status.value == "Completed", crash_at
        outputs = dict(status.output)
        assert outputs.pop("cancellationTime") is not None
        expected = {k: v for k, v in reference.items() if k != "cancellationTime"}
        assert outputs == expected, f"crash at step {crash_at}"
        counters = harness.simulator.job_state(JOB)["counters"]
        assert counters["cancelRequests"] <= 2, f"crash at step {crash_at}: {counters}"


def test_retry_past_the_deadline_ends_in_timed_out(harness: Harness) -> None:
    start_executing(harness, "stuck-cancelling")
    request = harness.request(
        JOB, options={"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 5, "timeoutSeconds": 60}
    )
    engine = harness.engine()
    instance = engine.start_new(ORCHESTRATION, instance_id_for(request), request)
    while not run_calls(harness, "Jobs_Cancel"):
        engine.run_until_idle(max_steps=1, raise_on_budget=False)
    # From now on every poll is throttled for longer than the time left.
    harness.simulator.add_fault(
        {"operation": "Jobs_Get", "httpStatus": 503, "retryAfter": 100, "count": 50}
    )
    engine.run_until_idle()
    status = engine.get_status(instance)
    assert status is not None and status.runtime_status.value == "Completed"
    assert status.output["outcome"] == "timedOut"
    assert status.output["finalStatus"] == "Waiting"  # the last status seen (the first read)
    # One throttled poll, then no retry: the next attempt would come after the deadline.
    assert [e["status"] for e in run_calls(harness, "Jobs_Get")] == [200, 503]


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_throttled_first_read_never_keeps_the_cancel_from_being_sent(
    harness: Harness, form: str
) -> None:
    # The service asks to wait 30 s before the first read, longer than timeoutSeconds: the
    # deadline bounds the confirmation only, so the cancel still goes out and is confirmed.
    start_executing(harness)
    wait = (
        30
        if form == "seconds"
        else format_datetime(
            datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + 30, timezone.utc),
            usegmt=True,
        )
    )
    harness.simulator.add_fault(
        {"operation": "Jobs_Get", "httpStatus": 429, "retryAfter": wait, "count": 1}
    )
    options = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 5, "timeoutSeconds": 20}
    run = harness.run(harness.request(JOB, options=options))
    outputs = run.outputs
    assert outputs["outcome"] == "cancelled"
    [cancel] = run.calls("Jobs_Cancel")
    first = run.calls("Jobs_Get")[0]
    assert cancel["clock"] - first["clock"] >= 28  # the Retry-After was honoured
    # The confirmation deadline counts from the accepted cancel.
    assert outputs["confirmDeadline"] is not None and outputs["cancelRequestedAt"] is not None
    deadline = parse_iso(outputs["confirmDeadline"]) - parse_iso(outputs["cancelRequestedAt"])
    assert deadline.total_seconds() == 20


def test_a_refused_token_after_the_cancel_says_the_cancel_stands(harness: Harness) -> None:
    start_executing(harness, "slow-cancel")
    engine = harness.engine()
    request = harness.request(JOB, options=SECONDS)
    instance = engine.start_new(ORCHESTRATION, instance_id_for(request), request)
    while not run_calls(harness, "Jobs_Cancel"):
        engine.run_until_idle(max_steps=1, raise_on_budget=False)
    # The caller's token expires while the job is cancelling.
    harness.simulator.add_fault({"operation": "Jobs_Get", "httpStatus": 401, "count": 1})
    engine.run_until_idle()
    status = engine.get_status(instance)
    assert status is not None and status.runtime_status.value == "Failed"
    error = str(status.output)
    assert "The cancel was accepted at" in error and "(HTTP 204)" in error
    assert "refused the token (HTTP 401" in error and "managed identity" in error
    assert harness.token not in error


def test_a_bug_fails_the_run_with_its_type_and_logs_the_traceback_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An activity answer without "job" makes the orchestrator fail on a KeyError: the run's
    # error must name the type (not just "'job'") and the traceback must be logged once.
    start_executing(harness)
    monkeypatch.setattr(
        "devtools.durable.backend.invoke_activity",
        lambda function, input_json, host=None: ActivityOutcome(
            succeeded=True, result='{"ok": true}'
        ),
    )
    with caplog.at_level("ERROR", logger="orchestrators.cancel_running_job"):
        run = harness.run(harness.request(JOB))
    assert run.status.runtime_status.value == "Failed"
    assert "KeyError: 'job'" in str(run.status.output)
    [record] = [r for r in caplog.records if "unexpected KeyError" in r.getMessage()]
    assert "Traceback" in record.getMessage() and harness.token not in record.getMessage()


def run_calls(harness: Harness, operation: str) -> list[dict[str, object]]:
    return [e for e in harness.simulator.requests() if e["operation"] == operation]


def test_a_sealed_token_copied_into_another_run_does_not_open(harness: Harness) -> None:
    start_executing(harness)
    sealed_for_a = harness.request(JOB)
    engine = harness.engine()
    # The same input, stolen from run A's history, started as another run.
    engine.start_new(ORCHESTRATION, "cancel-someone-else", sealed_for_a)
    engine.run_until_idle()
    status = engine.get_status("cancel-someone-else")
    assert status is not None and status.runtime_status.value == "Failed"
    error = str(status.output)
    assert "CALLER_TOKEN_KEY or CALLER_TOKEN_KEY_PREVIOUS" in error
    assert "permanent error, not retried" in error
    assert harness.simulator.requests() == []  # nothing was sent without the caller's token


def test_a_key_rotation_keeps_sealed_tokens_open(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_executing(harness)
    request = harness.request(JOB)  # sealed with the current key
    old_key = os.environ["CALLER_TOKEN_KEY"]
    monkeypatch.setenv("CALLER_TOKEN_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CALLER_TOKEN_KEY_PREVIOUS", old_key)
    run = harness.run(request)
    assert run.outputs["outcome"] == "cancelled"
    monkeypatch.delenv("CALLER_TOKEN_KEY_PREVIOUS")  # rotated twice: the old key is gone
    harness.simulator.reset()
    start_executing(harness)
    failed = harness.run(request)
    assert failed.status.runtime_status.value == "Failed"
    assert "cannot be decrypted" in str(failed.status.output)
