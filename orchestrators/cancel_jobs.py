"""The ``cancel_jobs`` orchestration: cancel every job a selector names, and confirm each one.

Read top to bottom: close the session (``sessionId`` with ``closeSession``), count the
selection (refusing with ``tooManyJobs`` and cancelling nothing past ``maxJobs``), then take
the selection page by page — a page is at most 100 jobs — in waves of pages that run as
``cancel_jobs_page`` sub-orchestrations side by side. A page cancels its jobs in paced batches
and confirms them, by one listing request per poll while many are pending and by Jobs_Get when
few are, on durable timers with the single-job schedule. The single-job rules are reused, not
copied: the status model, the cancel activity (so the verb by api-version), the 409 rule,
permanent versus transient errors, the retry delay and its Retry-After.

Payloads never grow with the number of jobs: progress and the run's state hold counts; a
page's input and output hold its own jobs; the run's output lists at most 500 jobs; the
per-job results are served from the pages' outputs (``GET /api/cancel-jobs/{id}/jobs``).
The listing that feeds the pages leaves the status out and is ordered by creation time, so its
pages do not shift while their jobs change status; the pages pick the selected statuses.
After each wave the run continues as new, so its history stays bounded for any number of jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from dataplane import status as job_status
from dataplane.errors import ErrorInfo
from orchestrators.pacing import Pacer
from orchestrators.service_calls import (
    CallCounter,
    ServiceCallFailed,
    call_service,
    job_already_finished,
)
from telemetry import record_outcome
from workflow import schedule
from workflow.bulk_inputs import unfinished_statuses
from workflow.filters import service_filter
from workflow.shapes import BulkOutcome, CancelJobsInput, JobCall, JobResult, WorkspaceCall
from workflow.times import iso, parse_iso

bp = df.Blueprint()
log = logging.getLogger(__name__)

PAGE_SIZE = 100
#: Pages of one wave; each gets an equal share of the rate cap and the concurrency.
MAX_PAGES_PER_WAVE = 8
#: At most this many jobs are listed in the run's output.
MAX_LISTED_JOBS = 500
#: With at most this many jobs pending, a page confirms by Jobs_Get instead of a listing.
GET_WHEN_PENDING = 3
OUTCOMES: tuple[BulkOutcome, ...] = (
    "cancelled",
    "alreadyTerminal",
    "finishedBeforeCancel",
    "timedOut",
    "failed",
)
CANCELLING = frozenset({job_status.CANCELLATION_REQUESTED, job_status.CANCELLING})
Steps = Generator[Any, Any, Any]


def pages_per_wave(request: CancelJobsInput) -> int:
    """How many pages run side by side: each needs at least one request a second of the cap
    (and one cancel of the concurrency), so small caps mean fewer pages at once."""
    options = request["options"]
    budget = min(int(options["maxRequestsPerSecond"]), options["maxConcurrentCancels"])
    return max(1, min(MAX_PAGES_PER_WAVE, budget))


def page_instance_id(run_id: str, page: int) -> str:
    """The instance id of a run's page ``page``: the results route reads pages by it."""
    return f"{run_id}-p{page:05d}"


# -- the run --------------------------------------------------------------------------------
@bp.orchestration_trigger(context_name="context")
def cancel_jobs(context: df.DurableOrchestrationContext) -> Steps:
    """Cancel every job the selector names, page by page, and report what happened."""
    request: CancelJobsInput = context.get_input()
    state: dict[str, Any] = dict(request.get("resume") or _fresh(context))
    call = _workspace_call(context, request)
    pacer = Pacer.resume(1, state["nextAt"])
    counter = CallCounter(state["requests"])
    selector = request["selector"]
    try:
        if not state["counted"]:
            if (
                selector["kind"] == "sessionId"
                and selector.get("closeSession")
                and not (request["dryRun"])
            ):
                _progress(context, state, "listing")
                session = _session_call(call, request)
                yield from _paced(context, pacer, "close_session", session, counter)
            matched = yield from count_selection(context, request, call, pacer, counter, state)
            state.update(counted=True, matched=matched)
            if matched > request["maxJobs"]:
                return _outputs(context, request, state, counter, too_many=True)
        wave = yield from next_wave(context, request, call, pacer, counter, state)
        if wave:
            yield from run_wave(context, request, call, wave, pacer, counter, state)
            if not state["done"]:
                state.update(nextAt=pacer.handover(), requests=counter.calls)
                context.continue_as_new({**request, "resume": state})
                return None
        return _outputs(context, request, state, counter)
    except ServiceCallFailed as failed:
        if not context.is_replaying:
            record_outcome("failed", request["trigger"], None)
        raise RuntimeError(f"the workspace-scale cancel stopped: {failed}") from failed


def count_selection(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    call: WorkspaceCall,
    pacer: Pacer,
    counter: CallCounter,
    state: dict[str, Any],
) -> Generator[Any, Any, int]:
    """How many jobs the selector names now, listed with the service's own filter; it stops
    as soon as the count passes maxJobs."""
    selector = request["selector"]
    if selector["kind"] == "jobIds":
        return len(selector.get("jobIds", []))
    query = _listing(request, with_status=True)
    matched, next_link = 0, None
    while True:
        _progress(context, state, "listing", matched=matched)
        page = yield from _paced(
            context,
            pacer,
            "list_jobs_page",
            {**call, **query, "countOnly": True, **({"nextLink": next_link} if next_link else {})},
            counter,
        )
        matched += int(page["count"])
        next_link = page.get("nextLink")
        if not next_link or matched > request["maxJobs"]:
            return matched


def next_wave(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    call: WorkspaceCall,
    pacer: Pacer,
    counter: CallCounter,
    state: dict[str, Any],
) -> Generator[Any, Any, list[dict[str, Any]]]:
    """The inputs of the next wave's pages (at most a page of jobs each); empty when done."""
    selector = request["selector"]
    wave: list[dict[str, Any]] = []
    while len(wave) < pages_per_wave(request) and not state["done"]:
        page = state["pages"]
        if selector["kind"] == "jobIds":
            ids = selector["jobIds"][page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
            jobs = [_unknown(job_id) for job_id in ids]
            listing = None
            state["done"] = (page + 1) * PAGE_SIZE >= len(selector["jobIds"])
        else:
            listing = {
                **_listing(request, with_status=False),
                "orderby": "CreationTime asc",
                "skip": page * PAGE_SIZE,
                "top": PAGE_SIZE,
            }
            _progress(context, state, "listing")
            jobs, more = [], True
            follow: dict[str, Any] = dict(listing)
            # The service may page below top: follow its nextLink until the page is full.
            while more and len(jobs) < PAGE_SIZE:
                answer = yield from _paced(
                    context, pacer, "list_jobs_page", {**call, **follow}, counter
                )
                jobs += answer["jobs"]
                more = bool(answer.get("nextLink"))
                follow = {"sessionId": listing["sessionId"]} if "sessionId" in listing else {}
                follow["nextLink"] = answer.get("nextLink")
            # A page asks for top=100 at skip=100k: a short page is the last one.
            state["done"] = len(jobs) < PAGE_SIZE
            jobs = jobs[:PAGE_SIZE]
        state["pages"] = page + 1
        if jobs:
            wave.append({"page": page, "jobs": jobs, "listing": listing})
    return wave


def run_wave(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    call: WorkspaceCall,
    wave: list[dict[str, Any]],
    pacer: Pacer,
    counter: CallCounter,
    state: dict[str, Any],
) -> Steps:
    """Run the wave's pages side by side, each with its share of the cap, and add up."""
    options = request["options"]
    rate = int(options["maxRequestsPerSecond"])
    share = max(1, min(rate, options["maxConcurrentCancels"]) // len(wave))
    statuses = _selected_statuses(request)
    _progress(context, state, "cancelling")
    tasks = [
        context.call_sub_orchestrator(
            "cancel_jobs_page",
            {
                "call": call,
                "page": item["page"],
                "jobs": item["jobs"],
                "listing": item["listing"],
                "statuses": statuses,
                "dryRun": request["dryRun"],
                "options": options,
                "perSecond": share,
                "notBefore": pacer.handover(),
                "trigger": request["trigger"],
            },
            page_instance_id(context.instance_id, item["page"]),
        )
        for item in wave
    ]
    results = yield context.task_all(tasks)
    for result in results:
        counter.calls += result["requests"]
        state["selected"] += result["selected"]
        for outcome, count in result["outcomes"].items():
            state["outcomes"][outcome] += count
        _keep_listed(state, result["results"])
        pacer.hold_until(parse_iso(result["lastRequestAt"]) + timedelta(seconds=1))
    _progress(context, state, "confirming")


# -- one page -------------------------------------------------------------------------------
@bp.orchestration_trigger(context_name="context")
def cancel_jobs_page(context: df.DurableOrchestrationContext) -> Steps:
    """Cancel and confirm the selected jobs of one page (at most 100); the output is the
    page's per-job results."""
    page: dict[str, Any] = context.get_input()
    call: WorkspaceCall = page["call"]
    options = page["options"]
    pacer = Pacer.resume(page["perSecond"], page["notBefore"])
    requests = 0
    statuses = page["statuses"]
    chosen = [job for job in page["jobs"] if statuses is None or job["status"] in statuses]
    results: dict[str, JobResult] = {}
    if page["dryRun"]:
        listed = [{k: v for k, v in job.items() if k != "cancellationTime"} for job in chosen]
        return _page_output(page, chosen, listed, requests, pacer)
    last_status = {job["jobId"]: job["status"] for job in chosen}
    to_cancel = [job["jobId"] for job in chosen if job["status"] not in CANCELLING]
    pending: dict[str, bool] = {  # job → whether its cancel was answered 409
        job["jobId"]: False for job in chosen if job["status"] in CANCELLING
    }
    attempts: dict[str, int] = {}
    # Cancel: paced batches of at most perSecond cancels at once.
    while to_cancel:
        batch, to_cancel = to_cancel[: pacer.per_second], to_cancel[pacer.per_second :]
        yield from pacer.wait(context)
        tasks = [
            context.call_activity(
                "cancel_job", _job_call(call, job_id, attempts.setdefault(job_id, 0) + 1)
            )
            for job_id in batch
        ]
        answers = yield context.task_all(tasks)
        requests += len(batch)
        pacer.sent(context)
        longest_wait = 0.0
        for job_id, answer in zip(batch, answers, strict=True):
            attempts[job_id] += 1
            if answer["ok"]:
                pending[job_id] = False
                continue
            error: ErrorInfo = answer["error"]
            if job_already_finished(error):
                pending[job_id] = True
            elif _retryable(error, attempts[job_id]):
                to_cancel.append(job_id)
                longest_wait = max(longest_wait, _retry_wait(error, attempts[job_id]))
            else:
                results[job_id] = _failed(job_id, last_status[job_id], error, attempts[job_id])
        if longest_wait:
            # A Retry-After (or a backoff) pauses the whole page, not only the job that drew it.
            pacer.hold_until(context.current_utc_datetime + timedelta(seconds=longest_wait))
    # Confirm: poll on durable timers with the single-job schedule until final or deadline.
    deadline = context.current_utc_datetime + timedelta(seconds=options["timeoutSeconds"])
    polls = 0
    while pending:
        now = context.current_utc_datetime
        delay = (
            0.0
            if polls == 0 and any(pending.values())
            else schedule.poll_delay(
                polls, options["pollIntervalSeconds"], options["maxPollIntervalSeconds"]
            )
        )
        poll_at = min(now + timedelta(seconds=delay), deadline)
        if poll_at > now:
            yield context.create_timer(poll_at)
        yield from pacer.wait(context)
        found, sent = yield from _read_statuses(context, call, page, list(pending), pacer)
        requests += sent
        pacer.sent(context)
        polls += 1
        for job_id, job in found.items():
            last_status[job_id] = job["status"]
            if job_status.is_terminal(job["status"]):
                conflict = pending.pop(job_id)
                results[job_id] = _final(job_id, job, conflict)
        if context.current_utc_datetime >= deadline:
            break
    for job_id in pending:
        results[job_id] = JobResult(
            jobId=job_id,
            outcome="timedOut",
            finalStatus=last_status.get(job_id),
            cancellationTime=None,
        )
    for job in chosen:
        if job["jobId"] not in results and job_status.is_terminal(job["status"]):
            results[job["jobId"]] = _final(job["jobId"], job, True)
    ordered = [results[job["jobId"]] for job in chosen if job["jobId"] in results]
    if not context.is_replaying:
        for result in ordered:
            record_outcome(result["outcome"], "bulk", None)
    return _page_output(page, chosen, ordered, requests, pacer)


def _read_statuses(
    context: df.DurableOrchestrationContext,
    call: WorkspaceCall,
    page: dict[str, Any],
    pending: list[str],
    pacer: Pacer,
) -> Generator[Any, Any, tuple[dict[str, dict[str, Any]], int]]:
    """The current status of ``pending`` jobs: one listing of the page while many are pending
    (the page's jobs keep their place in it), Jobs_Get for the few left or when listing is
    refused. Returns what was read and the requests sent."""
    found: dict[str, dict[str, Any]] = {}
    sent = 0
    if page["listing"] is not None and len(pending) > GET_WHEN_PENDING:
        wanted = set(pending)
        follow: dict[str, Any] = dict(page["listing"])
        listed = 0
        while True:
            answer = yield context.call_activity("list_jobs_page", {**call, **follow})
            sent += 1
            if not answer["ok"]:
                found = {}
                break  # listing refused or failing: read each job instead
            found.update({j["jobId"]: j for j in answer["jobs"] if j["jobId"] in wanted})
            listed += len(answer["jobs"])
            if not answer.get("nextLink") or listed >= PAGE_SIZE or len(found) == len(wanted):
                return found, sent
            # The service pages below top: the rest of this page, a paced request more.
            pacer.sent(context)
            yield from pacer.wait(context)
            follow = {"nextLink": answer["nextLink"]}
            if "sessionId" in page["listing"]:
                follow["sessionId"] = page["listing"]["sessionId"]
    for start in range(0, len(pending), pacer.per_second):
        batch = pending[start : start + pacer.per_second]
        if start:
            pacer.sent(context)
            yield from pacer.wait(context)
        answers = yield context.task_all(
            [context.call_activity("get_job", _job_call(call, job_id, 1)) for job_id in batch]
        )
        sent += len(batch)
        for job_id, answer in zip(batch, answers, strict=True):
            if answer["ok"]:
                found[job_id] = answer["job"]
    return found, sent


def _page_output(
    page: dict[str, Any],
    chosen: list[dict[str, Any]],
    results: list[Any],
    requests: int,
    pacer: Pacer,
) -> dict[str, Any]:
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        if "outcome" in result:
            outcomes[result["outcome"]] += 1
    return {
        "page": page["page"],
        "selected": len(chosen),
        "results": results,
        "outcomes": outcomes,
        "requests": requests,
        "lastRequestAt": pacer.handover() or page["notBefore"] or "",
    }


# -- pieces ---------------------------------------------------------------------------------
def _fresh(context: df.DurableOrchestrationContext) -> dict[str, Any]:
    return {
        "startedAt": iso(context.current_utc_datetime),
        "counted": False,
        "matched": 0,
        "selected": 0,
        "pages": 0,
        "done": False,
        "outcomes": dict.fromkeys(OUTCOMES, 0),
        "listed": [],
        "omitted": 0,
        "requests": 0,
        "nextAt": None,
    }


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


def _session_call(call: WorkspaceCall, request: CancelJobsInput) -> dict[str, Any]:
    return {**call, "sessionId": request["selector"]["sessionId"]}


def _job_call(call: WorkspaceCall, job_id: str, attempt: int) -> JobCall:
    job = JobCall(
        subscriptionId=call["subscriptionId"],
        resourceGroupName=call["resourceGroupName"],
        workspaceName=call["workspaceName"],
        jobId=job_id,
        apiVersion=call["apiVersion"],
        endpoint=call["endpoint"],
        instanceId=call["instanceId"],  # the run the caller's token is sealed for
        attempt=attempt,
    )
    if "sealedToken" in call:
        job["sealedToken"] = call["sealedToken"]
    return job


def _listing(request: CancelJobsInput, *, with_status: bool) -> dict[str, Any]:
    selector = request["selector"]
    if selector["kind"] == "sessionId":
        statuses = {"status": _selected_statuses(request) or []}
        text = service_filter(statuses, with_status=with_status)  # type: ignore[arg-type]
        return {"sessionId": selector["sessionId"], "filter": text}
    return {"filter": service_filter(selector["filter"], with_status=with_status)}


def _selected_statuses(request: CancelJobsInput) -> list[str] | None:
    selector = request["selector"]
    if selector["kind"] == "filter":
        return list(selector["filter"]["status"])
    if selector["kind"] == "sessionId":
        return list(unfinished_statuses())
    return None  # jobIds: every named job, whatever its status


def _unknown(job_id: str) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "name": None,
        "status": None,
        "target": None,
        "providerId": None,
        "creationTime": None,
    }


def _paced(
    context: df.DurableOrchestrationContext,
    pacer: Pacer,
    activity: str,
    payload: dict[str, Any],
    counter: CallCounter,
) -> Generator[Any, Any, dict[str, Any]]:
    yield from pacer.wait(context)
    result = yield from call_service(context, activity, payload, counter)
    pacer.sent(context)
    return result


def _retryable(error: ErrorInfo, attempts: int) -> bool:
    policy = schedule.DEFAULT_RETRY_POLICY
    after = error["retryAfterSeconds"]
    return bool(
        error["transient"]
        and attempts < policy.max_attempts
        and (after is None or after <= policy.max_retry_after_seconds)
    )


def _retry_wait(error: ErrorInfo, attempts: int) -> float:
    return schedule.retry_delay(attempts, error["retryAfterSeconds"], schedule.DEFAULT_RETRY_POLICY)


def _failed(job_id: str, status: str | None, error: ErrorInfo, attempts: int) -> JobResult:
    reason = "permanent error, not retried" if not error["transient"] else "gave up retrying"
    return JobResult(
        jobId=job_id,
        outcome="failed",
        finalStatus=status,
        cancellationTime=None,
        error=str(ServiceCallFailed(error, attempts, reason)),
    )


def _final(job_id: str, job: dict[str, Any], conflict: bool) -> JobResult:
    # Cancelled is cancelled, whoever's cancel it was (after a crash, an earlier attempt's); a
    # job that ended otherwise had either finished before any cancel (a 409) or lost the race.
    status = job["status"]
    outcome: BulkOutcome = (
        "cancelled"
        if status == job_status.CANCELLED
        else ("alreadyTerminal" if conflict else "finishedBeforeCancel")
    )
    return JobResult(
        jobId=job_id,
        outcome=outcome,
        finalStatus=status,
        cancellationTime=job.get("cancellationTime"),
    )


def _keep_listed(state: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Keep the output's job list bounded: every job while at most 500 were seen, then only
    the ones that did not end cancelled or alreadyTerminal (at most 500)."""
    listed: list[dict[str, Any]] = state["listed"]
    for result in results:
        listed.append(result)
    if state["selected"] > MAX_LISTED_JOBS:
        kept = [r for r in listed if r.get("outcome") not in ("cancelled", "alreadyTerminal")]
        kept = kept[:MAX_LISTED_JOBS]
        state["omitted"] = state["selected"] - len(kept)
        state["listed"] = kept


def _progress(
    context: df.DurableOrchestrationContext, state: dict[str, Any], phase: str, **extra: int
) -> None:
    outcomes = state["outcomes"]
    confirmed = sum(outcomes[o] for o in ("cancelled", "alreadyTerminal", "finishedBeforeCancel"))
    context.set_custom_status(
        {
            "phase": phase,
            "matched": extra.get("matched", state["matched"]),
            "cancelRequested": state["selected"],
            "confirmed": confirmed,
            "pending": max(0, state["matched"] - confirmed - outcomes["failed"]),
            "failed": outcomes["failed"],
            "pages": state["pages"],
        }
    )


def _outputs(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    state: dict[str, Any],
    counter: CallCounter,
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
        "matched": state["matched"] if too_many else state["selected"],
        "outcomes": dict(state["outcomes"]),
        "jobs": state["listed"],
        "requests": counter.calls,
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
