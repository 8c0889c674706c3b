"""Run one orchestrator episode exactly as extension + Python worker do.

The extension builds the orchestration context JSON (OrchestrationTriggerAttribute-
BindingProvider.OrchestrationContextToString), the worker wraps it in
``azure.functions.OrchestrationContext`` and calls the registered function (the SDK's
``handle``) with it by keyword. The SDK answers with an OrchestratorState JSON string,
or raises ``Exception("<error>\\n\\n$OutOfProcData$:<state JSON>")`` when the
orchestrator failed. The extension then replays the actions (see replay.py), sets the
custom status and completes, fails, continues as new, or waits for more events.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import azure.functions as func

from . import history as h
from .functions import RegisteredFunction
from .history import Event, EventType, OrchestrationStatusCode
from .limits import Limits, PayloadTooLarge
from .replay import NonDeterministic, ReplayOutcome, replay_actions
from .state import ActivityWorkItem, InstanceState, SubOrchestrationWorkItem, TimerWorkItem

#: The extension sends SchemaVersion.V2 (=1) in upperSchemaVersion, for old Python SDKs
#: (1.1.0-1.1.3) that only knew V1/V2, and the real upper bound SchemaVersion.V3 (=2) in
#: upperSchemaVersionNew (extension PR #2146). The SDK 1.7 therefore replies with
#: schemaVersion 2 (V3): flat action list, long timers split by the SDK.
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2
#: Azure Storage provider: MaximumDelayTime 6 days, LongRunningTimerIntervalLength
#: 3 days, serialised as .NET TimeSpan "c" strings.
MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
LONG_RUNNING_TIMER_INTERVAL_DURATION = "3.00:00:00"
#: Extension option HttpSettings.DefaultAsyncRequestSleepTimeMilliseconds (default).
DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000

OUT_OF_PROC_DATA_LABEL = "\n\n$OutOfProcData$:"


class Outcome(str, Enum):
    """How an episode left the instance."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CONTINUED_AS_NEW = "ContinuedAsNew"


_UNCHANGED: Any = object()


@dataclass
class EpisodeResult:
    """Everything an episode wants committed, plus figures for the counters."""

    outcome: Outcome
    #: Events to append to the history (OrchestratorStarted ... OrchestratorCompleted).
    events: list[Event]
    activities: list[ActivityWorkItem] = field(default_factory=list)
    timers: list[TimerWorkItem] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationWorkItem] = field(default_factory=list)
    output: Any = None
    custom_status: Any = _UNCHANGED
    continue_input: str | None = None
    #: Set when the instance failed because the replay was non-deterministic.
    nondeterminism: str | None = None
    #: Differences only the strict check sees (input, fireAt); see DurableEngine.
    strict_mismatches: list[str] = field(default_factory=list)
    events_replayed: int = 0
    cpu_seconds: float = 0.0

    @property
    def custom_status_changed(self) -> bool:
        """True when the orchestrator reported a custom status in this episode."""
        return self.custom_status is not _UNCHANGED


def build_context(state: InstanceState, now: datetime, new_events: list[Event]) -> dict[str, Any]:
    """The orchestration context JSON the extension passes to a Python orchestrator."""
    played = [dict(event, IsPlayed=True) for event in state.history]
    fresh = [dict(event, IsPlayed=False) for event in new_events]
    history = [*played, dict(h.orchestrator_started(now), IsPlayed=False), *fresh]
    # The Python client posts json.dumps(input) as a JSON *string*, so the token the
    # extension embeds here is that string: the SDK's get_input() json-loads it.
    return {
        "history": history,
        "input": state.input_json,
        "instanceId": state.instance_id,
        "isReplaying": bool(played),
        "parentInstanceId": state.parent["instanceId"] if state.parent else None,
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
        "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
        "longRunningTimerIntervalDuration": LONG_RUNNING_TIMER_INTERVAL_DURATION,
        "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER_DURATION,
        "defaultHttpAsyncRequestSleepTimeMillseconds": DEFAULT_HTTP_ASYNC_SLEEP_MS,
    }


@dataclass
class _SdkReply:
    state: dict[str, Any] | None
    #: Message of an exception without $OutOfProcData$ (SDK-internal or binding error).
    crash_message: str | None = None


def _call_orchestrator(handler: RegisteredFunction, body: str) -> _SdkReply:
    context = func.OrchestrationContext(body)
    try:
        returned = handler.user_function(**{handler.binding_name: context})
    except Exception as exc:
        message = str(exc)
        index = message.find(OUT_OF_PROC_DATA_LABEL)
        if index < 0:
            return _SdkReply(None, f"{type(exc).__name__}: {message}")
        return _SdkReply(json.loads(message[index + len(OUT_OF_PROC_DATA_LABEL) :]))
    if isinstance(returned, str):
        return _SdkReply(json.loads(returned))
    return _SdkReply(json.loads(json.dumps(returned)))


def _flat_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    schema = int(state.get("schemaVersion", 0))
    actions = state.get("actions") or []
    if schema == 0:
        raise NotImplementedError(
            "replay schema V1 (nested action lists) is not supported; the extension "
            "negotiates V3 with azure-functions-durable >= 1.2"
        )
    if len(actions) != 1:
        # Same check (and wording) as OutOfProcOrchestrationShim.ReplayOOProcOrchestration.
        raise ValueError(
            f"With OOProc schema {schema}, expected actions array to be of length 1 in "
            f"outer layer but got size: {len(actions)}"
        )
    return list(actions[0])


def _finish(events: list[Event], now: datetime) -> list[Event]:
    return [*events, h.orchestrator_completed(now)]


def run_episode(
    handler: RegisteredFunction,
    state: InstanceState,
    new_events: list[Event],
    now: datetime,
    *,
    strict: bool = True,
    limits: Limits | None = None,
) -> EpisodeResult:
    """Run one episode of ``state`` delivering ``new_events`` at time ``now``.

    Pure with respect to ``state``: the caller commits the result. With ``strict``, a
    replay that changes an activity input or a timer's fireAt also fails the instance
    (the extension itself only compares kind and name). ``limits`` fails the instance, as
    the extension and the Durable Task Scheduler would, when the custom status or a payload
    it produced is over its cap. Raises NotImplementedError for unsupported actions (fail
    loudly, never guess).
    """
    prefix = [h.orchestrator_started(now), *new_events]
    terminated = next(
        (e for e in new_events if h.event_type_of(e) == EventType.EXECUTION_TERMINATED), None
    )
    if terminated is not None:
        # DTFx completes the execution as Terminated with the reason as its output. (The
        # extension would also invoke the orchestrator once more; its actions are moot.)
        reason = terminated.get("Input")
        done = h.execution_completed(now, -1, OrchestrationStatusCode.TERMINATED, reason)
        return EpisodeResult(Outcome.TERMINATED, _finish([*prefix, done], now), output=reason)

    context = build_context(state, now, new_events)
    body = json.dumps(context)
    started = time.thread_time()
    reply = _call_orchestrator(handler, body)
    cpu = time.thread_time() - started
    replayed = len(context["history"])

    def result(outcome: Outcome, events: list[Event], **extra: Any) -> EpisodeResult:
        return EpisodeResult(
            outcome, _finish(events, now), events_replayed=replayed, cpu_seconds=cpu, **extra
        )

    if reply.state is None:
        message = f"Orchestrator function '{state.name}' failed: {reply.crash_message}"
        failed = h.execution_completed(now, -1, OrchestrationStatusCode.FAILED, message)
        return result(Outcome.FAILED, [*prefix, failed], output=message)

    sdk_state = reply.state
    custom_status = sdk_state.get("customStatus", _UNCHANGED)
    mismatches: list[str] = []
    try:
        replay: ReplayOutcome = replay_actions(
            _flat_actions(sdk_state),
            state.history,
            new_events,
            now,
            state.execution_id,
            state.instance_id,
        )
        mismatches = replay.strict_mismatches
        if strict and mismatches:
            raise NonDeterministic(
                "(strict check; the extension itself compares only kind and name) "
                + "; ".join(replay.strict_mismatches)
            )
    except NonDeterministic as exc:
        message = f"Non-Deterministic workflow detected: {exc}"
        failed = h.execution_completed(
            now,
            -1,
            OrchestrationStatusCode.FAILED,
            message,
            f"Unhandled exception while executing orchestration: {message}",
        )
        return result(
            Outcome.FAILED,
            [*prefix, failed],
            output=message,
            nondeterminism=message,
            custom_status=custom_status,
        )

    events = [*prefix, *replay.scheduled]
    oversize = _oversize(sdk_state, replay, custom_status, limits)
    if oversize is not None:
        message = f"Orchestrator function '{state.name}' failed: {oversize}"
        failed = h.execution_completed(now, replay.next_id, OrchestrationStatusCode.FAILED, message)
        return result(Outcome.FAILED, [*prefix, failed], output=message)
    common: dict[str, Any] = {
        "activities": replay.activities,
        "timers": replay.timers,
        "sub_orchestrations": replay.sub_orchestrations,
        "custom_status": custom_status,
        "strict_mismatches": replay.strict_mismatches,
    }
    error = sdk_state.get("error")
    if replay.blocked:
        # The shim is still awaiting a task, so it never reaches the error/isDone check.
        return result(Outcome.RUNNING, events, **common)
    if error:
        message = f"Orchestrator function '{state.name}' failed: {error}"
        failed = h.execution_completed(
            now,
            replay.next_id,
            OrchestrationStatusCode.FAILED,
            message,
            f"Message: {error}, StackTrace: ",
        )
        return result(Outcome.FAILED, [*events, failed], output=message, **common)
    if sdk_state.get("isDone"):
        if replay.continue_as_new:
            ended = h.continue_as_new(now, replay.next_id, replay.continue_input)
            return result(
                Outcome.CONTINUED_AS_NEW,
                [*events, ended],
                continue_input=replay.continue_input,
                **common,
            )
        output = sdk_state.get("output")
        completed = h.execution_completed(
            now, replay.next_id, OrchestrationStatusCode.COMPLETED, json.dumps(output)
        )
        return result(Outcome.COMPLETED, [*events, completed], output=output, **common)
    return result(Outcome.RUNNING, events, **common)


def _oversize(
    sdk_state: dict[str, Any], replay: ReplayOutcome, custom_status: Any, limits: Limits | None
) -> str | None:
    """Why this episode's custom status or payloads break the caps, or None."""
    if limits is None:
        return None
    try:
        if custom_status is not _UNCHANGED:
            limits.check_custom_status(custom_status)
        for activity in replay.activities:
            limits.check_payload(f"input of activity '{activity.name}'", activity.input)
        for child in replay.sub_orchestrations:
            limits.check_payload(f"input of sub-orchestration '{child.name}'", child.input)
        if replay.continue_as_new:
            limits.check_payload("continue-as-new input", replay.continue_input)
        if sdk_state.get("isDone") and not replay.continue_as_new:
            limits.check_payload("orchestration output", json.dumps(sdk_state.get("output")))
    except PayloadTooLarge as exc:
        return str(exc)
    return None
