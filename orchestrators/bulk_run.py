"""A workspace-scale run as a sequence of ticks: what to send in the next one, and what its
answers change.

One tick is one paced batch of at most ``per_second`` requests (see ``orchestrators.pacing``).
The run first counts the selection (so that ``maxJobs`` can refuse before any cancel), then
keeps a pipeline going: the next page is listed while earlier pages are cancelled and
confirmed, and confirming reads come first in every tick so that a job that has ended is seen
soon. Everything here is pure and deterministic; ``orchestrators.cancel_jobs`` sends the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from dataplane.errors import ErrorInfo
from orchestrators import bulk_pages
from orchestrators.bulk_pages import MAX_OPEN_PAGES, PAGE_SIZE, OpenPage, Read
from orchestrators.service_calls import ServiceCallFailed
from workflow.bulk_inputs import unfinished_statuses
from workflow.filters import service_filter
from workflow.shapes import BulkOutcome, CancelJobsInput, JobCall, JobResult, WorkspaceCall
from workflow.times import iso, parse_iso

ORDER = "CreationTime asc"
#: At most this many jobs are listed in the run's output.
MAX_LISTED_JOBS = 500


class CountState(TypedDict):
    """Counting the selection: one probe page, then windows of ``top`` side by side, or
    ``nextLink`` one page at a time when the service pages below ``top``."""

    matched: int
    mode: str  # "probe", "windows" or "follow"
    window: int
    #: Windows asked for side by side in the next tick: 1, 2, 4, … up to a tick's budget, so
    #: a small selection costs a request or two and a large one few ticks.
    fan: int
    follow: str | None
    done: bool


class ListState(TypedDict):
    """Listing the selection page by page (``skip``/``top``, following a short page's link)."""

    page: int
    jobs: list[dict[str, Any]]
    follow: str | None
    done: bool


class RunState(TypedDict):
    """All a run carries through continue-as-new: counts and at most MAX_OPEN_PAGES pages."""

    startedAt: str
    sessionClosed: bool
    count: CountState
    list: ListState
    open: list[OpenPage]
    selected: int
    outcomes: dict[str, int]
    listed: list[dict[str, Any]]
    omitted: int
    requests: int
    nextAt: str | None
    pages: int
    #: Failed attempts of the current count or listing request.
    attempts: int


@dataclass(frozen=True)
class Planned:
    """One request of a tick, and what its answer is for."""

    activity: str
    payload: Mapping[str, Any]
    role: str  # "count", "list", "cancel" or "read"
    page: int = -1
    job_id: str = ""
    read: Read | None = None


@dataclass
class Applied:
    """What a tick's answers led to: the longest wait a retry asked for (the whole run
    pauses that long), and the pages whose results are complete."""

    pause_seconds: float = 0.0
    closed: list[tuple[int, list[Any]]] = field(default_factory=list)


def fresh_state(request: CancelJobsInput, now: datetime) -> RunState:
    """The state of a run that has sent nothing yet."""
    selector = request["selector"]
    ids = selector.get("jobIds")
    return RunState(
        startedAt=iso(now),
        sessionClosed=False,
        count=CountState(
            matched=len(ids or []),
            mode="probe",
            window=0,
            fan=1,
            follow=None,
            done=ids is not None,
        ),
        list=ListState(page=0, jobs=[], follow=None, done=False),
        open=[],
        selected=0,
        outcomes=dict.fromkeys(bulk_pages.OUTCOMES, 0),
        listed=[],
        omitted=0,
        requests=0,
        nextAt=None,
        pages=0,
        attempts=0,
    )


def selected_statuses(request: CancelJobsInput) -> list[str] | None:
    """The statuses a listed job must have to be selected (None for named jobs: all)."""
    selector = request["selector"]
    if selector["kind"] == "filter":
        return list(selector["filter"]["status"])
    if selector["kind"] == "sessionId":
        return list(unfinished_statuses())
    return None


def listing_query(request: CancelJobsInput, *, with_status: bool) -> dict[str, Any]:
    """The listing of the selection, in creation order; without the status, its pages do not
    shift while their jobs change status (the pages pick the selected statuses)."""
    selector = request["selector"]
    if selector["kind"] == "sessionId":
        statuses = {"status": selected_statuses(request) or []}
        text = service_filter(statuses, with_status=with_status)  # type: ignore[arg-type]
        return {"sessionId": selector["sessionId"], "filter": text, "orderby": ORDER}
    return {
        "filter": service_filter(selector["filter"], with_status=with_status),
        "orderby": ORDER,
    }


def _follow(query: dict[str, Any], link: str) -> dict[str, Any]:
    return {"nextLink": link, **({"sessionId": query["sessionId"]} if "sessionId" in query else {})}


def _window(query: dict[str, Any], index: int) -> dict[str, Any]:
    return {**query, "skip": index * PAGE_SIZE, "top": PAGE_SIZE}


# -- what to send ---------------------------------------------------------------------------
def finished(state: RunState) -> bool:
    """Counted, listed, and every page reported."""
    return state["count"]["done"] and state["list"]["done"] and not state["open"]


def next_wake(state: RunState, request: CancelJobsInput, now: datetime) -> datetime | None:
    """When the next tick has something to send: now, the earliest poll that is due, or
    None when the run is finished."""
    if finished(state):
        return None
    if not state["count"]["done"] or _wants_page(state, request):
        return now
    polls: list[datetime] = []
    for page in state["open"]:
        if page["toCancel"] or page["toRead"]:
            return now
        if page["pending"] and page["pollAt"] is not None:
            polls.append(parse_iso(page["pollAt"]))
    return min(polls, default=now)


def _wants_page(state: RunState, request: CancelJobsInput) -> bool:
    # List the next page a tick ahead: while the queues would not fill the tick after this one
    # (a listed page's cancels can go out only in the tick after its listing).
    if state["list"]["done"] or len(state["open"]) >= MAX_OPEN_PAGES:
        return False
    queued = sum(len(page["toCancel"]) for page in state["open"])
    return queued < 2 * batch_size(request)


def batch_size(request: CancelJobsInput) -> int:
    """Requests in one tick: the rate cap per second, and no more than the concurrency."""
    options = request["options"]
    return max(1, min(int(options["maxRequestsPerSecond"]), options["maxConcurrentCancels"]))


def plan_tick(
    state: RunState, request: CancelJobsInput, call: WorkspaceCall, now: datetime
) -> list[Planned]:
    """The requests of the next tick (it takes cancels off the queues and starts due polls)."""
    budget = batch_size(request)
    if not state["count"]["done"]:
        return _count_requests(state, request, call, budget)
    _open_named_pages(state, request, now)
    planned: list[Planned] = []
    for page in state["open"]:
        bulk_pages.start_poll(page, now)
        while page["toRead"] and len(planned) < budget:
            read = page["toRead"].pop(0)
            planned.append(_read_request(call, page, read))
            if read["kind"] == "list":
                break  # the next listing read may follow this one's link
    # A slot for the next page's listing, kept before the cancels take the rest of the tick.
    listing_slot = int(
        len(planned) < budget and _wants_page(state, request) and _by_listing(request)
    )
    for page in state["open"]:
        for job_id in bulk_pages.take_cancels(page, budget - len(planned) - listing_slot):
            attempt = page["attempts"].get(job_id, 0) + 1
            planned.append(
                Planned(
                    "cancel_job",
                    job_call(call, job_id, attempt),
                    "cancel",
                    page["page"],
                    job_id,
                )
            )
    if listing_slot:
        listing = state["list"]
        query = listing_query(request, with_status=False)
        payload = (
            _follow(query, listing["follow"])
            if listing["follow"]
            else _window(query, listing["page"])
        )
        planned.append(Planned("list_jobs_page", {**call, **payload}, "list"))
    return planned


def _by_listing(request: CancelJobsInput) -> bool:
    return request["selector"]["kind"] != "jobIds"


def _count_requests(
    state: RunState, request: CancelJobsInput, call: WorkspaceCall, budget: int
) -> list[Planned]:
    count = state["count"]
    query = listing_query(request, with_status=True)
    if count["mode"] == "follow":
        payloads = [_follow(query, count["follow"] or "")]
    elif count["mode"] == "probe":
        payloads = [_window(query, 0)]
    else:
        payloads = [_window(query, count["window"] + i) for i in range(min(count["fan"], budget))]
        count["fan"] = min(2 * count["fan"], budget)
    return [
        Planned("list_jobs_page", {**call, **payload, "countOnly": True}, "count")
        for payload in payloads
    ]


def dry_run_named(state: RunState, request: CancelJobsInput) -> Applied:
    """A dry run of named jobs sends nothing: every page is reported as named."""
    applied = Applied()
    ids = request["selector"].get("jobIds") or []
    for number, start in enumerate(range(0, len(ids), PAGE_SIZE)):
        chunk = ids[start : start + PAGE_SIZE]
        described = [
            {
                "jobId": job_id,
                "name": None,
                "status": None,
                "target": None,
                "providerId": None,
                "creationTime": None,
            }
            for job_id in chunk
        ]
        state["selected"] += len(chunk)
        _close(state, number, described, applied)
    state["list"]["page"] = len(applied.closed)
    state["list"]["done"] = True
    return applied


def _open_named_pages(state: RunState, request: CancelJobsInput, now: datetime) -> None:
    # Named jobs need no listing: their pages open as the cancel queues run low.
    ids = request["selector"].get("jobIds")
    if ids is None or request["dryRun"]:
        return
    listing = state["list"]
    while _wants_page(state, request):
        chunk = ids[listing["page"] * PAGE_SIZE : (listing["page"] + 1) * PAGE_SIZE]
        jobs = [{"jobId": job_id, "status": None} for job_id in chunk]
        state["open"].append(
            bulk_pages.open_page(listing["page"], jobs, None, None, now, request["options"])
        )
        state["selected"] += len(chunk)
        listing["page"] += 1
        listing["done"] = listing["page"] * PAGE_SIZE >= len(ids)


def _read_request(call: WorkspaceCall, page: OpenPage, read: Read) -> Planned:
    if read["kind"] == "list":
        return Planned(
            "list_jobs_page", {**call, **(read["query"] or {})}, "read", page["page"], read=read
        )
    job_id = read["jobId"] or ""
    return Planned("get_job", job_call(call, job_id, 1), "read", page["page"], job_id, read)


def job_call(call: WorkspaceCall, job_id: str, attempt: int) -> JobCall:
    """The input of get_job or cancel_job for one job of the run's workspace."""
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


# -- what the answers change ----------------------------------------------------------------
def apply_tick(
    state: RunState,
    request: CancelJobsInput,
    planned: list[Planned],
    answers: list[dict[str, Any]],
    now: datetime,
) -> Applied:
    """Fold a tick's answers into the state; pages that are complete leave it."""
    applied = Applied()
    state["requests"] += len(planned)
    options = request["options"]
    pages = {page["page"]: page for page in state["open"]}
    counted = [a for p, a in zip(planned, answers, strict=True) if p.role == "count"]
    if counted:
        applied.pause_seconds = _counted(state, request, counted)
    read_pages: set[int] = set()
    for item, answer in zip(planned, answers, strict=True):
        wait: float | None = None
        if item.role == "cancel":
            wait = bulk_pages.cancel_answered(pages[item.page], item.job_id, answer, now, options)
        elif item.role == "read" and item.read is not None:
            wait = bulk_pages.read_answered(pages[item.page], item.read, answer)
            read_pages.add(item.page)
        elif item.role == "list":
            wait = _listed(state, request, answer, now, applied)
        applied.pause_seconds = max(applied.pause_seconds, wait or 0.0)
    for number in read_pages:
        page = pages[number]
        if not page["toRead"]:
            bulk_pages.poll_done(page, now, options)
    still_open: list[OpenPage] = []
    for page in state["open"]:
        if bulk_pages.is_closed(page):
            _close(state, page["page"], bulk_pages.page_results(page), applied)
        else:
            still_open.append(page)
    state["open"] = still_open
    return applied


def _counted(state: RunState, request: CancelJobsInput, answers: list[dict[str, Any]]) -> float:
    count = state["count"]
    for answer in answers:
        if not answer["ok"]:
            # The window stays where it was: the next tick asks again (later windows too).
            return _retry_or_stop(state, answer)
        state["attempts"] = 0
        full = answer["count"] >= PAGE_SIZE
        count["matched"] += int(answer["count"])
        link = answer.get("nextLink")
        if count["mode"] == "probe":
            count["mode"] = "windows" if full else "follow"
            count["window"] = 1
            count["follow"] = link
            count["done"] = not full and not link
        elif count["mode"] == "follow":
            count["follow"] = link
            count["done"] = not link
        else:
            count["window"] += 1
            count["done"] = not full
        if count["matched"] > request["maxJobs"]:
            count["done"] = True
        if count["done"]:
            break
    return 0.0


def _retry_or_stop(state: RunState, answer: dict[str, Any]) -> float:
    """A failed count or listing request: the seconds to wait before asking again. Neither has
    a per-job fallback, so a permanent failure (a filter the service refuses, a 403) or one
    retried too often stops the run before anything more is cancelled."""
    error: ErrorInfo = answer["error"]
    state["attempts"] += 1
    wait = bulk_pages.retry_wait(error, state["attempts"])
    if wait is None:
        raise ServiceCallFailed(error, state["attempts"], bulk_pages.give_up_reason(error))
    return wait


def _listed(
    state: RunState,
    request: CancelJobsInput,
    answer: dict[str, Any],
    now: datetime,
    applied: Applied,
) -> float | None:
    listing = state["list"]
    if not answer["ok"]:
        return _retry_or_stop(state, answer)
    state["attempts"] = 0
    listing["jobs"] += answer["jobs"]
    link = answer.get("nextLink")
    if link and len(listing["jobs"]) < PAGE_SIZE:
        listing["follow"] = link  # the service paged below top: the rest of this page
        return None
    jobs, listing["jobs"], listing["follow"] = listing["jobs"][:PAGE_SIZE], [], None
    number = listing["page"]
    listing["page"] += 1
    # A page asks for top=100 at skip=100k: a short page is the last one.
    listing["done"] = len(jobs) < PAGE_SIZE
    if not jobs:
        return None
    statuses = selected_statuses(request)
    if request["dryRun"]:
        chosen = [job for job in jobs if statuses is None or job["status"] in statuses]
        state["selected"] += len(chosen)
        described = [{k: v for k, v in job.items() if k != "cancellationTime"} for job in chosen]
        _close(state, number, described, applied)
        return None
    page = bulk_pages.open_page(
        number,
        jobs,
        _window(listing_query(request, with_status=False), number),
        statuses,
        now,
        request["options"],
    )
    state["selected"] += len(page["status"])
    state["open"].append(page)
    return None


def _close(state: RunState, number: int, results: list[Any], applied: Applied) -> None:
    applied.closed.append((number, results))
    state["pages"] += 1
    for result in results:
        if "outcome" in result:
            outcome: BulkOutcome = result["outcome"]
            state["outcomes"][outcome] += 1
    keep_listed(state, results)


def keep_listed(state: RunState, results: list[JobResult] | list[dict[str, Any]]) -> None:
    """Keep the output's job list bounded: every job while at most MAX_LISTED_JOBS were
    selected, then only those that did not end cancelled or alreadyTerminal."""
    listed = state["listed"]
    listed.extend(dict(result) for result in results)
    if state["selected"] > MAX_LISTED_JOBS:
        kept = [r for r in listed if r.get("outcome") not in ("cancelled", "alreadyTerminal")]
        state["listed"] = kept[:MAX_LISTED_JOBS]
    state["omitted"] = state["selected"] - len(state["listed"])
