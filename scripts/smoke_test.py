"""After ``azd up``: a dry run of a workspace-scale cancel against the deployed app, printed.

    python scripts/smoke_test.py --app https://<app>.azurewebsites.net --key <function key> \\
        --workspace "$QUANTUM_WORKSPACE_ID"

(or QUANTUM_CANCEL_APP, QUANTUM_CANCEL_KEY and QUANTUM_WORKSPACE_ID in the environment; README
"After azd up" shows where each comes from). It sends ``POST /api/cancel-jobs`` with
``dryRun: true`` and every unfinished job of the workspace as the selector, follows the run on
``GET /api/cancel-jobs/{id}`` until it ends, and prints what it found. A dry run cancels nothing
and closes no session: it proves that the app starts, reaches its Durable backend, signs in to
Azure Quantum with its identity and lists the workspace. The key goes only into the
``x-functions-key`` header and is never printed.

Exit status: 0 when the dry run completed, 1 otherwise (the message says what failed).
CI runs this script against devtools.host and the simulator (tests/test_smoke_script.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

import requests

WORKSPACE_ID = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Quantum/workspaces/([^/]+)",
    re.IGNORECASE,
)
WAIT_SECONDS = 30
FINISHED = ("Completed", "Failed", "Terminated", "Canceled")
SHOWN_JOBS = 20


class SmokeFailure(Exception):
    """The smoke test failed; the message says what to look at."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the environment's values as defaults."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default=os.environ.get("QUANTUM_CANCEL_APP"), help="app URL")
    parser.add_argument(
        "--key", default=os.environ.get("QUANTUM_CANCEL_KEY"), help="function key (never shown)"
    )
    parser.add_argument(
        "--workspace",
        default=os.environ.get("QUANTUM_WORKSPACE_ID"),
        help="the Azure Quantum workspace's resource ID",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the dry run"
    )
    args = parser.parse_args(argv)
    missing = [name for name in ("app", "workspace") if not getattr(args, name)]
    if missing:
        parser.error("give " + " and ".join(f"--{name}" for name in missing))
    return args


def dry_run_body(workspace_id: str) -> dict[str, Any]:
    """The POST /api/cancel-jobs body: a dry run over every unfinished job of the workspace."""
    match = WORKSPACE_ID.fullmatch(workspace_id.strip())
    if not match:
        raise SmokeFailure(f"not an Azure Quantum workspace resource ID: {workspace_id[:200]}")
    subscription, group, name = match.groups()
    return {
        "subscriptionId": subscription,
        "resourceGroupName": group,
        "workspaceName": name,
        "filter": {},
        "dryRun": True,
    }


def run(app: str, key: str | None, workspace_id: str, timeout: float) -> dict[str, Any]:
    """Start the dry run, follow it to its end, and return its status document."""
    session = requests.Session()
    if key:
        session.headers["x-functions-key"] = key
    base = app.rstrip("/")
    answer = session.post(
        f"{base}/api/cancel-jobs",
        json=dry_run_body(workspace_id),
        params={"waitSeconds": WAIT_SECONDS},
        timeout=WAIT_SECONDS + 30,
    )
    if answer.status_code == 200:
        document: dict[str, Any] = answer.json()
        return document
    if answer.status_code != 202:
        raise SmokeFailure(
            f"POST /api/cancel-jobs answered {answer.status_code}: {answer.text[:500]}"
        )
    instance_id = answer.json()["id"]
    deadline = time.monotonic() + timeout
    while True:
        status = session.get(f"{base}/api/cancel-jobs/{instance_id}", timeout=30)
        if status.status_code != 200:
            raise SmokeFailure(
                f"GET /api/cancel-jobs/{instance_id} answered {status.status_code}: "
                f"{status.text[:500]}"
            )
        document = status.json()
        if document.get("runtimeStatus") in FINISHED:
            return document
        if time.monotonic() > deadline:
            raise SmokeFailure(f"the dry run {instance_id} did not end within {timeout:g} s")
        time.sleep(2)


def report(document: dict[str, Any]) -> str:
    """The lines an operator reads: what the dry run found, or why it failed."""
    lines = [f"run {document.get('instanceId')}: {document.get('runtimeStatus')}"]
    outputs = document.get("outputs")
    if document.get("runtimeStatus") != "Completed" or not isinstance(outputs, dict):
        lines.append(f"error: {json.dumps(document.get('error'))[:1000]}")
        return "\n".join(lines)
    workspace = outputs.get("workspace", {})
    lines.append(
        "workspace {subscriptionId}/{resourceGroupName}/{workspaceName}".format(**workspace)
        if isinstance(workspace, dict) and len(workspace) == 3
        else f"workspace {workspace}"
    )
    lines.append(f"unfinished jobs matched: {outputs.get('matched')} (dry run: nothing cancelled)")
    jobs = outputs.get("jobs") or []
    for job in jobs[:SHOWN_JOBS]:
        lines.append(
            f"  {job.get('jobId')}  {job.get('status', '?'):<22} {job.get('target', '?')}"
            f"  {job.get('name', '')}"
        )
    if len(jobs) > SHOWN_JOBS:
        lines.append(f"  … and {len(jobs) - SHOWN_JOBS} more")
    lines.append(f"requests to Azure Quantum: {outputs.get('requests')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the smoke test; print the report; 0 when the dry run completed."""
    args = parse_args(argv)
    try:
        document = run(args.app, args.key, args.workspace, args.timeout)
    except (SmokeFailure, requests.RequestException) as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr)
        return 1
    print(report(document))
    return 0 if document.get("runtimeStatus") == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
