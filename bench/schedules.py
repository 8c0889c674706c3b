"""The poll schedules compared with the app's, as waits before each confirming poll.

Each schedule is an endless iterator of seconds to wait before the next Jobs_Get after the
cancel was accepted; the loop in ``loops.py`` stops it when the job is final. They are
reimplemented from their sources (cited in the README), not copied.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dataplane import status as job_status

#: The Durable Functions monitor sample checks, and if not done sleeps a fixed interval.
MONITOR_INTERVAL_SECONDS = 5.0
#: azure-quantum SDK, Job.wait_until_completed: first sleep 0.2 s, times 1.5, max 30 s.
SDK_FIRST_WAIT_SECONDS = 0.2
SDK_GROWTH = 1.5
SDK_MAX_POLL_WAIT_SECONDS = 30.0
#: The seed document's confirmCancelled loops while the status is one of these.
SEED_LOOP_WHILE = frozenset({"CancellationRequested", "Cancelling"})


def fixed_interval(seconds: float = MONITOR_INTERVAL_SECONDS) -> Iterator[float]:
    """The monitor pattern: check at once, then every ``seconds``."""
    yield 0.0
    yield from itertools.repeat(seconds)


def no_delay() -> Iterator[float]:
    """The seed's literal confirm loop: the next Jobs_Get as soon as the last one answered."""
    return itertools.repeat(0.0)


def sdk_wait_loop(
    first: float = SDK_FIRST_WAIT_SECONDS,
    growth: float = SDK_GROWTH,
    longest: float = SDK_MAX_POLL_WAIT_SECONDS,
) -> Iterator[float]:
    """azure-quantum's ``Job.wait_until_completed``: refresh at once, then sleep and grow.

    The SDK multiplies the wait by ``growth`` while it is below ``longest`` and only then
    clamps it, so one wait overshoots the cap (0.2 * 1.5**13 = 38.9 s) before it settles
    at 30 s; that quirk is kept because it is what the SDK does.
    """
    yield 0.0
    wait = first
    while True:
        yield wait
        wait = longest if wait >= longest else wait * growth


def is_final(status: str) -> bool:
    """The app's (and the SDK's, for these statuses) notion of a finished job."""
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
    LoopSchedule("sdk", "azure-quantum SDK wait", sdk_wait_loop, is_final),
)
