"""Clocks for the engine: the real wall clock, and a manual clock for virtual time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

#: Callback told how many seconds a manual clock just moved forward.
AdvanceListener = Callable[[float], None]

#: Fixed default start so virtual-time runs are reproducible.
DEFAULT_VIRTUAL_START = datetime(2025, 1, 1, tzinfo=timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from a clock."""

    @property
    def is_virtual(self) -> bool:
        """True when time only moves when someone advances it."""
        ...

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class RealClock:
    """The wall clock; timers really wait."""

    @property
    def is_virtual(self) -> bool:
        """Real time moves on its own."""
        return False

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(timezone.utc)


class ManualClock:
    """Virtual time for tests: moves only through advance()/advance_to().

    Listeners (for example a simulator's own manual clock) are told every move so that
    both virtual clocks stay in step; the engine jumps this clock to the next timer.
    """

    def __init__(self, start: datetime | None = None) -> None:
        """Create a clock standing at ``start`` (default 2025-01-01T00:00:00Z)."""
        start = start or DEFAULT_VIRTUAL_START
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()
        self._listeners: list[AdvanceListener] = []

    @property
    def is_virtual(self) -> bool:
        """Manual time never moves by itself."""
        return True

    def now(self) -> datetime:
        """Current virtual time."""
        with self._lock:
            return self._now

    def subscribe(self, listener: AdvanceListener) -> None:
        """Call ``listener(seconds)`` after every forward move of this clock."""
        with self._lock:
            self._listeners.append(listener)

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (>= 0) and notify listeners; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
            now = self._now
            listeners = list(self._listeners)
        # Listeners run outside the lock so they may read this clock.
        for listener in listeners:
            listener(seconds)
        return now

    def advance_to(self, moment: datetime) -> datetime:
        """Move forward to ``moment`` (no-op when it is not in the future)."""
        delta = (moment - self.now()).total_seconds()
        if delta <= 0:
            return self.now()
        return self.advance(delta)
