"""Rules of the real extension and its backends that the engine enforces like they do.

* **Start policy** (host.json ``overridableExistingInstanceStates``): the extension's default,
  since Durable Functions 2.0, is ``NonRunningStates``: a start for an id that is Pending or
  Running is refused. ``AnyState`` lets the start replace the running instance.
* **Custom status** is capped at 16 KB of UTF-16 text (the JSON-serialised value), on every
  backend; a larger one fails the orchestration.
* **Payload size**: the Durable Task Scheduler refuses any payload over about 1 MiB
  (orchestration input and output, activity input and result) and has no large-payload
  offload for Python; the Azure Storage backend moves large ones to blobs, slowly. The engine
  applies the stricter rule, so an app that passes here passes on both.
* **Queue polling** (Azure Storage backend): an idle app's queue pollers back off up to
  ``maxQueuePollingInterval`` (30 s by default), so a new instance, an activity result or a due
  timer is only picked up at the next poll. Modelled in the real-time loop when asked for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

StartPolicy = Literal["NonRunningStates", "AnyState"]
START_POLICIES: tuple[StartPolicy, ...] = ("NonRunningStates", "AnyState")
DEFAULT_START_POLICY: StartPolicy = "NonRunningStates"

MAX_CUSTOM_STATUS_UTF16_BYTES = 16 * 1024
MAX_PAYLOAD_BYTES = 1024 * 1024
DEFAULT_MAX_QUEUE_POLLING_SECONDS = 30.0
#: The first wait after an empty poll; it doubles up to the maximum.
MIN_QUEUE_POLLING_SECONDS = 0.1

_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


class PayloadTooLarge(ValueError):
    """A payload is over the backend's cap; the message names what and how big."""


def start_policy(value: str) -> StartPolicy:
    """The start policy named ``value`` (case-insensitive); ValueError for anything else."""
    for policy in START_POLICIES:
        if value.strip().lower() == policy.lower():
            return policy
    raise ValueError(
        f"overridableExistingInstanceStates must be one of {', '.join(START_POLICIES)}, "
        f"not {value!r}"
    )


def timespan_seconds(text: str) -> float:
    """A .NET TimeSpan as host.json writes it (``00:00:30``, ``1.00:00:00``), in seconds."""
    match = _TIMESPAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan such as 00:00:30: {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def json_size(text: str | None) -> int:
    """UTF-8 size of a serialised payload."""
    return 0 if text is None else len(text.encode("utf-8"))


@dataclass(frozen=True)
class Limits:
    """The caps one engine applies; None switches a cap off."""

    max_payload_bytes: int | None = MAX_PAYLOAD_BYTES
    max_custom_status_utf16_bytes: int | None = MAX_CUSTOM_STATUS_UTF16_BYTES

    def check_payload(self, what: str, text: str | None) -> None:
        """Raise PayloadTooLarge when the serialised ``text`` of ``what`` is over the cap."""
        size = json_size(text)
        if self.max_payload_bytes is not None and size > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"The {what} is {size:,} bytes; the Durable Task Scheduler accepts at most "
                f"{self.max_payload_bytes:,} bytes per payload."
            )

    def check_custom_status(self, value: Any) -> None:
        """Raise PayloadTooLarge when the custom status is over 16 KB of UTF-16 JSON."""
        if self.max_custom_status_utf16_bytes is None:
            return
        size = len(json.dumps(value).encode("utf-16-le"))
        if size > self.max_custom_status_utf16_bytes:
            raise PayloadTooLarge(
                f"The UTF-16 size of the JSON-serialized custom status must not exceed "
                f"{self.max_custom_status_utf16_bytes // 1024} KB; it is {size / 1024:.1f} KB."
            )


@dataclass
class QueuePolling:
    """The Azure Storage backend's idle back-off: wait ``current``, doubling up to ``longest``."""

    longest: float = DEFAULT_MAX_QUEUE_POLLING_SECONDS
    shortest: float = MIN_QUEUE_POLLING_SECONDS
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.shortest

    def found_work(self) -> None:
        """A poll found messages: poll again quickly."""
        self.current = self.shortest

    def next_wait(self) -> float:
        """How long to wait after an empty poll; the wait after that is longer."""
        wait = self.current
        self.current = min(self.longest, self.current * 2)
        return wait
