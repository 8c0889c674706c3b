"""CLI: ``python -m devtools.simulator --port 8090 [options]``; serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from devtools.launch import stop_signal

from .lifecycles import PRESETS
from .options import Options
from .server import SimulatorServer


def _seed(text: str) -> dict[str, Any]:
    """``SUB/RG/WS/JOBID[:LIFECYCLE]`` → keyword arguments for ``seed_job``."""
    path, _, lifecycle = text.partition(":")
    parts = path.split("/")
    if len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError("--seed takes SUB/RG/WS/JOBID[:LIFECYCLE]")
    if lifecycle and lifecycle not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown lifecycle {lifecycle!r}")
    seed: dict[str, Any] = {
        "subscription_id": parts[0],
        "resource_group": parts[1],
        "workspace": parts[2],
        "job_id": parts[3],
    }
    if lifecycle:
        seed["lifecycle"] = lifecycle
    return seed


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulator",
        description="Azure Quantum data-plane simulator (binds 127.0.0.1 only).",
    )
    parser.add_argument("--port", type=int, default=8090, help="port; 0 picks a free one")
    parser.add_argument("--token", help="expected bearer token (default: any non-empty one)")
    parser.add_argument(
        "--cancel-response",
        type=int,
        choices=(204, 200),
        default=204,
        help="POST :cancel answer: 204 like the live service, or 200 + body",
    )
    parser.add_argument(
        "--lifecycle", choices=PRESETS, default="default", help="default lifecycle of new jobs"
    )
    parser.add_argument(
        "--executing-seconds", type=float, default=300.0, help="how long presets stay Executing"
    )
    parser.add_argument("--page-size", type=int, default=10, help="Jobs_List page size")
    parser.add_argument(
        "--seed",
        type=_seed,
        action="append",
        default=[],
        metavar="SUB/RG/WS/JOBID[:LIFECYCLE]",
        help="create a job at start",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; returns the exit code."""
    args = build_parser().parse_args(argv)
    options = Options(
        token=args.token,
        cancel_response=args.cancel_response,
        default_lifecycle=args.lifecycle,
        executing_seconds=args.executing_seconds,
        page_size=args.page_size,
    )
    try:
        server = SimulatorServer(args.port, options=options, seeds=args.seed)
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    stop = stop_signal()
    try:
        server.start()
    except OSError as exc:
        print(f"simulator: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"simulator listening on {server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
