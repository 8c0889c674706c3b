"""``python -m bench``: the three performance parts, printed as tables with target checks.

    python -m bench            # everything (about 25 minutes on 2 cores)
    python -m bench --quick    # a short run: smaller sizes, tighter budgets
    python -m bench --parts 1,4

Exit status 1 when a target FAILs (SKIPPED targets do not fail the run).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence

import workflow.schedule
from devtools.simulator import SimulatorServer

from . import concurrency, guardrail_sweep, replay_cost, service_calls, workspace_scale
from .environment import https_simulator, prepare_process, start_simulator
from .report import Checks, label_t, ratio, seconds, table
from .schedules import LOOP_SCHEDULES

#: Modelled round trip of one Azure Quantum request (see the README for why 0.1 s).
DEFAULT_RTT_SECONDS = 0.1
#: Per-poll replay cost at 10,000 polls may be at most this multiple of the 100-poll cost.
FLAT_COST_FACTOR = 1.5
#: Peak RSS per cancellation at 1,000 may be at most this multiple of that at 100.
LINEAR_MEMORY_FACTOR = 1.5


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, tighter budgets")
    parser.add_argument("--parts", default="1,2,3,4,5", help="comma-separated: 1, 2, 3, 4, 5")
    parser.add_argument(
        "--rtt",
        type=float,
        default=DEFAULT_RTT_SECONDS,
        help="modelled seconds per request round trip in part 1 (default 0.1)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts; print tables and target checks."""
    args = parse_args(argv)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    prepare_process()
    checks = Checks()
    began = time.perf_counter()
    print(
        f"# bench: python -m bench{' --quick' if args.quick else ''} --parts {args.parts}\n"
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n",
        flush=True,
    )
    if "1" in parts:
        with https_simulator(manual_clock=True) as simulator:
            part_one(simulator, args.quick, args.rtt, checks)
    if "2" in parts:
        simulator = start_simulator(manual_clock=True)
        try:
            part_two(simulator, args.quick, checks)
        finally:
            simulator.stop()
    if "3" in parts:
        simulator = start_simulator(manual_clock=False)
        try:
            part_three(simulator, args.quick, checks)
        finally:
            simulator.stop()
    if "4" in parts:
        part_four(args.quick, checks)
    if "5" in parts:
        guardrail_sweep.part_five(args.quick, checks)
    print("## Targets\n")
    print(checks.render())
    print(f"\nbench finished in {time.perf_counter() - began:.0f} s", flush=True)
    return 1 if checks.failed else 0


# -- part 1 ---------------------------------------------------------------------------------
def part_one(simulator: SimulatorServer, quick: bool, rtt: float, checks: Checks) -> None:
    """Requests and confirmation delay per schedule and cancellation time."""
    cancel_times = service_calls.QUICK_CANCEL_SECONDS if quick else service_calls.CANCEL_SECONDS
    started = time.perf_counter()
    results = service_calls.compare(simulator, cancel_times, rtt)
    app_key = service_calls.CURRENT.key
    by = {(r.cancel_seconds, r.schedule): r for r in results}
    labels = {loop.key: loop.label for loop in LOOP_SCHEDULES}
    labels[service_calls.SDK_KEY] = service_calls.SDK_LABEL
    labels[app_key] = f"{app_key} (the app, default)"
    others = (*(loop.key for loop in LOOP_SCHEDULES), service_calls.SDK_KEY)

    print("## 1. Service calls and confirmation delay\n")
    print(
        f"Virtual time; {rtt:g} s modelled round trip per request for every schedule; "
        f"floor = {service_calls.FLOOR_REQUESTS} requests, zero delay. Ratios are to the app.\n"
    )
    rows = []
    for t in cancel_times:
        app = by[(t, app_key)]
        for key in (app_key, *others):
            r = by[(t, key)]
            rows.append(
                [
                    label_t(t),
                    labels[key],
                    f"{r.requests}" + (" (capped)" if r.note else ""),
                    seconds(r.delay_seconds),
                    ratio(r.requests, app.requests),
                    ratio(r.delay_seconds, app.delay_seconds),
                    r.final_status,
                ]
            )
    print(
        table(
            ["T", "schedule", "requests", "delay", "req vs app", "delay vs app", "final"],
            rows,
            left=(0, 1, 6),
        )
    )
    print()
    print("Candidate app schedules (first/max wait, growth), same real orchestration:\n")
    keys = [app_key] + [c.key for c in service_calls.CANDIDATES if c.key != app_key]
    candidate_rows = []
    for key in keys:
        cells = [key]
        total = 0
        delays: list[float] = []
        for t in cancel_times:
            r = by[(t, key)]
            total += r.requests
            delays.append(r.delay_seconds or 0.0)
            cells.append(f"{r.requests} / {seconds(r.delay_seconds)}")
        cells += [str(total), seconds(sum(delays) / len(delays)), seconds(max(delays))]
        candidate_rows.append(cells)
    print(
        table(
            [
                "schedule",
                *(f"T={label_t(t)} req / delay" for t in cancel_times),
                "total req",
                "mean delay",
                "worst delay",
            ],
            candidate_rows,
        )
    )
    print(f"\n(part 1 took {time.perf_counter() - started:.0f} s)\n", flush=True)

    target = service_calls.TARGET_T
    if target in cancel_times:
        app, fixed = by[(target, app_key)], by[(target, "fixed5")]
        checks.check(
            "T=10 min: app requests <= 1/3 of fixed 5 s polling",
            app.requests * 3 <= fixed.requests,
            f"{app.requests} vs {fixed.requests} ({ratio(app.requests, fixed.requests)})",
        )
        longest = service_calls.CURRENT.longest
        checks.check(
            "T=10 min: app confirmation delay <= max poll interval",
            app.delay_seconds is not None and app.delay_seconds <= longest,
            f"{seconds(app.delay_seconds)} vs {longest:g} s",
        )
    else:
        checks.skip("T=10 min targets", "T=10 min not run")


# -- part 2 ---------------------------------------------------------------------------------
def part_two(simulator: SimulatorServer, quick: bool, checks: Checks) -> None:
    """Replay CPU and peak history versus the number of polls."""
    counts = replay_cost.QUICK_POLL_COUNTS if quick else replay_cost.POLL_COUNTS
    budget = replay_cost.QUICK_BUDGET_SECONDS if quick else replay_cost.BUDGET_SECONDS
    no_can = replay_cost.QUICK_NO_CAN_BUDGET_SECONDS if quick else replay_cost.NO_CAN_BUDGET_SECONDS
    started = time.perf_counter()
    rows = replay_cost.measure_growth(simulator, counts, budget, no_can)
    print("## 2. Orchestration cost growth\n")
    print(
        "Job stuck in Cancelling, polled every 1 s until a deadline of N s (N polls). "
        f"Budget per run: {budget:g} s with continue-as-new, {no_can:g} s without.\n"
    )
    printed = []
    for r in rows:
        per_poll = r.per_poll_ms
        printed.append(
            [
                f"{r.polls_asked:,}",
                f"on (every {workflow.schedule.POLLS_PER_GENERATION})"
                if r.continue_as_new
                else "off",
                r.status,
                f"{r.polls_done:,}" if r.status != "skipped" else "-",
                str(r.generations) if r.status != "skipped" else "-",
                str(r.peak_history_length) if r.status != "skipped" else "-",
                f"{r.replay_cpu_seconds:.2f}" if r.status != "skipped" else "-",
                f"{per_poll:.2f}" if per_poll is not None else "-",
                f"{r.wall_seconds:.1f}" if r.status != "skipped" else "-",
                r.reason,
            ]
        )
    print(
        table(
            [
                "polls",
                "continue-as-new",
                "run",
                "polls done",
                "executions",
                "peak history",
                "replay CPU s",
                "ms/poll",
                "wall s",
                "note",
            ],
            printed,
            left=(0, 1, 2, 9),
        )
    )
    print()
    for mode in (True, False):
        measured = [r for r in rows if r.continue_as_new is mode and r.status == "measured"]
        if len(measured) >= 2:
            small, large = measured[0], measured[-1]
            print(
                f"continue-as-new {'on' if mode else 'off'}: per-poll cost "
                f"{large.polls_asked:,} polls / {small.polls_asked:,} polls = "
                f"{ratio(large.per_poll_ms, small.per_poll_ms)}; peak history "
                f"{small.peak_history_length} -> {large.peak_history_length}"
            )
    print(f"\n(part 2 took {time.perf_counter() - started:.0f} s)\n", flush=True)

    with_can = {r.polls_asked: r for r in rows if r.continue_as_new}
    base, top = with_can.get(100), with_can.get(10_000)
    if base and top and base.status == top.status == "measured":
        checks.check(
            "per-poll replay cost flat (10,000 polls within 1.5x of 100 polls)",
            (top.per_poll_ms or 0) <= FLAT_COST_FACTOR * (base.per_poll_ms or 0),
            f"{top.per_poll_ms:.2f} ms vs {base.per_poll_ms:.2f} ms "
            f"({ratio(top.per_poll_ms, base.per_poll_ms)})",
        )
    else:
        checks.skip("per-poll replay cost flat", "the 100- and 10,000-poll runs were not both run")
    sizes = [
        r for r in rows if r.continue_as_new and r.status == "measured" and r.polls_asked >= 100
    ]
    if len(sizes) >= 2:
        peaks = [r.peak_history_length for r in sizes]
        checks.check(
            "history length bounded by a constant (continue-as-new on)",
            max(peaks) == peaks[0],
            " / ".join(f"{r.polls_asked:,} polls: {r.peak_history_length}" for r in sizes),
        )


# -- part 3 ---------------------------------------------------------------------------------
def part_three(simulator: SimulatorServer, quick: bool, checks: Checks) -> None:
    """Many cancellations at once through devtools.host."""
    sizes = concurrency.QUICK_SIZES if quick else concurrency.SIZES
    started = time.perf_counter()
    rows = concurrency.measure_concurrency(simulator, sizes)
    print("## 3. Many at once (devtools.host subprocess, real time)\n")
    print(
        f"Job reaches Cancelled {concurrency.CANCEL_SECONDS:g} s after the cancel; options "
        f"{concurrency.OPTIONS}; {concurrency.POSTERS} clients POSTing at once.\n"
    )
    printed = []
    for r in rows:
        precise = concurrency.summary(r.precise_latencies)
        coarse = concurrency.summary(r.status_latencies)
        printed.append(
            [
                f"{r.cancellations:,}",
                f"{r.outcomes.get('cancelled', 0):,}",
                f"{r.wall_seconds:.1f}",
                f"{r.started / r.post_seconds:.0f}" if r.post_seconds else "-",
                f"{r.dataplane_requests:,}",
                f"{r.dataplane_requests / r.wall_seconds:.0f}" if r.wall_seconds else "-",
                f"{r.host_cpu_seconds:.1f}",
                f"{r.baseline_rss_kib / 1024:.1f}",
                f"{r.peak_rss_kib / 1024:.1f}",
                f"{r.per_cancellation_kib:.1f}" if r.per_cancellation_kib is not None else "-",
                " / ".join(seconds(precise[k]) for k in ("p50", "p90", "p99", "max")),
                " / ".join(seconds(coarse[k]) for k in ("p50", "p99", "max")),
            ]
        )
    print(
        table(
            [
                "at once",
                "cancelled",
                "wall s",
                "starts/s",
                "Quantum requests",
                "requests/s",
                "host CPU s",
                "idle RSS MiB",
                "peak RSS MiB",
                "KiB/cancellation",
                "latency p50/p90/p99/max",
                "status doc p50/p99/max",
            ],
            printed,
        )
    )
    for r in rows:
        problems = [r.error] if r.error else []
        if r.unfinished:
            problems.append(f"{r.unfinished} still Pending/Running at the deadline")
        problems += r.failures[:5]
        others = {k: v for k, v in r.outcomes.items() if k != "cancelled"}
        if others:
            problems.append(f"other outcomes: {others}")
        for problem in problems:
            print(f"\n{r.cancellations:,} at once: {problem}")
    print(f"\n(part 3 took {time.perf_counter() - started:.0f} s)\n", flush=True)

    by = {r.cancellations: r for r in rows}
    big, small = by.get(1_000), by.get(100)
    if big is None:
        checks.skip("1,000 concurrent cancellations finish", "not run (--quick)")
    else:
        checks.check(
            "1,000 concurrent cancellations finish (all cancelled)",
            big.all_completed,
            f"{big.outcomes} in {big.wall_seconds:.0f} s" + (f"; {big.error}" if big.error else ""),
        )
    if big is not None and small is not None and big.peak_rss_kib and small.peak_rss_kib:
        per_big, per_small = big.per_cancellation_kib or 0, small.per_cancellation_kib or 0
        checks.check(
            "host memory grows no worse than linearly (KiB per cancellation, 1,000 vs 100)",
            per_big <= LINEAR_MEMORY_FACTOR * max(per_small, 1.0),
            f"{per_big:.1f} vs {per_small:.1f} KiB ({ratio(per_big, per_small)})",
        )
    else:
        checks.skip("host memory grows no worse than linearly", "needs both 100 and 1,000")


# -- part 4 ---------------------------------------------------------------------------------
def part_four(quick: bool, checks: Checks) -> None:
    """The workspace-scale cancel: N jobs through a host, and 100 jobs three ways."""
    count = workspace_scale.QUICK_SCALE_JOBS if quick else workspace_scale.SCALE_JOBS
    side = workspace_scale.QUICK_SIDE_BY_SIDE_JOBS if quick else workspace_scale.SIDE_BY_SIDE_JOBS
    started = time.perf_counter()
    print("## 4. Workspace-scale cancel\n")
    print(
        f"Every job reaches Cancelled {workspace_scale.CANCEL_SECONDS:g} s after its cancel.\n",
        flush=True,
    )
    with https_simulator(manual_clock=True) as simulator:
        rows = workspace_scale.side_by_side(simulator, side)
    print(f"Side by side, {side} jobs, virtual time (no round trip modelled):\n")
    app = rows[0]
    print(
        table(
            [
                "way",
                "requests",
                "by operation",
                "service time",
                "known after last Cancelled",
                "req vs app",
                "confirmed / in simulator",
            ],
            [
                [
                    r.way,
                    f"{r.requests:,}",
                    ", ".join(f"{k} {v}" for k, v in sorted(r.by_operation.items())),
                    seconds(r.service_seconds),
                    seconds(r.known_after_seconds),
                    ratio(r.requests, app.requests),
                    f"{r.confirmed} / {r.cancelled_in_simulator}",
                ]
                for r in rows
            ],
            left=(0, 2),
        )
    )
    print("\nScale: one POST to a devtools.host subprocess, real time\n", flush=True)
    simulator = start_simulator(manual_clock=False)
    try:
        # Both are waited for twice the target run time, so that a slow run is measured (and
        # its target check fails) rather than cut short.
        scale_rows = [
            workspace_scale.run_scale(simulator, count, budget_factor=2.0),
            workspace_scale.run_scale(simulator, count, named=True, budget_factor=2.0),
        ]
    finally:
        simulator.stop()
    row = scale_rows[0]
    bound = workspace_scale.history_bound(row.rate)
    limit = workspace_scale.RUN_TIME_FACTOR * (row.requests / row.rate + 60) if row.rate else 0
    print(
        table(
            ["figure", *(_scale_label(r) for r in scale_rows), "target (first column)"],
            _scale_figures(
                scale_rows,
                [
                    f"{count:,}",
                    "",
                    f"{count:,}",
                    f"<= {workspace_scale.MAX_REQUESTS_PER_JOB * count:,.0f}",
                    f"<= {workspace_scale.MAX_REQUESTS_PER_JOB}",
                    f"<= {row.rate}",
                    f"<= {limit:.0f} s",
                    f"<= {workspace_scale.MAX_PEAK_RSS_MIB} MiB",
                    f"<= {bound}",
                    "",
                ],
            ),
            left=tuple(range(len(scale_rows) + 2)),
        )
    )
    print("\nWhere the time went (simulator log; a batch is requests less than 0.5 s apart):\n")
    names = list(row.phases) or ["(no figures)"]
    print(
        table(
            ["phase", *(_scale_label(r) for r in scale_rows)],
            [
                [name, *(seconds(r.phases[name]) if name in r.phases else "-" for r in scale_rows)]
                for name in names
            ]
            + [
                ["batches", *(f"{r.batches:,}" for r in scale_rows)],
                [
                    "seconds per batch (run time / batches)",
                    *(f"{r.run_seconds / r.batches:.2f}" if r.batches else "-" for r in scale_rows),
                ],
                [
                    "floor: requests / rate + 60 s",
                    *(seconds(r.requests / r.rate + 60) if r.rate else "-" for r in scale_rows),
                ],
                [
                    "run time / floor",
                    *(
                        f"{r.run_seconds / (r.requests / r.rate + 60):.3f}" if r.rate else "-"
                        for r in scale_rows
                    ),
                ],
            ],
            left=(0,),
        )
    )
    for r in scale_rows:
        if r.error:
            print(f"\n{_scale_label(r)}: {r.error}")
    print(f"\n(part 4 took {time.perf_counter() - started:.0f} s)\n", flush=True)

    sdk = rows[-1]
    checks.check(
        f"side by side: every way confirmed all {side} jobs",
        all(r.confirmed == r.cancelled_in_simulator == side for r in rows),
        " / ".join(f"{r.confirmed}" for r in rows),
    )
    checks.check(
        "side by side: cancel_jobs needs fewer requests than the SDK loop",
        app.requests < sdk.requests,
        f"{app.requests} vs {sdk.requests}",
    )
    checks.check(
        f"{count:,} jobs: every one confirmed cancelled",
        row.cancelled_in_simulator == count
        and row.outputs.get("outcomes", {}).get("cancelled") == count
        and row.result_outcomes == {"cancelled": count},
        f"{row.cancelled_in_simulator:,} in the simulator, {row.result_outcomes} served",
    )
    checks.check(
        f"{count:,} jobs: requests <= {workspace_scale.MAX_REQUESTS_PER_JOB} x N",
        0 < row.requests <= workspace_scale.MAX_REQUESTS_PER_JOB * count,
        f"{row.requests:,} ({row.requests / count:.3f} per job)",
    )
    checks.check(
        f"{count:,} jobs: rate cap held in every 1-second window",
        0 < row.busiest_second <= row.rate,
        f"busiest {row.busiest_second} vs cap {row.rate}",
    )
    checks.check(
        f"{count:,} jobs: run time <= {workspace_scale.RUN_TIME_FACTOR} x (requests / rate + 60 s)",
        0 < row.run_seconds <= limit,
        f"{row.run_seconds:.0f} s vs {limit:.0f} s",
    )
    checks.check(
        f"{count:,} jobs: host peak RSS <= {workspace_scale.MAX_PEAK_RSS_MIB} MiB",
        0 < row.peak_rss_kib <= workspace_scale.MAX_PEAK_RSS_MIB * 1024,
        f"{row.peak_rss_kib / 1024:.1f} MiB",
    )
    checks.check(
        f"{count:,} jobs: longest history bounded by the design's constant",
        0 < row.peak_history <= bound,
        f"{row.peak_history} events vs {bound}",
    )
    ids = scale_rows[1]
    checks.check(
        f"{count:,} named jobs: every one confirmed cancelled, cap held, history bounded",
        ids.cancelled_in_simulator == count
        and ids.result_outcomes == {"cancelled": count}
        and 0 < ids.busiest_second <= ids.rate
        and 0 < ids.peak_history <= bound,
        f"{ids.cancelled_in_simulator:,} in the simulator, {ids.result_outcomes} served, "
        f"busiest {ids.busiest_second}, history {ids.peak_history}; "
        f"{ids.requests / count:.3f} requests per job, {ids.run_seconds:.0f} s",
    )


def _scale_label(row: workspace_scale.ScaleRow) -> str:
    delivery = ", Azure Storage queue polling" if row.queue_polling else ""
    return f"{row.jobs:,} jobs, {'jobIds' if row.named else 'filter'}{delivery}"


def _scale_figures(rows: list[workspace_scale.ScaleRow], targets: list[str]) -> list[list[str]]:
    figures: list[tuple[str, Callable[[workspace_scale.ScaleRow], str]]] = [
        ("jobs Cancelled (simulator)", lambda r: f"{r.cancelled_in_simulator:,}"),
        ("outcomes (run output)", lambda r: str(r.outputs.get("outcomes", {}))),
        ("results served (GET …/jobs)", lambda r: f"{r.results_served:,} {r.result_outcomes}"),
        ("data-plane requests", lambda r: f"{r.requests:,} {r.by_operation}"),
        ("requests per job", lambda r: f"{r.requests / r.jobs:.3f}"),
        ("busiest 1-second window", lambda r: str(r.busiest_second)),
        ("run time", lambda r: seconds(r.run_seconds)),
        ("host peak RSS", lambda r: f"{r.peak_rss_kib / 1024:.1f} MiB"),
        (
            "longest history of one execution",
            lambda r: f"{r.peak_history} events ({r.executions} executions)",
        ),
        (
            "orchestrator episodes / replay CPU",
            lambda r: f"{r.episodes:,} / {r.replay_cpu_seconds:.1f} s",
        ),
    ]
    return [
        [name, *(show(r) for r in rows), target]
        for (name, show), target in zip(figures, targets, strict=True)
    ]


if __name__ == "__main__":
    sys.exit(main())
