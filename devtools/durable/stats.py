"""Counters the engine keeps for tests and benchmarks."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: How many per-episode replay sizes are kept (bounded so long benchmarks stay cheap).
RECENT_EPISODES = 10_000


@dataclass
class EngineStats:
    """Running totals since the engine object was built (not persisted)."""

    steps: int = 0
    episodes: int = 0
    events_replayed_total: int = 0
    events_replayed_max: int = 0
    #: History events sent to the orchestrator, per episode (most recent first-in-out).
    events_replayed_recent: deque[int] = field(
        default_factory=lambda: deque(maxlen=RECENT_EPISODES)
    )
    #: Longest committed history seen for any instance (current execution).
    peak_history_length: int = 0
    #: CPU time (thread time) spent inside orchestrator handlers.
    replay_cpu_seconds: float = 0.0
    activities_executed: int = 0
    activity_failures: int = 0
    timers_fired: int = 0
    continued_as_new: int = 0
    nondeterminism_detected: int = 0
    #: Input/fireAt differences (only failing in strict mode).
    strict_mismatches: int = 0
    #: Results or timers dropped because their execution had ended.
    stale_messages_dropped: int = 0

    def record_episode(self, replayed: int, cpu_seconds: float) -> None:
        """Account one orchestrator invocation."""
        self.episodes += 1
        self.events_replayed_total += replayed
        self.events_replayed_max = max(self.events_replayed_max, replayed)
        self.events_replayed_recent.append(replayed)
        self.replay_cpu_seconds += cpu_seconds

    def to_json(self) -> dict[str, float | int]:
        """The totals as JSON (the per-episode window left out)."""
        return {
            name: value
            for name, value in vars(self).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
