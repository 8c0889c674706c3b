"""The request-rate cap of a workspace-scale run, kept on durable timers.

A batch of at most ``per_second`` requests goes out at once, and the next batch waits until
one second after the previous one *ended*, so no one-second window can hold requests of two
batches and the cap holds in every window however slowly the service answers.

When a batch ended is read from the batch's own answers when they can tell it: every activity
returns ``answeredAt``, the moment (its host's clock) its answer came back. The service can
only have counted a request between the moment it was sent and that moment, so one second
after the batch's last ``answeredAt`` no request of it can share a window with the next batch.
That spares each batch the trip of its results back to the orchestration (commit, an episode)
that the older rule, one second after the orchestration *saw* the results, pays. The two
clocks are different hosts' (see ``CLOCK_MARGIN``); the answer moments are used only when they
are plausible on the orchestration's clock (not before the batch was scheduled, not after its
results were seen), and never to wait longer than the older rule would. Otherwise, or when an
answer carries no moment, the older rule applies.

Time is the orchestration's and the answers are recorded in its history, so replay decides
the same; the state (``next_at``) travels through continue-as-new and into sub-orchestrations.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from workflow.times import iso, parse_iso

BATCH_GAP = timedelta(seconds=1)
#: Added to the last answer's moment because that moment is read on an activity host's clock
#: and compared with timers fired on the orchestration's. Azure syncs its hosts to Microsoft's
#: own GPS-backed time servers ("Time sync for Linux VMs in Azure", learn.microsoft.com), but
#: publishes no bound on how far two instances of one app may disagree: 20 ms is this app's
#: assumption, not a documented figure (docs/performance.md, part 4). A larger disagreement
#: that places an answer outside the batch's own span on the orchestration's clock is caught
#: (the older rule applies); one inside the span and above the margin is not.
CLOCK_MARGIN = timedelta(milliseconds=20)


def next_batch_at(
    scheduled: datetime | None, seen: datetime, answers: Sequence[Mapping[str, Any]]
) -> datetime:
    """When the next batch may go out, for a batch scheduled at ``scheduled`` whose
    ``answers`` the orchestration saw at ``seen`` (both on the orchestration's clock):
    one second after the last ``answeredAt`` (plus ``CLOCK_MARGIN``) when every answer
    carries one inside [scheduled, seen]; else one second after ``seen``."""
    seen_rule = seen + BATCH_GAP
    moments = [_answered_at(answer) for answer in answers]
    if scheduled is None or not moments or any(m is None for m in moments):
        return seen_rule
    known = [m for m in moments if m is not None]
    last = max(known)
    if min(known) < scheduled or last > seen:
        return seen_rule
    return min(seen_rule, last + CLOCK_MARGIN + BATCH_GAP)


def _answered_at(answer: Mapping[str, Any]) -> datetime | None:
    text = answer.get("answeredAt") if isinstance(answer, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


@dataclass
class Pacer:
    """At most ``per_second`` requests in any one-second window."""

    per_second: int
    next_at: datetime | None = None

    def wait(self, context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
        """Wait (on a durable timer) until the next batch may go out."""
        if self.next_at is not None and self.next_at > context.current_utc_datetime:
            yield context.create_timer(self.next_at)

    def sent(
        self,
        context: df.DurableOrchestrationContext,
        answers: Sequence[Mapping[str, Any]] = (),
        *,
        scheduled: datetime | None = None,
    ) -> None:
        """A batch has ended: the next one waits a second from its last answer (its
        ``answers``, scheduled at ``scheduled``), or from now when they cannot tell."""
        self.next_at = next_batch_at(scheduled, context.current_utc_datetime, answers)

    def hold_until(self, moment: datetime) -> None:
        """Send nothing before ``moment`` (a Retry-After, a parent's last request)."""
        if self.next_at is None or moment > self.next_at:
            self.next_at = moment

    def handover(self) -> str | None:
        """The state for the next generation or a sub-orchestration."""
        return iso(self.next_at) if self.next_at else None

    @classmethod
    def resume(cls, per_second: int, state: str | None) -> Pacer:
        """A pacer from its handed-over state."""
        return cls(per_second, parse_iso(state) if state else None)
