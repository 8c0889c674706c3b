"""History events shaped like the Durable extension's (DurableTask.Core) JSON.

Field names, EventType numbers and numbering follow DurableTask.Core as the extension
serialises it into the out-of-proc orchestration context (Newtonsoft, PascalCase):

* every event: ``EventType`` (int), ``EventId``, ``IsPlayed``, ``Timestamp``;
* ``TaskScheduled`` / ``TimerCreated``: ``EventId`` = the action's sequence number in the
  execution (DTFx's ``idCounter``), the same number the Python SDK gives the task;
* ``TaskCompleted`` / ``TaskFailed``: ``EventId`` -1 and ``TaskScheduledId``;
* ``TimerFired``: ``EventId`` -1, ``TimerId`` and ``FireAt``;
* ``ExecutionCompleted`` / ``ContinueAsNew``: ``EventId`` = the next sequence number
  (DTFx's CompleteOrchestration consumes one), other events -1.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any

#: One history event as a JSON-ready dict.
Event = dict[str, Any]


class EventType(IntEnum):
    """DurableTask.Core.History.EventType (order matters to out-of-proc SDKs)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18


class OrchestrationStatusCode(IntEnum):
    """DurableTask.Core.OrchestrationStatus, as written into ExecutionCompleted events."""

    RUNNING = 0
    COMPLETED = 1
    CONTINUED_AS_NEW = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    PENDING = 6


_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$"
)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC the way Newtonsoft writes a UTC DateTime: trailing zeros trimmed, 'Z'."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse the ISO 8601 forms used here (and the SDK's '%Y-%m-%dT%H:%M:%S.%fZ').

    Written by hand because datetime.fromisoformat only accepts 'Z' from Python 3.11.
    A missing offset is read as UTC, as the extension does for fireAt.
    """
    match = _TIMESTAMP_RE.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(7, "0")[:6])
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        micro,
        tzinfo=timezone.utc,
    )
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        moment -= sign * timedelta(hours=hours, minutes=minutes)
    return moment


def _event(event_type: EventType, event_id: int, timestamp: datetime) -> Event:
    # IsPlayed is decided when an episode's history is assembled, not stored.
    return {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(timestamp),
    }


def orchestrator_started(timestamp: datetime) -> Event:
    """Marks the start of an episode; its Timestamp is the orchestration's 'now'."""
    return _event(EventType.ORCHESTRATOR_STARTED, -1, timestamp)


def orchestrator_completed(timestamp: datetime) -> Event:
    """Marks the end of an episode."""
    return _event(EventType.ORCHESTRATOR_COMPLETED, -1, timestamp)


def execution_started(
    timestamp: datetime,
    instance_id: str,
    execution_id: str,
    name: str,
    raw_input: str | None,
    parent: dict[str, Any] | None = None,
) -> Event:
    """First event of an execution; ``raw_input`` is the stored JSON text of the input;
    ``parent`` the parent's ParentInstance record for a sub-orchestration."""
    event = _event(EventType.EXECUTION_STARTED, -1, timestamp)
    event.update(
        {
            "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
            "ParentInstance": parent,
            "Name": name,
            "Version": "",
            "Input": raw_input,
            "Tags": None,
            "Correlation": None,
            "ScheduledStartTime": None,
            # DTFx computes Generation as a nullable int that stays null; the engine
            # keeps its own generation counter in the instance state instead.
            "Generation": None,
        }
    )
    return event


def task_scheduled(timestamp: datetime, event_id: int, name: str, input_: str | None) -> Event:
    """An activity call was scheduled with sequence number ``event_id``."""
    event = _event(EventType.TASK_SCHEDULED, event_id, timestamp)
    event.update({"Name": name, "Version": "", "Input": input_})
    return event


def task_completed(timestamp: datetime, scheduled_id: int, result: str | None) -> Event:
    """An activity returned; ``result`` is its JSON text."""
    event = _event(EventType.TASK_COMPLETED, -1, timestamp)
    event.update({"TaskScheduledId": scheduled_id, "Result": result})
    return event


def task_failed(timestamp: datetime, scheduled_id: int, reason: str, details: str) -> Event:
    """An activity raised; the SDK turns this into Exception(f"{Reason} \\n {Details}")."""
    event = _event(EventType.TASK_FAILED, -1, timestamp)
    event.update({"TaskScheduledId": scheduled_id, "Reason": reason, "Details": details})
    return event


def sub_orchestration_created(
    timestamp: datetime, event_id: int, name: str, instance_id: str, input_: str | None
) -> Event:
    """A sub-orchestration was started with sequence number ``event_id``."""
    event = _event(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, event_id, timestamp)
    event.update({"Name": name, "Version": "", "InstanceId": instance_id, "Input": input_})
    return event


def sub_orchestration_completed(
    timestamp: datetime, scheduled_id: int, result: str | None
) -> Event:
    """A sub-orchestration completed; ``result`` is its output's JSON text."""
    event = _event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, -1, timestamp)
    event.update({"TaskScheduledId": scheduled_id, "Result": result})
    return event


def sub_orchestration_failed(
    timestamp: datetime, scheduled_id: int, reason: str, details: str | None
) -> Event:
    """A sub-orchestration failed (or was terminated)."""
    event = _event(EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, -1, timestamp)
    event.update({"TaskScheduledId": scheduled_id, "Reason": reason, "Details": details})
    return event


def timer_created(timestamp: datetime, event_id: int, fire_at: datetime) -> Event:
    """A durable timer was created with sequence number ``event_id``."""
    event = _event(EventType.TIMER_CREATED, event_id, timestamp)
    event["FireAt"] = format_timestamp(fire_at)
    return event


def timer_fired(timestamp: datetime, timer_id: int, fire_at: datetime) -> Event:
    """The timer ``timer_id`` fired."""
    event = _event(EventType.TIMER_FIRED, -1, timestamp)
    event.update({"TimerId": timer_id, "FireAt": format_timestamp(fire_at)})
    return event


def execution_completed(
    timestamp: datetime,
    event_id: int,
    status: OrchestrationStatusCode,
    result: str | None,
    details: str | None = None,
) -> Event:
    """Last event of a finished execution (Completed, Failed or Terminated)."""
    event = _event(EventType.EXECUTION_COMPLETED, event_id, timestamp)
    event.update({"OrchestrationStatus": int(status), "Result": result, "Details": details})
    return event


def continue_as_new(timestamp: datetime, event_id: int, new_input: str | None) -> Event:
    """Last event of an execution that continued as new (Result = the new input)."""
    event = _event(EventType.CONTINUE_AS_NEW, event_id, timestamp)
    event.update(
        {
            "OrchestrationStatus": int(OrchestrationStatusCode.CONTINUED_AS_NEW),
            "Result": new_input,
        }
    )
    return event


def execution_terminated(timestamp: datetime, reason: str | None) -> Event:
    """A terminate request delivered to the instance (Input = the reason)."""
    event = _event(EventType.EXECUTION_TERMINATED, -1, timestamp)
    event["Input"] = reason
    return event


def event_type_of(event: Event) -> EventType:
    """The EventType of a stored event."""
    return EventType(int(event["EventType"]))
