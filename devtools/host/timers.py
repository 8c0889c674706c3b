"""Timer triggers, as the Functions host runs them: on their NCRONTAB schedule, and by hand.

* The schedule is the timer binding's ``schedule``: six NCRONTAB fields, seconds first
  (``{second} {minute} {hour} {day} {month} {day-of-week}``; ``*``, ``*/n``, ``a-b``, ``a-b/n``,
  lists, and month or day names such as ``Jan`` and ``Mon``; day 0 is Sunday), read in UTC
  ("Timer trigger for Azure Functions": NCRONTAB expressions,
  learn.microsoft.com/azure/azure-functions/functions-bindings-timer). ``%NAME%`` resolves from
  the environment, as the host resolves app settings in binding expressions.
* ``POST /admin/functions/{name}`` with a JSON body (``{"input": ""}``) runs any non-HTTP
  function now and answers 202, as Core Tools does ("Manually run a non HTTP-triggered
  function", learn.microsoft.com/azure/azure-functions/functions-manually-run-non-http);
  locally no master key is checked, as with Core Tools.

The function receives a TimerRequest decoded by azure.functions' own converter from the JSON
the host sends (``Schedule``, ``ScheduleStatus``, ``IsPastDue``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.functions import meta
from azure.functions.timer import TimerRequestConverter

from .client_binding import DurableEndpoints, client_arguments
from .invoker import FunctionInvoker
from .messages import Request, Response, text_response
from .metadata import TIMER_TRIGGER, FunctionIndex, FunctionInfo

log = logging.getLogger(__name__)
ADMIN_PREFIX = "/admin/functions/"
_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_SETTING = re.compile(r"%([A-Za-z0-9_]+)%")


class ScheduleError(ValueError):
    """A schedule this host cannot read."""


@dataclass(frozen=True)
class Schedule:
    """A parsed six-field NCRONTAB expression."""

    text: str
    fields: tuple[frozenset[int], ...]

    def next_after(self, moment: datetime) -> datetime:
        """The first whole second after ``moment`` (UTC) that the schedule names."""
        candidate = moment.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        seconds, minutes, hours, days, months, weekdays = self.fields
        limit = candidate + timedelta(days=5 * 366)
        while candidate < limit:
            if (
                candidate.month not in months
                or candidate.day not in days
                or candidate.isoweekday() % 7 not in weekdays
            ):
                day = candidate.replace(hour=0, minute=0, second=0)
                candidate = day + timedelta(days=1)
                continue
            later = [s for s in sorted(seconds) if s >= candidate.second]
            if candidate.hour in hours and candidate.minute in minutes and later:
                return candidate.replace(second=later[0])
            candidate = candidate.replace(second=0) + timedelta(minutes=1)
        raise ScheduleError(f"schedule {self.text!r} never fires")


def parse_schedule(text: str) -> Schedule:
    """Parse ``text`` (after resolving ``%SETTING%``) into a :class:`Schedule`."""
    resolved = _SETTING.sub(lambda m: os.environ.get(m.group(1), ""), text).strip()
    parts = resolved.split()
    if len(parts) != 6:
        raise ScheduleError(f"schedule {resolved!r} must have six NCRONTAB fields")
    return Schedule(
        resolved, tuple(_field(p, low, high) for p, (low, high) in zip(parts, _RANGES, strict=True))
    )


#: Month and day names NCRONTAB accepts in place of numbers (English, any case, 3 letters
#: or in full).
_NAMES = {
    **{
        m: i + 1
        for i, m in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        )
    },
    **{d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
_NAME = re.compile(r"[A-Za-z]+")


def _numbered(text: str) -> str:
    def number(found: re.Match[str]) -> str:
        word = found.group(0).lower()[:3]
        if word not in _NAMES:
            raise ScheduleError(f"NCRONTAB name {found.group(0)!r} is not a month or a day")
        return str(_NAMES[word])

    return _NAME.sub(number, text)


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in _numbered(text).split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = int(a), int(b)
        else:
            first = int(span)
            last = high if step_text else first
        if step < 1 or not low <= first <= last <= high:
            raise ScheduleError(f"NCRONTAB field {text!r} is out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


class TimerRunner:
    """Runs every timer function on its schedule (a thread), and any non-HTTP function on
    ``POST /admin/functions/{name}``."""

    def __init__(
        self, index: FunctionIndex, invoker: FunctionInvoker, endpoints: DurableEndpoints
    ) -> None:
        """Parse every timer's schedule now: an unreadable one stops the host at start."""
        self._index = index
        self._invoker = invoker
        self._endpoints = endpoints
        self._timers = {
            f.name: parse_schedule(str(f.trigger.raw.get("schedule", "")))
            for f in index.by_trigger(TIMER_TRIGGER)
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)

    def start(self) -> None:
        """Start firing timers on schedule."""
        if self._timers:
            self._thread.start()

    def stop(self) -> None:
        """Stop firing timers."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def handle(self, request: Request) -> Response:
        """``POST /admin/functions/{name}``: run the function now (202), 404 when unknown."""
        name = request.path[len(ADMIN_PREFIX) :].strip("/")
        function = self._index.get(name)
        if request.method.upper() != "POST":
            return text_response(405)
        if function is None or function.http is not None:
            return text_response(404, f"cannot find non-HTTP function: '{name}'")
        threading.Thread(target=self._fire, args=(function, False), daemon=True).start()
        return text_response(202)

    def _run(self) -> None:
        now = datetime.now(timezone.utc)
        due = {name: schedule.next_after(now) for name, schedule in self._timers.items()}
        while not self._stop.is_set():
            name = min(due, key=lambda n: due[n])
            wait = (due[name] - datetime.now(timezone.utc)).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 1.0)):
                return
            if wait > 0:
                continue
            function = self._index.get(name)
            if function is not None:
                self._fire(function, wait < -1.0)
            due[name] = self._timers[name].next_after(datetime.now(timezone.utc))

    def _fire(self, function: FunctionInfo, past_due: bool) -> None:
        arguments: dict[str, Any] = {}
        if function.trigger.type == TIMER_TRIGGER:
            schedule = self._timers[function.name]
            body = {
                "Schedule": {"AdjustForDST": True},
                "ScheduleStatus": None,
                "IsPastDue": past_due,
                "Expression": schedule.text,
            }
            arguments[function.trigger.name] = TimerRequestConverter.decode(
                meta.Datum(type="json", value=json.dumps(body)), trigger_metadata=None
            )
        arguments.update(client_arguments(self._endpoints, function))
        try:
            self._invoker.invoke(function, arguments)
            log.info("timer %s ran", function.name)
        except Exception:
            log.exception("function %s failed", function.name)
