"""``python -m devtools.demo``: the whole app end to end on this machine, in about ten seconds.

It starts the data-plane simulator with one running job and the local Functions host pointed
at it (the app signs in with its managed identity, which the simulator stands in for), asks
the app over HTTP to cancel the job, prints the progress the status endpoint shows until the
run ends, prints the outputs, then follows every data-plane request across both sides: the
client request id the app logged with each one, and the same id in the simulator's request
log. It stops both processes and exits non-zero unless the job was confirmed Cancelled and
every request is found on both sides.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from devtools.launch import ServerProcess

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "rg-demo"
WORKSPACE = "ws-demo"
JOB = "de0de0de-0000-4000-8000-000000000001"
DEMO_TOKEN = "demo-token-not-a-secret"
DEADLINE_SECONDS = 90.0


@contextmanager
def _server(module_args: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Run a devtools server until the block ends; yield its URL."""
    server = ServerProcess.start(module_args, env=env, log_path=log_path)
    try:
        yield server.url
    finally:
        server.stop()


def main() -> int:
    """Run the demo; 0 when the job was confirmed Cancelled."""
    seed = f"{SUBSCRIPTION}/{RESOURCE_GROUP}/{WORKSPACE}/{JOB}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTUM_")}
    with tempfile.TemporaryDirectory(prefix="devhost-") as state_dir:
        logs = Path(state_dir)
        simulator_args = ["devtools.simulator", "--port", "0", "--token", DEMO_TOKEN]
        simulator_args += ["--seed", seed]
        with _server(simulator_args, base_env, logs / "simulator.log") as sim:
            print(f"simulator: {sim} (job {JOB} is running)")
            # The app authenticates with its own identity, as recommended: the simulator plays
            # App Service's managed-identity endpoint, so DefaultAzureCredential runs unchanged.
            env = {
                **base_env,
                "QUANTUM_ENDPOINT": sim,
                "QUANTUM_ALLOW_LOOPBACK": "true",
                "IDENTITY_ENDPOINT": f"{sim}/_simulator/identity/token",
                "IDENTITY_HEADER": "local-demo",
            }
            host_args = ["devtools.host", "--port", "0", "--state-dir", state_dir]
            with _server(host_args, env, logs / "host.log") as host:
                print(f"host: {host}")
                status = _cancel(host)
            followed = _follow_requests(sim, (logs / "host.log").read_text(encoding="utf-8"))
            return status or followed


def _cancel(host: str) -> int:
    body = {
        "subscriptionId": SUBSCRIPTION,
        "resourceGroupName": RESOURCE_GROUP,
        "workspaceName": WORKSPACE,
        "jobId": JOB,
        "options": {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 4, "timeoutSeconds": 60},
    }
    print(f"POST {host}/api/cancel-running-job")
    started = requests.post(f"{host}/api/cancel-running-job", json=body, timeout=30)
    print(f"-> {started.status_code}")
    started.raise_for_status()
    status_url = started.json()["statusQueryGetUri"]
    app_status_url = f"{host}/api/cancel-running-job/{started.json()['id']}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    shown = None
    document: dict[str, object] = {}
    while time.monotonic() < deadline:
        requests.get(status_url, timeout=30).raise_for_status()
        document = requests.get(app_status_url, timeout=30).json()
        line = f"{document['runtimeStatus']}: {json.dumps(document['progress'])}"
        if line != shown:
            print(line)
            shown = line
        if document["runtimeStatus"] not in ("Pending", "Running"):
            break
        time.sleep(0.5)
    print("outputs:", json.dumps(document.get("outputs"), indent=2))
    outputs = document.get("outputs")
    ok = (
        document.get("runtimeStatus") == "Completed"
        and isinstance(outputs, dict)
        and outputs.get("outcome") == "cancelled"
        and outputs.get("finalStatus") == "Cancelled"
        and outputs.get("cancellationTime")
    )
    print("demo: job cancelled and confirmed" if ok else f"demo FAILED: {document.get('error')}")
    return 0 if ok else 1


_APP_LINE = re.compile(
    r"(Jobs_\w+) job [0-9a-f-]+ \(instance (\S+), attempt (\d+)\): HTTP (\S+), "
    r"client request id ([0-9a-f-]{36}), service request id ([^,\s]+)"
)


def _follow_requests(simulator: str, host_log: str) -> int:
    """Print each request as the app logged it and as the simulator logged it; 0 when every
    client request id is on both sides, once each."""
    logged = requests.get(f"{simulator}/_simulator/requests", timeout=30).json()["requests"]
    app = {m.group(5): m for m in _APP_LINE.finditer(host_log)}
    print("\nevery request, as the app logged it and as the service (simulator) logged it:")
    print(f"  {'operation':<12} {'HTTP':>4}  {'client request id':<36}  service request id")
    found = 0
    for entry in logged:
        client_id = entry["clientRequestId"]
        line = app.get(client_id)
        found += line is not None and line.group(6) == entry["requestId"]
        side = "app and service" if line is not None else "service only"
        print(
            f"  {entry['operation']:<12} {entry['status']:>4}  {client_id:<36}  "
            f"{entry['requestId']}  ({side})"
        )
    ok = found == len(logged) == len(app) and len(logged) > 0
    print(
        "demo: every request followed across app and service"
        if ok
        else f"demo FAILED: {found} of {len(logged)} requests matched ({len(app)} in the app log)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
