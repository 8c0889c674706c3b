"""The Event Grid trigger against the azure-functions the Python worker bundles (1.24.0).

On Python 3.10-3.12 the worker puts its own azure-functions first on ``sys.path`` unless
PYTHON_ISOLATE_WORKER_DEPENDENCIES=1; 1.24.0 decodes a CloudEvent as an Event Grid event with
no type. This test does what the worker does: a Python process whose path starts with the
1.24.0 package (unpacked from the wheel ``make venv`` downloads), the app on top of it. The
app must log the start-up error, and fail the invocation of a type-less event instead of
acknowledging a cost alert unread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devtools.launch import PROJECT_ROOT

WHEELS = Path(sys.prefix) / "legacy-wheels"
CLOUD_EVENT = {
    "specversion": "1.0",
    "id": "ce-legacy-1",
    "source": "/alerts",
    "type": "Quantum.Job.CostAlert",
    "subject": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
    "/providers/Microsoft.Quantum/workspaces/ws/jobs/0a1b2c3d-0000-4000-8000-00000000abcd",
    "data": {"reason": "budget"},
}
SCRIPT = """
import asyncio, json, sys
import azure.functions
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from devtools.host.client_binding import DurableEndpoints, client_binding_json
import function_app
from triggers import job_alerts

event = EventGridEventInConverter.decode(
    meta.Datum(type="json", value=sys.argv[1]), trigger_metadata=None
)
functions = function_app.app.get_functions()
[function] = [f for f in functions if f.get_function_name() == "on_job_alert"]
binding = client_binding_json(DurableEndpoints("http://127.0.0.1:9", "Hub", "key"))
try:
    asyncio.run(function.get_user_function()(event=event, client=binding))
    outcome = "acknowledged"
except job_alerts.UnreadableEvent:
    outcome = "failed"
print(json.dumps({"version": azure.functions.__version__,
                  "decodes": job_alerts.decodes_cloud_events(), "outcome": outcome}))
"""


def test_a_cloud_event_is_not_acknowledged_unread_by_the_bundled_decoder(tmp_path: Path) -> None:
    wheels = sorted(WHEELS.glob("azure_functions-1.24.0-*.whl"))
    if not wheels:
        pytest.fail(f"no azure-functions 1.24.0 wheel in {WHEELS}: run `make venv`")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(
            tmp_path / "worker", [n for n in wheel.namelist() if n.startswith("azure/")]
        )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(CLOUD_EVENT)],
        cwd=PROJECT_ROOT,
        env={"PYTHONPATH": f"{tmp_path / 'worker'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"version": "1.24.0", "decodes": False, "outcome": "failed"}
    assert "cannot decode CloudEvents" in done.stderr
    assert "PYTHON_ISOLATE_WORKER_DEPENDENCIES=1" in done.stderr
    assert "has no readable type" in done.stderr


def test_the_installed_azure_functions_decodes_cloud_events() -> None:
    from triggers.job_alerts import decodes_cloud_events

    assert decodes_cloud_events()
