"""Fault matrix: every operation x every fault x first attempt / burst / until attempts run out.

The real orchestration runs through devtools.durable in virtual time against the simulator
(tests/support/orchestration.py). Faults are the simulator's own rules, armed at the right
moment by an engine step hook (a Jobs_Get fault "while polling" is armed once the cancel was
accepted); "connection refused" is a dedicated simulator whose port is really closed for the
faulted attempts. Each scenario checks:

* the outcome: ``cancelled`` when the faults end before the attempts do, else a Failed run
  whose error names the operation and "6 attempts";
* the documented bound (README "What happens to a cancellation"): at most 6 attempts per
  service call, so a burst of k faults costs exactly k + 1 requests of that operation;
* spacing: a retry never comes sooner than the backoff (2, 4, 8, 16, 32 s) or the service's
  Retry-After, measured on the simulator clock of the request log;
* nothing else is touched: no Jobs_Delete, no request for a bystander job, no cancel of a job
  that the run did not ask for, no cancel after a failed getJob.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from requests.adapters import HTTPAdapter

from dataplane import client as client_module
from dataplane.client import close_sessions
from devtools.simulator import Options, SimulatorServer
from tests.conftest import SIM_TOKEN
from tests.support.evidence import Evidence
from tests.support.orchestration import Harness, Run
from tests.support.reliability import SCALE, SuiteRecords

JOB = "0a1b2c3d-0000-4000-8000-00000000fa17"
BYSTANDER = "0a1b2c3d-0000-4000-8000-00000000b57d"
OPTIONS = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 1800}
# The documented bound: 6 attempts per call, backoff 2, 4, 8, 16, 32 s between them.
MAX_ATTEMPTS = 6
BACKOFF = (2.0, 4.0, 8.0, 16.0, 32.0)
# Generous enough that a normal answer on a busy 2-core CI machine never times out.
READ_TIMEOUT = 0.3
DELAY = 0.6  # longer than READ_TIMEOUT: the app gives up before the answer comes

Target = Literal["getJob", "cancelJob", "confirmCancelled"]
TARGETS: tuple[Target, ...] = ("getJob", "cancelJob", "confirmCancelled")
PATTERNS = {"first": 1, "burst": 3, "exhausted": MAX_ATTEMPTS}


@dataclass(frozen=True)
class Fault:
    """One kind of failure and how the simulator produces it."""

    name: str
    rule: dict[str, Any] = field(default_factory=dict)
    # The smallest wait the service asked for. An HTTP-date has whole seconds: the simulator
    # truncates now + 30 s to the second, and the client reads it a moment later on the wall
    # clock, so the wait it computes can fall just short of 29 s (28.999 s was seen).
    asked_seconds: float = 0.0
    kind: Literal["rule", "timeout", "refused"] = "rule"
    # A status the app does not know is not a failure: polling goes on.
    transient: bool = True
    # Body effects need a body: on Jobs_Cancel they fault the 200 JobDetails answer of a cancel
    # that happened (the live service sends 204; the spec allows 200 with a body).
    body_effect: bool = False
    # A cancel answered 200 is accepted; its body's status is only informational.
    accepted_on_cancel: bool = False


FAULTS = (
    Fault("429-retry-after-seconds", {"httpStatus": 429, "retryAfter": 7}, 7.0),
    Fault(
        "429-retry-after-http-date",
        {"httpStatus": 429, "retryAfter": 30, "retryAfterFormat": "http-date"},
        28.0,
    ),
    Fault("500", {"httpStatus": 500}),
    Fault("502", {"httpStatus": 502}),
    Fault("503-retry-after", {"httpStatus": 503, "retryAfter": 11}, 11.0),
    Fault("504", {"httpStatus": 504}),
    Fault("read-timeout", {"effect": "delay", "delaySeconds": DELAY}, kind="timeout"),
    Fault("connection-refused", kind="refused"),
    Fault("reset-mid-response", {"effect": "reset"}),
    Fault("answer-lost-after-the-operation", {"effect": "drop", "after": True}),
    Fault("malformed-json", {"effect": "malformedJson"}, body_effect=True),
    Fault("missing-status", {"effect": "missingStatus"}, body_effect=True, accepted_on_cancel=True),
    Fault(
        "unknown-status",
        {"effect": "statusOverride", "jobStatus": "Paused"},
        transient=False,
        body_effect=True,
        accepted_on_cancel=True,
    ),
)
OPERATION = {"getJob": "Jobs_Get", "cancelJob": "Jobs_Cancel", "confirmCancelled": "Jobs_Get"}


class Gate:
    """A dedicated simulator whose port is closed (really refusing) until the transport has
    been refused ``count`` times.

    The refusals are those the socket layer saw: every connect to the gate's port that raised
    ConnectionRefusedError while the gate was installed, timed on the simulator's clock."""

    def __init__(self, server: SimulatorServer, count: int) -> None:
        """Wrap a started ``server``; the gate starts open."""
        self.server = server
        self.port = server.port
        self.count = count
        self.closed = False
        self.refused_at: list[float] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self) -> Iterator[Gate]:
        """Record the connects to the gate's port that were refused, while active."""
        real_connect = socket.socket.connect
        gate = self

        def connect(sock: socket.socket, address: Any) -> Any:
            try:
                return real_connect(sock, address)
            except ConnectionRefusedError:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and address[1] == gate.port:
                    with gate._lock:
                        gate.refused_at.append(gate.server.clock.now())
                raise

        socket.socket.connect = connect  # type: ignore[method-assign]
        try:
            yield self
        finally:
            socket.socket.connect = real_connect  # type: ignore[method-assign]

    def close(self) -> None:
        """Stop listening and drop the app's pooled connections, so new ones are refused."""
        self.server.stop()
        close_sessions()
        self.closed = True

    def reopen_when_refused_enough(self) -> None:
        """Listen again on the same port once the transport was refused ``count`` times."""
        if self.closed and len(self.refused_at) >= self.count:
            self.server._requested_port = self.port  # same port: the endpoint is fixed
            self.server.start()
            self.closed = False


def _accepted_cancel(entries: list[dict[str, Any]]) -> bool:
    return any(e["operation"] == "Jobs_Cancel" and e["status"] in (200, 202, 204) for e in entries)


def _answered_get(entries: list[dict[str, Any]]) -> bool:
    return any(e["operation"] == "Jobs_Get" and e["status"] == 200 for e in entries)


def _arming_condition(target: Target) -> Callable[[list[dict[str, Any]]], bool]:
    if target == "getJob":
        return lambda entries: True
    if target == "cancelJob":
        return _answered_get
    return _accepted_cancel


@dataclass
class Scenario:
    """One cell of the matrix, run and checked."""

    target: Target
    fault: Fault
    count: int

    @property
    def operation(self) -> str:
        """The data-plane operation the faults hit."""
        return OPERATION[self.target]

    @property
    def retried(self) -> bool:
        """Whether the app must treat the fault as a failed attempt and retry."""
        if self.target == "cancelJob" and self.fault.accepted_on_cancel:
            return False
        return self.fault.transient

    @property
    def fails(self) -> bool:
        """Whether the run must end Failed: the faults outlast the attempts."""
        return self.retried and self.count >= MAX_ATTEMPTS

    def rule(self) -> dict[str, Any]:
        """The simulator rule of this scenario."""
        rule = {"operation": self.operation, "count": self.count, "jobId": JOB, **self.fault.rule}
        if self.fault.body_effect and self.target == "cancelJob":
            rule["after"] = True
        return rule


def run_scenario(
    harness: Harness, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> tuple[Run, list[float]]:
    """Run one scenario; returns the run and the simulator-clock times of refused attempts."""
    monkeypatch.setenv("QUANTUM_HTTP_READ_TIMEOUT_SECONDS", str(READ_TIMEOUT))
    monkeypatch.setenv("QUANTUM_HTTP_CONNECT_TIMEOUT_SECONDS", "2")
    sim = harness.simulator
    sim.seed_job(JOB)
    sim.seed_job(BYSTANDER)
    if scenario.fault.body_effect and scenario.target == "cancelJob":
        sim.set_options(cancelResponse=200)
    gate = Gate(sim, scenario.count) if scenario.fault.kind == "refused" else None
    armed = _arming_condition(scenario.target)
    state = {"armed": False, "applied": 0}

    def hook(kind: str, instance_id: str) -> None:
        if kind == "activity_executed":
            if gate is not None:
                gate.reopen_when_refused_enough()
            elif scenario.fault.kind == "timeout":
                applied = sum(rule["applied"] for rule in sim.fault_rules())
                if applied > state["applied"]:
                    # Let the late answer reach the request log before virtual time moves on.
                    state["applied"] = applied
                    time.sleep(DELAY - READ_TIMEOUT + 0.1)
        if not state["armed"] and armed(sim.requests()):
            state["armed"] = True
            if gate is not None:
                gate.close()
            else:
                sim.add_fault(scenario.rule())

    engine = harness.engine()
    engine.step_hook = hook
    request = harness.request(JOB, options=OPTIONS)
    hook("start", "")
    with gate.watching() if gate is not None else contextlib.nullcontext():
        try:
            run = harness.run(request, engine)
        finally:
            if gate is not None and gate.closed:
                sim._requested_port = gate.port
                sim.start()
    return run, (list(gate.refused_at) if gate else [])


def check_scenario(
    run: Run, scenario: Scenario, refused_at: list[float], records: SuiteRecords
) -> None:
    """Keep the scenario's records, then assert everything the matrix promises."""
    sim = run.simulator
    entries = sim.requests()
    status = run.status
    records.add("run", runtimeStatus=status.runtime_status.value)
    records.add("requests", entries=entries, jobs=[JOB])
    records.add("faults", rules=sim.fault_rules())
    records.add("refused", attempts=refused_at)
    mine = [e for e in entries if e["jobId"] == JOB]
    assert records.figures()["disallowed_requests"] == 0, entries
    assert sim.job_state(BYSTANDER)["counters"]["cancelRequests"] == 0
    assert not sim.job_state(JOB)["deleted"]

    if scenario.fails:
        assert status.runtime_status.value == "Failed", (status.runtime_status, status.output)
        error = str(status.output)
        assert f"{scenario.operation} failed" in error and f"{MAX_ATTEMPTS} attempts" in error
        if scenario.target == "getJob":
            assert [e for e in mine if e["operation"] == "Jobs_Cancel"] == []
    else:
        outputs = run.outputs
        assert outputs["outcome"] == "cancelled", outputs
        assert outputs["finalStatus"] == "Cancelled"
        assert outputs["cancelRequested"] is True
        # Every activity call made exactly one request: logged, or refused at the port.
        assert outputs["activityCalls"] == len(mine) + len(refused_at)

    # The documented bound: one call never takes more than 6 attempts.
    cancels = [e for e in mine if e["operation"] == "Jobs_Cancel"]
    assert len(cancels) <= MAX_ATTEMPTS
    faulted = [e for e in mine if e["fault"] is not None]
    expected_faults = scenario.count if not scenario.fails else MAX_ATTEMPTS
    if scenario.fault.kind == "refused":
        assert len(refused_at) == expected_faults
    elif scenario.retried:
        assert len(faulted) == expected_faults, faulted
        assert all(e["operation"] == scenario.operation for e in faulted)

    # Spacing: attempt n+1 never sooner than the backoff after attempt n, nor the Retry-After.
    if scenario.retried:
        if scenario.fault.kind == "refused":
            later = [
                e["clock"]
                for e in mine
                if e["operation"] == scenario.operation and e["clock"] >= refused_at[-1]
            ]
            times = refused_at + later[:1]
        else:
            first = mine.index(faulted[0])
            same = [e for e in mine[first:] if e["operation"] == scenario.operation]
            times = [e["clock"] for e in same[: expected_faults + 1]]
        for attempt, (earlier, later_time) in enumerate(itertools.pairwise(times)):
            wanted = max(BACKOFF[attempt], scenario.fault.asked_seconds)
            assert later_time - earlier >= wanted - 1e-6, (attempt, times)


# The bounded run (make test) covers the edges: the first attempt and running out of attempts.
CASES = [
    pytest.param(target, fault, pattern, id=f"{target}-{fault.name}-{pattern}")
    for target in TARGETS
    for fault in FAULTS
    for pattern in PATTERNS
    if SCALE == "full" or pattern != "burst"
]


@pytest.fixture
def matrix_harness(harness: Harness) -> Harness:
    """The usual harness; each scenario gets a fresh simulator state."""
    return harness


@pytest.mark.parametrize(("target", "fault", "pattern"), CASES)
def test_fault_matrix(
    matrix_harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    records: SuiteRecords,
    target: Target,
    fault: Fault,
    pattern: str,
) -> None:
    scenario = Scenario(target, fault, PATTERNS[pattern])
    if fault.kind == "refused":
        # A port of its own, so closing it cannot disturb the session's simulator.
        with SimulatorServer(0, options=Options(token=SIM_TOKEN), manual_clock=True) as own:
            harness = Harness(own, matrix_harness.token)
            run, refused_at = run_scenario(harness, scenario, monkeypatch)
            check_scenario(run, scenario, refused_at, records)
    else:
        run, refused_at = run_scenario(matrix_harness, scenario, monkeypatch)
        check_scenario(run, scenario, refused_at, records)


def keep_run(run: Run, records: SuiteRecords) -> None:
    """Keep the records of a single-scenario test (run, requests, faults)."""
    records.add("run", runtimeStatus=run.status.runtime_status.value)
    records.add("requests", entries=run.calls(), jobs=[JOB])
    records.add("faults", rules=run.simulator.fault_rules())


def test_retry_after_beyond_fifteen_minutes_fails_instead_of_idling(
    harness: Harness, records: SuiteRecords
) -> None:
    harness.simulator.seed_job(JOB)
    harness.simulator.add_fault(
        {"operation": "Jobs_Cancel", "count": 1, "httpStatus": 503, "retryAfter": 1200}
    )
    run = harness.run(harness.request(JOB, options=OPTIONS))
    keep_run(run, records)
    assert run.status.runtime_status.value == "Failed"
    assert "asked to wait 1200 s, too long" in str(run.status.output)
    assert len(run.calls("Jobs_Cancel")) == 1


def test_broken_body_of_an_unapplied_cancel_is_retried(
    harness: Harness, records: SuiteRecords
) -> None:
    # The answer is a 200 whose JSON is cut off and the cancel did not happen: trusting it
    # would leave the job running. The app retries, as for any broken 2xx.
    harness.simulator.seed_job(JOB)
    harness.simulator.add_fault({"operation": "Jobs_Cancel", "count": 1, "effect": "malformedJson"})
    run = harness.run(harness.request(JOB, options=OPTIONS))
    keep_run(run, records)
    assert run.outputs["outcome"] == "cancelled"
    assert [c["status"] for c in run.calls("Jobs_Cancel")] == [200, 204]


def test_refusals_are_counted_where_the_transport_saw_them(
    matrix_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planted: a client that retries a refused connect twice inside one attempt. The figure
    # comes from the socket layer, so it moves (3 refusals for 1 attempt), and the scenario's
    # check refuses what the transport saw. Records kept out of the session's table.
    class RetryingAdapter(HTTPAdapter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "max_retries": 2})

    monkeypatch.setattr(client_module, "HTTPAdapter", RetryingAdapter)
    refused = next(f for f in FAULTS if f.kind == "refused")
    scenario = Scenario("getJob", refused, 1)
    with SimulatorServer(0, options=Options(token=SIM_TOKEN), manual_clock=True) as own:
        run, refused_at = run_scenario(Harness(own, matrix_harness.token), scenario, monkeypatch)
        planted = SuiteRecords("faults", Evidence())
        with pytest.raises(AssertionError):
            check_scenario(run, scenario, refused_at, planted)
    assert len(refused_at) == 3, refused_at
    assert planted.figures()["faults_injected"] == 3
