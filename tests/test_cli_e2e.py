"""The quantum-cancel CLI end to end: ``python -m quantum_cancel`` as a subprocess, against
devtools.host (checking function keys, as Azure does) and the simulator, over real HTTP.

What the CLI claims is checked against an independent record: the simulator's own job
counters (which job got a cancel request, how many) and the app's routes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.host import HostProcess, module_host

ROOT = Path(__file__).resolve().parents[1]
KEY = "cli-test-function-key-Q7x9"
WORKSPACE = f"{DEFAULT_SUBSCRIPTION_ID}/{DEFAULT_RESOURCE_GROUP}/{DEFAULT_WORKSPACE}"
# Runs until cancelled, then Cancelled at once: a listing confirms it as well as a Jobs_Get.
QUICK = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
ANSI = re.compile(r"\x1b\[")
#: Everything every CLI run printed in this module, for the "never prints the key" check.
PRINTED: list[str] = []


@dataclass(frozen=True)
class Result:
    """One CLI run."""

    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def keyed_host(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    env = {
        "DEVHOST_FUNCTION_KEY": KEY,
        "CANCEL_POLL_INTERVAL_SECONDS": "1",
        "CANCEL_MAX_POLL_INTERVAL_SECONDS": "1",
    }
    hosted = module_host(_simulator_session.url, tmp_path_factory, "cli-host", env)
    process = next(hosted)
    yield process
    next(hosted, None)  # stops the host
    assert KEY not in process.log_text()


@pytest.fixture
def sim(sim: SimulatorServer) -> SimulatorServer:
    """The real-clock simulator (tests/conftest.py), paging 100 jobs as the service does."""
    sim.set_options(pageSize=100)
    return sim


def cli(
    host: HostProcess | str, *args: str, key: str | None = KEY, stdin: str = "", **env: str
) -> Result:
    """Run ``python -m quantum_cancel ARGS`` with the app, key and workspace in the environment."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("QUANTUM_CANCEL_", "COLUMNS"))
    }
    environment.update(
        QUANTUM_CANCEL_APP=host if isinstance(host, str) else host.url,
        QUANTUM_CANCEL_WORKSPACE=WORKSPACE,
        **env,
    )
    if key is not None:
        environment["QUANTUM_CANCEL_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "quantum_cancel", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=150,
    )
    PRINTED.extend((done.stdout, done.stderr))
    return Result(done.returncode, done.stdout, done.stderr)


def cancel_requests(sim: SimulatorServer, job_id: str) -> int:
    """How many cancels the simulator received for the job (its own counter)."""
    counters: dict[str, int] = sim.job_state(job_id)["counters"]
    return counters["cancelRequests"]


def test_one_job_is_cancelled_and_followed_to_its_end(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    job = sim.seed_job(lifecycle=QUICK)
    done = cli(keyed_host, "job", job, "--json")
    assert done.status == 0, done.stderr
    document = done.json()
    assert document["runtimeStatus"] == "Completed"
    assert document["outputs"]["outcome"] == "cancelled"
    assert document["outputs"]["finalStatus"] == "Cancelled"
    assert cancel_requests(sim, job) == 1
    # Asked again (plain output): a new run reads the job, finds it final, sends no cancel.
    again = cli(keyed_host, "job", job)
    assert again.status == 0, again.stderr
    assert f"job {job}: alreadyTerminal (final status Cancelled" in again.stdout
    assert not ANSI.search(again.stdout + again.stderr)  # not a terminal: no escape codes
    assert cancel_requests(sim, job) == 1


def test_a_job_that_does_not_exist_fails_with_exit_status_2(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    missing = str(uuid.uuid4())
    done = cli(keyed_host, "job", missing)
    assert done.status == 2
    assert "JobNotFound" in done.stdout


def test_a_dry_run_then_a_real_run_of_50_jobs_then_csv_results(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    chosen = {
        sim.seed_job(lifecycle=QUICK, details={"target": "ionq.simulator"}) for _ in range(50)
    }
    others = [
        sim.seed_job(lifecycle=QUICK, details={"target": "rigetti.sim.qvm"}) for _ in range(3)
    ]

    dry = cli(keyed_host, "jobs", "--target", "ionq.simulator", "--dry-run", "--json")
    assert dry.status == 0, dry.stderr
    found = dry.json()["dryRun"]["outputs"]
    assert found["matched"] == 50
    assert {job["jobId"] for job in found["jobs"]} == chosen

    # Without --yes the dry run's table comes first, then a question; "no" cancels nothing.
    declined = cli(keyed_host, "jobs", "--target", "ionq.simulator", stdin="n\n")
    assert declined.status == 0, declined.stderr
    assert "50 jobs match" in declined.stdout
    assert "Cancel these 50 jobs?" in declined.stderr
    assert "nothing was cancelled" in declined.stdout
    assert sum(cancel_requests(sim, job) for job in chosen | set(others)) == 0

    run = cli(keyed_host, "jobs", "--target", "ionq.simulator", stdin="y\n")
    assert run.status == 0, run.stdout + run.stderr
    instance_id = re.search(r"^run (cancel-jobs-[0-9a-f]{32})$", run.stdout, re.M)
    assert instance_id is not None, run.stdout
    assert re.search(r"cancelled\s*│\s*50", run.stdout), run.stdout
    # The simulator's own record: one cancel for each chosen job, none for the others.
    assert [cancel_requests(sim, job) for job in chosen] == [1] * 50
    assert [cancel_requests(sim, job) for job in others] == [0, 0, 0]

    status = cli(keyed_host, "status", instance_id.group(1), "--json")
    assert status.status == 0 and status.json()["outputs"]["outcomes"]["cancelled"] == 50
    table = cli(keyed_host, "results", instance_id.group(1))
    assert table.status == 0 and "50 jobs" in table.stdout
    results = cli(keyed_host, "results", instance_id.group(1), "--format", "csv")
    assert results.status == 0, results.stderr
    rows = list(csv.DictReader(io.StringIO(results.stdout)))
    assert {row["jobId"] for row in rows} == chosen
    assert {row["outcome"] for row in rows} == {"cancelled"}
    assert {row["finalStatus"] for row in rows} == {"Cancelled"}


def test_named_jobs_from_a_file_and_one_selector_only(
    keyed_host: HostProcess, sim: SimulatorServer, tmp_path: Path
) -> None:
    named = [sim.seed_job(lifecycle=QUICK) for _ in range(3)]
    ids = tmp_path / "ids.txt"
    ids.write_text("# the jobs to stop\n" + "\n".join(named) + "\n\n", encoding="utf-8")
    dry = cli(keyed_host, "jobs", "--ids", str(ids), "--dry-run", "--json")
    assert dry.status == 0, dry.stderr
    assert dry.json()["dryRun"]["outputs"]["matched"] == 3
    both = cli(keyed_host, "jobs", "--ids", str(ids), "--target", "ionq.simulator", "--yes")
    assert both.status == 1
    assert "exactly one of" in both.stderr
    assert sum(cancel_requests(sim, job) for job in named) == 0


def test_list_running_shows_a_run_still_going(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    stuck = sim.seed_job(lifecycle="stuck-cancelling")
    body = {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "jobId": stuck,
        "options": {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1, "timeoutSeconds": 600},
    }
    started = requests.post(
        keyed_host.url + "/api/cancel-running-job", json=body, headers={"x-functions-key": KEY}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert started.json()["statusUrl"] == f"{keyed_host.url}/api/cancel-running-job/{run_id}"

    listed = cli(keyed_host, "list", "--running", "--json")
    assert listed.status == 0, listed.stderr
    running = {entry["instanceId"]: entry for entry in listed.json()["value"]}
    assert running[run_id]["jobId"] == stuck
    assert running[run_id]["runtimeStatus"] == "Running"
    assert all(entry["runtimeStatus"] in ("Pending", "Running") for entry in running.values())
    plain = cli(keyed_host, "list", "--running")
    assert run_id in plain.stdout
    # The run of a job, found by its coordinates (no instance id needed).
    status = cli(keyed_host, "status", stuck, "--json")
    assert status.status == 0 and status.json()["instanceId"] == run_id
    # Finished runs are listed without --running, not with it.
    everything = cli(keyed_host, "list", "--json").json()["value"]
    assert any(entry["runtimeStatus"] == "Completed" for entry in everything)


def test_a_wrong_key_is_refused_and_the_message_says_what_to_set(keyed_host: HostProcess) -> None:
    wrong = "not-the-key-3f9a"
    done = cli(keyed_host, "list", key=wrong)
    assert done.status == 1
    assert "refused the function key (HTTP 401)" in done.stderr
    assert "QUANTUM_CANCEL_KEY" in done.stderr
    assert wrong not in done.stdout + done.stderr
    no_key = cli(keyed_host, "list", key=None)
    assert no_key.status == 1 and "HTTP 401" in no_key.stderr


def test_an_unreachable_app_is_a_connection_error(keyed_host: HostProcess) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    done = cli(f"http://127.0.0.1:{closed_port}", "list")
    assert done.status == 1
    assert f"cannot reach the app at http://127.0.0.1:{closed_port}" in done.stderr
    assert "QUANTUM_CANCEL_APP" in done.stderr
    scripted = cli(f"http://127.0.0.1:{closed_port}", "list", "--json")
    assert scripted.status == 1
    assert scripted.json()["exitStatus"] == 1
    assert "cannot reach the app" in scripted.json()["error"]


def test_a_bad_workspace_string_is_a_usage_error(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    job = sim.seed_job(lifecycle=QUICK)
    shape = cli(keyed_host, "job", job, "--workspace", "not-a-workspace")
    assert shape.status == 1
    assert "--workspace must be SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE_NAME" in shape.stderr
    values = cli(keyed_host, "job", job, "--workspace", "sub/rg/w")
    assert values.status == 1
    assert "subscriptionId: must be a GUID" in values.stderr
    assert "workspaceName: must be" in values.stderr
    assert cancel_requests(sim, job) == 0  # nothing was started


def test_the_app_routes_refuse_bad_queries(keyed_host: HostProcess) -> None:
    headers = {"x-functions-key": KEY}
    bad = requests.get(keyed_host.url + "/api/cancellations?status=done&top=500", headers=headers)
    assert bad.status_code == 400
    assert {p["name"] for p in bad.json()["invalid-params"]} == {"status", "top"}
    unknown = requests.get(
        keyed_host.url + "/api/cancel-running-job",
        params={
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobId": str(uuid.uuid4()),
        },
        headers=headers,
    )
    assert unknown.status_code == 404


def test_a_terminal_gets_a_progress_bar_that_ends_at_100_percent(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    for _ in range(20):
        sim.seed_job(lifecycle=QUICK, details={"target": "ionq.qpu.aria-1"})
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUANTUM_CANCEL_")}
    environment.update(
        QUANTUM_CANCEL_APP=keyed_host.url,
        QUANTUM_CANCEL_KEY=KEY,
        QUANTUM_CANCEL_WORKSPACE=WORKSPACE,
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
    )
    screen = run_in_terminal(
        [sys.executable, "-m", "quantum_cancel", "jobs", "--target", "ionq.qpu.aria-1", "--yes"],
        environment,
    )
    PRINTED.append(screen.output)
    assert screen.status == 0, screen.output
    assert ANSI.search(screen.output)  # drawn live, with escape codes
    assert "━" in screen.output  # rich's bar
    # The live display ends by showing the cursor again; its last drawing is the final bar.
    drawn = screen.output.rsplit("\x1b[?25h", 1)[0]
    frames = drawn.split("\r\x1b[2K")
    assert len(frames) > 2, drawn  # redrawn in place as the run went on
    assert "100%" in frames[-1] and "20/20" in frames[-1], frames[-1]
    assert re.search(r"\d+\.\d jobs/s", frames[-1]), frames[-1]  # a rate, measured
    assert "100%" not in frames[1]


@dataclass(frozen=True)
class Terminal:
    status: int
    output: str


def run_in_terminal(argv: list[str], env: dict[str, str], timeout: float = 120) -> Terminal:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; collect what it drew."""
    controller, device = pty.openpty()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=device, stdout=device, stderr=device)
    os.close(device)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        status = process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    return Terminal(status, b"".join(chunks).decode("utf-8", errors="replace"))


def test_json_output_parses_and_the_key_never_appears(
    keyed_host: HostProcess, sim: SimulatorServer
) -> None:
    job = sim.seed_job(lifecycle=QUICK)
    for args in (("job", job), ("status", job), ("list",), ("results", job)):
        done = cli(keyed_host, *args, "--json")
        assert done.status == 0, done.stderr
        json.loads(done.stdout)  # exactly one JSON document on stdout
    # Every run of this module, under --json or not, on a pipe or a terminal.
    assert len(PRINTED) >= 8
    assert all(KEY not in text for text in PRINTED)


def test_guardrails_check_runs_the_apps_policy_check_offline(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens: offline
    rule = {"name": "qpu-runtime", "when": {"runningMinutesOver": 120}, "action": "cancel"}
    workspace = dict(
        zip(
            ("subscriptionId", "resourceGroupName", "workspaceName"),
            WORKSPACE.split("/"),
            strict=True,
        )
    )
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"workspaces": [workspace], "rules": [rule]}), encoding="utf-8")
    valid = cli(nowhere, "guardrails", "check", str(good))
    assert valid.status == 0, valid.stderr
    assert "valid, 1 rule(s) over 1 workspace(s)" in valid.stdout

    typo = {**rule, "filter": {"status": ["Runing"]}, "when": {"runningMinutesOver": 0}}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"workspaces": [workspace], "rules": [typo, rule, rule]}), "utf-8")
    refused = cli(nowhere, "guardrails", "check", str(bad), "--json")
    assert refused.status == 1
    problems = {(p["path"], p["reason"].split(";")[0]) for p in refused.json()["problems"]}
    assert problems == {
        ("rules[0].filter.status", "names a status the api-version does not list"),
        ("rules[0].when.runningMinutesOver", "must be a number > 0"),
        ("rules[2].name", "repeats the name of rules[1]"),
    }
    assert refused.json()["policy"] is None
    missing = cli(nowhere, "guardrails", "check", str(tmp_path / "absent.json"))
    assert missing.status == 1 and "policy: names a file that does not exist" in missing.stdout
