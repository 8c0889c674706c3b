"""The job status model: every JobStatus value of the newest spec, and which ones are final.

JobStatus is an extensible enum (``modelAsString``) in the specs, so the service may send values
this app has never seen. Those are treated as *not* terminal: polling goes on until a known final
status or the deadline, never stopping early on a value it does not understand.
"""

from __future__ import annotations

QUEUED = "Queued"
WAITING = "Waiting"
EXECUTING = "Executing"
CANCELLATION_REQUESTED = "CancellationRequested"
CANCELLING = "Cancelling"
FINISHING = "Finishing"
COMPLETED = "Completed"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELLED = "Cancelled"

# In the order of the 2026-08-01-preview spec's JobStatus enum.
KNOWN_STATUSES: tuple[str, ...] = (
    QUEUED,
    WAITING,
    EXECUTING,
    CANCELLATION_REQUESTED,
    CANCELLING,
    FINISHING,
    COMPLETED,
    SUCCEEDED,
    FAILED,
    CANCELLED,
)
TERMINAL_STATUSES: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, COMPLETED})


def is_terminal(status: str | None) -> bool:
    """Tell whether a job in ``status`` has ended; unknown and missing values have not."""
    return status in TERMINAL_STATUSES


# The JobStatus enum of each api-version's spec (Azure/azure-rest-api-specs,
# specification/quantum/data-plane; the facts-only copies in specs/): five values up to
# 2025-09-01-preview (2019-11-04-preview and 2024-10-01-preview list Waiting, Executing,
# Succeeded, Failed, Cancelled), all ten from 2025-12-01-preview (the 2026 documents).
_FIVE_STATUS_UNTIL = "2025-12-01"
_FIVE_STATUSES: tuple[str, ...] = (WAITING, EXECUTING, SUCCEEDED, FAILED, CANCELLED)


def listed_statuses(api_version: str) -> tuple[str, ...]:
    """The JobStatus values the spec of ``api_version`` lists."""
    return _FIVE_STATUSES if api_version[:10] < _FIVE_STATUS_UNTIL else KNOWN_STATUSES


def unfinished_statuses(api_version: str) -> tuple[str, ...]:
    """The non-final statuses ``api_version`` lists: every job a bulk selection can cancel."""
    return tuple(s for s in listed_statuses(api_version) if not is_terminal(s))
