"""The simulator's clock: real monotonic time by default, or manual time that tests advance.

Lifecycle phases measured in seconds read this clock, so a test can play a 30-minute
cancellation in milliseconds. Wall-clock timestamps shown on jobs are derived from it too,
so advancing the clock also moves ``creationTime``-style fields forward consistently.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

#: Formatted moments kept by ``iso`` (the cache is emptied when it holds this many).
_ISO_CACHE_SIZE = 100_000


class SimulatorClock:
    """A monotonic clock that can be frozen (manual mode) and advanced by hand."""

    def __init__(self, manual: bool = False) -> None:
        """Create a clock; ``manual=True`` starts it frozen at zero elapsed time."""
        self._lock = threading.Lock()
        self._wall_origin = datetime.now(timezone.utc)
        self._mono_origin = time.monotonic()
        self._offset = 0.0
        self._manual = manual
        self._frozen_at = 0.0
        self._iso_cache: dict[float, str] = {}

    @property
    def manual(self) -> bool:
        """True when time only moves through :meth:`advance`."""
        return self._manual

    def now(self) -> float:
        """Seconds elapsed on the simulator's timeline since the clock was created."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        if self._manual:
            return self._frozen_at + self._offset
        return time.monotonic() - self._mono_origin + self._offset

    def advance(self, seconds: float) -> float:
        """Move the timeline forward by ``seconds`` (never backwards); return the new time."""
        if seconds < 0:
            raise ValueError("the clock never goes backwards")
        with self._lock:
            self._offset += seconds
            return self._now_locked()

    def set_manual(self) -> None:
        """Freeze time at its current reading; only :meth:`advance` moves it afterwards."""
        with self._lock:
            if not self._manual:
                self._frozen_at = time.monotonic() - self._mono_origin
                self._manual = True

    def set_real(self) -> None:
        """Let time flow with the real monotonic clock again, continuing from now."""
        with self._lock:
            if self._manual:
                # Keep the timeline continuous: fold the frozen reading into the offset.
                current = self._now_locked()
                self._manual = False
                self._offset = current - (time.monotonic() - self._mono_origin)

    def wall(self, at: float) -> datetime:
        """The UTC wall-clock time that corresponds to timeline reading ``at``."""
        return self._wall_origin + timedelta(seconds=at)

    def iso(self, at: float) -> str:
        """``at`` as an ISO 8601 UTC timestamp with a ``Z`` suffix."""
        # A listing renders every job's fixed moments (creation, cancellation) again and
        # again: formatting them dominated the simulator's time with thousands of jobs.
        text = self._iso_cache.get(at)
        if text is None:
            if len(self._iso_cache) >= _ISO_CACHE_SIZE:
                self._iso_cache.clear()
            text = self._iso_cache[at] = self.wall(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return text

    def describe(self) -> dict[str, object]:
        """A JSON-ready view for the control API."""
        current = self.now()
        return {
            "mode": "manual" if self._manual else "real",
            "now": current,
            "wallNow": self.iso(current),
        }
