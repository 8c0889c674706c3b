"""A workspace-scale run as paced batches: what the next batch sends, and what its answers
change in the run's state (``workflow.bulk_state.RunState``).

One batch is at most ``per_second`` requests (see ``orchestrators.pacing``). The run first
counts its selection — for a filter or a session the count itself, so that ``maxJobs`` can
refuse before any cancel; for named jobs the workspace's listing of unfinished jobs, which
tells their statuses with a request per hundred jobs — then keeps a pipeline going: the next
page is listed (or, for named jobs, opened) while earlier pages are cancelled and confirmed,
confirming reads first in every batch so that a job that has ended is seen soon. Everything
here is pure and deterministic; ``orchestrators.cancel_jobs`` sends the batches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dataplane.errors import ErrorInfo
from dataplane.status import unfinished_statuses
from orchestrators import bulk_pages
from orchestrators.service_calls import ServiceCallFailed, job_call, retry_or_reason
from workflow.bulk_state import (
    CODE_STATUSES,
    MAX_OPEN_PAGES,
    NOT_SEEN,
    PAGE_SIZE,
    STATUS_CODES,
    OpenPage,
    Read,
    RunPhase,
    RunState,
)
from workflow.filters import service_filter
from workflow.shapes import CancelJobsInput, JobResult, WorkspaceCall
from workflow.times import iso, parse_iso

ORDER = "CreationTime asc"
#: At most this many jobs are listed in the run's output.
MAX_LISTED_JOBS = 500
#: Named jobs: the workspace's listing is read for at most one request per this many ids
#: (then each named job it did not show is read on its own).
IDS_PER_LISTING_REQUEST = 10
#: Counting windows asked side by side grow by this factor a batch (1, 4, 16, … up to the
#: batch's budget): a small selection still costs a request or two, a large one reaches full
#: batches two batches sooner than doubling does, for at most three empty windows per window
#: counted before the end.
COUNT_FAN_GROWTH = 4

#: A creation time as the service writes it; only such text reaches a filter the app builds.
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?Z")

Role = Literal["count", "list", "cancel", "read"]


@dataclass(frozen=True)
class Planned:
    """One request of a batch, and what its answer is for."""

    activity: str
    payload: Mapping[str, Any]
    role: Role
    page: int = -1
    job_id: str = ""
    read: Read | None = None


@dataclass
class Applied:
    """What a batch's answers led to: the longest wait a retry asked for (the whole run
    pauses that long), and the pages whose results are complete."""

    pause_seconds: float = 0.0
    closed: list[tuple[int, list[Any]]] = field(default_factory=list)


def fresh_state(request: CancelJobsInput, now: datetime) -> RunState:
    """The state of a run that has sent nothing yet."""
    ids = named(request)
    state = RunState(startedAt=iso(now))
    if ids is not None:
        state.count.matched = len(ids)
        state.seen = NOT_SEEN * len(ids)
        state.spans = [[] for _ in range(math.ceil(len(ids) / PAGE_SIZE))]
    return state


def named(request: CancelJobsInput) -> list[str] | None:
    """The named job ids (None for a filter or a session)."""
    return request["selector"].get("jobIds")


def too_many(state: RunState, request: CancelJobsInput) -> bool:
    """More jobs match than ``maxJobs`` allows: the run cancels none (counted exactly)."""
    return state.count.matched > request["maxJobs"] and (
        state.count.done or named(request) is not None
    )


def finished(state: RunState) -> bool:
    """Counted, listed, and every page reported."""
    return state.count.done and state.listing.done and not state.open


def selected_statuses(request: CancelJobsInput) -> list[str] | None:
    """The statuses a listed job must have to be selected (None for named jobs: all)."""
    selector = request["selector"]
    if selector["kind"] == "filter":
        return list(selector["filter"]["status"])
    if selector["kind"] == "sessionId":
        return list(unfinished_statuses(request["apiVersion"]))
    return None


def listing_query(request: CancelJobsInput, *, with_status: bool) -> dict[str, Any]:
    """The listing of the selection, in creation order; without the status, its pages do not
    shift while their jobs change status (the pages pick the selected statuses). For named
    jobs: the workspace's unfinished jobs."""
    selector = request["selector"]
    statuses = {
        "status": selected_statuses(request) or list(unfinished_statuses(request["apiVersion"]))
    }
    if selector["kind"] == "sessionId":
        text = service_filter(statuses, with_status=with_status)  # type: ignore[arg-type]
        return {"sessionId": selector["sessionId"], "filter": text, "orderby": ORDER}
    if selector["kind"] == "jobIds":
        return {"filter": service_filter(statuses), "orderby": ORDER}  # type: ignore[arg-type]
    return {
        "filter": service_filter(selector["filter"], with_status=with_status),
        "orderby": ORDER,
    }


def _follow(query: dict[str, Any], link: str) -> dict[str, Any]:
    return {"nextLink": link, **({"sessionId": query["sessionId"]} if "sessionId" in query else {})}


def _window(query: dict[str, Any], index: int) -> dict[str, Any]:
    return {**query, "skip": index * PAGE_SIZE, "top": PAGE_SIZE}


def batch_size(request: CancelJobsInput) -> int:
    """Requests in one batch: the rate cap per second, and no more than the concurrency."""
    options = request["options"]
    return max(1, min(int(options["maxRequestsPerSecond"]), options["maxConcurrentCancels"]))


def phase(state: RunState, request: CancelJobsInput) -> RunPhase:
    """What the run is doing now, as ``progress.phase`` shows it."""
    if state.phase == "done":
        return "done"
    if not state.count.done or (not state.open and not state.listing.done):
        return "listing"
    if request["dryRun"]:
        return "listing"
    if not state.listing.done or any(p.toCancel or bulk_pages.sending(p) for p in state.open):
        return "cancelling"
    return "confirming"


# -- when the next batch is due -------------------------------------------------------------
def next_wake(state: RunState, request: CancelJobsInput, now: datetime) -> datetime | None:
    """When the next batch has something to send: now, the earliest poll that is due, or
    None when the run is finished."""
    if finished(state):
        return None
    if not state.count.done or _wants_page(state, request):
        return now
    polls: list[datetime] = []
    for page in state.open:
        if page.toCancel or page.toRead:
            return now
        if page.pending and page.pollAt is not None:
            polls.append(parse_iso(page.pollAt))
    return min(polls, default=now)


def _wants_page(state: RunState, request: CancelJobsInput) -> bool:
    # Open the next page a batch ahead: while the queues would not fill the batch after this
    # one (a listed page's cancels can go out only in the batch after its listing).
    if state.listing.done or len(state.open) >= MAX_OPEN_PAGES:
        return False
    queued = sum(len(page.toCancel) + len(page.toRead) for page in state.open)
    return queued < 2 * batch_size(request)


# -- what the next batch sends --------------------------------------------------------------
def take_batch(
    state: RunState, request: CancelJobsInput, call: WorkspaceCall, now: datetime
) -> list[Planned]:
    """The requests of the next batch, taken off the run's queues (counting first; then due
    reads, a slot for the next page's listing, and cancels)."""
    budget = batch_size(request)
    if not state.count.done:
        return _count_requests(state, request, call, budget)
    _open_named_pages(state, request, now)
    planned: list[Planned] = []
    for page in state.open:
        bulk_pages.start_poll(page, now)
        for read in bulk_pages.take_reads(page, budget - len(planned)):
            planned.append(_read_request(call, page, read))
    listing_slot = int(
        len(planned) < budget and _wants_page(state, request) and named(request) is None
    )
    for page in state.open:
        for job_id in bulk_pages.take_cancels(page, budget - len(planned) - listing_slot):
            attempt = page.attempts.get(job_id, 0) + 1
            payload = {**job_call(call, job_id), "attempt": attempt}
            planned.append(Planned("cancel_job", payload, "cancel", page.page, job_id))
    if listing_slot:
        listing = state.listing
        query = listing_query(request, with_status=False)
        payload = _follow(query, listing.follow) if listing.follow else _window(query, listing.page)
        planned.append(Planned("list_jobs_page", {**call, **payload}, "list"))
    return planned


def _count_requests(
    state: RunState, request: CancelJobsInput, call: WorkspaceCall, budget: int
) -> list[Planned]:
    count = state.count
    query = listing_query(request, with_status=True)
    if count.mode == "follow":
        payloads = [_follow(query, count.follow or "")]
    elif count.mode == "probe":
        payloads = [_window(query, 0)]
    else:
        payloads = [_window(query, count.window + i) for i in range(min(count.fan, budget))]
        count.fan = min(COUNT_FAN_GROWTH * count.fan, budget)
    only = named(request) is None  # named jobs need the listed statuses, not only the count
    return [
        Planned("list_jobs_page", {**call, **payload, "countOnly": only}, "count")
        for payload in payloads
    ]


def _open_named_pages(state: RunState, request: CancelJobsInput, now: datetime) -> None:
    # Named jobs need no listing of their own: their pages open as the queues run low, with
    # the statuses the workspace's listing showed (the others are read first).
    ids = named(request)
    if ids is None:
        return
    listing = state.listing
    while _wants_page(state, request):
        start = listing.page * PAGE_SIZE
        chunk = ids[start : start + PAGE_SIZE]
        codes = state.seen[start : start + PAGE_SIZE]
        jobs = [
            {"jobId": job_id, "status": CODE_STATUSES.get(code)}
            for job_id, code in zip(chunk, codes, strict=True)
        ]
        span = state.spans[listing.page]
        confirm_by = None
        if NOT_SEEN not in codes and span:
            text = f"CreationTime ge {span[0]} and CreationTime le {span[1]}"
            confirm_by = {"filter": text, "orderby": ORDER, "skip": 0, "top": PAGE_SIZE}
        page = bulk_pages.open_page(
            listing.page,
            jobs,
            confirm_by,
            now,
            request["options"],
            dry_run=request["dryRun"],
            spanned=True,
        )
        state.open.append(page)
        state.totals.selected += len(chunk)
        listing.page += 1
        listing.done = listing.page * PAGE_SIZE >= len(ids)


def _read_request(call: WorkspaceCall, page: OpenPage, read: Read) -> Planned:
    if read.kind == "list":
        return Planned(
            "list_jobs_page", {**call, **(read.query or {})}, "read", page.page, read=read
        )
    job_id = read.jobId or ""
    payload = {**job_call(call, job_id), "attempt": 1}
    return Planned("get_job", payload, "read", page.page, job_id, read)


# -- what the answers change ----------------------------------------------------------------
def apply_batch(
    state: RunState,
    request: CancelJobsInput,
    planned: list[Planned],
    answers: list[dict[str, Any]],
    now: datetime,
) -> Applied:
    """Fold a batch's answers into the state; pages that are complete leave it."""
    applied = Applied()
    state.totals.requests += len(planned)
    options = request["options"]
    dry_run = request["dryRun"]
    pages = {page.page: page for page in state.open}
    counted = [a for p, a in zip(planned, answers, strict=True) if p.role == "count"]
    if counted:
        applied.pause_seconds = _counted(state, request, counted)
    polled: set[int] = set()
    for item, answer in zip(planned, answers, strict=True):
        wait: float | None = None
        if item.role == "cancel":
            page = pages[item.page]
            wait = bulk_pages.cancel_answered(page, item.job_id, answer, now, options)
            state.totals.cancelRequested += int(answer["ok"])
        elif item.role == "read" and item.read is not None:
            wait = bulk_pages.read_answered(
                pages[item.page], item.read, answer, now, options, dry_run=dry_run
            )
            if item.read.kind != "learn":
                polled.add(item.page)
        elif item.role == "list":
            wait = _listed(state, request, answer, now)
        applied.pause_seconds = max(applied.pause_seconds, wait or 0.0)
    for number in polled:
        bulk_pages.end_poll(pages[number], now, options)
    still_open: list[OpenPage] = []
    for page in state.open:
        if bulk_pages.is_closed(page):
            _close(state, page.page, bulk_pages.page_results(page), applied)
        else:
            still_open.append(page)
    state.open = still_open
    return applied


def _counted(state: RunState, request: CancelJobsInput, answers: list[dict[str, Any]]) -> float:
    count = state.count
    ids = named(request)
    for answer in answers:
        if not answer["ok"]:
            # The window stays where it was: the next batch asks again (later windows too).
            return _retry_or_stop(state, answer)
        state.attempts = 0
        count.requests += 1
        full = answer["count"] >= PAGE_SIZE
        if ids is None:
            count.matched += int(answer["count"])
        else:
            _learn_statuses(state, ids, answer["jobs"])
        link = answer.get("nextLink")
        if count.mode == "probe":
            count.mode = "windows" if full else "follow"
            count.window = 1
            count.follow = link
            count.done = not full and not link
        elif count.mode == "follow":
            count.follow = link
            count.done = not link
        else:
            count.window += 1
            count.done = not full
        if ids is not None and (
            NOT_SEEN not in state.seen
            or count.requests >= max(1, len(ids) // IDS_PER_LISTING_REQUEST)
        ):
            # Every named job seen, or the listing has cost its budget: read the rest alone.
            count.done = True
        if count.done:
            break
    return 0.0


def _learn_statuses(state: RunState, ids: list[str], jobs: list[dict[str, Any]]) -> None:
    """Note the status (and creation time) of each named job the listing shows."""
    position = {job_id: index for index, job_id in enumerate(ids)}
    seen = list(state.seen)
    for job in jobs:
        index = position.get(job["jobId"])
        code = STATUS_CODES.get(job["status"] or "")
        if index is None or code is None:
            continue
        seen[index] = code
        created = job.get("creationTime")
        if isinstance(created, str) and MOMENT.fullmatch(created):
            span = state.spans[index // PAGE_SIZE]
            moments = [*span, created]
            state.spans[index // PAGE_SIZE] = [
                min(moments, key=parse_iso),
                max(moments, key=parse_iso),
            ]
    state.seen = "".join(seen)


def _retry_or_stop(state: RunState, answer: dict[str, Any]) -> float:
    """A failed count or listing request: the seconds to wait before asking again. Neither has
    a per-job fallback, so a permanent failure (a filter the service refuses, a 403) or one
    retried too often stops the run before anything more is cancelled."""
    error: ErrorInfo = answer["error"]
    state.attempts += 1
    retry = retry_or_reason(error, state.attempts)
    if isinstance(retry, str):
        raise ServiceCallFailed(error, state.attempts, retry)
    return retry


def _listed(
    state: RunState, request: CancelJobsInput, answer: dict[str, Any], now: datetime
) -> float | None:
    listing = state.listing
    if not answer["ok"]:
        return _retry_or_stop(state, answer)
    state.attempts = 0
    listing.jobs += answer["jobs"]
    link = answer.get("nextLink")
    if link and len(listing.jobs) < PAGE_SIZE:
        listing.follow = link  # the service paged below top: the rest of this page
        return None
    jobs, listing.jobs, listing.follow = listing.jobs[:PAGE_SIZE], [], None
    number = listing.page
    listing.page += 1
    # A page asks for top=100 at skip=100k: a short page is the last one.
    listing.done = len(jobs) < PAGE_SIZE
    if not jobs:
        return None
    # A page with no selected job is still opened (and recorded, empty): the results route
    # reads the pages in order and stops at the first one missing.
    statuses = selected_statuses(request) or []
    chosen = [job for job in jobs if job["status"] in statuses]
    page = bulk_pages.open_page(
        number,
        chosen,
        _window(listing_query(request, with_status=False), number),
        now,
        request["options"],
        dry_run=request["dryRun"],
    )
    state.totals.selected += len(page.status)
    state.open.append(page)
    return None


def _close(state: RunState, number: int, results: list[Any], applied: Applied) -> None:
    applied.closed.append((number, results))
    totals = state.totals
    totals.pages += 1
    totals.reported += len(results)
    for result in results:
        if "outcome" in result:
            totals.outcomes[result["outcome"]] += 1
    keep_listed(state, results)


def keep_listed(state: RunState, results: list[JobResult] | list[dict[str, Any]]) -> None:
    """Keep the output's job list bounded: every job while at most MAX_LISTED_JOBS were
    selected, then only those that did not end cancelled or alreadyTerminal."""
    totals = state.totals
    totals.listed.extend(dict(result) for result in results)
    if totals.selected > MAX_LISTED_JOBS:
        kept = [
            r for r in totals.listed if r.get("outcome") not in ("cancelled", "alreadyTerminal")
        ]
        totals.listed = kept[:MAX_LISTED_JOBS]
    totals.omitted = totals.selected - len(totals.listed)
