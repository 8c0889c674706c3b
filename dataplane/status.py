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
