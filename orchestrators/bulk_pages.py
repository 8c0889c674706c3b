"""The open pages of a workspace-scale run: what each still has to learn, cancel, read and report.

Pure bookkeeping on ``workflow.bulk_state.OpenPage``, no Durable context:
``orchestrators.bulk_run`` decides what to send from it and ``orchestrators.cancel_jobs``
sends it, so the rules can be read (and tested) on their own.

The single-job rules are called, not copied: the seed's branch (``branch``: a final job gets
no cancel, a job already CancellationRequested/Cancelling no second one), the status model,
a 409 on cancel meaning the job had already finished (``job_already_finished``), and the one
retry rule (``retry_or_reason``): transient errors are retried, never sooner than a
Retry-After; permanent ones fail that job alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dataplane import status as job_status
from dataplane.errors import ErrorInfo
from orchestrators.service_calls import ServiceCallFailed, job_already_finished, retry_or_reason
from workflow import schedule
from workflow.bulk_state import PAGE_SIZE, OpenPage, Read
from workflow.shapes import BulkOptions, BulkOutcome, JobResult
from workflow.times import iso, parse_iso

#: With at most this many jobs pending, a page confirms by Jobs_Get instead of a listing.
GET_WHEN_PENDING = 3
CANCELLING = frozenset({job_status.CANCELLATION_REQUESTED, job_status.CANCELLING})
#: What a dry run reports of each job.
DESCRIBED = ("jobId", "name", "status", "target", "providerId", "creationTime")
CONFIRMED: tuple[BulkOutcome, ...] = ("cancelled", "alreadyTerminal", "finishedBeforeCancel")
#: Named jobs: windows of their span's listing read in one poll before reading each job.
SPAN_WINDOWS = 3


def open_page(
    number: int,
    jobs: list[dict[str, Any]],
    listing: dict[str, Any] | None,
    now: datetime,
    options: BulkOptions,
    *,
    dry_run: bool,
    spanned: bool = False,
) -> OpenPage:
    """A page of selected jobs. A job whose status is known takes the seed's branch at once;
    a named job the listing did not show (status None) is read first. ``spanned``: the
    listing is the span of creation times of named jobs, which other jobs may share."""
    page = OpenPage(
        page=number,
        listing=listing,
        status={job["jobId"]: None for job in jobs},
        spanned=spanned,
    )
    for job in jobs:
        if job["status"] is None:
            page.toRead.append(Read(kind="learn", jobId=job["jobId"]))
        else:
            branch(page, job, dry_run=dry_run)
    _confirm_when_sent(page, now, options)
    return page


def branch(page: OpenPage, job: dict[str, Any], *, dry_run: bool) -> None:
    """The seed's branch for one job whose status is known: a dry run reports it; a final job
    ends ``alreadyTerminal`` without a cancel; a job already being cancelled is confirmed
    without a second cancel; any other one (unknown statuses too) is queued for its cancel."""
    job_id = job["jobId"]
    status = job["status"]
    page.status[job_id] = status
    if dry_run:
        page.results[job_id] = {key: job.get(key) for key in DESCRIBED}  # type: ignore[assignment]
    elif job_status.is_terminal(status):
        page.results[job_id] = JobResult(
            jobId=job_id,
            outcome="alreadyTerminal",
            finalStatus=status,
            cancellationTime=job.get("cancellationTime"),
        )
    elif status in CANCELLING:
        page.pending[job_id] = False
    else:
        page.toCancel.append(job_id)


def _confirm_when_sent(page: OpenPage, now: datetime, options: BulkOptions) -> None:
    # The deadline bounds the confirmation only: it starts once every job of the page has
    # taken its branch and every cancel is answered.
    if page.deadline is not None or page.toCancel or _unsettled(page):
        return
    page.deadline = iso(now + timedelta(seconds=options["timeoutSeconds"]))
    first = 0.0 if any(page.pending.values()) else _poll_delay(0, options)
    page.pollAt = iso(now + timedelta(seconds=first))


def sending(page: OpenPage) -> bool:
    """Some job of the page has yet to take its branch or to have its cancel answered."""
    return bool(page.toCancel) or _unsettled(page) > 0


def _unsettled(page: OpenPage) -> int:
    """Jobs still being learnt, or whose cancel is out and not answered yet."""
    return len(page.status) - len(page.results) - len(page.pending) - len(page.toCancel)


def _poll_delay(polls: int, options: BulkOptions) -> float:
    return schedule.poll_delay(
        polls, options["pollIntervalSeconds"], options["maxPollIntervalSeconds"]
    )


def take_cancels(page: OpenPage, most: int) -> list[str]:
    """Up to ``most`` of the page's jobs still to cancel, taken off its queue."""
    taken, page.toCancel = page.toCancel[:most], page.toCancel[most:]
    return taken


def take_reads(page: OpenPage, most: int) -> list[Read]:
    """Up to ``most`` reads of the page, taken off its queue; a listing read goes alone, as
    the next one may follow its link."""
    taken: list[Read] = []
    while page.toRead and len(taken) < most:
        read = page.toRead.pop(0)
        taken.append(read)
        if read.kind == "list":
            break
    return taken


def cancel_answered(
    page: OpenPage, job_id: str, answer: dict[str, Any], now: datetime, options: BulkOptions
) -> float | None:
    """Apply one cancel's answer; returns the wait a retry asks for (the run pauses for it)."""
    attempts = page.attempts[job_id] = page.attempts.get(job_id, 0) + 1
    wait = None
    if answer["ok"]:
        page.pending[job_id] = False
    else:
        error: ErrorInfo = answer["error"]
        if job_already_finished(error):
            page.pending[job_id] = True
        else:
            retry = retry_or_reason(error, attempts)
            if isinstance(retry, str):
                page.results[job_id] = failed(job_id, page.status[job_id], error, attempts, retry)
            else:
                wait = retry
                page.toCancel.append(job_id)
    _confirm_when_sent(page, now, options)
    return wait


def start_poll(page: OpenPage, now: datetime) -> None:
    """Queue the reads of a confirming poll, when one is due."""
    if page.toRead or not page.pending or page.pollAt is None or parse_iso(page.pollAt) > now:
        return
    if page.listing is not None and not page.getOnly and len(page.pending) > GET_WHEN_PENDING:
        page.toRead = [Read(kind="list", query=dict(page.listing))]
        page.unseen = list(page.pending)
    else:
        page.toRead = [Read(kind="get", jobId=job_id) for job_id in page.pending]
    page.listedInPoll = 0


def read_answered(
    page: OpenPage,
    read: Read,
    answer: dict[str, Any],
    now: datetime,
    options: BulkOptions,
    *,
    dry_run: bool,
) -> float | None:
    """Apply one read (taken off ``toRead``); returns the wait a retry asks for."""
    if answer["ok"]:
        page.readAttempts = 0
        if read.kind == "learn":
            branch(page, {**answer["job"], "jobId": read.jobId}, dry_run=dry_run)
            _confirm_when_sent(page, now, options)
        elif read.kind == "get":
            _seen(page, {**answer["job"], "jobId": read.jobId})
        else:
            _listed_in_poll(page, read, answer)
        return None
    error: ErrorInfo = answer["error"]
    page.readAttempts += 1
    retry = retry_or_reason(error, page.readAttempts)
    if not isinstance(retry, str):
        page.toRead.insert(0, read)
        return retry
    page.readAttempts = 0
    job_id = str(read.jobId)
    if read.kind == "list":
        # Listing refused or failing for good: this poll and the next read each job instead.
        page.getOnly = True
        page.toRead = [Read(kind="get", jobId=job) for job in page.pending]
    elif read.kind == "learn":
        # The job does not exist (404), is forbidden, or cannot be read: it fails alone.
        if dry_run:
            described: dict[str, Any] = dict.fromkeys(DESCRIBED)
            described.update(jobId=job_id, error=_error_text(error, 1, retry))
            page.results[job_id] = described  # type: ignore[assignment]
        else:
            page.results[job_id] = failed(job_id, None, error, 1, retry)
        _confirm_when_sent(page, now, options)
    elif job_id in page.pending and not error["transient"]:
        # Deleted meanwhile (404) or forbidden (403): that job fails, the run goes on.
        page.pending.pop(job_id)
        page.results[job_id] = failed(job_id, page.status[job_id], error, 1, retry)
    return None


def _listed_in_poll(page: OpenPage, read: Read, answer: dict[str, Any]) -> None:
    for job in answer["jobs"]:
        if job["jobId"] in page.pending:
            _seen(page, job)
        if job["jobId"] in page.unseen:
            page.unseen.remove(job["jobId"])
    page.listedInPoll += len(answer["jobs"])
    # The service may page below top: read the rest of this page before the poll ends.
    if answer.get("nextLink") and page.listedInPoll < PAGE_SIZE and page.pending:
        follow: dict[str, Any] = {"nextLink": answer["nextLink"]}
        if page.listing is not None and "sessionId" in page.listing:
            follow["sessionId"] = page.listing["sessionId"]
        page.toRead.insert(0, Read(kind="list", query=follow))
    elif page.spanned and read.query and len(answer["jobs"]) >= PAGE_SIZE:
        # Other jobs were made in the same span: read its next window, a few at most.
        skip = int(read.query.get("skip", 0)) + PAGE_SIZE
        if skip < SPAN_WINDOWS * PAGE_SIZE and any(job in page.pending for job in page.unseen):
            page.toRead.insert(0, Read(kind="list", query={**read.query, "skip": skip}))


def end_poll(page: OpenPage, now: datetime, options: BulkOptions) -> None:
    """After a batch's confirming reads of the page: when the poll's last read is in (every
    read taken in a batch is answered in it), time the next poll."""
    if any(read.kind != "learn" for read in page.toRead):
        return
    if any(job in page.pending for job in page.unseen):
        # The listing no longer shows some pending job (deleted, moved): read each instead.
        page.getOnly = True
    page.unseen = []
    poll_done(page, now, options)


def _seen(page: OpenPage, job: dict[str, Any]) -> None:
    job_id = job["jobId"]
    page.status[job_id] = job["status"]
    if job_id in page.pending and job_status.is_terminal(job["status"]):
        conflict = page.pending.pop(job_id)
        page.results[job_id] = final(job_id, job, conflict)


def poll_done(page: OpenPage, now: datetime, options: BulkOptions) -> None:
    """A poll's last read is in: time the next one, or time the page out at its deadline."""
    page.polls += 1
    # A page polls only once its cancels are done, which is when its deadline is set.
    deadline = parse_iso(page.deadline) if page.deadline else now
    if now >= deadline:
        for job_id in page.pending:
            page.results[job_id] = JobResult(
                jobId=job_id,
                outcome="timedOut",
                finalStatus=page.status[job_id],
                cancellationTime=None,
            )
        page.pending = {}
        return
    delay = timedelta(seconds=_poll_delay(page.polls, options))
    page.pollAt = iso(min(now + delay, deadline))


def is_closed(page: OpenPage) -> bool:
    """Every selected job of the page has its result."""
    return len(page.results) == len(page.status)


def page_results(page: OpenPage) -> list[JobResult]:
    """The page's results in listing order."""
    return [page.results[job_id] for job_id in page.status]


def confirmed(page: OpenPage) -> int:
    """Jobs of the page that a read has shown final (what ``progress.confirmed`` counts)."""
    return sum(result.get("outcome") in CONFIRMED for result in page.results.values())


def _error_text(error: ErrorInfo, attempts: int, reason: str) -> str:
    return str(ServiceCallFailed(error, attempts, reason))


def failed(
    job_id: str, status: str | None, error: ErrorInfo, attempts: int, reason: str
) -> JobResult:
    """A job whose cancel (or read) failed for good, with the error in words."""
    return JobResult(
        jobId=job_id,
        outcome="failed",
        finalStatus=status,
        cancellationTime=None,
        error=_error_text(error, attempts, reason),
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
