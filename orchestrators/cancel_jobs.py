"""The ``cancel_jobs`` orchestration: cancel every job a selector names, and confirm each one.

Read top to bottom it is its phases, as ``cancel_running_job`` is getJob → cancelJob →
confirmCancelled:

1. ``close_session`` (a ``sessionId`` selector with ``closeSession``): Sessions_Close first;
2. ``count_selection``: count the matching jobs exactly (``maxJobs`` refuses before any cancel:
   ``tooManyJobs``); for named jobs, learn their statuses from the workspace's listing of
   unfinished jobs;
3. ``cancel_and_confirm``: a pipeline of paced batches — the next page is listed while earlier
   pages take the seed's branch per job (a final job gets no cancel, a job already being
   cancelled no second one), are cancelled, and are confirmed by one listing request per page
   (by Jobs_Get when few jobs are left) on the single-job poll schedule;
4. ``report``: the totals, and the per-job results kept page by page.

One pacer serves the whole run, so the rate cap holds in every second and a Retry-After (or a
retry's backoff) pauses everything. The state is ``workflow.bulk_state.RunState``; it becomes
JSON only to continue as new, every ``BATCHES_PER_GENERATION`` batches, so each execution's
history is bounded. A page's per-job results are the output of a ``cancel_jobs_page`` instance
of their own, which ``GET /api/cancel-jobs/{id}/jobs`` reads. A run that fails ends as a single
run does (``orchestrators.run_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import bulk_pages
from orchestrators.bulk_run import (
    Applied,
    apply_batch,
    batch_size,
    finished,
    fresh_state,
    next_wake,
    phase,
    take_batch,
    too_many,
)
from orchestrators.outcome_events import announce_bulk_run, bulk_failure_event
from orchestrators.pacing import Pacer
from orchestrators.run_failure import end_failed, fail_in_next_generation, failure_text
from orchestrators.service_calls import CallCounter, call_service, workspace_call
from telemetry import record_outcome
from workflow.bulk_state import RunState
from workflow.instance_ids import page_instance_id
from workflow.shapes import CancelJobsInput, WorkspaceCall
from workflow.times import iso

bp = df.Blueprint()
log = logging.getLogger(__name__)

#: Batches of one execution before it continues as new (about 45 history events a batch).
BATCHES_PER_GENERATION = 4
Steps = Generator[Any, Any, Any]


@dataclass
class BulkRun:
    """What every phase works with: the orchestration, its request, where its calls go, the
    run's one pacer, and its state."""

    context: df.DurableOrchestrationContext
    request: CancelJobsInput
    call: WorkspaceCall
    pacer: Pacer
    state: RunState


@bp.orchestration_trigger(context_name="context")
def cancel_jobs(context: df.DurableOrchestrationContext) -> Steps:
    """Cancel every job the selector names, and report what happened."""
    request: CancelJobsInput = context.get_input()
    if "failure" in request:
        yield from end_failed(context, request)  # type: ignore[arg-type]
    resume = request.get("resume")
    now = context.current_utc_datetime
    state = RunState.from_json(resume) if resume else fresh_state(request, now)
    call = workspace_call(request, context.instance_id)
    pacer = Pacer.resume(batch_size(request), state.nextAt, state.paceSlots)
    run = BulkRun(context, request, call, pacer, state)
    try:
        if _closes_session(request) and not state.sessionClosed:
            yield from close_session(run)
        for _ in range(BATCHES_PER_GENERATION):
            if not state.count.done and not too_many(state, request):
                yield from count_selection(run)
            elif too_many(state, request) or finished(state):
                return (yield from announce_bulk_run(context, request, report(run)))
            else:
                yield from cancel_and_confirm(run)
        state.nextAt = run.pacer.handover()
        state.paceSlots = run.pacer.handover_slots()
        context.continue_as_new({**request, "resume": state.to_json()})
        return None
    except Exception as error:
        if not context.is_replaying:
            record_outcome("failed", request["trigger"], None)
        failure = failure_text(context, f"workspace-scale cancel {context.instance_id}", error)
        stopped = f"the workspace-scale cancel stopped: {failure}"
        event = bulk_failure_event(context, request, state, stopped)
        fail_in_next_generation(context, stopped, event=event)
        return None


@bp.orchestration_trigger(context_name="context")
def cancel_jobs_page(context: df.DurableOrchestrationContext) -> dict[str, Any]:
    """Keep one page's per-job results (at most 100) as this instance's output, so that the
    run's own payloads never hold more than its open pages."""
    page: dict[str, Any] = context.get_input()
    return {"page": page["page"], "results": page["results"]}


# -- the phases -----------------------------------------------------------------------------
def close_session(run: BulkRun) -> Steps:
    """Sessions_Close, retried as any single call; a permanent failure stops the run."""
    context, state = run.context, run.state
    _progress(run)
    counter = CallCounter(state.totals.requests)
    yield from run.pacer.wait(context)
    payload = {**run.call, "sessionId": run.request["selector"]["sessionId"]}
    yield from call_service(context, "close_session", payload, counter)
    run.pacer.sent(context)
    state.sessionClosed = True
    state.totals.requests = counter.calls


def count_selection(run: BulkRun) -> Steps:
    """One batch of counting: listing windows of the selection, side by side."""
    yield from _batch(run, run.context.current_utc_datetime)


def cancel_and_confirm(run: BulkRun) -> Steps:
    """One batch of the pipeline, once its first request is due: confirming reads, the next
    page's listing, cancels."""
    wake = next_wake(run.state, run.request, run.context.current_utc_datetime)
    if wake is not None:
        yield from _batch(run, wake)


def report(run: BulkRun) -> dict[str, Any]:
    """The run's outputs: totals, and at most MAX_LISTED_JOBS jobs (the rest are paged)."""
    context, request, state = run.context, run.request, run.state
    state.phase = "done"
    refused = too_many(state, request)
    selector = request["selector"]
    totals = state.totals
    output: dict[str, Any] = {
        "workspace": {
            "subscriptionId": request["subscriptionId"],
            "resourceGroupName": request["resourceGroupName"],
            "workspaceName": request["workspaceName"],
        },
        "selector": {k: v for k, v in selector.items() if k != "jobIds"}
        | ({"jobIds": len(selector["jobIds"])} if "jobIds" in selector else {}),
        "dryRun": request["dryRun"],
        "matched": _matched(state, request),
        "outcomes": dict(totals.outcomes),
        "jobs": totals.listed,
        "requests": totals.requests,
        "pages": totals.pages,
        "startedAt": state.startedAt,
        "finishedAt": iso(context.current_utc_datetime),
    }
    if totals.omitted:
        output["jobsOmitted"] = totals.omitted
    if refused:
        output["outcome"] = "tooManyJobs"
        output["maxJobs"] = request["maxJobs"]
    _progress(run)
    if not context.is_replaying:
        log.info(
            "cancel_jobs %s: %s",
            context.instance_id,
            "tooManyJobs" if refused else output["outcomes"],
        )
    return output


# -- one paced batch ------------------------------------------------------------------------
def _batch(run: BulkRun, wake: datetime) -> Steps:
    context, pacer, state = run.context, run.pacer, run.state
    pacer.hold_until(wake)
    yield from pacer.wait(context)
    scheduled = context.current_utc_datetime
    planned = take_batch(state, run.request, run.call, scheduled)
    _progress(run)
    answers: list[dict[str, Any]] = []
    if planned:
        answers = yield context.task_all(
            [
                context.call_activity(item.activity, _paced(item.payload, pacer, i, scheduled))
                for i, item in enumerate(planned)
            ]
        )
    pacer.sent(context, answers, scheduled=scheduled)
    now = context.current_utc_datetime
    applied = apply_batch(state, run.request, planned, answers, now)
    if applied.pause_seconds:
        pacer.hold_until(now + timedelta(seconds=applied.pause_seconds))
    _progress(run)
    yield from _record_pages(run, applied)


def _paced(payload: Mapping[str, Any], pacer: Pacer, index: int, now: datetime) -> dict[str, Any]:
    # The request waits for its slot of the rate cap (see orchestrators.pacing).
    not_before = pacer.not_before(index, now)
    return {**payload, "notBefore": not_before} if not_before else dict(payload)


def _record_pages(run: BulkRun, applied: Applied) -> Steps:
    """Keep each closed page's results in a ``cancel_jobs_page`` instance, while the pacer's
    gap before the next batch runs (so the records cost the run no time of their own)."""
    context, closed = run.context, applied.closed
    if not closed:
        return
    tasks = [
        context.call_sub_orchestrator(
            "cancel_jobs_page",
            {"page": number, "results": results},
            page_instance_id(context.instance_id, number),
        )
        for number, results in closed
    ]
    gap_ends = run.pacer.ready_at()
    if gap_ends is not None and gap_ends > context.current_utc_datetime:
        tasks.append(context.create_timer(gap_ends))
    yield context.task_all(tasks)
    if not context.is_replaying:
        for _, results in closed:
            for result in results:
                if "outcome" in result:
                    record_outcome(result["outcome"], "bulk", None)


def _closes_session(request: CancelJobsInput) -> bool:
    selector = request["selector"]
    return (
        selector["kind"] == "sessionId"
        and bool(selector.get("closeSession"))
        and not request["dryRun"]
    )


def _matched(state: RunState, request: CancelJobsInput) -> int:
    # The exact count while the listing runs (or when it refused the run), then the jobs the
    # listing selected (a job may change status between the count and its page's listing).
    if too_many(state, request) or not state.listing.done:
        return state.count.matched
    return state.totals.selected


def _progress(run: BulkRun) -> None:
    """The custom status: counts only, true at every moment."""
    request, state = run.request, run.state
    totals = state.totals
    outcomes = totals.outcomes
    confirmed = sum(outcomes[o] for o in bulk_pages.CONFIRMED) + sum(
        bulk_pages.confirmed(page) for page in state.open
    )
    failed = outcomes["failed"] + sum(
        result.get("outcome") == "failed" for page in state.open for result in page.results.values()
    )
    settled = totals.reported + sum(len(page.results) for page in state.open)
    matched = _matched(state, request)
    done = state.phase == "done"
    run.context.set_custom_status(
        {
            "phase": phase(state, request),
            "matched": matched,
            "cancelRequested": totals.cancelRequested,
            "confirmed": confirmed,
            "pending": 0 if done else max(0, matched - settled),
            "failed": failed,
            "pages": totals.pages,
        }
    )
