"""Secrets: a recognisable caller token must appear nowhere a person or a log pipeline reads.

Every scenario runs with a token of its own. In process (the real orchestration in virtual
time), every log record of every logger is captured, with the custom status (progress), the
outputs, the error, the orchestration input, the history with every activity input, and the
store's state. Through ``devtools.host``, the same holds for the host's log file, the HTTP
answers (check-status payloads, status documents, problem documents), the management API with
the input, the history and its outputs, the instance list, and the state files on disk. The
token is sealed before it enters any Durable input (README "Security"), so it is nowhere in
clear.

Every place searched is kept as a ``texts`` record and the count of leaks is computed from
those records (tests/support/evidence.py); a planted leak proves that the count can move.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from appsettings import load_settings
from dataplane.auth import StaticToken
from dataplane.client import QuantumJobsClient
from dataplane.errors import QuantumError
from dataplane.resources import JobRef
from dataplane.versions import DEFAULT_API_VERSION
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support import plants
from tests.support.e2e import job_body, wait_finished
from tests.support.evidence import Evidence, answer_of, leaks
from tests.support.host import start_host
from tests.support.orchestration import Harness, Run
from tests.support.reliability import JournalStore, LogCapture, OutboundGuard, SuiteRecords
from tests.support.reliability_report import problems, rows
from tests.support.telemetry import telemetry_capture
from workflow.bulk_inputs import bulk_instance_id, checked_bulk_input

JOB = "0a1b2c3d-0000-4000-8000-0000000005ec"
BYSTANDER = "0a1b2c3d-0000-4000-8000-00000000b57d"
FAST = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 600}

# name: (lifecycle or None for an unknown job, fault rules, extra request fields, redirect)
SCENARIOS: dict[str, tuple[Any, list[dict[str, Any]], dict[str, Any], bool]] = {
    "cancelled": ("default", [], {}, False),
    "already-terminal": ("already-succeeded", [], {}, False),
    "finished-before-cancel": ("loses-race-succeeded", [], {}, False),
    "timed-out": ("stuck-cancelling", [], {}, False),
    "conflict-409": ({"before": [["Executing", {"reads": 1}], ["Succeeded", {}]]}, [], {}, False),
    "legacy-delete-cancel": ("default", [], {"apiVersion": "2024-10-01-preview"}, False),
    "throttled-then-cancelled": (
        "default",
        [{"operation": "Jobs_Cancel", "count": 2, "httpStatus": 429, "retryAfter": 5}],
        {},
        False,
    ),
    "transient-exhausted": (
        "default",
        [{"operation": "Jobs_Get", "count": 6, "httpStatus": 503}],
        {},
        False,
    ),
    "reset-and-broken-bodies": (
        "default",
        [
            {"operation": "Jobs_Get", "count": 1, "effect": "reset"},
            {"operation": "Jobs_Get", "count": 1, "effect": "malformedJson"},
            {"operation": "Jobs_Cancel", "count": 1, "effect": "drop", "after": True},
        ],
        {},
        False,
    ),
    "unknown-job-404": (None, [], {}, False),
    "forbidden-403": (
        "default",
        [{"operation": "Jobs_Get", "count": 1, "httpStatus": 403}],
        {},
        False,
    ),
    "unauthorised-401": (
        "default",
        [{"operation": "Jobs_Cancel", "count": 1, "httpStatus": 401}],
        {},
        False,
    ),
    "redirected-307": ("default", [], {}, True),
}


# Workspace-scale runs: a parent, its page instances, and their generations. name: body
BULK_SCENARIOS: dict[str, dict[str, Any]] = {
    "bulk-filter-cancelled": {"filter": {"target": ["ionq.simulator"]}},
    "bulk-named-jobs-one-missing": {"jobIds": [JOB, BYSTANDER]},
}
# A listing is no Jobs_Get: bulk jobs move on by time.
BY_TIME = {
    "before": [["Executing", {}]],
    "after": [["Cancelling", {"seconds": 5}], ["Cancelled", {}]],
}


def _token() -> str:
    return f"tok-LEAKCHECK-{uuid.uuid4().hex}"


def _start(harness: Harness, name: str) -> tuple[Run, list[str]]:
    """Prepare the simulator for scenario ``name`` and run it to its end; returns the run and
    the jobs it may touch."""
    sim = harness.simulator
    if name in BULK_SCENARIOS:
        sim.set_options(pageSize=100)
        jobs = [
            sim.seed_job(job, lifecycle=BY_TIME, details={"target": "ionq.simulator"})
            for job in (JOB, *(str(uuid.uuid4()) for _ in range(3)))
        ]
        body = {
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "endpoint": sim.url,
            "authToken": harness.token,
            "options": FAST,
            **BULK_SCENARIOS[name],
        }
        request = checked_bulk_input(body, load_settings())
        run = harness.run_orchestration("cancel_jobs", bulk_instance_id(request), request)
        return run, [*jobs, BYSTANDER]
    lifecycle, faults, extra, redirect = SCENARIOS[name]
    if lifecycle is not None:
        sim.seed_job(JOB, lifecycle=lifecycle)
    for rule in faults:
        sim.add_fault(rule)
    if redirect:
        sim.set_redirect(JOB, f"{sim.url}/elsewhere")
    return harness.run(harness.request(JOB, options=FAST, **extra)), [JOB]


def run_scenario(harness: Harness, name: str, token: str, records: SuiteRecords) -> JournalStore:
    """Run one scenario in process and keep what it produced: every place the token must not
    be, the simulator's requests and the faults it applied. Returns the store, whose journal
    holds every state of every instance and generation the run made."""
    sim = harness.simulator
    sim.set_options(token=token)
    store = JournalStore()
    secret_harness = Harness(sim, token, clock=harness.clock, store=store)
    capture = telemetry_capture()
    capture.clear()
    with LogCapture() as logs:
        run, jobs = _start(secret_harness, name)
        status = run.status
    records.add("run", runtimeStatus=status.runtime_status.value)
    records.add(
        "texts",
        secret=token,
        places={
            # Every logger, the engine's own included: what the host logs of a failed run.
            "logs": logs.text(),
            "progress": json.dumps(status.custom_status),
            "output-or-error": json.dumps(status.output),
            "simulator-log": json.dumps(sim.requests()),
            # What the task hub keeps: the orchestration input and the history, whose
            # TaskScheduled events hold every activity input...
            "orchestration input": json.dumps(status.input),
            "history and activity inputs": json.dumps(status.history),
            "stored state": json.dumps([store.load(i) for i in store.list_ids()]),
            # ...and what it kept before: every generation (a failed run and a long
            # confirmation continue as new) of every instance the run created.
            "every stored state of every generation": "\n".join(store.journal),
        },
    )
    records.add("requests", entries=sim.requests(), jobs=jobs, listings=name in BULK_SCENARIOS)
    records.add("faults", rules=sim.fault_rules())
    assert logs.lines, "nothing was logged: the capture is not working"
    return store


@pytest.mark.parametrize("name", [*SCENARIOS, *BULK_SCENARIOS])
def test_token_appears_nowhere_in_process(
    harness: Harness, guard: OutboundGuard, records: SuiteRecords, name: str
) -> None:
    token = _token()
    run_scenario(harness, name, token, records)
    found = records.figures()
    assert found["tokens_leaked"] == 0, [leaks(r) for r in records.mine if r["kind"] == "texts"]
    assert found["disallowed_requests"] == 0
    # The token was really used: the service saw it (the simulator checks it).
    assert all(e["authPresent"] for e in harness.simulator.requests())


def test_a_planted_leak_and_a_stray_request_show_in_the_table(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test-only build that writes the token to a log line, and a request for a job the run
    # never named: both must come out of the records as non-zero figures, and fail the run.
    real = StaticToken.token

    def leaky(self: StaticToken) -> str:
        token = real(self)
        logging.getLogger("activities.jobs").info("using token %s", token)
        return token

    monkeypatch.setattr(StaticToken, "token", leaky)
    planted = SuiteRecords("secrets", Evidence())  # kept out of the session's table
    token = _token()
    run_scenario(harness, "cancelled", token, planted)
    stray = QuantumJobsClient(harness.simulator.url, DEFAULT_API_VERSION, StaticToken(token))
    with contextlib.suppress(QuantumError):
        stray.get_job(JobRef.checked(DEFAULT_SUBSCRIPTION_ID, "rg", "ws", BYSTANDER))
    planted.add("requests", entries=harness.simulator.requests(), jobs=[JOB])
    document = {
        "scale": "planted",
        "exitstatus": 0,
        "outcomes": {"secrets": {"passed": 1}},
        "records": planted.mine,
    }
    row = rows(document)[0]
    assert row["tokens_leaked"] >= 1 and row["disallowed_requests"] >= 1, row
    assert any("tokens leaked" in p for p in problems(document))
    assert any("disallowed requests" in p for p in problems(document))


def test_a_token_stored_in_clear_is_found_in_every_scenario(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planted: sealing bypassed, the caller's token stored in clear (the runs still work).
    # The search must find it in every scenario, also in those whose run failed: their last
    # generation holds only the failure, so only the earlier generations show the token.
    plants.apply("sealing-bypassed", monkeypatch.setattr)
    missed, failed = [], {}
    for name in [*SCENARIOS, *BULK_SCENARIOS]:
        harness.simulator.reset()
        planted = SuiteRecords("secrets", Evidence())  # kept out of the session's table
        store = run_scenario(harness, name, _token(), planted)
        [run] = [r for r in planted.mine if r["kind"] == "run"]
        [texts] = [r for r in planted.mine if r["kind"] == "texts"]
        if planted.figures()["tokens_leaked"] == 0:
            missed.append(name)
        if run["runtimeStatus"] == "Failed":
            # What a search of the last generation alone would have found.
            failed[name] = (
                [p for p in leaks(texts) if p != "every stored state of every generation"],
                max(store.generations().values()),
            )
    assert missed == [], missed
    assert len(failed) == 5 and all(v == ([], 2) for v in failed.values()), failed


def test_token_appears_nowhere_through_the_host(
    simulator: SimulatorServer, tmp_path: Path, records: SuiteRecords
) -> None:
    token = _token()
    simulator.set_options(token=token)
    cancelled = simulator.seed_job(str(uuid.uuid4()))
    forbidden = simulator.seed_job(str(uuid.uuid4()))
    simulator.add_fault(
        {"operation": "Jobs_Get", "jobId": forbidden, "count": 1, "httpStatus": 403}
    )
    unknown = str(uuid.uuid4())
    journal = tmp_path / "every-stored-state.jsonl"
    host = start_host(
        tmp_path / "secrets-host", quantum_endpoint=simulator.url, store_journal=journal
    )
    places: dict[str, str] = {}
    answers: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}

    def keep(name: str, response: requests.Response) -> requests.Response:
        places[name] = response.text + json.dumps(dict(response.headers))
        answers.append(answer_of("http", response))
        statuses[name] = response.status_code
        return response

    try:
        ids = []
        for job_id in (cancelled, forbidden, unknown):
            response = keep(
                f"start {job_id}",
                requests.post(
                    host.url + "/api/cancel-running-job",
                    json=_secret_body(simulator, token, job_id),
                    timeout=10,
                ),
            )
            if response.status_code == 202:
                ids.append(response.json()["id"])
        # Problem documents: the token in every place a caller could put it by mistake.
        for n, changes in enumerate(
            (
                {"authToken": f"Bearer {token}"},
                {"authToken": token + " "},
                {"jobId": token},
                {"endpoint": f"https://{token}.evil.example"},
                {"location": token},
                {"apiVersion": token},
                {"options": {"timeoutSeconds": token}},
                {"unknownField": token},
            )
        ):
            keep(
                f"problem {n}",
                requests.post(
                    host.url + "/api/cancel-running-job",
                    json={**_secret_body(simulator, token, cancelled), **changes},
                    params={"waitSeconds": token},
                    timeout=10,
                ),
            )
        for instance_id in ids:
            document = wait_finished(host, instance_id)
            documents.append(document)
            places[f"status document {instance_id}"] = json.dumps(document)
            # The management API, as any holder of the system key can read it: with the input,
            # the history and its outputs (the token is stored sealed, never in clear).
            base = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
            for query in (
                "",
                "?showHistory=true&showHistoryOutput=true",
                "?showInput=false&showHistory=true",
            ):
                places[f"management {instance_id}{query}"] = requests.get(
                    base + query, timeout=10
                ).text
        for query in ("", "?showInput=false"):
            places[f"instance list{query}"] = requests.get(
                f"{host.url}/runtime/webhooks/durabletask/instances{query}", timeout=10
            ).text
    finally:
        host.stop()
        # The host's log (the failed runs' errors included), the state files as they are
        # now, and every state the host ever stored: each generation of each run.
        places["host log"] = host.log_text()
        for path in sorted((tmp_path / "secrets-host").rglob("*.json")):
            places[f"stored state {path.name}"] = path.read_text(encoding="utf-8")
        stored = journal.read_text(encoding="utf-8") if journal.exists() else ""
        places["every stored state of every generation"] = stored
        for document in documents:
            records.add("run", runtimeStatus=document["runtimeStatus"])
        records.add("texts", secret=token, places=places)
        records.add("answers", answers=answers)
        records.add("requests", entries=simulator.requests(), jobs=[cancelled, forbidden, unknown])
        records.add("faults", rules=simulator.fault_rules())
    assert [statuses[f"start {job}"] for job in (cancelled, forbidden, unknown)] == [202] * 3
    assert {n: c for n, c in statuses.items() if n.startswith("problem")} == {
        f"problem {n}": 400 for n in range(8)
    }
    assert [d["runtimeStatus"] for d in documents] == ["Completed", "Failed", "Failed"]
    assert places["host log"].count("\n") > 10
    # The failed runs went through more than one generation, and the journal has them all.
    generations = {
        (json.loads(line)["instance_id"], json.loads(line)["execution_id"])
        for line in stored.splitlines()
    }
    assert len(generations) >= 5, generations
    found = records.figures()
    assert found["tokens_leaked"] == 0, [leaks(r) for r in records.mine if r["kind"] == "texts"]
    assert found["disallowed_requests"] == 0


def _secret_body(sim: SimulatorServer, token: str, job_id: str) -> dict[str, Any]:
    return job_body(job_id, endpoint=sim.url, authToken=token)
