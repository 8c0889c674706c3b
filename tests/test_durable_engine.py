"""Tests of devtools.durable, the stand-in for the Durable extension's orchestration loop.

Small orchestrators and activities live on a DFApp in this module; everything runs through
the real SDK handler, in virtual time unless a test says otherwise.
"""
# The SDK's decorators are untyped (azure-functions-durable ships no type information).
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from devtools.durable import (
    DurableEngine,
    InMemoryStore,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    JsonFileStore,
    ManualClock,
    NonDeterminismError,
    RealClock,
    RuntimeStatus,
    StepBudgetExceeded,
    UnknownFunctionError,
    run_with_crashes,
)
from devtools.durable import history as h
from devtools.durable.episode import build_context
from devtools.durable.functions import FunctionRegistry
from devtools.durable.history import EventType
from devtools.durable.limits import Limits, PayloadTooLarge, QueuePolling, timespan_seconds
from devtools.durable.retry import RetryPolicy
from devtools.durable.state import InstanceState

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
# The SDK has no type information; its context is Any to mypy.
Ctx = Any
Orch = Generator[Any, Any, Any]

# Side-effect journals the activities write to (reset before every test).
EXECUTIONS: Counter[str] = Counter()
FLAKY_FAILURES_LEFT = {"n": 0}
NONDETERMINISM = {"calls": 0}


@pytest.fixture(autouse=True)
def _reset_journals() -> None:
    EXECUTIONS.clear()
    FLAKY_FAILURES_LEFT["n"] = 0
    NONDETERMINISM["calls"] = 0


# --- activities ---------------------------------------------------------------------------
@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    EXECUTIONS["greet"] += 1
    return f"hello {name}"


@app.activity_trigger(input_name="payload")
async def add_one(payload: dict[str, int]) -> dict[str, int]:
    EXECUTIONS["add_one"] += 1
    return {"value": payload["value"] + 1}


@app.activity_trigger(input_name="payload")
def explode(payload: Any) -> None:
    EXECUTIONS["explode"] += 1
    raise ValueError(f"cannot handle {payload}")


@app.activity_trigger(input_name="payload")
def flaky(payload: str) -> str:
    EXECUTIONS["flaky"] += 1
    if FLAKY_FAILURES_LEFT["n"] > 0:
        FLAKY_FAILURES_LEFT["n"] -= 1
        raise RuntimeError("transient failure")
    return f"ok {payload}"


# --- orchestrators ------------------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def sequence(context: Ctx) -> Orch:
    name = context.get_input()
    first = yield context.call_activity("greet", name)
    second = yield context.call_activity("greet", first)
    counted = yield context.call_activity("add_one", {"value": 41})
    return [first, second, counted["value"]]


@app.orchestration_trigger(context_name="context")
def poll_loop(context: Ctx) -> Orch:
    """A 30-minute cancellation-style loop: poll every minute, report progress."""
    minutes = context.get_input()["minutes"]
    polls = 0
    for _ in range(minutes):
        context.set_custom_status({"polls": polls})
        yield context.create_timer(context.current_utc_datetime + timedelta(minutes=1))
        yield context.call_activity("greet", str(polls))
        polls += 1
    return polls


@app.orchestration_trigger(context_name="context")
def eternal_counter(context: Ctx) -> Orch:
    state = context.get_input()
    for _ in range(state["every"]):
        result = yield context.call_activity("add_one", {"value": state["count"]})
        state["count"] = result["value"]
        if state["count"] >= state["stop"]:
            return state["count"]
    context.continue_as_new(state)
    return None


@app.orchestration_trigger(context_name="context")
def catches_failure(context: Ctx) -> Orch:
    try:
        yield context.call_activity("explode", {"x": 1})
    except Exception as exc:
        return f"caught: {exc}"
    return "not reached"


@app.orchestration_trigger(context_name="context")
def with_retry(context: Ctx) -> Orch:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    try:
        return (yield context.call_activity_with_retry("flaky", options, "job-1"))
    except Exception as exc:
        return f"gave up: {str(exc).splitlines()[0]}"


@app.orchestration_trigger(context_name="context")
def changes_its_mind(context: Ctx) -> Orch:
    # Non-deterministic on purpose: module state differs between replays.
    NONDETERMINISM["calls"] += 1
    activity = "greet" if NONDETERMINISM["calls"] == 1 else "add_one"
    yield context.call_activity(activity, "x")
    yield context.call_activity("greet", "y")
    return "done"


@app.orchestration_trigger(context_name="context")
def reads_wall_clock(context: Ctx) -> Orch:
    # Non-deterministic on purpose: the real clock instead of current_utc_datetime.
    yield context.create_timer(datetime.now(timezone.utc) + timedelta(seconds=5))
    yield context.call_activity("greet", "after timer")
    return "done"


@app.orchestration_trigger(context_name="context")
def raises(context: Ctx) -> Orch:
    yield context.call_activity("greet", "first")
    raise RuntimeError("orchestrator gave up")


@app.orchestration_trigger(context_name="context")
def waits_long(context: Ctx) -> Orch:
    context.set_custom_status("waiting")
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "woke up"


@app.orchestration_trigger(context_name="context")
def short_timer(context: Ctx) -> Orch:
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    return (yield context.call_activity("greet", "real time"))


@app.orchestration_trigger(context_name="context")
def fan_out(context: Ctx) -> Orch:
    tasks = [context.call_activity("add_one", {"value": n}) for n in range(5)]
    results = yield context.task_all(tasks)
    return sum(r["value"] for r in results)


@app.orchestration_trigger(context_name="context")
def race(context: Ctx) -> Orch:
    timeout = context.create_timer(context.current_utc_datetime + timedelta(minutes=5))
    work = context.call_activity("greet", "racer")
    winner = yield context.task_any([work, timeout])
    if winner == work:
        timeout.cancel()
        return work.result
    return "timed out"


@app.orchestration_trigger(context_name="context")
def waits_for_event(context: Ctx) -> Orch:
    return (yield context.wait_for_external_event("approval"))


@app.orchestration_trigger(context_name="context")
def calls_missing(context: Ctx) -> Orch:
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:
        return str(exc).splitlines()[0]
    return "not reached"


@app.orchestration_trigger(context_name="context")
def multi_step(context: Ctx) -> Orch:
    a = yield context.call_activity("greet", "a")
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=2))
    b = yield context.call_activity("greet", "b")
    c = yield context.call_activity("add_one", {"value": 1})
    return [a, b, c]


@app.activity_trigger(input_name="size")
def sized_result(size: int) -> str:
    return "r" * size


@app.activity_trigger(input_name="text")
def length_of(text: str) -> int:
    return len(text)


@app.orchestration_trigger(context_name="context")
def payloads(context: Ctx) -> Orch:
    """Makes one payload of the asked size: custom status, activity input/result or output."""
    ask = context.get_input()
    kind, size = ask["kind"], ask["size"]
    if kind == "status":
        context.set_custom_status("s" * size)
    elif kind == "activity input":
        yield context.call_activity("length_of", "i" * size)
    elif kind == "activity result":
        try:
            yield context.call_activity("sized_result", size)
        except Exception as exc:
            return f"caught: {str(exc).splitlines()[0]}"
    elif kind == "continue" and not ask.get("again"):
        context.continue_as_new({"kind": kind, "size": size, "again": True, "pad": "c" * size})
        return None
    return "o" * size if kind == "output" else "done"


@app.orchestration_trigger(context_name="context")
def returns_input(context: Ctx) -> Orch:
    return context.get_input()
    yield  # a generator, as every orchestrator


# --- helpers ------------------------------------------------------------------------------
@pytest.fixture
def engines() -> Iterator[Callable[..., DurableEngine]]:
    """Factory of engines over this module's app; closes them after the test."""
    made: list[DurableEngine] = []

    def make(**kwargs: Any) -> DurableEngine:
        kwargs.setdefault("clock", ManualClock())
        engine = DurableEngine(app, **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop(timeout=5)


def events_of(engine: DurableEngine, instance_id: str) -> list[dict[str, Any]]:
    status = engine.get_status(instance_id, show_history=True)
    assert status is not None and status.history is not None
    return status.history


def kinds(events: list[dict[str, Any]], *wanted: EventType) -> list[dict[str, Any]]:
    return [e for e in events if h.event_type_of(e) in wanted]


# --- episodes, numbering and the context the extension sends ------------------------------
def test_sequence_runs_through_sdk_and_numbers_events_like_the_extension(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("sequence", "seq-1", "ada")
    assert engine.get_status("seq-1").runtime_status is RuntimeStatus.PENDING  # type: ignore[union-attr]
    engine.run_until_idle()

    status = engine.get_status("seq-1", show_history=True)
    assert status is not None
    assert status.runtime_status == "Completed"
    assert status.output == ["hello ada", "hello hello ada", 42]
    assert status.input == "ada"
    events = status.history or []
    assert [h.event_type_of(e) for e in events[:4]] == [
        EventType.ORCHESTRATOR_STARTED,
        EventType.EXECUTION_STARTED,
        EventType.TASK_SCHEDULED,
        EventType.ORCHESTRATOR_COMPLETED,
    ]
    scheduled = kinds(events, EventType.TASK_SCHEDULED)
    assert [e["EventId"] for e in scheduled] == [0, 1, 2]
    assert [e["Name"] for e in scheduled] == ["greet", "greet", "add_one"]
    completed = kinds(events, EventType.TASK_COMPLETED)
    assert [(e["EventId"], e["TaskScheduledId"]) for e in completed] == [(-1, 0), (-1, 1), (-1, 2)]
    assert json.loads(completed[2]["Result"]) == {"value": 42}
    final = kinds(events, EventType.EXECUTION_COMPLETED)
    assert final[0]["EventId"] == 3 and final[0]["OrchestrationStatus"] == 1
    assert all(
        e["EventId"] == -1
        for e in kinds(
            events,
            EventType.ORCHESTRATOR_STARTED,
            EventType.ORCHESTRATOR_COMPLETED,
            EventType.EXECUTION_STARTED,
        )
    )
    assert all(e["Timestamp"].endswith("Z") for e in events)
    assert engine.stats.episodes == 4
    assert engine.stats.events_replayed_max > engine.stats.events_replayed_recent[0]


def test_context_json_carries_the_fields_and_schema_the_extension_sends() -> None:
    registry = FunctionRegistry(app)
    handler = registry.orchestrator("sequence")
    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    state = InstanceState(
        "ctx-1",
        "sequence",
        RuntimeStatus.PENDING,
        json.dumps("ada"),
        h.format_timestamp(now),
        h.format_timestamp(now),
        "exec-1",
    )
    started = h.execution_started(now, "ctx-1", "exec-1", "sequence", json.dumps('"ada"'))
    context = build_context(state, now, [started])

    assert context["upperSchemaVersion"] == 1 and context["upperSchemaVersionNew"] == 2
    assert context["maximumShortTimerDuration"] == "6.00:00:00"
    assert context["longRunningTimerIntervalDuration"] == "3.00:00:00"
    assert context["isReplaying"] is False and context["parentInstanceId"] is None
    assert [e["EventType"] for e in context["history"]] == [12, 0]
    body = func.OrchestrationContext(json.dumps(context))
    reply = json.loads(handler.user_function(context=body))
    # The SDK negotiated replay schema V3 and answers with one flat action list.
    assert reply["schemaVersion"] == 2 and reply["isDone"] is False
    assert reply["actions"] == [[{"actionType": 0, "functionName": "greet", "input": '"ada"'}]]


def test_registry_indexes_an_app_even_after_get_functions_ran() -> None:
    other = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @other.orchestration_trigger(context_name="context")
    def lone(context: Ctx) -> Orch:
        return (yield context.call_activity("lone_activity", 1))

    @other.activity_trigger(input_name="value")
    def lone_activity(value: int) -> int:
        return value + 1

    other.get_functions()  # the worker (or a host) indexed it first
    registry = FunctionRegistry(other)
    assert registry.orchestrator("LONE").name == "lone"  # names are case-insensitive
    assert registry.activity("lone_activity") is not None
    engine = DurableEngine(other, clock=ManualClock())
    engine.start_new("lone", "lone-1")
    engine.run_until_idle()
    engine.close()
    assert engine.get_status("lone-1").output == 2  # type: ignore[union-attr]


def test_start_refused_while_running_and_allowed_after_completion(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("sequence", "dup", "one")
    with pytest.raises(InstanceAlreadyExistsError):
        engine.start_new("sequence", "dup", "two")  # Pending
    engine.run_until_idle(max_steps=2, raise_on_budget=False)
    assert engine.get_status("dup").runtime_status is RuntimeStatus.RUNNING  # type: ignore[union-attr]
    with pytest.raises(InstanceAlreadyExistsError):
        engine.start_new("sequence", "dup", "two")
    engine.run_until_idle()
    engine.start_new("sequence", "dup", "two")  # Completed: replaced by a new start
    assert engine.get_status("dup").runtime_status is RuntimeStatus.PENDING  # type: ignore[union-attr]
    engine.run_until_idle()
    assert engine.get_status("dup").output[0] == "hello two"  # type: ignore[union-attr]
    with pytest.raises(UnknownFunctionError):
        engine.start_new("nope")


def test_any_state_policy_replaces_a_running_instance(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines(start_policy="AnyState")
    engine.start_new("waits_long", "again", "first")
    engine.run_until_idle(max_steps=2, raise_on_budget=False)
    assert engine.get_status("again").runtime_status is RuntimeStatus.RUNNING  # type: ignore[union-attr]
    engine.start_new("sequence", "again", "second")  # no refusal: the running one is replaced
    engine.run_until_idle()
    status = engine.get_status("again")
    assert status is not None and status.runtime_status is RuntimeStatus.COMPLETED
    assert status.name == "sequence" and status.output[0] == "hello second"


# The extension's 16 KB custom-status cap counts UTF-16 bytes of the JSON text: 2 per
# character here, plus the two quotes.
STATUS_CAP_CHARS = 16 * 1024 // 2 - 2


@pytest.mark.parametrize(
    ("kind", "size", "fails"),
    [
        ("status", STATUS_CAP_CHARS, False),
        ("status", STATUS_CAP_CHARS + 1, True),
        ("activity input", 1024 * 1024 - 2, False),
        ("activity input", 1024 * 1024, True),
        ("output", 1024 * 1024, True),
        ("continue", 1024 * 1024, True),
    ],
)
def test_custom_status_and_payloads_are_capped_like_the_backends(
    engines: Callable[..., DurableEngine], kind: str, size: int, fails: bool
) -> None:
    engine = engines()
    engine.start_new("payloads", "big", {"kind": kind, "size": size})
    engine.run_until_idle()
    status = engine.get_status("big")
    assert status is not None
    if not fails:
        assert status.runtime_status is RuntimeStatus.COMPLETED, status.output
        return
    assert status.runtime_status is RuntimeStatus.FAILED
    expected = "16 KB" if kind == "status" else "at most 1,048,576 bytes per payload"
    assert expected in status.output, status.output


def test_oversize_activity_result_fails_the_task_and_start_input_is_refused(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("payloads", "result", {"kind": "activity result", "size": 2 * 1024 * 1024})
    engine.run_until_idle()
    output = engine.get_status("result").output  # type: ignore[union-attr]
    assert output.startswith("caught:") and "result of activity 'sized_result'" in output
    with pytest.raises(PayloadTooLarge):
        engine.start_new("returns_input", "huge", "x" * (1024 * 1024))
    assert engine.get_status("huge") is None
    relaxed = engines(limits=Limits(max_payload_bytes=None, max_custom_status_utf16_bytes=None))
    relaxed.start_new("returns_input", "huge", "x" * (1024 * 1024))
    relaxed.run_until_idle()
    assert relaxed.get_status("huge").runtime_status is RuntimeStatus.COMPLETED  # type: ignore[union-attr]


def test_queue_polling_backs_off_to_the_maximum_and_resets_on_work() -> None:
    polling = QueuePolling(longest=timespan_seconds("00:00:01.5"))
    assert [polling.next_wait() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.5, 1.5]
    polling.found_work()
    assert polling.next_wait() == 0.1
    assert timespan_seconds("1.02:03:04") == 93784.0
    with pytest.raises(ValueError):
        timespan_seconds("30s")


def test_idle_polling_makes_a_new_start_wait_for_the_next_poll() -> None:
    # With polling every 1.2 s, a start made 0.3 s after a poll is seen about 0.9 s later;
    # without the model the loop wakes at once.
    engine = DurableEngine(
        app, clock=RealClock(), queue_polling=QueuePolling(longest=1.2, shortest=1.2)
    )
    engine.start()
    try:
        time.sleep(0.3)
        began = time.monotonic()
        engine.start_new("returns_input", "late", "x")
        engine.wait_for_completion("late", timeout=10)
        assert time.monotonic() - began >= 0.6
    finally:
        engine.stop(timeout=5)


# --- timers and virtual time --------------------------------------------------------------
def test_thirty_minute_poll_loop_replays_in_virtual_time(
    engines: Callable[..., DurableEngine],
) -> None:
    clock = ManualClock()
    moved: list[float] = []
    hooked: list[float] = []
    clock.subscribe(moved.append)
    engine = engines(clock=clock, on_advance=hooked.append)
    start = clock.now()
    engine.start_new("poll_loop", "poll", {"minutes": 30})
    engine.run_until_idle()

    status = engine.get_status("poll", show_history=True)
    assert status is not None and status.output == 30
    # Virtual time: the clock moved only by jumps to the timers, never by waiting.
    assert clock.now() - start == timedelta(minutes=30)
    assert sum(moved) == sum(hooked) == 30 * 60
    fired = kinds(status.history or [], EventType.TIMER_FIRED)
    created = kinds(status.history or [], EventType.TIMER_CREATED)
    assert [f["TimerId"] for f in fired] == [c["EventId"] for c in created] == list(range(0, 60, 2))
    assert all(f["FireAt"] == c["FireAt"] for f, c in zip(fired, created, strict=True))
    assert engine.stats.timers_fired == 30


def test_custom_status_is_visible_while_running(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    seen: list[tuple[str, Any]] = []

    def look(kind: str, instance_id: str) -> None:
        status = engine.get_status(instance_id)
        assert status is not None
        seen.append((status.runtime_status.value, status.custom_status))

    engine.step_hook = look
    engine.start_new("waits_long", "cs")
    engine.run_until_idle()
    assert ("Running", "waiting") in seen
    final = engine.get_status("cs")
    assert final is not None and final.output == "woke up" and final.custom_status == "waiting"


def test_task_any_with_cancelled_timer_and_task_all(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("race", "race")
    engine.start_new("fan_out", "fan")
    engine.run_until_idle()
    assert engine.get_status("race").output == "hello racer"  # type: ignore[union-attr]
    assert engine.get_status("fan").output == sum(range(1, 6))  # type: ignore[union-attr]
    fan_events = events_of(engine, "fan")
    assert [e["EventId"] for e in kinds(fan_events, EventType.TASK_SCHEDULED)] == [0, 1, 2, 3, 4]


# --- continue-as-new ----------------------------------------------------------------------
def test_continue_as_new_keeps_history_bounded(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("eternal_counter", "eternal", {"count": 0, "every": 5, "stop": 23})
    engine.run_until_idle()
    status = engine.get_status("eternal", show_history=True)
    assert status is not None
    assert status.runtime_status == "Completed" and status.output == 23
    assert status.generation == 4 == engine.stats.continued_as_new
    # Only the last execution's history is kept, and no execution grew past 5 activities.
    assert len(kinds(status.history or [], EventType.TASK_SCHEDULED)) == 3
    assert engine.stats.peak_history_length <= 4 + 5 * 4 + 2
    assert status.input == {"count": 20, "every": 5, "stop": 23}


def test_continue_as_new_history_records_the_new_input(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    generations: list[int] = []
    engine.step_hook = lambda kind, iid: generations.append(engine.get_status(iid).generation)  # type: ignore[union-attr]
    engine.start_new("eternal_counter", "can", {"count": 0, "every": 1, "stop": 2})
    engine.run_until_idle()
    assert sorted(set(generations)) == [0, 1]
    status = engine.get_status("can")
    assert status is not None and status.runtime_status is RuntimeStatus.COMPLETED


# --- failures and retries -----------------------------------------------------------------
def test_activity_failure_is_caught_by_the_orchestrator(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("catches_failure", "catch")
    engine.run_until_idle()
    status = engine.get_status("catch", show_history=True)
    assert status is not None and status.runtime_status == "Completed"
    assert status.output.startswith(
        "caught: Activity function 'explode' failed:  ValueError: cannot handle {'x': 1} \n "
    )
    failed = kinds(status.history or [], EventType.TASK_FAILED)[0]
    assert failed["TaskScheduledId"] == 0 and failed["EventId"] == -1
    details = json.loads(failed["Details"])
    assert details["Message"] == " ValueError: cannot handle {'x': 1}"
    assert details["InnerException"]["Message"].startswith("Result: Failure\nException: ValueError")
    assert engine.stats.activity_failures == 1


def test_retry_waits_backoff_in_virtual_time_and_writes_dtfx_events(
    engines: Callable[..., DurableEngine],
) -> None:
    FLAKY_FAILURES_LEFT["n"] = 2
    clock = ManualClock()
    engine = engines(clock=clock)
    start = clock.now()
    engine.start_new("with_retry", "retry")
    engine.run_until_idle()
    status = engine.get_status("retry", show_history=True)
    assert status is not None and status.output == "ok job-1"
    assert EXECUTIONS["flaky"] == 3
    events = kinds(
        status.history or [],
        EventType.TASK_SCHEDULED,
        EventType.TASK_FAILED,
        EventType.TASK_COMPLETED,
        EventType.TIMER_CREATED,
        EventType.TIMER_FIRED,
    )
    assert [(h.event_type_of(e).name, e["EventId"]) for e in events] == [
        ("TASK_SCHEDULED", 0),
        ("TASK_FAILED", -1),
        ("TIMER_CREATED", 1),
        ("TIMER_FIRED", -1),
        ("TASK_SCHEDULED", 2),
        ("TASK_FAILED", -1),
        ("TIMER_CREATED", 3),
        ("TIMER_FIRED", -1),
        ("TASK_SCHEDULED", 4),
        ("TASK_COMPLETED", -1),
    ]
    fire_times = [h.parse_timestamp(e["FireAt"]) for e in kinds(events, EventType.TIMER_CREATED)]
    assert fire_times == [start + timedelta(seconds=5), start + timedelta(seconds=10)]
    assert clock.now() == start + timedelta(seconds=10)


def test_retry_exhausted_waits_one_extra_timer_then_fails(
    engines: Callable[..., DurableEngine],
) -> None:
    FLAKY_FAILURES_LEFT["n"] = 99
    engine = engines()
    engine.start_new("with_retry", "retry-out")
    engine.run_until_idle()
    status = engine.get_status("retry-out", show_history=True)
    assert status is not None
    assert status.output == (
        "gave up: Activity function 'flaky' failed:  RuntimeError: transient failure "
    )
    history = status.history or []
    assert len(kinds(history, EventType.TASK_SCHEDULED)) == 3 == EXECUTIONS["flaky"]
    # DTFx creates a timer after the last failure too; the SDK waits for it.
    assert len(kinds(history, EventType.TIMER_FIRED)) == 3


def test_retry_policy_matches_dtfx_formula() -> None:
    policy = RetryPolicy.from_action(
        {
            "firstRetryIntervalInMilliseconds": 1000,
            "maxNumberOfAttempts": 5,
            "backoffCoefficient": 2,
            "maxRetryIntervalInMilliseconds": 5000,
            "retryTimeoutInMilliseconds": 60000,
        }
    )
    first = datetime(2025, 1, 1, tzinfo=timezone.utc)
    delays = [policy.next_delay(n, first, first).total_seconds() for n in range(1, 5)]
    assert delays == [1, 2, 4, 5]
    assert policy.next_delay(1, first, first + timedelta(minutes=1)) == timedelta(0)
    with pytest.raises(ValueError, match="maxNumberOfAttempts"):
        RetryPolicy.from_action({"firstRetryIntervalInMilliseconds": 1})


def test_orchestrator_exception_fails_the_instance_with_its_message(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("raises", "boom")
    engine.run_until_idle()
    status = engine.get_status("boom", show_history=True)
    assert status is not None and status.runtime_status is RuntimeStatus.FAILED
    assert status.output == "Orchestrator function 'raises' failed: orchestrator gave up"
    assert "$OutOfProcData$" not in status.output
    final = kinds(status.history or [], EventType.EXECUTION_COMPLETED)[0]
    assert final["OrchestrationStatus"] == 3 and final["Result"] == status.output


def test_unknown_activity_fails_the_task_like_the_extension(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines()
    engine.start_new("calls_missing", "missing")
    engine.run_until_idle()
    assert engine.get_status("missing").output == (  # type: ignore[union-attr]
        "Activity function 'no_such_activity' failed: Activity function "
        "'no_such_activity' does not exist. "
    )


def test_unsupported_action_fails_loudly(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("waits_for_event", "event")
    with pytest.raises(NotImplementedError, match="WaitForExternalEvent"):
        engine.run_until_idle()


# --- determinism --------------------------------------------------------------------------
def test_changed_activity_name_is_non_deterministic(engines: Callable[..., DurableEngine]) -> None:
    engine = engines(raise_on_nondeterminism=True)
    engine.start_new("changes_its_mind", "nd")
    with pytest.raises(NonDeterminismError, match=r"named 'greet'.*named 'add_one'"):
        engine.run_until_idle()
    status = engine.get_status("nd")
    assert status is not None and status.runtime_status is RuntimeStatus.FAILED
    assert status.output.startswith("Non-Deterministic workflow detected: A previous execution")
    assert engine.stats.nondeterminism_detected == 1 and len(engine.nondeterminism_errors) == 1


def test_wall_clock_timer_is_caught_by_the_strict_check(
    engines: Callable[..., DurableEngine],
) -> None:
    # Virtual time starting at the real time: the replay's datetime.now() has moved on.
    strict = engines(clock=ManualClock(datetime.now(timezone.utc)), raise_on_nondeterminism=True)
    strict.start_new("reads_wall_clock", "clock-strict")
    with pytest.raises(NonDeterminismError, match=r"to fire at .* but the replay asks for"):
        strict.run_until_idle()
    assert strict.get_status("clock-strict").runtime_status is RuntimeStatus.FAILED  # type: ignore[union-attr]

    # The extension itself only compares kind and name: the run completes, but is counted.
    lenient = engines(clock=ManualClock(datetime.now(timezone.utc)), determinism="extension")
    lenient.start_new("reads_wall_clock", "clock-lenient")
    lenient.run_until_idle()
    assert lenient.get_status("clock-lenient").output == "done"  # type: ignore[union-attr]
    assert lenient.stats.strict_mismatches >= 1 and lenient.stats.nondeterminism_detected == 0


# --- management ---------------------------------------------------------------------------
def test_terminate_and_purge(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("waits_long", "term")
    engine.run_until_idle(max_steps=2, raise_on_budget=False)
    with pytest.raises(InstanceNotRunningError):
        engine.purge("term")
    engine.terminate("term", "operator said stop")
    engine.run_until_idle()
    status = engine.get_status("term", show_history=True)
    assert status is not None and status.runtime_status is RuntimeStatus.TERMINATED
    assert status.output == "operator said stop"
    assert kinds(status.history or [], EventType.EXECUTION_TERMINATED)
    with pytest.raises(InstanceNotRunningError):
        engine.terminate("term", "again")
    with pytest.raises(InstanceNotFoundError):
        engine.terminate("ghost", "x")
    assert [s.instance_id for s in engine.list_instances()] == ["term"]
    assert engine.purge("term") is True
    assert engine.get_status("term") is None and engine.purge("term") is False
    assert engine.list_instances() == []


def test_status_json_uses_http_api_names(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("sequence", "json", "x")
    engine.run_until_idle()
    body = engine.get_status("json", show_input=False).to_json()  # type: ignore[union-attr]
    assert body["runtimeStatus"] == "Completed" and body["instanceId"] == "json"
    assert body["input"] is None and body["createdTime"] == "2025-01-01T00:00:00Z"
    assert set(body) == {
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    }


def test_step_budget_stops_a_runaway(engines: Callable[..., DurableEngine]) -> None:
    engine = engines()
    engine.start_new("poll_loop", "budget", {"minutes": 10})
    with pytest.raises(StepBudgetExceeded):
        engine.run_until_idle(max_steps=5)


def test_hundreds_of_instances_in_virtual_time(engines: Callable[..., DurableEngine]) -> None:
    engine = engines(activity_workers=16)
    for n in range(200):
        engine.start_new("multi_step", f"many-{n:03d}")
    engine.run_until_idle(max_steps=1_000_000)
    statuses = engine.list_instances()
    assert len(statuses) == 200
    assert {s.runtime_status for s in statuses} == {RuntimeStatus.COMPLETED}


# --- persistence and crashes --------------------------------------------------------------
def _clean_run_kinds() -> tuple[list[str], Any, int]:
    store = InMemoryStore()
    kinds_seen: list[str] = []
    engine = DurableEngine(
        app,
        store=store,
        clock=ManualClock(),
        step_hook=lambda kind, _iid: kinds_seen.append(kind),
    )
    engine.start_new("multi_step", "crashy")
    engine.run_until_idle()
    status = engine.get_status("crashy")
    engine.close()
    assert status is not None
    return kinds_seen, status.output, engine.stats.activities_executed


def test_crash_after_every_single_step_resumes_to_the_same_output() -> None:
    step_kinds, expected, clean_executions = _clean_run_kinds()
    assert clean_executions == 3 and len(step_kinds) == 17
    for crash_at, kind in enumerate(step_kinds, start=1):
        store = InMemoryStore()
        clock = ManualClock()
        DurableEngine(app, store=store, clock=clock).start_new("multi_step", "crashy")

        def make(
            at: int | None, store: InMemoryStore = store, clock: ManualClock = clock
        ) -> DurableEngine:
            return DurableEngine(app, store=store, clock=clock, crash_at_step=at)

        run = run_with_crashes(make, [crash_at])
        status = run.engine.get_status("crashy")
        run.engine.close()
        assert len(run.crashes) == 1, crash_at
        assert status is not None and status.output == expected, (crash_at, kind)
        # Only an activity that ran without its result being committed runs again.
        extra = 1 if kind == "activity_executed" else 0
        assert sum(run.activities_executed) == clean_executions + extra, (crash_at, kind)


def test_json_file_store_survives_a_new_engine_object(tmp_path: Path) -> None:
    clock = ManualClock()
    first = DurableEngine(app, store=JsonFileStore(tmp_path), clock=clock)
    first.start_new("multi_step", "on-disk")
    first.run_until_idle(max_steps=6, raise_on_budget=False)  # up to the 2-minute timer
    first.close()
    del first
    assert not list(tmp_path.glob(".tmp-*"))
    saved = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert saved["status"] == "Running" and saved["timers"]

    second = DurableEngine(app, store=JsonFileStore(tmp_path), clock=clock)
    second.run_until_idle()
    status = second.get_status("on-disk")
    second.close()
    assert status is not None
    assert status.output == ["hello a", "hello b", {"value": 2}]
    assert EXECUTIONS["greet"] == 2 and EXECUTIONS["add_one"] == 1


def test_run_with_crashes_survives_several_crashes_on_disk(tmp_path: Path) -> None:
    clock = ManualClock()
    DurableEngine(app, store=JsonFileStore(tmp_path), clock=clock).start_new("multi_step", "disk")

    def make(at: int | None) -> DurableEngine:
        return DurableEngine(app, store=JsonFileStore(tmp_path), clock=clock, crash_at_step=at)

    run = run_with_crashes(make, [3, 3, 3, 3])
    status = run.engine.get_status("disk")
    run.engine.close()
    assert len(run.crashes) == 4
    assert status is not None and status.output == ["hello a", "hello b", {"value": 2}]


# --- real time ----------------------------------------------------------------------------
def test_real_time_one_second_timer_completes_in_the_background(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines(clock=RealClock())
    engine.start()
    began = time.monotonic()
    engine.start_new("short_timer", "rt")
    status = engine.wait_for_completion("rt", timeout=10)
    elapsed = time.monotonic() - began
    assert status.runtime_status is RuntimeStatus.COMPLETED and status.output == "hello real time"
    assert 1.0 <= elapsed < 5.0
    with pytest.raises(TimeoutError):
        engine.start_new("waits_long", "rt-long")
        engine.wait_for_completion("rt-long", timeout=0.2)
    engine.terminate("rt-long", "done testing")
    assert engine.wait_for_completion("rt-long", timeout=5).runtime_status == "Terminated"


def test_run_forever_serves_many_instances_concurrently() -> None:
    engine = DurableEngine(app, clock=RealClock(), activity_workers=8)
    stop = threading.Event()
    loop = threading.Thread(target=engine.run_forever, args=(stop,), daemon=True)
    loop.start()
    try:
        ids = [engine.start_new("sequence", f"rt-{n}", str(n)) for n in range(50)]
        outputs = [engine.wait_for_completion(i, timeout=20).output for i in ids]
    finally:
        stop.set()
        loop.join(5)
        engine.close()
    assert outputs == [[f"hello {n}", f"hello hello {n}", 42] for n in range(50)]


@app.orchestration_trigger(context_name="context")
def parent_of_pages(context: Ctx) -> Orch:
    """Fans out to one child per page, then fails one on purpose."""
    pages = context.get_input()
    results = []
    for page in pages:
        results.append((yield context.call_sub_orchestrator("page_child", page, f"page-{page}")))
    try:
        yield context.call_sub_orchestrator("page_child", -1)
    except Exception as exc:
        results.append(str(exc).splitlines()[0][:60])
    return results


@app.orchestration_trigger(context_name="context")
def page_child(context: Ctx) -> Orch:
    page = context.get_input()
    if page < 0:
        raise ValueError("no such page")
    greeting = yield context.call_activity("greet", str(page))
    return {"page": page, "greeting": greeting, "parent": context.parent_instance_id}


def test_sub_orchestrations_run_as_instances_of_their_own_and_report_back(
    engines: Callable[..., DurableEngine],
) -> None:
    engine = engines(raise_on_nondeterminism=True)
    engine.start_new("parent_of_pages", "parent", [1, 2])
    engine.run_until_idle()
    status = engine.get_status("parent", show_history=True)
    assert status is not None and status.runtime_status is RuntimeStatus.COMPLETED
    first, second, failure = status.output
    assert first == {"page": 1, "greeting": "hello 1", "parent": "parent"}
    assert second["page"] == 2
    assert failure.startswith("Sub-orchestration 'page_child' (parent:")
    created = kinds(status.history or [], EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
    assert [e["InstanceId"] for e in created] == ["page-1", "page-2", "parent:2"]
    child = engine.get_status("page-1", show_history=True)
    assert child is not None and child.runtime_status is RuntimeStatus.COMPLETED
    [started] = kinds(child.history or [], EventType.EXECUTION_STARTED)
    assert started["ParentInstance"]["OrchestrationInstance"]["InstanceId"] == "parent"
    assert engine.get_status("parent:2").runtime_status is RuntimeStatus.FAILED  # type: ignore[union-attr]


def test_sub_orchestrations_survive_a_crash_after_every_step() -> None:
    reference = DurableEngine(app, clock=ManualClock())
    reference.start_new("parent_of_pages", "parent", [1, 2, 3])
    reference.run_until_idle()
    expected = reference.get_status("parent").output  # type: ignore[union-attr]
    steps = reference.stats.steps
    for crash_at in range(1, steps + 1, 3):
        store = InMemoryStore()
        clock = ManualClock()
        first = DurableEngine(app, store=store, clock=clock, crash_at_step=crash_at)
        first.start_new("parent_of_pages", "parent", [1, 2, 3])
        run = run_with_crashes(
            lambda at, s=store, c=clock: DurableEngine(app, store=s, clock=c, crash_at_step=at),
            [crash_at],
        )
        assert run.engine.get_status("parent").output == expected, crash_at  # type: ignore[union-attr]


@app.activity_trigger(input_name="name")
@app.durable_client_input(client_name="client")
async def start_sequence(name: str, client: df.DurableOrchestrationClient) -> str:
    """An activity that is also a client function: it starts a run of its own."""
    instance_id: str = await client.start_new("sequence", f"from-activity-{name}", name)
    return instance_id


@app.orchestration_trigger(context_name="context")
def starts_through_an_activity(context: Ctx) -> Orch:
    started = yield context.call_activity("start_sequence", context.get_input())
    return started


def test_an_activity_with_a_durable_client_starts_a_run_through_the_client_api() -> None:
    from devtools.host.activity_host import StandaloneActivityHost

    api = StandaloneActivityHost()
    try:
        engine = DurableEngine(app, clock=ManualClock(), activity_host=api)
        api.serve(engine)
        engine.start_new("starts_through_an_activity", "parent", "ada")
        engine.run_until_idle()
        parent = engine.get_status("parent")
        assert parent is not None and parent.output == "from-activity-ada"
        child = engine.get_status("from-activity-ada", show_history=True)
        assert child is not None and child.output == ["hello ada", "hello hello ada", 42]
        # Started by a client, not by the orchestration: the child has no parent.
        [started] = kinds(child.history or [], EventType.EXECUTION_STARTED)
        assert started["ParentInstance"] is None
    finally:
        api.close()


def test_an_activity_with_a_durable_client_fails_without_a_host_to_supply_it() -> None:
    engine = DurableEngine(app, clock=ManualClock())
    engine.start_new("starts_through_an_activity", "parent", "ada")
    engine.run_until_idle()
    parent = engine.get_status("parent")
    assert parent is not None and parent.runtime_status is RuntimeStatus.FAILED
    assert "durableClient binding 'client'" in str(parent.output)
    assert engine.get_status("from-activity-ada") is None
