"""The extension's retry policy for CallActivityWithRetry (DTFx RetryInterceptor)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: Extension default for MaxRetryInterval (RetryOptions.DefaultMaxRetryinterval).
DEFAULT_MAX_RETRY_INTERVAL = timedelta(days=6)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry options as the extension's RetryOptionsConverter reads them.

    The Python SDK only sends firstRetryIntervalInMilliseconds and maxNumberOfAttempts;
    the optional fields keep the extension's defaults (backoff 1, max interval 6 days,
    no retry timeout) unless an action carries them (the JS SDK does).
    """

    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta = DEFAULT_MAX_RETRY_INTERVAL
    retry_timeout: timedelta | None = None

    @classmethod
    def from_action(cls, options: dict[str, Any]) -> RetryPolicy:
        """Read an action's ``retryOptions`` object (required fields as the extension)."""
        for required in ("firstRetryIntervalInMilliseconds", "maxNumberOfAttempts"):
            if required not in options:
                raise ValueError(f"Invalid JSON. Must contain field {required}")
        max_interval = options.get("maxRetryIntervalInMilliseconds")
        timeout = options.get("retryTimeoutInMilliseconds")
        return cls(
            first_retry_interval=timedelta(
                milliseconds=int(options["firstRetryIntervalInMilliseconds"])
            ),
            max_number_of_attempts=int(options["maxNumberOfAttempts"]),
            backoff_coefficient=float(options.get("backoffCoefficient", 1.0)),
            max_retry_interval=(
                DEFAULT_MAX_RETRY_INTERVAL
                if max_interval is None
                else timedelta(milliseconds=int(max_interval))
            ),
            retry_timeout=None if timeout is None else timedelta(milliseconds=int(timeout)),
        )

    def next_delay(self, attempt: int, first_attempt: datetime, now: datetime) -> timedelta:
        """Delay before the retry after failed attempt number ``attempt`` (1-based).

        first interval x backoff^(attempt-1), capped by the max interval; zero (give up
        without a timer) once ``now`` is past first_attempt + retry timeout.
        """
        if self.retry_timeout is not None and now >= first_attempt + self.retry_timeout:
            return timedelta(0)
        millis = (
            self.first_retry_interval.total_seconds()
            * 1000
            * (self.backoff_coefficient ** (attempt - 1))
        )
        cap = self.max_retry_interval.total_seconds() * 1000
        return timedelta(milliseconds=millis if millis < cap else cap)
