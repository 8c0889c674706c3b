"""Naive confirm loops (getJob, cancelJob, poll) in virtual time: with the app's client, and
the official SDK's own.

The naive loops use ``dataplane.client.QuantumJobsClient`` over real HTTP to the simulator;
the SDK's is the real ``azure-quantum`` over https. Waiting is
``simulator.clock.advance`` (the simulator's manual clock), never a sleep, and every request
also advances the clock by the modelled round-trip time, so a zero-delay loop costs what it
would cost against Azure rather than what loopback costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.auth import StaticToken
from dataplane.client import QuantumJobsClient
from dataplane.endpoint import checked_endpoint
from dataplane.resources import JobRef
from dataplane.versions import DEFAULT_API_VERSION
from devtools import official_sdk
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)

from .environment import BENCH_TOKEN
from .schedules import LoopSchedule, is_final


@dataclass(frozen=True)
class LoopRun:
    """How a loop ended: its last status, and whether a cap stopped it first."""

    final_status: str
    polls: int
    capped: bool


def run_loop(
    simulator: SimulatorServer,
    job_id: str,
    schedule: LoopSchedule,
    *,
    rtt_seconds: float,
    timeout_seconds: float,
    max_requests: int,
) -> LoopRun:
    """getJob, cancelJob if not final, then poll on ``schedule`` until it says done.

    Bounded twice: ``timeout_seconds`` of virtual time after the cancel, and
    ``max_requests`` requests in all (the zero-delay loop would otherwise be unbounded).
    """
    client = QuantumJobsClient(
        checked_endpoint(simulator.url, allow_loopback=True),
        DEFAULT_API_VERSION,
        StaticToken(BENCH_TOKEN),
    )
    job = JobRef.checked(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE, job_id)
    clock = simulator.clock

    def get_status() -> str:
        status = str(client.get_job(job)["status"])
        clock.advance(rtt_seconds)
        return status

    status = get_status()
    requests = 1
    if is_final(status):
        return LoopRun(status, 0, capped=False)
    client.cancel_job(job)
    clock.advance(rtt_seconds)
    requests += 1
    cancelled_at = clock.now()
    for polls, wait in enumerate(schedule.waits(), start=1):
        if requests >= max_requests or clock.now() - cancelled_at >= timeout_seconds:
            return LoopRun(status, polls - 1, capped=True)
        if wait > 0:
            clock.advance(wait)
        status = get_status()
        requests += 1
        if schedule.done(status):
            return LoopRun(status, polls, capped=False)
    raise AssertionError("a schedule's waits never end")


def run_sdk(
    simulator: SimulatorServer, job_id: str, *, rtt_seconds: float, timeout_seconds: float
) -> LoopRun:
    """The real ``azure-quantum`` SDK as a user script would use it: ``get_job``, then
    ``cancel_job`` and ``wait_until_completed`` when the job is not final.

    The simulator must serve https (devtools.official_sdk); the SDK's sleeps advance its manual
    clock, and each of its requests is charged ``rtt_seconds`` as in the other loops.
    """
    workspace = official_sdk.workspace(simulator, BENCH_TOKEN)
    clock = simulator.clock
    job = workspace.get_job(job_id)
    clock.advance(rtt_seconds)
    if is_final(job.details.status):
        return LoopRun(job.details.status, 0, capped=False)
    workspace.cancel_job(job)
    clock.advance(rtt_seconds)
    before = len(simulator.requests())
    clock.advance(rtt_seconds)  # the refresh that wait_until_completed starts with
    with official_sdk.virtual_waits(simulator, rtt_seconds):
        try:
            job.wait_until_completed(timeout_secs=timeout_seconds, print_progress=False)
        except TimeoutError:
            return LoopRun(job.details.status, len(simulator.requests()) - before, capped=True)
    return LoopRun(job.details.status, len(simulator.requests()) - before, capped=False)
