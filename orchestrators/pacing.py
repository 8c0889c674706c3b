"""The request-rate cap of a workspace-scale run, kept on durable timers.

A batch of at most ``per_second`` requests goes out at once, and the next batch waits until
one second after the previous one *finished*: every request of a batch is sent between its
start and its end, so no one-second window can hold two batches, and the cap holds in every
window however slowly the service answers. Time is the orchestration's, so replay decides the
same; the state (``next_at``) travels through continue-as-new and into sub-orchestrations.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from workflow.times import iso, parse_iso

BATCH_GAP = timedelta(seconds=1)


@dataclass
class Pacer:
    """At most ``per_second`` requests in any one-second window."""

    per_second: int
    next_at: datetime | None = None

    def wait(self, context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
        """Wait (on a durable timer) until the next batch may go out."""
        if self.next_at is not None and self.next_at > context.current_utc_datetime:
            yield context.create_timer(self.next_at)

    def sent(self, context: df.DurableOrchestrationContext) -> None:
        """A batch has finished: the next one waits a second from now."""
        self.next_at = context.current_utc_datetime + BATCH_GAP

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
