"""Planted defects: each blind spot an audit found has a test here that plants the defect
(tests/support/plants.py, by patching, never by editing the app) and shows that the tests
meant to catch it now fail, and fail on the check that names it.

Plants that must reach a host run the target tests in a pytest subprocess whose Python path
carries tests/support/plant_site (its sitecustomize applies the plant there and in every host
that subprocess starts). In-process plants are in the suites themselves:
``test_a_token_stored_in_clear_is_found_in_every_scenario`` (secrets) and
``test_an_alert_run_counted_as_http_is_caught`` (telemetry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support import plants
from tests.support.evidence import by_suite
from tests.support.optional import CI_VARIABLE, dev_requirement

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_planted(plant: str, node_ids: list[str], tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Run ``node_ids`` in a pytest subprocess with ``plant`` applied; returns each test's
    outcome (passed, failed, error, skipped) and failure text, by test name."""
    junit = tmp_path / f"{plant}.xml"
    environment = {
        **os.environ,
        **plants.environment(plant),
        # Never overwrite the session's own reliability figures.
        "RELIABILITY_REPORT": str(tmp_path / f"{plant}-reliability.json"),
    }
    environment.pop("RELIABILITY_SCALE", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *node_ids,
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={junit}",
            "-o",
            "addopts=--strict-markers",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = "failed" if kind == "failure" else kind
                text = (found.get("message") or "") + (found.text or "")
                break
        results[case.get("name", "")] = (outcome, text)
    return results


SAME_INSTANCE_TESTS = [
    "tests/test_http_api_e2e.py::test_start_then_poll_the_status_query_uri",
    "tests/test_http_api_e2e.py::test_duplicate_start_returns_the_running_instance",
    "tests/test_http_api_e2e.py::test_concurrent_starts_make_one_cancel",
    "tests/test_event_grid_e2e.py::test_duplicates_in_one_batch_start_one_run",
    "tests/test_event_grid_e2e.py::test_a_running_alert_job_is_reported_once",
    "tests/test_bulk_e2e.py::test_dry_run_then_cancel_then_page_through_the_results",
    "tests/test_bulk_e2e.py::test_a_workspace_alert_starts_one_run",
    "tests/reliability/test_reliability_load.py::test_many_cancellations_at_once_with_duplicates",
]


def test_a_random_instance_suffix_fails_every_same_instance_check(tmp_path: Path) -> None:
    # Planted: the starters start each run under its derived id plus a random suffix and
    # still answer with the derived id. Each test must fail on the instances that really
    # started (from the management API), not later on a 404.
    results = run_planted("instance-suffix", SAME_INSTANCE_TESTS, tmp_path)
    names = [node.rsplit("::", 1)[1] for node in SAME_INSTANCE_TESTS]
    assert sorted(results) == sorted(names), results
    not_caught = {
        name: result
        for name, result in results.items()
        if result[0] != "failed" or "instances that started" not in result[1]
    }
    assert not_caught == {}, not_caught
    # The duplicate figure is measured, so the plant moves it: no answer named a run that
    # really started, so no request counts as folded into one.
    report = json.loads((tmp_path / "instance-suffix-reliability.json").read_text())
    load = by_suite(report["records"])["load"]
    assert load["duplicate_requests"] == 0 and load["scenarios"] == 0, load


SECRETS = "tests/reliability/test_reliability_secrets.py"


def test_a_token_stored_in_clear_fails_the_secrets_suite(tmp_path: Path) -> None:
    # Planted: sealing bypassed. Every in-process scenario (the five that end in a failed
    # run among them) and the search through a real host must fail on a leak, and the host's
    # journal of every stored generation is one of the places that show it.
    results = run_planted(
        "sealing-bypassed",
        [
            f"{SECRETS}::test_token_appears_nowhere_in_process",
            f"{SECRETS}::test_token_appears_nowhere_through_the_host",
        ],
        tmp_path,
    )
    scenarios = {name: result for name, result in results.items() if "in_process" in name}
    assert len(scenarios) == 15, sorted(results)
    not_caught = {
        n: r for n, r in scenarios.items() if r[0] != "failed" or "tokens_leaked" not in r[1]
    }
    assert not_caught == {}, not_caught
    outcome, text = results["test_token_appears_nowhere_through_the_host"]
    assert outcome == "failed" and "every stored state of every generation" in text, text[:2000]


def test_a_missing_sdk_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    # Planted: azure-quantum missing (an import of it fails).
    monkeypatch.setitem(sys.modules, "azure.quantum", None)
    monkeypatch.setenv(CI_VARIABLE, "true")
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        dev_requirement("azure.quantum")
    monkeypatch.delenv(CI_VARIABLE)
    with pytest.raises(pytest.skip.Exception, match="dev requirement"):
        dev_requirement("azure.quantum")
