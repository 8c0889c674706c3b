"""Timing rules of the workflow: when to poll again and how long to wait before a retry.

Pure functions of their arguments, so the orchestrator stays deterministic on replay.
"""

from __future__ import annotations

from dataclasses import dataclass

POLL_GROWTH_FACTOR = 2.0
#: The range of each polling option, for request options and the settings that default them.
POLL_OPTION_LIMITS: dict[str, tuple[float, float]] = {
    "pollIntervalSeconds": (1.0, 3600.0),
    "maxPollIntervalSeconds": (1.0, 3600.0),
    # Up to two weeks: a cancellation that takes days is legal, durable timers make it cheap.
    "timeoutSeconds": (1.0, 14 * 24 * 3600.0),
}
#: The range of the HTTP connect and read timeouts (settings only).
HTTP_TIMEOUT_LIMITS = (0.1, 300.0)
#: A workspace-scale run's request-rate cap and cancel concurrency (options and settings).
BULK_RATE_LIMITS = (1.0, 1000.0)
BULK_CONCURRENCY_LIMITS = (1, 500)
# Continue-as-new after this many confirming polls, so the history of one execution stays
# bounded however long the cancellation takes.
POLLS_PER_GENERATION = 20


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one service call: attempts in all, and exponential backoff between them."""

    max_attempts: int = 6
    first_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0
    # A Retry-After longer than this is not waited out: the call fails instead, since the
    # orchestration would otherwise sit idle for longer than an operator expects.
    max_retry_after_seconds: float = 900.0


DEFAULT_RETRY_POLICY = RetryPolicy()


def poll_delay(polls_done: int, first: float, longest: float) -> float:
    """Seconds to wait before confirming poll number ``polls_done + 1``.

    The wait starts at ``first`` and grows geometrically up to ``longest``: a quick cancel is
    confirmed quickly, a slow one costs few requests.
    """
    growth: float = POLL_GROWTH_FACTOR ** min(polls_done, 64)
    return min(longest, first * growth)


def retry_delay(attempt: int, retry_after: float | None, policy: RetryPolicy) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Never shorter than the service's Retry-After: the service is not called faster than asked.
    """
    growth: float = 2.0 ** (attempt - 1)
    backoff = min(policy.max_backoff_seconds, policy.first_backoff_seconds * growth)
    return max(backoff, retry_after or 0.0)
