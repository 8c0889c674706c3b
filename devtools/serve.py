"""``python -m devtools.serve`` (``make serve``): the whole local stack in one command.

It starts the data-plane simulator with a few running jobs on two targets, and devtools.host
pointed at it with a working local configuration (the app signs in with the managed identity
the simulator stands in for), prints ready-to-paste ``quantum-cancel`` and curl commands, and
stops both on Ctrl-C. The seeded jobs run until cancelled, then pass through
CancellationRequested and Cancelling on the simulator's clock (seconds, not reads), so that a
workspace-scale run, which confirms by listing, sees them end too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import uuid
from pathlib import Path

import requests

from devtools.launch import PROJECT_ROOT, LaunchError, ServerProcess, start_host, stop_signal
from devtools.simulator import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_WORKSPACE

#: Runs until cancelled; after the cancel it moves on by time, so listings see it end.
RUNNING_UNTIL_CANCELLED = {
    "before": [["Executing", {}]],
    "after": [["CancellationRequested", {"seconds": 2}], ["Cancelling", {"seconds": 2}],
              ["Cancelled", {}]],
}
TARGETS = (("ionq", "ionq.simulator"), ("quantinuum", "quantinuum.sim.h2-1e"))
WORKSPACE = f"{DEFAULT_SUBSCRIPTION_ID}/{DEFAULT_RESOURCE_GROUP}/{DEFAULT_WORKSPACE}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Ports and how many jobs to seed."""
    parser = argparse.ArgumentParser(prog="python -m devtools.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="devtools.host's port")
    parser.add_argument("--simulator-port", type=int, default=8090)
    parser.add_argument("--jobs-per-target", type=int, default=3)
    parser.add_argument("--state-dir", type=Path, default=PROJECT_ROOT / ".devhost" / "serve")
    return parser.parse_args(argv)


def seed(simulator: str, per_target: int) -> list[dict[str, str]]:
    """Create the running jobs through the simulator's control API."""
    jobs = []
    for provider, target in TARGETS:
        for number in range(1, per_target + 1):
            job_id = str(uuid.uuid4())
            body = {
                "jobId": job_id,
                "lifecycle": RUNNING_UNTIL_CANCELLED,
                "details": {"name": f"{target}-{number}", "providerId": provider, "target": target},
            }
            requests.post(f"{simulator}/_simulator/jobs", json=body, timeout=10).raise_for_status()
            jobs.append({"jobId": job_id, "target": target})
    return jobs


def instructions(host: str, simulator: str, jobs: list[dict[str, str]]) -> str:
    """What to paste into another terminal."""
    installed = Path(sys.executable).parent / "quantum-cancel"
    python = shlex.quote(sys.executable)
    cli = str(installed) if installed.exists() else f"{python} -m quantum_cancel"
    first = jobs[0]["jobId"]
    body = json.dumps(dict(zip(("subscriptionId", "resourceGroupName", "workspaceName"),
                               WORKSPACE.split("/"), strict=True)) | {"jobId": jobs[-1]["jobId"]})
    lines = [
        "",
        f"app (devtools.host): {host}     simulator: {simulator}",
        "running jobs: " + ", ".join(f"{j['jobId']} ({j['target']})" for j in jobs),
        "",
        "In another terminal:",
        f"  export QUANTUM_CANCEL_APP={host}",
        f"  export QUANTUM_CANCEL_WORKSPACE={WORKSPACE}",
        f"  {cli} list",
        f"  {cli} job {first}",
        f"  {cli} jobs --target ionq.simulator --dry-run",
        f"  {cli} jobs --target ionq.simulator quantinuum.sim.h2-1e",
        f"  {cli} list --running",
        "",
        "Or with curl:",
        f"  curl -s -X POST {host}/api/cancel-running-job -H 'Content-Type: application/json' \\",
        f"    -d '{body}'",
        f"  curl -s '{host}/api/cancellations?status=all'",
        f"  curl -s {simulator}/_simulator/jobs     # the simulator's view of every job",
        "",
        "Ctrl-C stops both.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the stack until Ctrl-C; 1 when it cannot start (a port in use, say)."""
    args = parse_args(argv)
    stop = stop_signal()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    simulator: ServerProcess | None = None
    host: ServerProcess | None = None
    try:
        simulator = ServerProcess.start(
            ["devtools.simulator", "--port", str(args.simulator_port)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            log_path=args.state_dir / "simulator.log",
        )
        jobs = seed(simulator.url, args.jobs_per_target)
        host = start_host(
            args.state_dir / "host",
            quantum_endpoint=simulator.url,
            port=args.port,
            log_path=args.state_dir / "host.log",
            env={"CANCEL_POLL_INTERVAL_SECONDS": "1", "CANCEL_MAX_POLL_INTERVAL_SECONDS": "5"},
        )
        print(instructions(host.url, simulator.url, jobs), flush=True)
        print(f"logs: {args.state_dir}/host.log and simulator.log", flush=True)
        while not stop.wait(0.5):
            if not (host.running and simulator.running):
                print("serve: a server stopped on its own; see the logs", file=sys.stderr)
                return 1
        return 0
    except LaunchError as error:
        print(f"serve: could not start ({error}); is the port in use? "
              "Try make serve SERVE_ARGS='--port 7072 --simulator-port 8091'", file=sys.stderr)
        return 1
    finally:
        for server in (host, simulator):
            if server is not None:
                server.stop()
        print("serve: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
