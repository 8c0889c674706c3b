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

from dataplane.auth import StaticToken
from dataplane.client import QuantumJobsClient
from dataplane.errors import QuantumError
from dataplane.resources import JobRef
from dataplane.versions import DEFAULT_API_VERSION
from devtools.simulator import DEFAULT_SUBSCRIPTION_ID, SimulatorServer
from tests.support.e2e import job_body, wait_finished
from tests.support.evidence import Evidence, answer_of, leaks
from tests.support.host import start_host
from tests.support.orchestration import Harness
from tests.support.reliability import LogCapture, OutboundGuard, SuiteRecords
from tests.support.reliability_report import problems, rows
from tests.support.telemetry import telemetry_capture

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


def _token() -> str:
    return f"tok-LEAKCHECK-{uuid.uuid4().hex}"


def run_scenario(harness: Harness, name: str, token: str, records: SuiteRecords) -> None:
    """Run one scenario in process and keep what it produced: every place the token must not
    be, the simulator's requests and the faults it applied."""
    lifecycle, faults, extra, redirect = SCENARIOS[name]
    sim = harness.simulator
    sim.set_options(token=token)
    if lifecycle is not None:
        sim.seed_job(JOB, lifecycle=lifecycle)
    for rule in faults:
        sim.add_fault(rule)
    if redirect:
        sim.set_redirect(JOB, f"{sim.url}/elsewhere")
    secret_harness = Harness(sim, token, clock=harness.clock, store=harness.store)
    capture = telemetry_capture()
    capture.clear()
    with LogCapture() as logs:
        run = secret_harness.run(secret_harness.request(JOB, options=FAST, **extra))
        status = run.status
    records.add("run", runtimeStatus=status.runtime_status.value)
    records.add(
        "texts",
        secret=token,
        places={
            "logs": logs.text(),
            "progress": json.dumps(status.custom_status),
            "output-or-error": json.dumps(status.output),
            "simulator-log": json.dumps(sim.requests()),
            # What the task hub keeps: the orchestration input and the history, whose
            # TaskScheduled events hold every activity input.
            "orchestration input": json.dumps(status.input),
            "history and activity inputs": json.dumps(status.history),
            "stored state": json.dumps([harness.store.load(i) for i in harness.store.list_ids()]),
        },
    )
    records.add("requests", entries=sim.requests(), jobs=[JOB])
    records.add("faults", rules=sim.fault_rules())
    assert logs.lines, "nothing was logged: the capture is not working"


@pytest.mark.parametrize("name", list(SCENARIOS))
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
    host = start_host(tmp_path / "secrets-host", quantum_endpoint=simulator.url)
    places: dict[str, str] = {}
    answers: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []

    def keep(name: str, response: requests.Response) -> requests.Response:
        places[name] = response.text + json.dumps(dict(response.headers))
        answers.append(answer_of("http", response))
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
            assert response.status_code == 202, response.text
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
            response = keep(
                f"problem {n}",
                requests.post(
                    host.url + "/api/cancel-running-job",
                    json={**_secret_body(simulator, token, cancelled), **changes},
                    params={"waitSeconds": token},
                    timeout=10,
                ),
            )
            assert response.status_code == 400
        for instance_id in ids:
            document = wait_finished(host, instance_id)
            documents.append(document)
            places[f"status document {instance_id}"] = json.dumps(document)
            # The management API shows inputs unless told not to (as the extension does);
            # an operator who reads it without the input must not find the token elsewhere.
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
    places["host log"] = host.log_text()
    for path in sorted((tmp_path / "secrets-host").rglob("*.json")):
        places[f"stored state {path.name}"] = path.read_text(encoding="utf-8")
    for document in documents:
        records.add("run", runtimeStatus=document["runtimeStatus"])
    records.add("texts", secret=token, places=places)
    records.add("answers", answers=answers)
    records.add("requests", entries=simulator.requests(), jobs=[cancelled, forbidden, unknown])
    records.add("faults", rules=simulator.fault_rules())
    assert [d["runtimeStatus"] for d in documents] == ["Completed", "Failed", "Failed"]
    assert places["host log"].count("\n") > 10
    found = records.figures()
    assert found["tokens_leaked"] == 0, [leaks(r) for r in records.mine if r["kind"] == "texts"]
    assert found["disallowed_requests"] == 0


def _secret_body(sim: SimulatorServer, token: str, job_id: str) -> dict[str, Any]:
    return job_body(job_id, endpoint=sim.url, authToken=token)
