"""The engine: instances, work items, timers, activities, persistence and management.

One dispatcher (``run_until_idle`` in virtual time, or ``run_forever`` in a background
thread in real time) runs episodes one at a time, so an instance never has two episodes
at once; activities run in a thread pool. Every durable step is saved to the store and
passes a checkpoint where a test can make the engine "crash":

* ``episode_executed``  - orchestrator ran, results not committed (lost on crash);
* ``episode_committed`` - history, new work and status saved;
* ``activity_executed`` - activity ran, its result not committed (it runs again);
* ``activity_committed`` - TaskCompleted/TaskFailed queued for the next episode;
* ``timer_fired``       - TimerFired queued for the next episode.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any, Literal

from azure.functions._durable_functions import _serialize_custom_object

from . import history as h
from .clock import Clock, ManualClock, RealClock
from .episode import EpisodeResult, Outcome, run_episode
from .errors import (
    EngineCrashedError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    NonDeterminismError,
    SimulatedCrash,
    StepBudgetExceeded,
)
from .functions import (
    ActivityHost,
    ActivityOutcome,
    FunctionRegistry,
    failure_outcome,
    invoke_activity,
    missing_activity_outcome,
)
from .history import EventType
from .limits import DEFAULT_START_POLICY, Limits, PayloadTooLarge, QueuePolling, StartPolicy
from .state import (
    ActivityWorkItem,
    InstanceState,
    RuntimeStatus,
    SubOrchestrationWorkItem,
    TimerWorkItem,
)
from .stats import EngineStats
from .status import OrchestrationStatus
from .store import InMemoryStore, InstanceStore

logger = logging.getLogger("devtools.durable")

Determinism = Literal["strict", "extension"]
StepHook = Callable[[str, str], None]
_ActivityKey = tuple[str, str, int]

#: Longest the real-time loop sleeps before looking again (timers, new work).
_IDLE_WAIT_SECONDS = 0.2


class DurableEngine:
    """A faithful stand-in for the Durable extension's orchestration loop."""

    def __init__(
        self,
        app: Any,
        *,
        store: InstanceStore | None = None,
        clock: Clock | None = None,
        activity_workers: int = 8,
        determinism: Determinism = "strict",
        raise_on_nondeterminism: bool = False,
        on_advance: Callable[[float], None] | None = None,
        crash_at_step: int | None = None,
        step_hook: StepHook | None = None,
        start_policy: StartPolicy = DEFAULT_START_POLICY,
        limits: Limits | None = None,
        queue_polling: QueuePolling | None = None,
        activity_host: ActivityHost | None = None,
    ) -> None:
        """Build an engine over ``app`` and resume every instance found in ``store``.

        ``determinism="strict"`` also fails an instance whose replay changes an activity
        input or a timer's fireAt (the extension only checks kind and name);
        ``"extension"`` just counts those. ``raise_on_nondeterminism`` makes the run
        loop raise NonDeterminismError (after failing the instance) so tests notice.
        ``on_advance(seconds)`` is called whenever virtual time jumps to a timer.
        ``crash_at_step=N`` raises SimulatedCrash at the N-th checkpoint.
        ``start_policy`` is host.json's overridableExistingInstanceStates; ``limits`` the
        payload and custom-status caps (see limits.py; on by default); ``queue_polling``
        models the Azure Storage backend's idle polling in the real-time loop (off: None).
        ``activity_host`` supplies activities' ``durableClient`` bindings and the event loop
        their async code runs on (see functions.ActivityHost).
        """
        if activity_workers < 1:
            raise ValueError("activity_workers must be at least 1")
        self._registry = FunctionRegistry(app)
        self._store: InstanceStore = store if store is not None else InMemoryStore()
        self._clock: Clock = clock if clock is not None else RealClock()
        self._workers = activity_workers
        self._strict = determinism == "strict"
        self._raise_on_nondeterminism = raise_on_nondeterminism
        self._on_advance = on_advance
        self._crash_at_step = crash_at_step
        self._start_policy = start_policy
        self.limits = limits if limits is not None else Limits()
        self._polling = queue_polling
        self._activity_host = activity_host
        #: Called as step_hook(kind, instance_id) at every checkpoint (tests may set it).
        self.step_hook = step_hook
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[_ActivityKey, Future[ActivityOutcome]] = {}
        self._driving = False
        self._crashed = False
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self.stats = EngineStats()
        #: "instance: message" for every non-determinism failure seen by this object.
        self.nondeterminism_errors: list[str] = []
        #: Unexpected errors the real-time loop caught (the instance was failed).
        self.loop_errors: list[BaseException] = []
        self._instances: dict[str, InstanceState] = {}
        for instance_id in self._store.list_ids():
            data = self._store.load(instance_id)
            if data is not None:
                self._instances[instance_id] = InstanceState.from_json(data)

    # -- management API --------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The clock this engine reads (share a ManualClock to keep virtual time in step)."""
        return self._clock

    def start_new(
        self, function_name: str, instance_id: str | None = None, input: Any = None
    ) -> str:
        """Create an instance (Pending) and queue its ExecutionStarted; returns its id.

        Under the NonRunningStates policy, raises InstanceAlreadyExistsError if that id is
        Pending or Running; a Completed, Failed or Terminated instance is replaced (under
        AnyState, any instance is). PayloadTooLarge when the input is over the cap. The input
        is serialised like the Python client does (df_dumps, custom objects via to_json).
        """
        self._ensure_alive()
        handler = self._registry.orchestrator(function_name)
        instance_id = instance_id or uuid.uuid4().hex
        input_json = None if input is None else json.dumps(input, default=_serialize_custom_object)
        self.limits.check_payload("orchestration input", input_json)
        with self._lock:
            existing = self._instances.get(instance_id)
            running = existing is not None and not existing.status.is_terminal
            if running and self._start_policy == "NonRunningStates":
                assert existing is not None
                raise InstanceAlreadyExistsError(
                    f"An Orchestration instance with the status {existing.status.value} "
                    f"already exists: {instance_id}"
                )
            now = self._clock.now()
            stamp = h.format_timestamp(now)
            execution_id = uuid.uuid4().hex
            state = InstanceState(
                instance_id=instance_id,
                name=handler.name,
                status=RuntimeStatus.PENDING,
                input_json=input_json,
                created_time=stamp,
                last_updated_time=stamp,
                execution_id=execution_id,
            )
            state.inbox.append(self._started_event(state, now))
            self._instances[instance_id] = state
            self._save(state)
        return instance_id

    def get_status(
        self, instance_id: str, show_history: bool = False, show_input: bool = True
    ) -> OrchestrationStatus | None:
        """Status of one instance, or None if there is no such instance."""
        with self._lock:
            state = self._instances.get(instance_id)
            if state is None:
                return None
            return OrchestrationStatus.from_state(
                state, show_history=show_history, show_input=show_input
            )

    def list_instances(self) -> list[OrchestrationStatus]:
        """Status of every instance (without history), oldest first."""
        with self._lock:
            states = sorted(self._instances.values(), key=lambda s: s.created_time)
            return [OrchestrationStatus.from_state(s) for s in states]

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Queue a terminate request; the next episode ends the instance as Terminated.

        Raises InstanceNotFoundError, or InstanceNotRunningError when already finished.
        """
        self._ensure_alive()
        with self._lock:
            state = self._require(instance_id)
            if state.status.is_terminal:
                raise InstanceNotRunningError(
                    f"Instance {instance_id} is {state.status.value}; it cannot be terminated"
                )
            state.inbox.append(h.execution_terminated(self._clock.now(), reason))
            self._save(state)

    def purge(self, instance_id: str) -> bool:
        """Delete a finished instance's state; False if it does not exist.

        Raises InstanceNotRunningError for a Pending or Running instance.
        """
        self._ensure_alive()
        with self._lock:
            state = self._instances.get(instance_id)
            if state is None:
                return False
            if not state.status.is_terminal:
                raise InstanceNotRunningError(
                    f"Instance {instance_id} is {state.status.value}; only finished "
                    "instances can be purged"
                )
            del self._instances[instance_id]
            self._store.delete(instance_id)
            self._cond.notify_all()
            return True

    def wait_for_completion(self, instance_id: str, timeout: float) -> OrchestrationStatus:
        """Block until the instance is Completed/Failed/Terminated (needs a running loop).

        Raises TimeoutError after ``timeout`` seconds, InstanceNotFoundError if unknown.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                state = self._require(instance_id)
                if state.status.is_terminal:
                    return OrchestrationStatus.from_state(state)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"instance {instance_id} still {state.status.value} after {timeout}s"
                    )
                self._cond.wait(remaining)

    # -- driving: virtual time ---------------------------------------------------------
    def run_until_idle(self, max_steps: int = 100_000, *, raise_on_budget: bool = True) -> int:
        """Process everything runnable; in virtual time jump to the next timer; repeat.

        Stops when nothing is pending (no inbox, no activity, no timer) and returns the
        number of steps taken. With a real clock it sleeps until the next timer. If the
        step budget runs out while work remains, raises StepBudgetExceeded (or returns,
        with ``raise_on_budget=False``).
        """
        self._enter_driver()
        try:
            start = self.stats.steps
            while True:
                progressed = self._pump(batch_activities=True)
                if self.stats.steps - start >= max_steps and self._has_work():
                    if raise_on_budget:
                        raise StepBudgetExceeded(
                            f"still busy after {self.stats.steps - start} steps"
                        )
                    break
                if progressed:
                    continue
                next_fire = self._next_timer()
                if next_fire is None:
                    break
                self._wait_until(next_fire)
            return self.stats.steps - start
        finally:
            self._leave_driver()

    # -- driving: real time ------------------------------------------------------------
    def run_forever(self, stop_event: threading.Event) -> None:
        """Dispatch work until ``stop_event`` is set (timers wait on the clock)."""
        self._enter_driver()
        try:
            while not stop_event.is_set():
                if self._pump(batch_activities=False):
                    if self._polling is not None:
                        self._polling.found_work()
                    continue
                if self._polling is not None:
                    # Idle queues are polled with a back-off: new messages (starts, results,
                    # due timers) wait for the next poll, however soon they arrived.
                    stop_event.wait(self._polling.next_wait())
                    continue
                with self._cond:
                    if self._any_done() or self._runnable_ids():
                        continue
                    timeout = _IDLE_WAIT_SECONDS
                    next_fire = self._next_timer()
                    if next_fire is not None:
                        until = (next_fire - self._clock.now()).total_seconds()
                        timeout = max(0.0, min(timeout, until))
                    self._cond.wait(timeout)
        finally:
            self._leave_driver()

    def start(self) -> None:
        """Run ``run_forever`` in a background thread."""
        self._ensure_alive()
        if self._thread is not None:
            raise RuntimeError("engine already started")
        self._stop_event.clear()
        self._thread = threading.Thread(
            target=self.run_forever,
            args=(self._stop_event,),
            name="durable-engine",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread (if any) and the activity pool."""
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        """Release the activity threads."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- internals: the loop -----------------------------------------------------------
    def _pump(self, *, batch_activities: bool) -> bool:
        """One pass over timers, finished activities, episodes and new activities."""
        progressed = False
        now = self._clock.now()
        for instance_id, timer in self._due_timers(now):
            self._fire_timer(instance_id, timer)
            progressed = True
        done = self._take_done()
        touched = {
            instance_id: self._commit_activity(instance_id, item, outcome, save=False)
            for instance_id, item, outcome in done
        }
        # Results that finished together are made durable together, one write per instance
        # (a history is written whole, so a write per result would cost the stand-in what a
        # backend's message batch does not).
        with self._lock:
            for state in touched.values():
                if state is not None:
                    self._save(state)
        progressed = progressed or bool(done)
        for instance_id in self._runnable_ids():
            self._episode_guarded(instance_id, reraise=batch_activities)
            progressed = True
        submitted = self._dispatch_activities()
        if submitted and batch_activities:
            # Virtual time: wait for the whole batch and commit in scheduling order, so
            # runs (and crash step numbers) are reproducible.
            wait([future for _, _, future in submitted])
            for instance_id, item, future in submitted:
                self._commit_activity(instance_id, item, future.result())
        return progressed or bool(submitted)

    def _episode_guarded(self, instance_id: str, *, reraise: bool) -> None:
        try:
            self._run_episode(instance_id)
        except SimulatedCrash:
            raise
        except NonDeterminismError as exc:
            if reraise:
                raise
            # Real-time loop: the instance is already Failed; keep serving the others.
            self.loop_errors.append(exc)
        except Exception as exc:
            if reraise:
                raise
            # Real-time loop: keep serving other instances, fail this one loudly.
            logger.exception("engine error in instance %s", instance_id)
            self.loop_errors.append(exc)
            self._fail_instance(instance_id, f"devtools.durable engine error: {exc}")

    def _run_episode(self, instance_id: str) -> None:
        with self._lock:
            state = self._instances[instance_id]
            new_events = list(state.inbox)
        handler = self._registry.orchestrator(state.name)
        now = self._clock.now()
        # Only this dispatcher changes history, so the orchestrator runs without the lock.
        result = run_episode(
            handler, state, new_events, now, strict=self._strict, limits=self.limits
        )
        with self._lock:
            self.stats.record_episode(result.events_replayed, result.cpu_seconds)
            self.stats.strict_mismatches += len(result.strict_mismatches)
        self._checkpoint("episode_executed", instance_id)
        with self._lock:
            self._commit_episode(state, len(new_events), result, now)
            self._save(state)
        self._checkpoint("episode_committed", instance_id)
        if result.nondeterminism is not None:
            for line in result.strict_mismatches:
                logger.warning("%s: %s", instance_id, line)
            if self._raise_on_nondeterminism:
                raise NonDeterminismError(f"{instance_id}: {result.nondeterminism}")

    def _commit_episode(
        self, state: InstanceState, consumed: int, result: EpisodeResult, now: datetime
    ) -> None:
        del state.inbox[:consumed]
        state.history.extend(result.events)
        state.activities.extend(result.activities)
        state.timers.extend(result.timers)
        for child in result.sub_orchestrations:
            self._start_child(state, child, now)
        state.last_updated_time = h.format_timestamp(now)
        if result.custom_status_changed:
            state.custom_status = result.custom_status
        if result.nondeterminism is not None:
            self.stats.nondeterminism_detected += 1
            self.nondeterminism_errors.append(f"{state.instance_id}: {result.nondeterminism}")
        self.stats.peak_history_length = max(self.stats.peak_history_length, len(state.history))
        if result.outcome is Outcome.RUNNING:
            state.status = RuntimeStatus.RUNNING
        elif result.outcome is Outcome.CONTINUED_AS_NEW:
            self._continue_as_new(state, result.continue_input, now)
        else:
            state.status = RuntimeStatus(result.outcome.value)
            state.output = result.output
            state.completed_time = h.format_timestamp(now)
            # A finished execution drops its pending work; late messages are discarded.
            state.inbox.clear()
            state.activities.clear()
            state.timers.clear()
            self._tell_parent(state, now)

    def _start_child(
        self, parent: InstanceState, child: SubOrchestrationWorkItem, now: datetime
    ) -> None:
        """Create a sub-orchestration (caller holds the lock). A running one of the same id
        fails the parent's task instead, so that a test notices; the real backends document
        no such answer (creation over a running instance "may fail silently"), and the app
        never relies on one: it starts a job's run through the client (start-or-find)."""
        existing = self._instances.get(child.instance_id)
        if existing is not None and not existing.status.is_terminal:
            parent.inbox.append(
                h.sub_orchestration_failed(
                    now,
                    child.task_id,
                    f"An orchestration with instance ID '{child.instance_id}' already exists",
                    None,
                )
            )
            return
        handler = self._registry.orchestrator(child.name)
        stamp = h.format_timestamp(now)
        state = InstanceState(
            instance_id=child.instance_id,
            name=handler.name,
            status=RuntimeStatus.PENDING,
            input_json=child.input,
            created_time=stamp,
            last_updated_time=stamp,
            execution_id=uuid.uuid4().hex,
            parent={
                "instanceId": parent.instance_id,
                "executionId": parent.execution_id,
                "taskId": child.task_id,
                "name": parent.name,
            },
        )
        state.inbox.append(self._started_event(state, now))
        self._instances[child.instance_id] = state
        self._save(state)

    def _tell_parent(self, child: InstanceState, now: datetime) -> None:
        """Deliver a finished sub-orchestration's result to its parent (caller holds the lock)."""
        link = child.parent
        parent = self._instances.get(link["instanceId"]) if link else None
        if link is None or parent is None or parent.status.is_terminal:
            return
        if parent.execution_id != link["executionId"]:
            self.stats.stale_messages_dropped += 1
            return
        if child.status is RuntimeStatus.COMPLETED:
            event = h.sub_orchestration_completed(now, link["taskId"], json.dumps(child.output))
        else:
            event = h.sub_orchestration_failed(
                now,
                link["taskId"],
                f"Sub-orchestration '{child.name}' ({child.instance_id}) "
                f"{child.status.value.lower()}: {child.output}",
                None,
            )
        parent.inbox.append(event)
        self._save(parent)

    def _continue_as_new(self, state: InstanceState, new_input: str | None, now: datetime) -> None:
        self.stats.continued_as_new += 1
        state.generation += 1
        state.execution_id = uuid.uuid4().hex
        state.input_json = new_input
        state.history = []
        state.activities.clear()
        state.timers.clear()
        state.status = RuntimeStatus.RUNNING
        # Only a terminate request survives into the new execution.
        carried = [e for e in state.inbox if h.event_type_of(e) == EventType.EXECUTION_TERMINATED]
        state.inbox = [self._started_event(state, now), *carried]

    @staticmethod
    def _started_event(state: InstanceState, now: datetime) -> h.Event:
        # The extension stores the client's JSON text JSON-encoded again (the Python
        # client posts json.dumps(input) with aiohttp's json=).
        raw = None if state.input_json is None else json.dumps(state.input_json)
        parent = (
            {
                "Name": state.parent["name"],
                "OrchestrationInstance": {
                    "InstanceId": state.parent["instanceId"],
                    "ExecutionId": state.parent["executionId"],
                },
                "TaskScheduleId": state.parent["taskId"],
            }
            if state.parent
            else None
        )
        return h.execution_started(
            now, state.instance_id, state.execution_id, state.name, raw, parent
        )

    def _fail_instance(self, instance_id: str, message: str) -> None:
        with self._lock:
            state = self._instances.get(instance_id)
            if state is None or state.status.is_terminal:
                return
            now = self._clock.now()
            state.history.extend(
                [
                    h.orchestrator_started(now),
                    h.execution_completed(now, -1, h.OrchestrationStatusCode.FAILED, message),
                    h.orchestrator_completed(now),
                ]
            )
            state.status = RuntimeStatus.FAILED
            state.output = message
            state.completed_time = state.last_updated_time = h.format_timestamp(now)
            state.inbox.clear()
            state.activities.clear()
            state.timers.clear()
            self._tell_parent(state, now)
            self._save(state)

    # -- internals: activities ------------------------------------------------------------
    def _dispatch_activities(self) -> list[tuple[str, ActivityWorkItem, Future[ActivityOutcome]]]:
        submitted: list[tuple[str, ActivityWorkItem, Future[ActivityOutcome]]] = []
        with self._lock:
            for instance_id in sorted(self._instances):
                state = self._instances[instance_id]
                for item in state.activities:
                    key = (instance_id, item.execution_id, item.task_id)
                    if key in self._in_flight:
                        continue
                    future = self._executor().submit(self._execute_activity, item)
                    self._in_flight[key] = future
                    future.add_done_callback(self._wake)
                    submitted.append((instance_id, item, future))
        return submitted

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="durable-activity"
            )
        return self._pool

    def _execute_activity(self, item: ActivityWorkItem) -> ActivityOutcome:
        function = self._registry.activity(item.name)
        outcome = (
            missing_activity_outcome(item.name)
            if function is None
            else invoke_activity(function, item.input, self._activity_host)
        )
        if outcome.succeeded:
            try:
                self.limits.check_payload(f"result of activity '{item.name}'", outcome.result)
            except PayloadTooLarge as exc:
                outcome = failure_outcome(item.name, exc)
        with self._lock:
            self.stats.activities_executed += 1
            if not outcome.succeeded:
                self.stats.activity_failures += 1
        return outcome

    def _take_done(self) -> list[tuple[str, ActivityWorkItem, ActivityOutcome]]:
        """Activities that finished in the background (real-time mode), oldest first."""
        finished: list[tuple[str, ActivityWorkItem, ActivityOutcome]] = []
        with self._lock:
            for key, future in list(self._in_flight.items()):
                if not future.done() or future.cancelled():
                    continue
                state = self._instances.get(key[0])
                pending = state.activities if state is not None else []
                item = next((a for a in pending if (a.execution_id, a.task_id) == key[1:]), None)
                if item is None:
                    del self._in_flight[key]  # instance purged or execution ended
                    continue
                finished.append((key[0], item, future.result()))
        return finished

    def _any_done(self) -> bool:
        return any(f.done() and not f.cancelled() for f in self._in_flight.values())

    def _wake(self, _future: Future[ActivityOutcome]) -> None:
        with self._cond:
            self._cond.notify_all()

    def _commit_activity(
        self,
        instance_id: str,
        item: ActivityWorkItem,
        outcome: ActivityOutcome,
        *,
        save: bool = True,
    ) -> InstanceState | None:
        """Turn an activity's outcome into an inbox event; returns the state to save when
        ``save`` is false (the caller then writes it)."""
        self._checkpoint("activity_executed", instance_id)
        with self._lock:
            self._in_flight.pop((instance_id, item.execution_id, item.task_id), None)
            state = self._instances.get(instance_id)
            if state is None:
                return None  # purged meanwhile
            if item in state.activities:
                state.activities.remove(item)
            now = self._clock.now()
            if state.execution_id == item.execution_id and not state.status.is_terminal:
                if outcome.succeeded:
                    event = h.task_completed(now, item.task_id, outcome.result)
                else:
                    event = h.task_failed(now, item.task_id, outcome.reason, outcome.details)
                state.inbox.append(event)
            else:
                self.stats.stale_messages_dropped += 1
            if save:
                self._save(state)
        self._checkpoint("activity_committed", instance_id)
        return state

    # -- internals: timers ----------------------------------------------------------------
    def _due_timers(self, now: datetime) -> list[tuple[str, TimerWorkItem]]:
        with self._lock:
            due = [
                (h.parse_timestamp(timer.fire_at), instance_id, timer)
                for instance_id, state in self._instances.items()
                for timer in state.timers
                if h.parse_timestamp(timer.fire_at) <= now
            ]
        due.sort(key=lambda entry: (entry[0], entry[1], entry[2].timer_id))
        return [(instance_id, timer) for _, instance_id, timer in due]

    def _next_timer(self) -> datetime | None:
        with self._lock:
            moments = [
                h.parse_timestamp(timer.fire_at)
                for state in self._instances.values()
                for timer in state.timers
            ]
        return min(moments) if moments else None

    def _fire_timer(self, instance_id: str, timer: TimerWorkItem) -> None:
        with self._lock:
            state = self._instances.get(instance_id)
            if state is None or timer not in state.timers:
                return
            state.timers.remove(timer)
            if state.execution_id == timer.execution_id and not state.status.is_terminal:
                state.inbox.append(
                    h.timer_fired(
                        self._clock.now(), timer.timer_id, h.parse_timestamp(timer.fire_at)
                    )
                )
                self.stats.timers_fired += 1
            else:
                self.stats.stale_messages_dropped += 1
            self._save(state)
        self._checkpoint("timer_fired", instance_id)

    def _wait_until(self, moment: datetime) -> None:
        """Virtual time jumps to ``moment``; real time sleeps until it."""
        delta = (moment - self._clock.now()).total_seconds()
        if delta <= 0:
            return
        if isinstance(self._clock, ManualClock):
            self._clock.advance_to(moment)
            if self._on_advance is not None:
                self._on_advance(delta)
        elif self._clock.is_virtual:
            raise RuntimeError("a virtual clock must be a ManualClock to be advanced")
        else:
            time.sleep(delta)

    # -- internals: bookkeeping -------------------------------------------------------------
    def _runnable_ids(self) -> list[str]:
        with self._lock:
            return sorted(
                instance_id
                for instance_id, state in self._instances.items()
                if state.inbox and not state.status.is_terminal
            )

    def _has_work(self) -> bool:
        with self._lock:
            return any(
                state.inbox or state.activities or state.timers
                for state in self._instances.values()
                if not state.status.is_terminal
            )

    def _require(self, instance_id: str) -> InstanceState:
        state = self._instances.get(instance_id)
        if state is None:
            raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
        return state

    def _save(self, state: InstanceState) -> None:
        self._store.save(state.instance_id, state.to_json())
        self._cond.notify_all()

    def _checkpoint(self, kind: str, instance_id: str) -> None:
        with self._lock:
            self.stats.steps += 1
            step = self.stats.steps
        if self.step_hook is not None:
            self.step_hook(kind, instance_id)
        if self._crash_at_step is not None and step == self._crash_at_step:
            self._crashed = True
            self.close()
            raise SimulatedCrash(f"simulated crash at step {step} ({kind}, {instance_id})")

    def _ensure_alive(self) -> None:
        if self._crashed:
            raise EngineCrashedError("this engine crashed; build a new one from the store")

    def _enter_driver(self) -> None:
        self._ensure_alive()
        with self._lock:
            if self._driving:
                raise RuntimeError("another run loop is already driving this engine")
            self._driving = True

    def _leave_driver(self) -> None:
        with self._lock:
            self._driving = False
