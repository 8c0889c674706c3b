"""The request-rate cap of a workspace-scale run, kept on durable timers.

The cap is ``per_second`` *slots*. Each request takes a slot, and a slot's next request is
never sent sooner than one second after its previous request was answered: the service can
only have counted a request between its send and its answer, so a slot holds at most one
request in any one-second window, and ``per_second`` slots at most ``per_second``.

Every activity returns ``answeredAt``, the moment its answer came back on its host's clock,
and takes ``notBefore``, a moment it waits for (on that clock) before sending. After a batch,
each slot it used is free from its answer plus a second (plus ``CLOCK_MARGIN``); the next
batch is released on a durable timer shortly before its first slot is free (``LEAD``, and at
most ``MAX_HOLD`` before its last one), its requests take the slots in the order they free,
and an activity whose slot frees after it starts waits for it. So a slot is busy one second
plus its own request's time, not also the trip of the results back to the orchestration and
of the next timer out to the activities, nor the slowest request of its batch.

The moments are used only when the answers are plausible on the orchestration's clock (none
before the batch was scheduled, none after its results were seen). Otherwise, or when an
answer carries no moment (a caller that passes no answers), the older rule applies to the
whole next batch: one second after the orchestration saw the results, with no ``notBefore``.

Time is the orchestration's and the answers are recorded in its history, so replay decides
the same; the state (``next_at`` and the slots) travels through continue-as-new.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from workflow.times import iso, parse_iso

BATCH_GAP = timedelta(seconds=1)
#: Added to each answer's moment because it is read on one activity host's clock and the
#: next request's ``notBefore`` on another's (and timers on the orchestration's). Azure syncs
#: its hosts to Microsoft's own GPS-backed time servers ("Time sync for Linux VMs in Azure",
#: learn.microsoft.com), but publishes no bound on how far two instances of one app may
#: disagree: 20 ms is this app's assumption, not a documented figure (docs/performance.md,
#: part 4). A disagreement that puts an answer outside its batch's span on the orchestration's
#: clock is caught (the older rule applies); one inside that span and above the margin is not.
CLOCK_MARGIN = timedelta(milliseconds=20)
#: A batch is released at most this long before its last slot frees (its activities wait the
#: rest, briefly, rather than the batch waiting for the slowest request of the last one).
MAX_HOLD = timedelta(milliseconds=250)
#: ... and this long before its first slot frees, so that the trip of the timer and of the
#: activities to a worker overlaps the wait instead of following it.
LEAD = timedelta(milliseconds=50)


def free_from(
    scheduled: datetime | None, seen: datetime, answers: Sequence[Mapping[str, Any]]
) -> list[datetime] | None:
    """When each answered request's slot is free again, in the answers' order: a second
    (plus ``CLOCK_MARGIN``) after its ``answeredAt``, never later than a second after
    ``seen``. None when the answers cannot tell: one without a moment, or one outside
    [scheduled, seen] on the orchestration's clock (a clock that disagrees)."""
    moments = [_answered_at(answer) for answer in answers]
    known = [m for m in moments if m is not None]
    if scheduled is None or not known or len(known) < len(moments):
        return None
    if min(known) < scheduled or max(known) > seen:
        return None
    return [min(seen + BATCH_GAP, m + CLOCK_MARGIN + BATCH_GAP) for m in known]


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
    #: Nothing is released before this (the older rule, a Retry-After, a poll not yet due).
    next_at: datetime | None = None
    #: When each used slot is free again, earliest first (at most ``per_second``; a slot not
    #: listed is free).
    slots: list[datetime] = field(default_factory=list)

    def _taken_in_order(self) -> list[datetime | None]:
        # The slots a full batch takes, request by request: free ones (None) first.
        return [None] * max(0, self.per_second - len(self.slots)) + list(self.slots)

    def ready_at(self) -> datetime | None:
        """When the next batch is released: not before ``next_at``, LEAD before its first
        request's slot, or MAX_HOLD before its last request's slot."""
        order = self._taken_in_order()
        moments = [self.next_at] if self.next_at is not None else []
        if order[0] is not None:
            moments.append(order[0] - LEAD)
        if order[-1] is not None:
            moments.append(order[-1] - MAX_HOLD)
        return max(moments, default=None)

    def wait(self, context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
        """Wait (on a durable timer) until the next batch may go out."""
        ready = self.ready_at()
        if ready is not None and ready > context.current_utc_datetime:
            yield context.create_timer(ready)

    def not_before(self, index: int, now: datetime) -> str | None:
        """The ``notBefore`` of the batch's request number ``index``: its slot's moment, when
        that is still ahead of ``now``."""
        order = self._taken_in_order()
        moment = order[index] if index < len(order) else None
        return iso(moment) if moment is not None and moment > now else None

    def sent(
        self,
        context: df.DurableOrchestrationContext,
        answers: Sequence[Mapping[str, Any]] = (),
        *,
        scheduled: datetime | None = None,
    ) -> None:
        """A batch has ended (its ``answers``, scheduled at ``scheduled``): the slots it used
        are free from their answers' moments, or, when those cannot tell, nothing goes out
        before a second from now."""
        seen = context.current_utc_datetime
        freed = free_from(scheduled, seen, answers)
        if freed is None:
            self.slots = []
            self.hold_until(seen + BATCH_GAP)
            return
        kept = [m for m in self._taken_in_order()[len(freed) :] if m is not None]
        self.slots = sorted(freed + kept)[-self.per_second :]

    def hold_until(self, moment: datetime) -> None:
        """Send nothing before ``moment`` (a Retry-After, a parent's last request)."""
        if self.next_at is None or moment > self.next_at:
            self.next_at = moment

    def handover(self) -> str | None:
        """The state for the next generation or a sub-orchestration."""
        return iso(self.next_at) if self.next_at else None

    def handover_slots(self) -> list[str]:
        """The slots' moments for the next generation."""
        return [iso(moment) for moment in self.slots]

    @classmethod
    def resume(cls, per_second: int, state: str | None, slots: Sequence[str] = ()) -> Pacer:
        """A pacer from its handed-over state."""
        return cls(per_second, parse_iso(state) if state else None, [parse_iso(s) for s in slots])
