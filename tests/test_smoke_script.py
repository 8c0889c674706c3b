"""scripts/smoke_test.py, the post-``azd up`` check, run as an operator runs it: a subprocess
against devtools.host, whose data plane is the simulator, so that the script cannot rot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.host import HostProcess, start_host

TERMINAL = ("Succeeded", "Failed", "Cancelled", "Completed")
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "smoke_test.py"
KEY = "smoke-test-function-key"
WORKSPACE_ID = (
    f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/{DEFAULT_RESOURCE_GROUP}"
    f"/providers/Microsoft.Quantum/workspaces/{DEFAULT_WORKSPACE}"
)


@pytest.fixture(scope="module")
def app(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    host = start_host(
        tmp_path_factory.mktemp("smoke-host"), quantum_endpoint=_simulator_session.url
    )
    yield host
    host.stop()


@pytest.fixture(autouse=True)
def _real_time(simulator: SimulatorServer) -> None:
    simulator.clock.set_real()  # the host's timers are real


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )


def test_the_smoke_test_dry_runs_the_workspace_and_prints_what_it_found(
    app: HostProcess, simulator: SimulatorServer
) -> None:
    running = [simulator.seed_job(lifecycle=[["Executing", {}]]) for _ in range(3)]
    simulator.seed_job(lifecycle=[["Succeeded", {}]])
    done = smoke("--app", app.url, "--key", KEY, "--workspace", WORKSPACE_ID)
    assert done.returncode == 0, done.stderr
    assert "Completed" in done.stdout
    # The figure printed is the simulator's own count of unfinished jobs.
    unfinished = [j for j in simulator.job_states() if j["status"] not in TERMINAL]
    assert len(unfinished) == 3
    assert f"unfinished jobs matched: {len(unfinished)} (dry run: nothing cancelled)" in done.stdout
    assert all(job in done.stdout for job in running)
    assert KEY not in done.stdout + done.stderr
    # A dry run: the service saw listings only, never a cancel or a session close.
    operations = {e["operation"] for e in simulator.requests()}
    assert operations and operations <= {"Jobs_List", "Jobs_Get"}, operations


def test_the_smoke_test_fails_plainly(app: HostProcess, simulator: SimulatorServer) -> None:
    # The app identity has no data role on the workspace yet (role assignments propagate).
    simulator.add_fault({"operation": "Jobs_List", "httpStatus": 403})
    failed = smoke("--app", app.url, "--workspace", WORKSPACE_ID)
    assert failed.returncode == 1
    assert "Failed" in failed.stdout and "403" in failed.stdout
    wrong = smoke("--app", app.url, "--workspace", "/subscriptions/x/not-a-workspace")
    assert wrong.returncode == 1
    assert "not an Azure Quantum workspace resource ID" in wrong.stderr
    unreachable = smoke("--app", "http://127.0.0.1:9", "--workspace", WORKSPACE_ID)
    assert unreachable.returncode == 1 and "smoke test failed" in unreachable.stderr
