"""``python -m devtools.demo``: the whole app end to end on this machine, in about ten seconds.

It starts the data-plane simulator with one running job and the local Functions host pointed
at it (the app signs in with its managed identity, which the simulator stands in for), asks
the app over HTTP to cancel the job, prints the progress the status endpoint shows until the
run ends, prints the outputs, then follows every data-plane request across both sides: the
client request id the app logged with each one, and the same id in the simulator's request
log. It ends with a guardrail sweep: a second job has been running on a QPU for three hours, the
policy in GUARDRAIL_POLICY cancels jobs running over two hours, and the timer is run by hand
(``POST /admin/functions/watch_jobs``, as on any Functions host); the demo prints the sweep's
report and the outcome events the simulator's local Event Grid topic received. It stops both
processes and exits non-zero unless both jobs were confirmed Cancelled, every request is found
on both sides, and the events say so.
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
from typing import Any

import requests

from devtools.launch import ServerProcess
from devtools.simulator.events import TOPIC_KEY

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "rg-demo"
WORKSPACE = "ws-demo"
JOB = "de0de0de-0000-4000-8000-000000000001"
RUNAWAY = "de0de0de-0000-4000-8000-000000000002"
DEMO_TOKEN = "demo-token-not-a-secret"
DEADLINE_SECONDS = 90.0
QPU = "ionq.qpu.aria-1"
RULE = {
    "name": "qpu-runtime",
    "filter": {"target": [QPU]},
    "when": {"runningMinutesOver": 120},
    "action": "cancel",
}
POLICY = {
    "workspaces": [
        {
            "subscriptionId": SUBSCRIPTION,
            "resourceGroupName": RESOURCE_GROUP,
            "workspaceName": WORKSPACE,
        }
    ],
    "rules": [RULE],
}


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
                # Guardrails: the policy, a schedule that waits (the timer is run by hand
                # below), and outcome events to the simulator's local Event Grid topic.
                "GUARDRAIL_POLICY": json.dumps(POLICY),
                "GUARDRAIL_SCHEDULE": "0 0 0 1 1 *",
                "EVENTS_TOPIC_ENDPOINT": f"{sim}/api/events",
                "EVENTS_TOPIC_KEY": TOPIC_KEY,
            }
            host_args = ["devtools.host", "--port", "0", "--state-dir", state_dir]
            with _server(host_args, env, logs / "host.log") as host:
                print(f"host: {host}")
                status = _cancel(host)
                swept = _guardrail_sweep(host, sim)
            followed = _follow_requests(sim, (logs / "host.log").read_text(encoding="utf-8"))
            return status or swept or followed


def _guardrail_sweep(host: str, sim: str) -> int:
    """Seed a job that has run for three hours, run the guardrail timer by hand, print the
    sweep's report and the events; 0 when the policy alone cancelled the job."""
    runaway = {
        "subscriptionId": SUBSCRIPTION,
        "resourceGroupName": RESOURCE_GROUP,
        "workspaceName": WORKSPACE,
        "jobId": RUNAWAY,
        "details": {"target": QPU, "providerId": "ionq", "name": "runaway-vqe"},
        "lifecycle": {"before": [["Executing", {}]], "after": [["Cancelled", {}]]},
        "ages": {"creationTime": 3 * 3600 + 120, "beginExecutionTime": 3 * 3600},
    }
    requests.post(f"{sim}/_simulator/jobs", json=runaway, timeout=30).raise_for_status()
    print(f"\nguardrails: job {RUNAWAY} has been running on {QPU} for 3 hours")
    print(f"policy: {json.dumps(RULE)}")
    print(f"POST {host}/admin/functions/watch_jobs (the timer, run by hand)")
    ran = requests.post(f"{host}/admin/functions/watch_jobs", json={"input": ""}, timeout=30)
    print(f"-> {ran.status_code}")
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = requests.get(f"{host}/api/guardrails", timeout=30).json().get("lastSweep") or {}
        if last.get("runtimeStatus") not in (None, "Pending", "Running"):
            break
        time.sleep(0.5)
    outputs = last.get("outputs") or {}
    print("last sweep:", json.dumps(outputs.get("rules"), indent=2))
    # The sweep only starts the job's run; that run confirms and reports on its own.
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = requests.get(f"{sim}/_simulator/events", timeout=30).json()["events"]
        if any(
            e["eventType"] == "Quantum.Job.CancellationFinished"
            and e["data"].get("jobId") == RUNAWAY
            for e in events
        ):
            break
        time.sleep(0.5)
    print(f"\nevents on the local Event Grid topic ({len(events)}):")
    for event in events:
        data = event["data"]
        what = data.get("outcome") or data.get("action")
        why = data.get("trigger") or data.get("rule")
        print(f"  {event['eventType']:<38} {data.get('jobId', '-'):<36} {what} ({why})")
    swept = [e for e in events if e["data"].get("jobId") == RUNAWAY]
    ok = sorted(e["eventType"] for e in swept) == [
        "Quantum.Guardrail.Violation",
        "Quantum.Job.CancellationFinished",
    ] and any(e["data"].get("outcome") == "cancelled" for e in swept)
    print("demo: the policy alone cancelled the runaway job" if ok else "demo FAILED: guardrails")
    return 0 if ok else 1


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
