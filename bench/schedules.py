"""The poll schedules compared with the app's, as waits before each confirming poll.

Each schedule is an endless iterator of seconds to wait before the next Jobs_Get after the
cancel was accepted; the loop in ``loops.py`` stops it when the job is final. They are
reimplemented from their sources (cited in docs/performance.md), not copied. The official SDK's
own loop is not modelled: ``loops.run_sdk`` runs the real ``azure-quantum``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dataplane import status as job_status

#: The Durable Functions monitor sample checks, and if not done sleeps a fixed interval.
MONITOR_INTERVAL_SECONDS = 5.0
#: The seed document's confirmCancelled loops while the status is one of these.
SEED_LOOP_WHILE = frozenset({"CancellationRequested", "Cancelling"})


def fixed_interval(seconds: float = MONITOR_INTERVAL_SECONDS) -> Iterator[float]:
    """The monitor pattern: check at once, then every ``seconds``."""
    yield 0.0
    yield from itertools.repeat(seconds)


def no_delay() -> Iterator[float]:
    """The seed's literal confirm loop: the next Jobs_Get as soon as the last one answered."""
    return itertools.repeat(0.0)


def is_final(status: str) -> bool:
    """The app's notion of a finished job."""
    return job_status.is_terminal(status)


def seed_is_done(status: str) -> bool:
    """The seed's literal criterion: stop on any status but CancellationRequested/Cancelling."""
    return status not in SEED_LOOP_WHILE


@dataclass(frozen=True)
class LoopSchedule:
    """A naive confirm loop: its waits and its stop criterion."""

    key: str
    label: str
    waits: Callable[[], Iterator[float]]
    done: Callable[[str], bool]


LOOP_SCHEDULES = (
    LoopSchedule("fixed5", "fixed 5 s (monitor sample)", fixed_interval, is_final),
    LoopSchedule("seed", "seed loop, no delay", no_delay, seed_is_done),
)
