"""Part 5: what one guardrail sweep costs — W workspaces with J unfinished jobs each.

The sweep runs through the app's real ``enforce_guardrails`` (function_app.app, virtual time)
against the simulator, and every figure is counted afterwards from the simulator's request
log: requests by operation (a sweep lists pages; it never reads a job one by one), requests
per unfinished job, and the most requests the simulator saw in any one second of its clock:
the sweep's own (listing pages, Quotas_List) held to its rate cap (BULK_MAX_REQUESTS_PER_SECOND),
and all of them, the cancellations' own runs included (their starts are paced at half the cap a
second; their confirming polls follow the single-job schedule, outside the sweep's cap).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from appsettings import BULK_MAX_REQUESTS_PER_SECOND, load_settings
from devtools.durable import ManualClock
from devtools.simulator import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, SimulatorServer
from devtools.virtual_run import Harness
from triggers.guardrails import sweep_input
from workflow.guardrail_policy import check_policy_document
from workflow.instance_ids import SWEEP_INSTANCE_ID

from .environment import start_simulator
from .report import Checks, table

SIZES = ((1, 100), (5, 250), (10, 500))
QUICK_SIZES = ((1, 100), (5, 250))
RATE_CAP = 5
QPU = "ionq.qpu.aria-1"
LISTING_OPERATIONS = ("Jobs_List", "Quotas_List")
#: One job in this many has run past the limit (it gets a read, a cancel and a confirmation).
RUNAWAY_EVERY = 50


@dataclass(frozen=True)
class SweepRow:
    """One sweep, as the simulator's request log shows it."""

    workspaces: int
    jobs_per_workspace: int
    by_operation: dict[str, int]
    #: The most listing requests (Jobs_List, Quotas_List) in any one second: the sweep's own.
    busiest_second: int
    #: The same with the cancellations' own requests counted too.
    busiest_second_all: int
    cancelled: int
    wall_seconds: float
    #: The longest history any instance reached (the sweep's or a cancellation's).
    peak_history: int
    #: Executions the sweep took (continue-as-new between listing slices and before acting).
    generations: int

    @property
    def requests(self) -> int:
        """Every request the simulator logged for the sweep."""
        return sum(self.by_operation.values())

    @property
    def list_pages(self) -> int:
        """Jobs_List requests."""
        return self.by_operation.get("Jobs_List", 0)


def busiest_second(clocks: list[float]) -> int:
    """The most entries in any one-second window of the simulator's clock."""
    ordered = sorted(clocks)
    return max((sum(1 for t in ordered if s <= t < s + 1) for s in ordered), default=0)


@contextmanager
def app_environment(simulator: SimulatorServer, cap: int) -> Iterator[None]:
    """The sweep's settings while it runs: the rate cap, and the app's identity played by the
    simulator's managed-identity endpoint (a sweep always uses the app's identity)."""
    values = {
        BULK_MAX_REQUESTS_PER_SECOND: str(cap),
        "IDENTITY_ENDPOINT": f"{simulator.url}/_simulator/identity/token",
        "IDENTITY_HEADER": "bench",
    }
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def measure(
    simulator: SimulatorServer, workspaces: int, jobs: int, cap: int = RATE_CAP
) -> SweepRow:
    """Seed ``workspaces`` x ``jobs`` unfinished jobs (one in RUNAWAY_EVERY past the limit),
    run one sweep, and count what reached the simulator."""
    simulator.reset()
    simulator.set_options(pageSize=100, token=None)
    names = [f"ws-bench-{i:02d}" for i in range(workspaces)]
    quick = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
    for name in names:
        for index in range(jobs):
            minutes = 300 if index % RUNAWAY_EVERY == 0 else 30
            simulator.seed_job(
                workspace=name,
                lifecycle=quick,
                details={"target": QPU, "providerId": "ionq"},
                ages={"creationTime": minutes * 60 + 60, "beginExecutionTime": minutes * 60},
            )
    document = {
        "workspaces": [
            {
                "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
                "resourceGroupName": DEFAULT_RESOURCE_GROUP,
                "workspaceName": name,
                "endpoint": simulator.url,
            }
            for name in names
        ],
        "rules": [
            {
                "name": "qpu-runtime",
                "filter": {"target": [QPU]},
                "when": {"runningMinutesOver": 120},
                "action": "cancel",
                "maxJobsPerSweep": 1000,
            }
        ],
    }
    check = check_policy_document(document)
    assert check.ok, check.problems
    harness = Harness(
        simulator, "unused", clock=ManualClock(simulator.clock.wall(simulator.clock.now()))
    )
    simulator.clear_requests()
    try:
        with app_environment(simulator, cap):
            request = sweep_input(check, load_settings(), dry_run=False)
            began = time.perf_counter()
            # Runs until idle: the sweep and the cancellations it started, to their ends.
            run = harness.run_orchestration("enforce_guardrails", SWEEP_INSTANCE_ID, request)
            wall = time.perf_counter() - began
    finally:
        harness.close()
    log = simulator.requests()
    # The sweep does not wait for its cancellations: each run's own output says how it ended.
    confirmed = [
        s
        for s in run.engine.list_instances()
        if s.name == "cancel_running_job" and (s.output or {}).get("outcome") == "cancelled"
    ]
    return SweepRow(
        workspaces=workspaces,
        jobs_per_workspace=jobs,
        by_operation=dict(Counter(str(e["operation"]) for e in log)),
        busiest_second=busiest_second(
            [float(e["clock"]) for e in log if e["operation"] in LISTING_OPERATIONS]
        ),
        busiest_second_all=busiest_second([float(e["clock"]) for e in log]),
        cancelled=len(confirmed),
        wall_seconds=wall,
        peak_history=run.stats.peak_history_length,
        generations=run.stats.continued_as_new + 1,
    )


def part_five(quick: bool, checks: Checks) -> None:
    """Print a sweep's requests for W workspaces x J unfinished jobs; check pages and cap."""
    print("## 5. Guardrail sweep\n")
    print(
        f"One rule (running over 120 min on {QPU}); one job in {RUNAWAY_EVERY} is past it. "
        f"Rate cap {RATE_CAP} requests/s on the sweep's own requests. Counted from the "
        "simulator's request log.\n",
        flush=True,
    )
    simulator = start_simulator(manual_clock=True)
    rows: list[SweepRow] = []
    try:
        for workspaces, jobs in QUICK_SIZES if quick else SIZES:
            rows.append(measure(simulator, workspaces, jobs))
    finally:
        simulator.stop()
    print(
        table(
            [
                "W x J",
                "requests",
                "by operation",
                "list pages",
                "req / job",
                "busiest s (sweep)",
                "busiest s (all)",
                "peak history",
                "wall",
            ],
            [
                [
                    f"{r.workspaces} x {r.jobs_per_workspace}",
                    f"{r.requests:,}",
                    ", ".join(f"{k} {v}" for k, v in sorted(r.by_operation.items())),
                    str(r.list_pages),
                    f"{r.requests / (r.workspaces * r.jobs_per_workspace):.3f}",
                    str(r.busiest_second),
                    str(r.busiest_second_all),
                    str(r.peak_history),
                    f"{r.wall_seconds:.1f} s",
                ]
                for r in rows
            ],
        )
    )
    print()
    for r in rows:
        label = f"{r.workspaces} x {r.jobs_per_workspace}"
        pages = r.workspaces * math.ceil(r.jobs_per_workspace / 100)
        runaways = r.workspaces * math.ceil(r.jobs_per_workspace / RUNAWAY_EVERY)
        checks.check(
            f"sweep {label}: one list page per 100 jobs",
            r.list_pages == pages,
            f"{r.list_pages} Jobs_List for {pages} pages",
        )
        checks.check(
            f"sweep {label}: reads only for the jobs it cancels",
            r.by_operation.get("Jobs_Get", 0) <= 2 * runaways and r.cancelled == runaways,
            f"{r.by_operation.get('Jobs_Get', 0)} Jobs_Get, {r.cancelled}/{runaways} cancelled",
        )
        checks.check(
            f"sweep {label}: rate cap {RATE_CAP}/s on the sweep's own requests",
            r.busiest_second <= RATE_CAP,
            f"busiest second {r.busiest_second} (with the cancellations' own: "
            f"{r.busiest_second_all})",
        )
