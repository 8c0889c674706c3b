"""Secrets: a recognisable caller token must appear nowhere a person or a log pipeline reads.

Every scenario runs with a token of its own. In process (the real orchestration in virtual
time), every log record of every logger is captured, with the custom status (progress), the
outputs and the error. Through ``devtools.host``, the same holds for the host's log file, the
HTTP answers (check-status payloads, status documents, problem documents), the management
API with ``showInput=false`` (with and without history) and the instance list. The token is
stored in the task hub as part of the orchestration input (README "Security"): that, and only
that, is where it may be.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.simulator import (
    SimulatorServer,
)
from tests.support.e2e import job_body
from tests.support.host import start_host, wait_for
from tests.support.orchestration import Harness
from tests.support.reliability import TALLY, LogCapture, OutboundGuard, occurrences

JOB = "0a1b2c3d-0000-4000-8000-0000000005ec"
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


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_token_appears_nowhere_in_process(
    harness: Harness, guard: OutboundGuard, name: str
) -> None:
    lifecycle, faults, extra, redirect = SCENARIOS[name]
    token = _token()
    sim = harness.simulator
    sim.set_options(token=token)
    if lifecycle is not None:
        sim.seed_job(JOB, lifecycle=lifecycle)
    for rule in faults:
        sim.add_fault(rule)
    if redirect:
        sim.set_redirect(JOB, f"{sim.url}/elsewhere")
    secret_harness = Harness(sim, token, clock=harness.clock, store=harness.store)
    with LogCapture() as logs:
        run = secret_harness.run(secret_harness.request(JOB, options=FAST, **extra))
        status = run.status
    places = {
        "logs": logs.text(),
        "progress": status.custom_status,
        "output-or-error": status.output,
        "simulator-log": sim.requests(),
    }
    leaked = [place for place, text in places.items() if occurrences(token, text)]
    assert logs.lines, "nothing was logged: the capture is not working"
    assert leaked == [], leaked
    assert guard.disallowed == []
    # The token was really used: the service saw it (the simulator checks it).
    assert all(e["authPresent"] for e in sim.requests())
    TALLY.add(
        "secrets",
        scenarios=1,
        tokens_leaked=len(leaked),
        faults_injected=sum(r["applied"] for r in sim.fault_rules()),
    )


def test_token_appears_nowhere_through_the_host(simulator: SimulatorServer, tmp_path: Path) -> None:
    token = _token()
    simulator.set_options(token=token)
    cancelled = simulator.seed_job(str(uuid.uuid4()))
    forbidden = simulator.seed_job(str(uuid.uuid4()))
    simulator.add_fault(
        {"operation": "Jobs_Get", "jobId": forbidden, "count": 1, "httpStatus": 403}
    )
    unknown = str(uuid.uuid4())
    host = start_host(
        tmp_path / "secrets-host",
        quantum_endpoint=simulator.url,
    )
    seen: list[Any] = []
    try:
        ids = []
        for job_id in (cancelled, forbidden, unknown):
            response = requests.post(
                host.url + "/api/cancel-running-job",
                json=_secret_body(simulator, token, job_id),
                timeout=10,
            )
            assert response.status_code == 202, response.text
            seen += [response.text, dict(response.headers)]
            ids.append(response.json()["id"])
        # Problem documents: the token in every place a caller could put it by mistake.
        for changes in (
            {"authToken": f"Bearer {token}"},
            {"authToken": token + " "},
            {"jobId": token},
            {"endpoint": f"https://{token}.evil.example"},
            {"location": token},
            {"apiVersion": token},
            {"options": {"timeoutSeconds": token}},
            {"unknownField": token},
        ):
            response = requests.post(
                host.url + "/api/cancel-running-job",
                json={**_secret_body(simulator, token, cancelled), **changes},
                params={"waitSeconds": token},
                timeout=10,
            )
            assert response.status_code == 400
            seen += [response.text, dict(response.headers)]

        def finished(instance_id: str) -> dict[str, Any] | None:
            document = requests.get(
                f"{host.url}/api/cancel-running-job/{instance_id}", timeout=10
            ).json()
            return document if document["runtimeStatus"] in ("Completed", "Failed") else None

        for instance_id in ids:
            seen.append(
                wait_for(lambda i=instance_id: finished(i), timeout=60, message="run finished")
            )
            # The management API shows inputs unless told not to (as the extension does);
            # an operator who reads it without the input must not find the token elsewhere.
            base = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
            seen.append(requests.get(base + "?showInput=false", timeout=10).text)
            seen.append(requests.get(base + "?showInput=false&showHistory=true", timeout=10).text)
        seen.append(
            requests.get(
                f"{host.url}/runtime/webhooks/durabletask/instances?showInput=false", timeout=10
            ).text
        )
    finally:
        host.stop()
    outcomes = [
        item["runtimeStatus"] for item in seen if isinstance(item, dict) and "runtimeStatus" in item
    ]
    assert outcomes == ["Completed", "Failed", "Failed"], outcomes
    leaked = occurrences(token, *seen, host.log_text())
    assert host.log_text().count("\n") > 10
    assert leaked == 0, [str(s)[:200] for s in seen if occurrences(token, s)]
    TALLY.add("secrets", scenarios=3, inputs_tried=8, tokens_leaked=leaked, faults_injected=1)


def _secret_body(sim: SimulatorServer, token: str, job_id: str) -> dict[str, Any]:
    return job_body(job_id, endpoint=sim.url, authToken=token)
