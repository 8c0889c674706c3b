"""Part 2: how the orchestration's own cost grows with the number of polls.

A job stuck in Cancelling, polled every second until a deadline of N seconds, makes exactly
N confirming polls. The run is the real orchestration in virtual time; the engine's stats
give the replay CPU time (thread time inside the orchestrator) and the longest history of
one execution. Continue-as-new is turned off by raising POLLS_PER_GENERATION beyond reach.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import workflow.schedule
from devtools.simulator import SimulatorServer

from .environment import run_app, schedule_setting

POLL_COUNTS: tuple[int, ...] = (10, 100, 1_000, 10_000)
QUICK_POLL_COUNTS: tuple[int, ...] = (10, 100, 1_000)
#: Wall-time budget of one run. With continue-as-new 10,000 polls take about two minutes
#: here; without it a run is quadratic, so its budget is what stops it.
BUDGET_SECONDS = 300.0
NO_CAN_BUDGET_SECONDS = 60.0
QUICK_BUDGET_SECONDS = 60.0
QUICK_NO_CAN_BUDGET_SECONDS = 15.0
#: Far more polls than any run makes: one execution for the whole run.
NEVER = 10**9


@dataclass(frozen=True)
class CostRow:
    """One run: what it cost, or why it was skipped or stopped."""

    polls_asked: int
    continue_as_new: bool
    polls_done: int
    replay_cpu_seconds: float
    peak_history_length: int
    episodes: int
    generations: int
    wall_seconds: float
    status: str
    """``measured``, ``stopped`` (budget ran out mid-run) or ``skipped``."""
    reason: str = ""

    @property
    def per_poll_ms(self) -> float | None:
        """Replay CPU per poll made, in milliseconds (a stopped run: of the polls it made)."""
        if self.status == "skipped" or not self.polls_done:
            return None
        return 1000.0 * self.replay_cpu_seconds / self.polls_done


def run_polls(
    simulator: SimulatorServer, polls: int, continue_as_new: bool, budget_seconds: float
) -> CostRow:
    """One cancellation needing ``polls`` confirming polls, within ``budget_seconds``."""
    simulator.clear_requests()
    job_id = simulator.seed_job(str(uuid.uuid4()), lifecycle="stuck-cancelling")
    options = {
        "pollIntervalSeconds": 1.0,
        "maxPollIntervalSeconds": 1.0,
        "timeoutSeconds": float(polls),
    }
    threshold = workflow.schedule.POLLS_PER_GENERATION if continue_as_new else NEVER

    def keep_log_small(_engine: object) -> None:
        # The request log is not needed here; 10,000 entries would only cost memory.
        simulator.clear_requests()

    with schedule_setting("POLLS_PER_GENERATION", threshold):
        run = run_app(
            simulator, job_id, options, budget_seconds=budget_seconds, on_slice=keep_log_small
        )
    stats = run.stats
    finished = run.finished and run.status.runtime_status.value == "Completed"
    reason = ""
    if not finished:
        reason = (
            f"wall-time budget of {budget_seconds:g} s ran out after {run.polls} of {polls} polls"
            if not run.finished
            else f"ended {run.status.runtime_status.value}: {run.status.output}"
        )
    elif run.polls != polls:
        reason = f"made {run.polls} polls, expected {polls}"
    return CostRow(
        polls_asked=polls,
        continue_as_new=continue_as_new,
        polls_done=run.polls,
        replay_cpu_seconds=stats.replay_cpu_seconds,
        peak_history_length=stats.peak_history_length,
        episodes=stats.episodes,
        generations=stats.continued_as_new + 1,
        wall_seconds=run.wall_seconds,
        status="measured" if finished and not reason else "stopped",
        reason=reason,
    )


def skipped(polls: int, continue_as_new: bool, reason: str) -> CostRow:
    """A run not attempted, and why."""
    return CostRow(polls, continue_as_new, 0, 0.0, 0, 0, 0, 0.0, "skipped", reason)


def measure_growth(
    simulator: SimulatorServer,
    poll_counts: Sequence[int],
    budget_seconds: float,
    no_can_budget_seconds: float,
) -> list[CostRow]:
    """Every poll count with continue-as-new, then without it while runs still finish.

    Without continue-as-new every episode replays the whole history, so N polls cost about
    N squared: each run gets ``no_can_budget_seconds`` and is reported as stopped (with
    what it measured) when that runs out; larger sizes are then skipped, with the time a
    quadratic projection says they would take.
    """
    rows = [run_polls(simulator, n, True, budget_seconds) for n in poll_counts]
    previous: CostRow | None = None
    for n in poll_counts:
        if previous is not None and previous.status != "measured":
            rows.append(skipped(n, False, _projection(previous, n)))
            continue
        previous = run_polls(simulator, n, False, no_can_budget_seconds)
        rows.append(previous)
    return rows


def _projection(previous: CostRow, polls: int) -> str:
    if previous.status == "skipped" or not previous.polls_done:
        return "a smaller run did not finish"
    # Quadratic: the replay CPU of k polls without continue-as-new is about c * k**2.
    projected = previous.replay_cpu_seconds * (polls / previous.polls_done) ** 2
    return (
        f"the {previous.polls_asked}-poll run did not finish in budget; about "
        f"{_duration(projected)} of replay CPU projected (quadratic from "
        f"{previous.polls_done} polls in {previous.replay_cpu_seconds:.0f} s)"
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
