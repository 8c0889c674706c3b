"""The ``cancel_running_job`` orchestration: the Arazzo workflow ``cancel-running-job``.

Read top to bottom it is the workflow: getJob, branch on the status, cancelJob, then
confirmCancelled — polling Jobs_Get on durable timers with a growing interval until the job
reaches a final status or the deadline passes. ``timeoutSeconds`` bounds only the
confirmation: the deadline is set when the cancel is accepted (or answered 409), so nothing
before it — however long the service throttles — can keep the cancel from being sent; reading
the job and getting the cancel through are bounded by their own retry budget. It does no I/O
and reads time only from the orchestration context, so every replay makes the same decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from dataplane import status as job_status
from dataplane.errors import ErrorInfo, failure_kind
from orchestrators.outcome_events import publish
from orchestrators.run_failure import (
    CancellationFailed,
    end_failed,
    fail_in_next_generation,
    failure_text,
)
from orchestrators.service_calls import (
    CallCounter,
    DeadlineReached,
    ServiceCallFailed,
    call_service,
    job_already_finished,
    job_call,
    workspace_call,
)
from telemetry import record_outcome
from workflow import outcome_events, schedule
from workflow.shapes import (
    CancelJobInput,
    CancelOutputs,
    JobCall,
    JobSnapshot,
    Outcome,
    Phase,
    Progress,
    ResumeState,
)
from workflow.times import iso, parse_iso

bp = df.Blueprint()
log = logging.getLogger(__name__)
Steps = Generator[Any, Any, Any]


@dataclass
class Run:
    """What one cancellation has learnt so far; survives continue-as-new as ResumeState."""

    started_at: datetime
    counter: CallCounter
    #: When confirming gives up: set once the cancel was accepted or answered 409.
    deadline: datetime | None = None
    cancel_requested_at: str | None = None
    cancel_http_status: int | None = None
    last_status: str | None = None
    polls: int = 0
    #: The cancel was answered 409 (the job just finished): confirm without waiting.
    poll_now: bool = False

    @classmethod
    def begin(cls, now: datetime) -> Run:
        """A fresh run."""
        return cls(now, CallCounter())

    def confirm_from(self, now: datetime, timeout_seconds: float, http_status: int | None) -> None:
        """Start the confirmation clock at ``now``: the cancel was answered ``http_status``."""
        self.deadline = now + timedelta(seconds=timeout_seconds)
        self.cancel_http_status = http_status

    @classmethod
    def resume(cls, state: ResumeState) -> Run:
        """The run a previous generation handed over through continue-as-new."""
        return cls(
            started_at=parse_iso(state["startedAt"]),
            counter=CallCounter(state["activityCalls"]),
            deadline=parse_iso(state["deadline"]),
            cancel_requested_at=state["cancelRequestedAt"],
            cancel_http_status=state["cancelHttpStatus"],
            last_status=state["lastStatus"],
            polls=state["polls"],
        )

    def handover(self) -> ResumeState:
        """What the next generation needs to carry on confirming."""
        assert self.deadline is not None
        return ResumeState(
            startedAt=iso(self.started_at),
            deadline=iso(self.deadline),
            cancelRequestedAt=self.cancel_requested_at,
            cancelHttpStatus=self.cancel_http_status,
            lastStatus=self.last_status,
            polls=self.polls,
            activityCalls=self.counter.calls,
        )


@bp.orchestration_trigger(context_name="context")
def cancel_running_job(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, CancelOutputs | None]:
    """Cancel one Azure Quantum job and confirm that it ended."""
    request = context.get_input()
    if "failure" in request:
        # The last generation of a failed run (see below): it only reports the failure.
        yield from end_failed(context, request)
    # The run's own start (an instance id is reused when a finished job is asked again).
    started_at = request.get("resume", {}).get("startedAt") or iso(context.current_utc_datetime)
    try:
        outputs = yield from _workflow(context, request)
    except Exception as error:
        # The run fails in a fresh generation whose only input is the message (run_failure).
        if not context.is_replaying:
            record_outcome("failed", request.get("trigger", "http"), None)
        what = f"cancel of job {request.get('jobId')}"
        failure = failure_text(context, what, error)
        now = iso(context.current_utc_datetime)
        event = outcome_events.job_failed(context.instance_id, request, started_at, failure, now)
        fail_in_next_generation(context, failure, event=event, jobId=request["jobId"])
        return None
    if outputs is not None:  # None: the run continued as new and goes on confirming
        event = outcome_events.job_finished(
            context.instance_id, request, outputs, iso(context.current_utc_datetime)
        )
        yield from publish(context, [event])
    return outputs


def _workflow(
    context: df.DurableOrchestrationContext, request: CancelJobInput
) -> Generator[Any, Any, CancelOutputs | None]:
    call = job_call(workspace_call(request, context.instance_id), request["jobId"])
    resume = request.get("resume")
    if resume is not None:
        run = Run.resume(resume)
    else:
        run = Run.begin(context.current_utc_datetime)
        job = yield from get_job(context, call, run)
        if job_status.is_terminal(job["status"]):
            return _outputs(context, request, run, job, "alreadyTerminal")
        yield from cancel_job(context, call, run, request["options"]["timeoutSeconds"])
    return (yield from confirm_cancelled(context, request, call, run))


def get_job(context: df.DurableOrchestrationContext, call: JobCall, run: Run) -> Steps:
    """Step getJob: read the job, retrying within the retry budget (no deadline yet)."""
    _report(context, run, "getJob")
    return (yield from _read_job(context, call, run, "getJob"))


def cancel_job(
    context: df.DurableOrchestrationContext, call: JobCall, run: Run, timeout_seconds: float
) -> Steps:
    """Step cancelJob: 200/202/204 mean accepted; a 409 means the job finished meanwhile,
    which the first confirming poll, made at once, shows. Either starts the deadline."""
    _report(context, run, "cancelJob")
    answer = yield from call_service(
        context,
        "cancel_job",
        call,
        run.counter,
        tolerate=job_already_finished,
        on_retry=_retry_reporter(context, run, "cancelJob"),
    )
    now = context.current_utc_datetime
    if answer["ok"]:
        run.confirm_from(now, timeout_seconds, answer["httpStatus"])
        run.cancel_requested_at = iso(now)
        _log(context, "cancel of job %s accepted (HTTP %s)", call["jobId"], answer["httpStatus"])
    else:
        run.confirm_from(now, timeout_seconds, answer["error"]["status"])
        run.poll_now = True


def confirm_cancelled(
    context: df.DurableOrchestrationContext, request: CancelJobInput, call: JobCall, run: Run
) -> Generator[Any, Any, CancelOutputs | None]:
    """Step confirmCancelled: poll on durable timers with a growing interval until the job is
    final or the deadline passes; continue-as-new keeps each execution's history short."""
    assert run.deadline is not None
    options = request["options"]
    for _ in range(schedule.POLLS_PER_GENERATION):
        now = context.current_utc_datetime
        delay = (
            0.0
            if run.poll_now
            else schedule.poll_delay(
                run.polls, options["pollIntervalSeconds"], options["maxPollIntervalSeconds"]
            )
        )
        run.poll_now = False
        poll_at = min(now + timedelta(seconds=delay), run.deadline)
        _report(context, run, "confirmCancelled", poll_at)
        if poll_at > now:
            yield context.create_timer(poll_at)
        try:
            job = yield from _read_job(context, call, run, "confirmCancelled", run.deadline)
        except DeadlineReached:
            # The service is failing or throttling past the deadline: report what was last
            # seen, as for any other poll that ends at the deadline.
            last = JobSnapshot(status=run.last_status or "", cancellationTime=None)
            return _outputs(context, request, run, last, "timedOut")
        except ServiceCallFailed as failed:
            raise _confirmation_stopped(run, failed) from failed
        run.polls += 1
        if job_status.is_terminal(job["status"]):
            outcome: Outcome = (
                "cancelled" if job["status"] == job_status.CANCELLED else "finishedBeforeCancel"
            )
            return _outputs(context, request, run, job, outcome)
        if context.current_utc_datetime >= run.deadline:
            return _outputs(context, request, run, job, "timedOut")
    context.continue_as_new({**request, "resume": run.handover()})
    return None


def _read_job(
    context: df.DurableOrchestrationContext,
    call: JobCall,
    run: Run,
    phase: Phase,
    deadline: datetime | None = None,
) -> Generator[Any, Any, JobSnapshot]:
    result = yield from call_service(
        context,
        "get_job",
        call,
        run.counter,
        on_retry=_retry_reporter(context, run, phase),
        deadline=deadline,
    )
    job: JobSnapshot = result["job"]
    run.last_status = job["status"]
    return job


def _confirmation_stopped(run: Run, failed: ServiceCallFailed) -> Exception:
    """The error of a run whose confirmation failed; a refused token after an accepted cancel
    says that the cancel stands (a caller's token lives about an hour, confirming may not)."""
    if failed.error["status"] == 401 and run.cancel_requested_at is not None:
        return CancellationFailed(
            f"The cancel was accepted at {run.cancel_requested_at} "
            f"(HTTP {run.cancel_http_status}), but confirming stopped after {run.polls} "
            f"poll{'s' if run.polls != 1 else ''}: the service refused the token (HTTP 401; "
            "a caller's token has likely expired). The job is cancelling; confirm it with "
            f"the app's managed identity (no authToken). Last status: {run.last_status}. "
            f"{failed}"
        )
    return failed


def _report(
    context: df.DurableOrchestrationContext,
    run: Run,
    phase: Phase,
    next_poll_at: datetime | None = None,
    retrying: str | None = None,
) -> None:
    progress = Progress(
        phase=phase,
        lastStatus=run.last_status,
        polls=run.polls,
        nextPollAt=iso(next_poll_at) if next_poll_at else None,
    )
    if retrying:
        progress["retrying"] = retrying
    context.set_custom_status(progress)


def _retry_reporter(
    context: df.DurableOrchestrationContext, run: Run, phase: Phase
) -> Callable[[ErrorInfo, int, datetime], None]:
    def report(error: ErrorInfo, attempt: int, resume_at: datetime) -> None:
        failed = f"{error['operation']} {failure_kind(error)}"
        note = f"{failed}; attempt {attempt + 1} at {iso(resume_at)}"
        _report(context, run, phase, retrying=note)
        _log(context, "retrying %s", note)

    return report


def _outputs(
    context: df.DurableOrchestrationContext,
    request: CancelJobInput,
    run: Run,
    job: JobSnapshot,
    outcome: Outcome,
) -> CancelOutputs:
    _log(context, "job %s: %s (%s)", request["jobId"], outcome, job["status"])
    _report(context, run, "getJob" if outcome == "alreadyTerminal" else "confirmCancelled")
    now = context.current_utc_datetime
    if not context.is_replaying:
        accepted = run.cancel_requested_at
        confirmed_after = (
            (now - parse_iso(accepted)).total_seconds()
            if accepted and outcome in ("cancelled", "finishedBeforeCancel")
            else None
        )
        record_outcome(outcome, request.get("trigger", "http"), confirmed_after)
    return CancelOutputs(
        jobId=request["jobId"],
        finalStatus=job["status"],
        cancellationTime=job["cancellationTime"],
        outcome=outcome,
        cancelRequested=run.cancel_requested_at is not None,
        cancelRequestedAt=run.cancel_requested_at,
        cancelHttpStatus=run.cancel_http_status,
        confirmDeadline=iso(run.deadline) if run.deadline else None,
        polls=run.polls,
        activityCalls=run.counter.calls,
        startedAt=iso(run.started_at),
        finishedAt=iso(now),
        apiVersion=request["apiVersion"],
        trigger=request.get("trigger", "http"),
        **({"rule": request["rule"]} if "rule" in request else {}),  # type: ignore[typeddict-item]
    )


def _log(context: df.DurableOrchestrationContext, message: str, *args: object) -> None:
    # Replays re-run the code; log only the first time a decision is made.
    if not context.is_replaying:
        log.info(message, *args)
