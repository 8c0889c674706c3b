"""The state of a workspace-scale run (``cancel_jobs``) as a typed model.

The orchestrator works on these dataclasses; they become JSON only where they cross a Durable
boundary (continue-as-new), through ``RunState.to_json`` and ``RunState.from_json``. Every
field holds counts or at most ``MAX_OPEN_PAGES`` pages of at most ``PAGE_SIZE`` jobs (plus one
character per named job), so the JSON stays small whatever the number of jobs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from workflow.shapes import BulkOutcome, JobResult

PAGE_SIZE = 100
#: Pages being cancelled or confirmed at once; bounds the run's state (about 20 KB a page).
MAX_OPEN_PAGES = 20
OUTCOMES: tuple[BulkOutcome, ...] = (
    "cancelled",
    "alreadyTerminal",
    "finishedBeforeCancel",
    "timedOut",
    "failed",
)

#: What a run is doing, as ``progress.phase`` shows it.
RunPhase = Literal["listing", "cancelling", "confirming", "done"]
#: How the selection is counted: one probe page, then ``top``-sized windows side by side, or
#: the service's ``nextLink`` one page at a time when it pages below ``top``.
CountMode = Literal["probe", "windows", "follow"]
#: A read of an open page: its own listing, one job's Jobs_Get to confirm it, or one named
#: job's Jobs_Get to learn its status before the seed's branch.
ReadKind = Literal["list", "get", "learn"]


@dataclass
class Count:
    """Counting the selection (for ``maxJobs``), or, for named jobs, learning their statuses
    from the workspace's listing of unfinished jobs."""

    matched: int = 0
    mode: CountMode = "probe"
    window: int = 0
    #: Windows asked for side by side in the next batch: 1, 4, 16, … up to a batch's budget.
    fan: int = 1
    follow: str | None = None
    done: bool = False
    #: Listing requests made (named jobs stop listing after a budget of them).
    requests: int = 0


@dataclass
class Listing:
    """Listing the selection page by page (``skip``/``top``, following a short page's link)."""

    page: int = 0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    follow: str | None = None
    done: bool = False


@dataclass
class Read:
    """One read of an open page."""

    kind: ReadKind
    query: dict[str, Any] | None = None
    jobId: str | None = None


@dataclass
class OpenPage:
    """A page of at most PAGE_SIZE selected jobs, from its listing to its last confirmation."""

    page: int
    #: The listing that shows the page's jobs (None: confirm each job with Jobs_Get).
    listing: dict[str, Any] | None
    #: Every selected job of the page, in listing order, with the last status seen.
    status: dict[str, str | None]
    toCancel: list[str] = field(default_factory=list)
    #: Cancel accepted or job already cancelling → whether the cancel was answered 409.
    pending: dict[str, bool] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    results: dict[str, JobResult] = field(default_factory=dict)
    toRead: list[Read] = field(default_factory=list)
    readAttempts: int = 0
    listedInPoll: int = 0
    polls: int = 0
    pollAt: str | None = None
    deadline: str | None = None
    #: The listing was refused or did not show every pending job: read each job instead.
    getOnly: bool = False
    #: Pending jobs the current listing poll has not shown yet.
    unseen: list[str] = field(default_factory=list)
    #: The listing is a span of creation times (named jobs), other jobs may be in it.
    spanned: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpenPage:
        """The page a previous generation handed over."""
        return cls(**{**data, "toRead": [Read(**read) for read in data["toRead"]]})


@dataclass
class Totals:
    """What the run has done so far, for ``progress`` and the outputs."""

    selected: int = 0
    cancelRequested: int = 0
    #: Jobs reported by closed pages, and their outcomes.
    reported: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    requests: int = 0
    pages: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)
    omitted: int = 0


@dataclass
class RunState:
    """All a run carries through continue-as-new."""

    startedAt: str
    sessionClosed: bool = False
    count: Count = field(default_factory=Count)
    listing: Listing = field(default_factory=Listing)
    open: list[OpenPage] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    nextAt: str | None = None
    #: When each slot of the rate cap is free again (orchestrators.pacing), at most the cap.
    paceSlots: list[str] = field(default_factory=list)
    #: Failed attempts of the current count or listing request.
    attempts: int = 0
    #: Named jobs: one character per id, the status the workspace's listing showed
    #: (``STATUS_CODES``; ``NOT_SEEN`` while not shown).
    seen: str = ""
    #: Named jobs: per page of ids, the first and last creation time the listing showed (a
    #: listing of that span confirms the page in one request).
    spans: list[list[str]] = field(default_factory=list)
    phase: RunPhase = "listing"

    def to_json(self) -> dict[str, Any]:
        """The state as JSON, for continue-as-new."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """The state a previous generation handed over."""
        return cls(
            **{
                **data,
                "count": Count(**data["count"]),
                "listing": Listing(**data["listing"]),
                "open": [OpenPage.from_json(page) for page in data["open"]],
                "totals": Totals(**data["totals"]),
            }
        )


#: One character per status for ``RunState.seen`` (unknown statuses keep their own entry
#: through "?" and are read again).
STATUS_CODES: dict[str, str] = {
    "Queued": "q",
    "Waiting": "w",
    "Executing": "e",
    "CancellationRequested": "r",
    "Cancelling": "c",
    "Finishing": "f",
}
CODE_STATUSES = {code: status for status, code in STATUS_CODES.items()}
NOT_SEEN = "."
