"""What every benchmark part needs: a quiet log, loopback endpoints allowed, a simulator."""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import workflow.schedule
from devtools import official_sdk
from devtools.durable import DurableEngine
from devtools.simulator import Options, SimulatorServer
from devtools.virtual_run import Harness, Run

#: Any non-empty token is accepted by a simulator started without ``--token``.
BENCH_TOKEN = "bench-token"


def prepare_process() -> None:
    """Silence per-request log lines and let the app's client talk to 127.0.0.1.

    The app logs every Jobs_Get at INFO; tens of thousands of lines would cost more time
    than the thing being measured. QUANTUM_ALLOW_LOOPBACK is set in this process only, as
    the tests do, because the simulator is plain HTTP on loopback.
    """
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    os.environ["QUANTUM_ALLOW_LOOPBACK"] = "true"
    # The benchmark's cancellations carry a caller's token, which the app seals with this key.
    os.environ.setdefault("CALLER_TOKEN_KEY", base64.b64encode(os.urandom(32)).decode())


def start_simulator(*, manual_clock: bool) -> SimulatorServer:
    """An in-process simulator on a free 127.0.0.1 port (stop it with ``.stop()``)."""
    return SimulatorServer(0, options=Options(), manual_clock=manual_clock).start()


@contextmanager
def https_simulator(*, manual_clock: bool) -> Iterator[SimulatorServer]:
    """A simulator serving https with a certificate trusted while the block runs, so that the
    official SDK (which sends a token over https only) can talk to it as the app does."""
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as work:
        simulator, cert = official_sdk.tls_simulator(
            Path(work), Options(), manual_clock=manual_clock
        )
        try:
            with official_sdk.trusting(cert):
                yield simulator
        finally:
            simulator.stop()


@contextmanager
def schedule_setting(name: str, value: float) -> Iterator[None]:
    """Run with another value of a workflow.schedule constant (the orchestrator reads them
    from that module on every use), restoring it afterwards."""
    saved = getattr(workflow.schedule, name)
    setattr(workflow.schedule, name, value)
    try:
        yield
    finally:
        setattr(workflow.schedule, name, saved)


def run_app(
    simulator: SimulatorServer,
    job_id: str,
    options: dict[str, float],
    *,
    rtt_seconds: float = 0.0,
    budget_seconds: float | None = None,
    on_slice: Callable[[DurableEngine], None] | None = None,
) -> Run:
    """Cancel ``job_id`` through the real orchestration in virtual time, on an engine of its
    own (so its stats are this run's alone); see devtools.virtual_run."""
    harness = Harness(simulator, BENCH_TOKEN, rtt_seconds=rtt_seconds)
    run = harness.run(
        harness.request(job_id, options=options), budget_seconds=budget_seconds, on_slice=on_slice
    )
    run.engine.close()
    return run
