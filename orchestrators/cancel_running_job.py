"""The ``cancel_running_job`` orchestration: the Arazzo workflow ``cancel-running-job``.

Read top to bottom it is the workflow: getJob, branch on the status, cancelJob, then
confirmCancelled — polling Jobs_Get on durable timers with a growing interval until the job
reaches a final status or the deadline passes. It does no I/O and reads time only from the
orchestration context, so every replay makes the same decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import azure.durable_functions as df

from dataplane import status as job_status
from dataplane.errors import ErrorInfo, failure_kind
from orchestrators.service_calls import CallCounter, DeadlineReached, call_service
from workflow import schedule
from workflow.shapes import (
    CancelJobInput,
    CancelOutputs,
    FailedRun,
    JobCall,
    JobSnapshot,
    Outcome,
    Phase,
    Progress,
    ResumeState,
)

bp = df.Blueprint()
log = logging.getLogger(__name__)
MAX_FAILURE_MESSAGE = 2000


@dataclass
class Run:
    """What one cancellation has learnt so far; survives continue-as-new as ResumeState."""

    started_at: datetime
    deadline: datetime
    counter: CallCounter
    cancel_requested_at: str | None = None
    cancel_http_status: int | None = None
    last_status: str | None = None
    polls: int = 0

    @classmethod
    def begin(cls, now: datetime, timeout_seconds: float) -> Run:
        """A fresh run that gives up ``timeout_seconds`` after ``now``."""
        return cls(now, now + timedelta(seconds=timeout_seconds), CallCounter())

    @classmethod
    def resume(cls, state: ResumeState) -> Run:
        """The run a previous generation handed over through continue-as-new."""
        return cls(
            started_at=_parse(state["startedAt"]),
            deadline=_parse(state["deadline"]),
            counter=CallCounter(state["activityCalls"]),
            cancel_requested_at=state["cancelRequestedAt"],
            cancel_http_status=state["cancelHttpStatus"],
            last_status=state["lastStatus"],
            polls=state["polls"],
        )

    def handover(self) -> ResumeState:
        """What the next generation needs to carry on."""
        return ResumeState(
            startedAt=_iso(self.started_at),
            deadline=_iso(self.deadline),
            cancelRequestedAt=self.cancel_requested_at,
            cancelHttpStatus=self.cancel_http_status,
            lastStatus=self.last_status,
            polls=self.polls,
            activityCalls=self.counter.calls,
        )


class CancellationFailed(Exception):
    """The run could not finish: a permanent service error, retries exhausted, or a bug."""


@bp.orchestration_trigger(context_name="context")
def cancel_running_job(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, CancelOutputs | None]:
    """Cancel one Azure Quantum job and confirm that it ended."""
    request = context.get_input()
    if "failure" in request:
        _fail(context, request)
    try:
        return (yield from _cancel(context, request))
    except Exception as error:
        # Raising here would make the SDK embed this execution's actions in the error that
        # the host logs, and the activity inputs among them carry the caller's token. So the
        # run fails in a fresh generation whose only input is the message.
        context.continue_as_new(
            FailedRun(
                jobId=request["jobId"],
                failure=str(error)[:MAX_FAILURE_MESSAGE],
                progress=context.custom_status,
            )
        )
        return None


def _fail(context: df.DurableOrchestrationContext, failed: FailedRun) -> NoReturn:
    context.set_custom_status(failed["progress"])
    raise CancellationFailed(failed["failure"])


def _cancel(
    context: df.DurableOrchestrationContext, request: CancelJobInput
) -> Generator[Any, Any, CancelOutputs | None]:
    options = request["options"]
    call = JobCall(
        subscriptionId=request["subscriptionId"],
        resourceGroupName=request["resourceGroupName"],
        workspaceName=request["workspaceName"],
        jobId=request["jobId"],
        apiVersion=request["apiVersion"],
        endpoint=request["endpoint"],
        clientRequestId=context.instance_id,
    )
    if "authToken" in request:
        call["authToken"] = request["authToken"]

    resume = request.get("resume")
    poll_now = False
    if resume is None:
        run = Run.begin(context.current_utc_datetime, options["timeoutSeconds"])

        # Step getJob: a job that already ended needs no cancel request.
        _report(context, run, "getJob")
        job = yield from _get_job(context, call, run, "getJob")
        if job_status.is_terminal(job["status"]):
            return _outputs(context, request, run, job, "alreadyTerminal")

        # Step cancelJob: 200/202/204 mean accepted; 409 means the job finished meanwhile,
        # which the confirming poll will show.
        _report(context, run, "cancelJob")
        cancel = yield from call_service(
            context,
            "cancel_job",
            call,
            run.counter,
            tolerate=_job_already_finished,
            on_retry=_retry_reporter(context, run, "cancelJob"),
            deadline=run.deadline,
        )
        if cancel["ok"]:
            run.cancel_requested_at = _iso(context.current_utc_datetime)
            run.cancel_http_status = cancel["httpStatus"]
            _log(
                context, "cancel of job %s accepted (HTTP %s)", call["jobId"], cancel["httpStatus"]
            )
        else:
            run.cancel_http_status = cancel["error"]["status"]
            poll_now = True
    else:
        run = Run.resume(resume)

    # Step confirmCancelled: poll on durable timers, with a growing interval, until the job
    # is final or the deadline passes; continue-as-new keeps each execution's history short.
    for _ in range(schedule.POLLS_PER_GENERATION):
        now = context.current_utc_datetime
        delay = (
            0.0
            if poll_now
            else schedule.poll_delay(
                run.polls, options["pollIntervalSeconds"], options["maxPollIntervalSeconds"]
            )
        )
        poll_now = False
        poll_at = min(now + timedelta(seconds=delay), run.deadline)
        _report(context, run, "confirmCancelled", poll_at)
        if poll_at > now:
            yield context.create_timer(poll_at)
        try:
            job = yield from _get_job(context, call, run, "confirmCancelled")
        except DeadlineReached:
            # The service is failing or throttling past the deadline: report what was last
            # seen, as for any other poll that ends at the deadline.
            last = JobSnapshot(status=run.last_status or "", cancellationTime=None)
            return _outputs(context, request, run, last, "timedOut")
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


def _get_job(
    context: df.DurableOrchestrationContext, call: JobCall, run: Run, phase: Phase
) -> Generator[Any, Any, JobSnapshot]:
    result = yield from call_service(
        context,
        "get_job",
        call,
        run.counter,
        on_retry=_retry_reporter(context, run, phase),
        deadline=run.deadline,
    )
    job: JobSnapshot = result["job"]
    run.last_status = job["status"]
    return job


def _job_already_finished(error: ErrorInfo) -> bool:
    return error["operation"] == "Jobs_Cancel" and error["status"] == 409


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
        nextPollAt=_iso(next_poll_at) if next_poll_at else None,
    )
    if retrying:
        progress["retrying"] = retrying
    context.set_custom_status(progress)


def _retry_reporter(
    context: df.DurableOrchestrationContext, run: Run, phase: Phase
) -> Callable[[ErrorInfo, int, datetime], None]:
    def report(error: ErrorInfo, attempt: int, resume_at: datetime) -> None:
        failed = f"{error['operation']} {failure_kind(error)}"
        note = f"{failed}; attempt {attempt + 1} at {_iso(resume_at)}"
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
    return CancelOutputs(
        jobId=request["jobId"],
        finalStatus=job["status"],
        cancellationTime=job["cancellationTime"],
        outcome=outcome,
        cancelRequested=run.cancel_requested_at is not None,
        cancelRequestedAt=run.cancel_requested_at,
        cancelHttpStatus=run.cancel_http_status,
        polls=run.polls,
        activityCalls=run.counter.calls,
        startedAt=_iso(run.started_at),
        finishedAt=_iso(context.current_utc_datetime),
        apiVersion=request["apiVersion"],
    )


def _log(context: df.DurableOrchestrationContext, message: str, *args: object) -> None:
    # Replays re-run the code; log only the first time a decision is made.
    if not context.is_replaying:
        log.info(message, *args)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
