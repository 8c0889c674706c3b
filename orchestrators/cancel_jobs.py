"""The ``cancel_jobs`` orchestration: cancel every job a selector names, and confirm each one.

Read top to bottom: close the session (``sessionId`` with ``closeSession``), then run ticks
until the run is finished. A tick is one paced batch of requests (``orchestrators.bulk_run``
decides which): first the count of the selection (refusing with ``tooManyJobs`` and cancelling
nothing past ``maxJobs``), then a pipeline in which the next page is listed while earlier pages
are cancelled and confirmed — by one listing request per page while many of its jobs are
pending, by Jobs_Get when few are — on the single-job poll schedule.

One pacer serves the whole run, so the rate cap holds in every second and a Retry-After (or a
retry's backoff) pauses everything, not only the page that drew it. Payloads never grow with
the number of jobs: the run's state holds counts and at most ``MAX_OPEN_PAGES`` pages, and it
continues as new every ``TICKS_PER_GENERATION`` ticks, so each execution's history is bounded.
A page's per-job results are kept as the output of a ``cancel_jobs_page`` instance of their
own, which ``GET /api/cancel-jobs/{id}/jobs`` reads.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators.bulk_run import (
    Applied,
    RunState,
    apply_tick,
    batch_size,
    dry_run_named,
    fresh_state,
    next_wake,
    plan_tick,
)
from orchestrators.outcome_events import announce_bulk_failure, announce_bulk_run
from orchestrators.pacing import Pacer
from orchestrators.service_calls import CallCounter, ServiceCallFailed, call_service
from telemetry import record_outcome
from workflow.shapes import CancelJobsInput, WorkspaceCall
from workflow.times import iso

bp = df.Blueprint()
log = logging.getLogger(__name__)

#: Ticks of one execution before it continues as new (about 45 history events a tick).
TICKS_PER_GENERATION = 4
Steps = Generator[Any, Any, Any]


def page_instance_id(run_id: str, page: int) -> str:
    """The instance id of a run's page ``page``: the results route reads pages by it."""
    return f"{run_id}-p{page:05d}"


@bp.orchestration_trigger(context_name="context")
def cancel_jobs(context: df.DurableOrchestrationContext) -> Steps:
    """Cancel every job the selector names, tick by tick, and report what happened."""
    request: CancelJobsInput = context.get_input()
    state: RunState = request.get("resume") or fresh_state(  # type: ignore[assignment]
        request, context.current_utc_datetime
    )
    call = _workspace_call(context, request)
    pacer = Pacer.resume(batch_size(request), state["nextAt"])
    try:
        if _closes_session(request) and not state["sessionClosed"]:
            _progress(context, state, "listing")
            yield from _close_session(context, request, call, pacer, state)
        if request["dryRun"] and "jobIds" in request["selector"] and not state["list"]["done"]:
            yield from _record_pages(context, dry_run_named(state, request))
        for _ in range(TICKS_PER_GENERATION):
            count = state["count"]
            if count["done"] and count["matched"] > request["maxJobs"]:
                output = _outputs(context, request, state, too_many=True)
                return (yield from announce_bulk_run(context, request, output))
            wake = next_wake(state, request, context.current_utc_datetime)
            if wake is None:
                output = _outputs(context, request, state)
                return (yield from announce_bulk_run(context, request, output))
            pacer.hold_until(wake)
            yield from pacer.wait(context)
            planned = plan_tick(state, request, call, context.current_utc_datetime)
            _progress(context, state, _phase(state))
            if not planned:
                pacer.sent(context)
                continue
            answers = yield context.task_all(
                [context.call_activity(item.activity, item.payload) for item in planned]
            )
            pacer.sent(context)
            now = context.current_utc_datetime
            applied = apply_tick(state, request, planned, answers, now)
            if applied.pause_seconds:
                pacer.hold_until(now + timedelta(seconds=applied.pause_seconds))
            yield from _record_pages(context, applied)
        state["nextAt"] = pacer.handover()
        context.continue_as_new({**request, "resume": state})
        return None
    except ServiceCallFailed as failed:
        if not context.is_replaying:
            record_outcome("failed", request["trigger"], None)
        stopped = f"the workspace-scale cancel stopped: {failed}"
        yield from announce_bulk_failure(context, request, state, stopped)
        raise RuntimeError(stopped) from failed


@bp.orchestration_trigger(context_name="context")
def cancel_jobs_page(context: df.DurableOrchestrationContext) -> dict[str, Any]:
    """Keep one page's per-job results (at most 100) as this instance's output, so that the
    run's own payloads never hold more than its open pages."""
    page: dict[str, Any] = context.get_input()
    return {"page": page["page"], "results": page["results"]}


def _record_pages(context: df.DurableOrchestrationContext, applied: Applied) -> Steps:
    closed = applied.closed
    if not closed:
        return
    yield context.task_all(
        [
            context.call_sub_orchestrator(
                "cancel_jobs_page",
                {"page": number, "results": results},
                page_instance_id(context.instance_id, number),
            )
            for number, results in closed
        ]
    )
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


def _close_session(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    call: WorkspaceCall,
    pacer: Pacer,
    state: RunState,
) -> Steps:
    """Sessions_Close, retried as any single call; a permanent failure stops the run."""
    counter = CallCounter(state["requests"])
    yield from pacer.wait(context)
    payload = {**call, "sessionId": request["selector"]["sessionId"]}
    yield from call_service(context, "close_session", payload, counter)
    pacer.sent(context)
    state["sessionClosed"] = True
    state["requests"] = counter.calls


def _workspace_call(
    context: df.DurableOrchestrationContext, request: CancelJobsInput
) -> WorkspaceCall:
    call = WorkspaceCall(
        subscriptionId=request["subscriptionId"],
        resourceGroupName=request["resourceGroupName"],
        workspaceName=request["workspaceName"],
        apiVersion=request["apiVersion"],
        endpoint=request["endpoint"],
        instanceId=context.instance_id,
    )
    if "sealedToken" in request:
        call["sealedToken"] = request["sealedToken"]
    return call


def _phase(state: RunState) -> str:
    if not state["count"]["done"]:
        return "listing"
    if not state["list"]["done"] or any(page["toCancel"] for page in state["open"]):
        return "cancelling"
    return "confirming"


def _progress(context: df.DurableOrchestrationContext, state: RunState, phase: str) -> None:
    outcomes = state["outcomes"]
    matched = state["count"]["matched"]
    confirmed = sum(outcomes[o] for o in ("cancelled", "alreadyTerminal", "finishedBeforeCancel"))
    context.set_custom_status(
        {
            "phase": phase,
            "matched": matched,
            "cancelRequested": state["selected"],
            "confirmed": confirmed,
            "pending": max(0, matched - confirmed - outcomes["failed"]),
            "failed": outcomes["failed"],
            "pages": state["pages"],
        }
    )


def _outputs(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    state: RunState,
    *,
    too_many: bool = False,
) -> dict[str, Any]:
    selector = request["selector"]
    output: dict[str, Any] = {
        "workspace": {
            "subscriptionId": request["subscriptionId"],
            "resourceGroupName": request["resourceGroupName"],
            "workspaceName": request["workspaceName"],
        },
        "selector": {k: v for k, v in selector.items() if k != "jobIds"}
        | ({"jobIds": len(selector["jobIds"])} if "jobIds" in selector else {}),
        "dryRun": request["dryRun"],
        "matched": state["count"]["matched"] if too_many else state["selected"],
        "outcomes": dict(state["outcomes"]),
        "jobs": state["listed"],
        "requests": state["requests"],
        "pages": state["pages"],
        "startedAt": state["startedAt"],
        "finishedAt": iso(context.current_utc_datetime),
    }
    if state["omitted"]:
        output["jobsOmitted"] = state["omitted"]
    if too_many:
        output["outcome"] = "tooManyJobs"
        output["maxJobs"] = request["maxJobs"]
    _progress(context, state, "confirming")
    if not context.is_replaying:
        log.info(
            "cancel_jobs %s: %s",
            context.instance_id,
            "tooManyJobs" if too_many else output["outcomes"],
        )
    return output
