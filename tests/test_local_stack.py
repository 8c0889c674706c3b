"""The local stack a newcomer meets: ``make serve`` (devtools.serve), the settings sample and the
README's settings table."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devtools.simulator import events as simulator_events
from tests.test_infra import settings_read_by_the_app

ROOT = Path(__file__).resolve().parents[1]
#: PRODUCT's settings that the features merged beside this one read (guardrails, outcome
#: events, monitor alerts): the sample and the table carry them already.
CONTRACT_SETTINGS = {
    "AzureWebJobsStorage",
    "FUNCTIONS_WORKER_RUNTIME",
    "MONITOR_ALERT_ACTIONS",
    "GUARDRAIL_POLICY",
    "GUARDRAIL_SCHEDULE",
    "EVENTS_TOPIC_ENDPOINT",
    "EVENTS_TOPIC_KEY",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
}


def readme_settings() -> set[str]:
    """Every name in the first column of README's settings table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| setting | default | meaning |") :].split("\n\n", 1)[0]
    names: set[str] = set()
    for line in table.splitlines()[2:]:
        names.update(re.findall(r"`([A-Za-z_]+)`", line.strip("|").split("|")[0]))
    return names


def sample_values() -> dict[str, str]:
    document = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    values: dict[str, str] = document["Values"]
    return values


def test_the_sample_and_the_readme_table_hold_every_setting() -> None:
    documented = readme_settings()
    wanted = set(settings_read_by_the_app()) | CONTRACT_SETTINGS
    assert wanted - documented == set()
    assert documented - set(sample_values()) == set()


def test_the_sample_signs_in_locally_with_the_simulators_identity() -> None:
    values = sample_values()
    assert values["IDENTITY_ENDPOINT"] == f"{values['QUANTUM_ENDPOINT']}/_simulator/identity/token"
    assert values["QUANTUM_ALLOW_LOOPBACK"] == "true"
    assert values["CALLER_TOKEN_KEY"] == ""  # no secret
    # The only key in the sample is the simulator's own topic key, public by design.
    assert values["EVENTS_TOPIC_ENDPOINT"] == f"{values['QUANTUM_ENDPOINT']}/api/events"
    assert values["EVENTS_TOPIC_KEY"] == simulator_events.TOPIC_KEY


def test_serve_starts_jobs_on_two_targets_prints_commands_and_stops_both_on_ctrl_c(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "devtools.serve", "--port", "0", "--simulator-port", "0"]
    process = subprocess.Popen(
        [*command, "--state-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("Ctrl-C stops both" in x for x in lines):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
    printed = "".join(lines)
    try:
        urls = re.search(r"app \(devtools.host\): (\S+)\s+simulator: (\S+)", printed)
        assert urls is not None, printed
        app, simulator = urls.groups()
        jobs = requests.get(f"{simulator}/_simulator/jobs", timeout=10).json()["jobs"]
        targets = {job["details"]["target"] for job in jobs}
        assert len(targets) == 2 and all(job["status"] == "Executing" for job in jobs)
        assert requests.get(f"{app}/api/cancellations", timeout=10).status_code == 200
        assert f"export QUANTUM_CANCEL_APP={app}" in printed
        assert "jobs --target ionq.simulator --dry-run" in printed
        assert f"curl -s -X POST {app}/api/cancel-running-job" in printed
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=40)
    assert process.returncode == 0
    assert "serve: stopped" in rest
    for url in (app, simulator):
        try:
            requests.get(url, timeout=2)
        except requests.ConnectionError:
            continue
        raise AssertionError(f"{url} still answers after Ctrl-C")
