"""Replay an orchestrator's actions against its history, like the extension's shim.

With replay schema V2/V3 the extension (OutOfProcOrchestrationShim.ProcessAsyncActionsV2)
takes the flat action list and, in order, calls the matching DurableTask API and awaits
it; every API call takes the next sequence number (DTFx ``idCounter``). While the
history replays, DTFx checks each recorded TaskScheduled/TimerCreated against the action
that got the same number (NonDeterministicOrchestrationException on a mismatch). An
action whose task is not complete stops the loop: later actions are not scheduled yet.

This module does the same walk without .NET: it assigns numbers, checks the committed
history, decides which actions are new (events to write + work to dispatch), and emulates
DTFx's retry loop for CallActivityWithRetry (TaskScheduled, TaskFailed, TimerCreated,
TimerFired, TaskScheduled ... with one extra timer after the last failed attempt, which
the SDK's RetryAbleTask waits for).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import history as h
from .history import Event, EventType
from .retry import RetryPolicy
from .state import ActivityWorkItem, SubOrchestrationWorkItem, TimerWorkItem

#: Action types of the out-of-proc protocol (AsyncActionType in the extension).
ACTION_NAMES = {
    0: "CallActivity",
    1: "CallActivityWithRetry",
    2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry",
    4: "ContinueAsNew",
    5: "CreateTimer",
    6: "WaitForExternalEvent",
    7: "CallEntity",
    8: "CallHttp",
    9: "SignalEntity",
    10: "ScheduledSignalEntity",
    11: "WhenAny",
    12: "WhenAll",
}

#: Azure Storage's MaximumDelayTime: longer timers must be split (the SDK does it in V3).
MAXIMUM_SHORT_TIMER = timedelta(days=6)


class NonDeterministic(Exception):
    """Replay contradicts the recorded history (message as DTFx words it)."""


@dataclass
class ReplayOutcome:
    """What the walk over the actions decided for this episode."""

    #: TaskScheduled / TimerCreated events for actions that are new in this episode.
    scheduled: list[Event] = field(default_factory=list)
    activities: list[ActivityWorkItem] = field(default_factory=list)
    timers: list[TimerWorkItem] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationWorkItem] = field(default_factory=list)
    #: True when an action's task is still running, so later actions were not reached.
    blocked: bool = False
    #: Input JSON text of a ContinueAsNew action (``continue_as_new`` tells if there was one).
    continue_as_new: bool = False
    continue_input: str | None = None
    #: The next free sequence number (DTFx gives it to ExecutionCompleted).
    next_id: int = 0
    #: Differences the extension does not check (input, fireAt), as readable lines.
    strict_mismatches: list[str] = field(default_factory=list)


class _Walker:
    def __init__(
        self,
        committed: list[Event],
        new_events: list[Event],
        now: datetime,
        execution_id: str,
        instance_id: str = "",
    ) -> None:
        self.now = now
        self.execution_id = execution_id
        self.instance_id = instance_id
        self.outcome = ReplayOutcome()
        self.next_id = 0
        self.recorded: dict[int, Event] = {}
        self.visited: set[int] = set()
        self.results: dict[int, Event] = {}
        self.fired: dict[int, Event] = {}
        self.new_result_ids: set[int] = set()
        for event in committed:
            kind = h.event_type_of(event)
            if kind in (
                EventType.TASK_SCHEDULED,
                EventType.TIMER_CREATED,
                EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
            ):
                self.recorded[int(event["EventId"])] = event
        for is_new, events in ((False, committed), (True, new_events)):
            for event in events:
                kind = h.event_type_of(event)
                if kind in (
                    EventType.TASK_COMPLETED,
                    EventType.TASK_FAILED,
                    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                ):
                    task_id = int(event["TaskScheduledId"])
                    self.results.setdefault(task_id, event)
                    if is_new:
                        self.new_result_ids.add(task_id)
                elif kind == EventType.TIMER_FIRED:
                    self.fired.setdefault(int(event["TimerId"]), event)

    # -- helpers -------------------------------------------------------------------
    def _take_id(self) -> int:
        number = self.next_id
        self.next_id += 1
        self.visited.add(number)
        return number

    def _schedule_task(self, name: str, input_: str | None) -> tuple[int, Event | None]:
        """Give the activity call a number; return it with its recorded event, if any."""
        number = self._take_id()
        recorded = self.recorded.get(number)
        if recorded is None:
            self.outcome.scheduled.append(h.task_scheduled(self.now, number, name, input_))
            self.outcome.activities.append(
                ActivityWorkItem(self.execution_id, number, name, input_)
            )
            return number, None
        kind = h.event_type_of(recorded)
        if kind != EventType.TASK_SCHEDULED:
            raise NonDeterministic(
                f"A previous execution of this orchestration scheduled a timer task with "
                f"sequence number {number} but the current orchestration replay instead "
                f"produced a ScheduleTaskOrchestratorAction action with this sequence "
                f"number. Was a change made to the orchestrator code after this instance "
                f"had already started running?"
            )
        recorded_name = str(recorded.get("Name") or "")
        if recorded_name.lower() != name.lower():
            raise NonDeterministic(
                f"A previous execution of this orchestration scheduled an activity task "
                f"with sequence number {number} named '{recorded_name}', but the current "
                f"orchestration replay instead scheduled an activity task named '{name}' "
                f"with this sequence number.  Was a change made to the orchestrator code "
                f"after this instance had already started running?"
            )
        if not _same_json(recorded.get("Input"), input_):
            self.outcome.strict_mismatches.append(
                f"activity '{name}' (sequence number {number}) was scheduled with input "
                f"{recorded.get('Input')!r} but the replay passes {input_!r}"
            )
        return number, recorded

    def _start_sub_orchestration(self, action: dict[str, Any]) -> int:
        """Give the sub-orchestration a number; schedule it when it is new."""
        name = str(action["functionName"])
        number = self._take_id()
        # As the extension does, an unnamed child gets "<parent>:<sequence number>".
        instance_id = str(action.get("instanceId") or f"{self.instance_id}:{number}")
        input_ = action.get("input")
        recorded = self.recorded.get(number)
        if recorded is None:
            self.outcome.scheduled.append(
                h.sub_orchestration_created(self.now, number, name, instance_id, input_)
            )
            self.outcome.sub_orchestrations.append(
                SubOrchestrationWorkItem(self.execution_id, number, name, instance_id, input_)
            )
            return number
        if h.event_type_of(recorded) != EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
            raise NonDeterministic(
                f"A previous execution of this orchestration scheduled a different task with "
                f"sequence number {number}, but the current replay started the "
                f"sub-orchestration '{name}' with it. Was a change made to the orchestrator "
                f"code after this instance had already started running?"
            )
        if str(recorded.get("Name") or "").lower() != name.lower() or (
            recorded.get("InstanceId") != instance_id
        ):
            raise NonDeterministic(
                f"A previous execution of this orchestration started sub-orchestration "
                f"'{recorded.get('Name')}' ({recorded.get('InstanceId')}) with sequence number "
                f"{number}, but the current replay starts '{name}' ({instance_id})."
            )
        if not _same_json(recorded.get("Input"), input_):
            self.outcome.strict_mismatches.append(
                f"sub-orchestration '{name}' (sequence number {number}) was started with input "
                f"{recorded.get('Input')!r} but the replay passes {input_!r}"
            )
        return number

    def _create_timer(
        self, fire_at: datetime, *, check_fire_at: bool = True
    ) -> tuple[int, Event | None]:
        number = self._take_id()
        recorded = self.recorded.get(number)
        if recorded is None:
            self.outcome.scheduled.append(h.timer_created(self.now, number, fire_at))
            self.outcome.timers.append(
                TimerWorkItem(self.execution_id, number, h.format_timestamp(fire_at))
            )
            return number, None
        if h.event_type_of(recorded) != EventType.TIMER_CREATED:
            raise NonDeterministic(
                f"A previous execution of this orchestration scheduled an activity task "
                f"with sequence number {number} named '{recorded.get('Name')}', but the "
                f"current orchestration replay instead produced a "
                f"CreateTimerOrchestratorAction action with this sequence number. Was a "
                f"change made to the orchestrator code after this instance had already "
                f"started running?"
            )
        recorded_at = h.parse_timestamp(str(recorded["FireAt"]))
        if check_fire_at and recorded_at != fire_at:
            self.outcome.strict_mismatches.append(
                f"timer (sequence number {number}) was created to fire at "
                f"{h.format_timestamp(recorded_at)} but the replay asks for "
                f"{h.format_timestamp(fire_at)}"
            )
        return number, recorded

    # -- actions -------------------------------------------------------------------
    def invoke(self, action: dict[str, Any]) -> bool:
        """Run one action's API call; True once its task is complete."""
        action_type = int(action.get("actionType", -1))
        if action_type == 0:
            number, _ = self._schedule_task(str(action["functionName"]), action.get("input"))
            return number in self.results
        if action_type == 1:
            return self._invoke_with_retry(action)
        if action_type == 2:
            return self._start_sub_orchestration(action) in self.results
        if action_type == 5:
            fire_at = h.parse_timestamp(str(action["fireAt"]))
            if fire_at - self.now > MAXIMUM_SHORT_TIMER and self._is_new_id():
                raise NotImplementedError(
                    "CreateTimer beyond maximumShortTimerDuration (6 days): the SDK should "
                    "have split it (replay schema V3); devtools.durable does not split timers"
                )
            number, _ = self._create_timer(fire_at)
            # A cancelled timer still exists (and still fires) but nobody awaits it.
            return bool(action.get("isCanceled")) or number in self.fired
        if action_type == 4:
            self.outcome.continue_as_new = True
            self.outcome.continue_input = action.get("input")
            return True
        if action_type in (11, 12):
            children = action.get("compoundActions") or []
            # Every child is invoked (numbered) before the compound task is awaited.
            done = [self.invoke(child) for child in children]
            return any(done) if action_type == 11 else all(done)
        name = ACTION_NAMES.get(action_type, "unknown")
        raise NotImplementedError(
            f"devtools.durable does not support the {name} action (actionType "
            f"{action_type}); extend devtools/durable/replay.py before using it"
        )

    def _is_new_id(self) -> bool:
        return self.next_id not in self.recorded

    def _invoke_with_retry(self, action: dict[str, Any]) -> bool:
        policy = RetryPolicy.from_action(dict(action.get("retryOptions") or {}))
        name = str(action["functionName"])
        input_ = action.get("input")
        first_attempt: datetime | None = None
        attempt = 1
        while True:
            number, recorded = self._schedule_task(name, input_)
            if first_attempt is None:
                first_attempt = (
                    self.now if recorded is None else h.parse_timestamp(recorded["Timestamp"])
                )
            result = self.results.get(number)
            if result is None:
                return False
            if h.event_type_of(result) == EventType.TASK_COMPLETED:
                return True
            # Failed: DTFx computes the next delay and creates a timer (also after the
            # last attempt), or gives up without one when the delay is zero.
            if self.next_id in self.recorded:
                timer_id, _ = self._create_timer(self.now, check_fire_at=False)
            elif number not in self.new_result_ids:
                return True  # gave up in an earlier episode (retry timeout)
            else:
                delay = policy.next_delay(attempt, first_attempt, self.now)
                if delay <= timedelta(0):
                    return True
                timer_id, _ = self._create_timer(self.now + delay)
            if timer_id not in self.fired:
                return False
            if attempt >= policy.max_number_of_attempts:
                return True
            attempt += 1

    def check_unvisited(self) -> None:
        """Recorded scheduling events the replay never reached are non-deterministic."""
        for number in sorted(set(self.recorded) - self.visited):
            event = self.recorded[number]
            if h.event_type_of(event) != EventType.TIMER_CREATED:
                raise NonDeterministic(
                    f"A previous execution of this orchestration scheduled an activity task "
                    f"with sequence ID {number} and name '{event.get('Name')}' (version "
                    f"''), but the current replay execution hasn't (yet?) scheduled this "
                    f"task. Was a change made to the orchestrator code after this instance "
                    f"had already started running?"
                )
            raise NonDeterministic(
                f"A previous execution of this orchestration scheduled a timer task with "
                f"sequence number {number} but the current replay execution hasn't (yet?) "
                f"scheduled this task. Was a change made to the orchestrator code after "
                f"this instance had already started running?"
            )


def _same_json(recorded: Any, current: Any) -> bool:
    if recorded == current:
        return True
    try:
        return (
            bool(json.loads(recorded) == json.loads(current))
            if isinstance(recorded, str) and isinstance(current, str)
            else False
        )
    except ValueError:
        return False


def replay_actions(
    actions: list[dict[str, Any]],
    committed: list[Event],
    new_events: list[Event],
    now: datetime,
    execution_id: str,
    instance_id: str = "",
) -> ReplayOutcome:
    """Walk the V2 flat action list; raises NonDeterministic on a history mismatch.

    ``committed`` is the history of earlier episodes, ``new_events`` the events this
    episode delivers (completions and fired timers), ``now`` the episode's timestamp.
    """
    walker = _Walker(committed, new_events, now, execution_id, instance_id)
    for action in actions:
        if not walker.invoke(action):
            walker.outcome.blocked = True
            break
    walker.check_unvisited()
    walker.outcome.next_id = walker.next_id
    return walker.outcome
