"""Test helper: run to idle through a series of simulated process crashes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .backend import DurableEngine
from .errors import SimulatedCrash

#: Builds a fresh engine on the shared store and clock; the argument is the step at
#: which that engine must crash (None: never).
EngineFactory = Callable[[int | None], DurableEngine]


@dataclass
class CrashRun:
    """Outcome of run_with_crashes."""

    #: The engine that finally reached idle (query it for statuses).
    engine: DurableEngine
    #: Crash messages, one per simulated crash that actually happened.
    crashes: list[str] = field(default_factory=list)
    #: Activity executions per engine incarnation (lost ones included).
    activities_executed: list[int] = field(default_factory=list)


def run_with_crashes(
    make_engine: EngineFactory, crash_after: Sequence[int], *, max_steps: int = 100_000
) -> CrashRun:
    """Run to idle; engine number i crashes at its ``crash_after[i]``-th step.

    After each crash the engine object is discarded and ``make_engine`` builds a new
    one from the same store, which resumes every unfinished instance (re-running any
    activity whose result was not committed). A crash point beyond the remaining work
    simply never triggers. The last engine runs without crashing.
    """
    run: CrashRun | None = None
    crashes: list[str] = []
    executed: list[int] = []
    for crash_at in [*crash_after, None]:
        engine = make_engine(crash_at)
        try:
            engine.run_until_idle(max_steps)
        except SimulatedCrash as exc:
            crashes.append(str(exc))
            executed.append(engine.stats.activities_executed)
            continue
        executed.append(engine.stats.activities_executed)
        run = CrashRun(engine, crashes, executed)
        break
    assert run is not None  # the final engine has no crash point
    return run
