"""The open pages of a workspace-scale run: what each still has to cancel, read and report.

Pure bookkeeping, no Durable context: ``orchestrators.bulk_plan`` decides what to send from
this state and ``orchestrators.cancel_jobs`` sends it, so the rules can be read (and tested) on
their own. The state is plain JSON because it travels through continue-as-new; it holds at most
``MAX_OPEN_PAGES`` pages of at most ``PAGE_SIZE`` jobs, whatever the number of jobs selected.

The single-job rules are reused: the status model decides what is final, a 409 on cancel means
the job had already finished (``job_already_finished``), transient errors are retried with the
workflow's retry delay (never sooner than a Retry-After), permanent ones fail that job alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from dataplane import status as job_status
from dataplane.errors import ErrorInfo
from orchestrators.service_calls import ServiceCallFailed, job_already_finished
from workflow import schedule
from workflow.shapes import BulkOptions, BulkOutcome, JobResult
from workflow.times import iso, parse_iso

PAGE_SIZE = 100
#: Pages being cancelled or confirmed at once; bounds the run's state (about 20 KB a page).
MAX_OPEN_PAGES = 20
#: With at most this many jobs pending, a page confirms by Jobs_Get instead of a listing.
GET_WHEN_PENDING = 3
CANCELLING = frozenset({job_status.CANCELLATION_REQUESTED, job_status.CANCELLING})
OUTCOMES: tuple[BulkOutcome, ...] = (
    "cancelled",
    "alreadyTerminal",
    "finishedBeforeCancel",
    "timedOut",
    "failed",
)


class Read(TypedDict):
    """One read of a confirming poll: a listing request, or one job's Jobs_Get."""

    kind: str  # "list" or "get"
    query: dict[str, Any] | None
    jobId: str | None


class OpenPage(TypedDict):
    """A page of at most PAGE_SIZE selected jobs, from its listing to its last confirmation."""

    page: int
    #: The page's own listing (None for job ids): re-read to confirm many jobs in one request.
    listing: dict[str, Any] | None
    #: Every selected job of the page, in listing order, with the last status seen.
    status: dict[str, str | None]
    toCancel: list[str]
    #: Cancel accepted or job already cancelling → whether the cancel was answered 409.
    pending: dict[str, bool]
    attempts: dict[str, int]
    results: dict[str, JobResult]
    toRead: list[Read]
    readAttempts: int
    listedInPoll: int
    polls: int
    pollAt: str | None
    deadline: str | None
    #: The listing was refused: read each job instead.
    getOnly: bool


def open_page(
    page: int,
    jobs: list[dict[str, Any]],
    listing: dict[str, Any] | None,
    statuses: list[str] | None,
    now: datetime,
    options: BulkOptions,
) -> OpenPage:
    """A page of listed (or named) jobs; only those in ``statuses`` (all, when None) are
    selected, and a job already CancellationRequested or Cancelling gets no second cancel."""
    chosen = [job for job in jobs if statuses is None or job["status"] in statuses]
    opened = OpenPage(
        page=page,
        listing=listing,
        status={job["jobId"]: job["status"] for job in chosen},
        toCancel=[job["jobId"] for job in chosen if job["status"] not in CANCELLING],
        pending={job["jobId"]: False for job in chosen if job["status"] in CANCELLING},
        attempts={},
        results={},
        toRead=[],
        readAttempts=0,
        listedInPoll=0,
        polls=0,
        pollAt=None,
        deadline=None,
        getOnly=False,
    )
    if not opened["toCancel"]:
        _start_confirming(opened, now, options)
    return opened


def _start_confirming(page: OpenPage, now: datetime, options: BulkOptions) -> None:
    # The deadline bounds the confirmation only: it starts when the page's cancels are done.
    page["deadline"] = iso(now + timedelta(seconds=options["timeoutSeconds"]))
    first = 0.0 if any(page["pending"].values()) else _poll_delay(0, options)
    page["pollAt"] = iso(now + timedelta(seconds=first))


def _poll_delay(polls: int, options: BulkOptions) -> float:
    return schedule.poll_delay(
        polls, options["pollIntervalSeconds"], options["maxPollIntervalSeconds"]
    )


def retry_wait(error: ErrorInfo, attempts: int) -> float | None:
    """Seconds to wait before trying again, or None when the error is not worth a retry."""
    policy = schedule.DEFAULT_RETRY_POLICY
    after = error["retryAfterSeconds"]
    if (
        not error["transient"]
        or attempts >= policy.max_attempts
        or (after is not None and after > policy.max_retry_after_seconds)
    ):
        return None
    return schedule.retry_delay(attempts, after, policy)


def give_up_reason(error: ErrorInfo) -> str:
    """Why a failed call is not tried again, in the words of ServiceCallFailed."""
    return "permanent error, not retried" if not error["transient"] else "gave up retrying"


def take_cancels(page: OpenPage, most: int) -> list[str]:
    """Up to ``most`` of the page's jobs still to cancel, taken off its queue."""
    taken, page["toCancel"] = page["toCancel"][:most], page["toCancel"][most:]
    return taken


def cancel_answered(
    page: OpenPage, job_id: str, answer: dict[str, Any], now: datetime, options: BulkOptions
) -> float | None:
    """Apply one cancel's answer; returns the wait a retry asks for (the run pauses for it)."""
    attempts = page["attempts"][job_id] = page["attempts"].get(job_id, 0) + 1
    wait = None
    if answer["ok"]:
        page["pending"][job_id] = False
    else:
        error: ErrorInfo = answer["error"]
        if job_already_finished(error):
            page["pending"][job_id] = True
        elif (wait := retry_wait(error, attempts)) is not None:
            page["toCancel"].append(job_id)
        else:
            page["results"][job_id] = failed(job_id, page["status"][job_id], error, attempts)
    if not page["toCancel"] and page["deadline"] is None and not cancels_in_flight(page):
        _start_confirming(page, now, options)
    return wait


def cancels_in_flight(page: OpenPage) -> bool:
    """Whether some selected job has neither a result, a pending confirmation nor a queued
    cancel: its cancel was taken off the queue and not answered yet."""
    settled = len(page["results"]) + len(page["pending"]) + len(page["toCancel"])
    return settled < len(page["status"])


def start_poll(page: OpenPage, now: datetime) -> None:
    """Queue the reads of a confirming poll, when one is due."""
    if page["toRead"] or not page["pending"] or page["pollAt"] is None:
        return
    if parse_iso(page["pollAt"]) > now:
        return
    if (
        page["listing"] is not None
        and not page["getOnly"]
        and len(page["pending"]) > GET_WHEN_PENDING
    ):
        page["toRead"] = [Read(kind="list", query=dict(page["listing"]), jobId=None)]
    else:
        page["toRead"] = [Read(kind="get", query=None, jobId=job_id) for job_id in page["pending"]]
    page["listedInPoll"] = 0


def read_answered(page: OpenPage, read: Read, answer: dict[str, Any]) -> float | None:
    """Apply one read of a poll (the read was taken off ``toRead``); returns a retry's wait."""
    if answer["ok"]:
        page["readAttempts"] = 0
        if read["kind"] == "get":
            _seen(page, {**answer["job"], "jobId": read["jobId"]})
            return None
        for job in answer["jobs"]:
            if job["jobId"] in page["pending"]:
                _seen(page, job)
        page["listedInPoll"] += len(answer["jobs"])
        # The service may page below top: read the rest of this page before the poll ends.
        if answer.get("nextLink") and page["listedInPoll"] < PAGE_SIZE and page["pending"]:
            follow: dict[str, Any] = {"nextLink": answer["nextLink"]}
            if page["listing"] is not None and "sessionId" in page["listing"]:
                follow["sessionId"] = page["listing"]["sessionId"]
            page["toRead"].insert(0, Read(kind="list", query=follow, jobId=None))
        return None
    error: ErrorInfo = answer["error"]
    page["readAttempts"] += 1
    wait = retry_wait(error, page["readAttempts"])
    if wait is not None:
        page["toRead"].insert(0, read)
        return wait
    page["readAttempts"] = 0
    if read["kind"] == "list":
        # Listing refused or failing for good: this poll and the next read each job instead.
        page["getOnly"] = True
        page["toRead"] = [Read(kind="get", query=None, jobId=job_id) for job_id in page["pending"]]
    elif read["jobId"] in page["pending"] and not error["transient"]:
        # Deleted meanwhile (404) or forbidden (403): that job fails, the run goes on.
        job_id = str(read["jobId"])
        page["pending"].pop(job_id)
        page["results"][job_id] = failed(job_id, page["status"][job_id], error, 1)
    return None


def _seen(page: OpenPage, job: dict[str, Any]) -> None:
    job_id = job["jobId"]
    page["status"][job_id] = job["status"]
    if job_id in page["pending"] and job_status.is_terminal(job["status"]):
        conflict = page["pending"].pop(job_id)
        page["results"][job_id] = final(job_id, job, conflict)


def poll_done(page: OpenPage, now: datetime, options: BulkOptions) -> None:
    """A poll's last read is in: time the next one, or time the page out at its deadline."""
    page["polls"] += 1
    # A page polls only once its cancels are done, which is when its deadline is set.
    deadline = parse_iso(page["deadline"]) if page["deadline"] else now
    if now >= deadline:
        for job_id in page["pending"]:
            page["results"][job_id] = JobResult(
                jobId=job_id,
                outcome="timedOut",
                finalStatus=page["status"][job_id],
                cancellationTime=None,
            )
        page["pending"] = {}
        return
    delay = timedelta(seconds=_poll_delay(page["polls"], options))
    page["pollAt"] = iso(min(now + delay, deadline))


def is_closed(page: OpenPage) -> bool:
    """Every selected job of the page has its result."""
    return len(page["results"]) == len(page["status"])


def page_results(page: OpenPage) -> list[JobResult]:
    """The page's results in listing order."""
    return [page["results"][job_id] for job_id in page["status"]]


def failed(job_id: str, status: str | None, error: ErrorInfo, attempts: int) -> JobResult:
    """A job whose cancel (or read) failed for good, with the error in words."""
    return JobResult(
        jobId=job_id,
        outcome="failed",
        finalStatus=status,
        cancellationTime=None,
        error=str(ServiceCallFailed(error, attempts, give_up_reason(error))),
    )


def final(job_id: str, job: dict[str, Any], conflict: bool) -> JobResult:
    """A job seen in a final status: cancelled, or finished before (409) or despite the cancel."""
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
