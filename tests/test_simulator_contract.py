"""Every simulator answer, for every supported api-version, checked against its spec document.

The governing document comes from ``devtools.simulator.versions`` (≤ 2025-09-01-preview →
2024-10-01-preview; 2025-12-01-preview and 2026-01-15-preview → 2026-01-15-preview;
2026-08-01-preview → itself). The one intended deviation: ``POST …:cancel`` answers 204 with no
body by default (as the live service does) where the spec declares only 200.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from devtools.simulator import SimulatorServer
from devtools.simulator.routing import PARAMETER_RULES
from devtools.simulator.versions import SUPPORTED, ApiVersion
from tests.support.spec import (
    SPECS_DIR,
    declared_statuses,
    definition_errors,
    find_operation,
    load_spec,
    validate_request,
    validate_response,
)

Exchange = tuple[str, requests.Response]


def _send(
    sim: SimulatorServer, token: str, method: str, url: str, version: str, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    headers.update(kwargs.pop("headers", {}))
    params = dict(kwargs.pop("params", {}))
    params.setdefault("api-version", version)
    return requests.request(
        method, url, params=params, headers=headers, timeout=5, allow_redirects=False, **kwargs
    )


def _body(response: requests.Response) -> Any:
    return response.json() if response.content else None


def _exercise(sim: SimulatorServer, token: str, version: ApiVersion) -> list[Exchange]:
    """Drive every operation through success and error answers; return (operation, answer)."""
    v = version.name
    out: list[Exchange] = []
    job_id = str(uuid.uuid4())
    create_body = {
        "containerUri": "https://s.blob.core.windows.net/c",
        "name": "contract",
        "providerId": "quantinuum",
        "target": "quantinuum.sim.h2-1e",
        "itemType": "Job",
        "inputDataFormat": "qir.v1",
        "metadata": {"a": "b"},
    }
    out.append(("Jobs_Create", _send(sim, token, "PUT", sim.job_url(job_id), v, json=create_body)))
    out.append(("Jobs_Create", _send(sim, token, "PUT", sim.job_url(job_id), v, json=create_body)))
    out.append(
        (
            "Jobs_Create",
            _send(sim, token, "PUT", sim.job_url(str(uuid.uuid4())), v, json={"name": "x"}),
        )
    )
    for _ in range(3):
        out.append(("Jobs_Get", _send(sim, token, "GET", sim.job_url(job_id), v)))
    out.append(("Jobs_Get", _send(sim, token, "GET", sim.job_url(str(uuid.uuid4())), v)))
    out.append(("Jobs_Get", _send(sim, token, "GET", sim.job_url("not-a-guid"), v)))
    out.append(
        (
            "Jobs_Get",
            _send(
                sim, token, "GET", sim.job_url(job_id), v, headers={"Authorization": "Bearer wrong"}
            ),
        )
    )
    out.append(
        (
            "Jobs_Get",
            _send(sim, token, "GET", sim.job_url(job_id), v, params={"api-version": "1999-01-01"}),
        )
    )
    sim.add_fault({"operation": "Jobs_Get", "count": 1, "httpStatus": 503, "retryAfter": 1})
    out.append(("Jobs_Get", _send(sim, token, "GET", sim.job_url(job_id), v)))
    for preset in ("queued-finishing", "unknown-status", "already-failed", "completed"):
        seeded = sim.seed_job(lifecycle=preset)
        out.append(("Jobs_Get", _send(sim, token, "GET", sim.job_url(seeded), v)))
    sim.set_options(pageSize=2)
    listed = _send(sim, token, "GET", sim.jobs_url(), v)
    out.append(("Jobs_List", listed))
    out.append(
        (
            "Jobs_List",
            requests.get(
                listed.json()["nextLink"], timeout=5, headers={"Authorization": f"Bearer {token}"}
            ),
        )
    )
    out.append(
        ("Jobs_List", _send(sim, token, "GET", sim.jobs_url(), v, params={"filter": "bogus"}))
    )
    cancel_method = "POST" if version.cancel_by_post else "DELETE"
    cancel_url = sim.job_url(job_id) + (":cancel" if version.cancel_by_post else "")
    out.append(("Jobs_Cancel", _send(sim, token, cancel_method, cancel_url, v)))
    out.append(("Jobs_Cancel", _send(sim, token, cancel_method, cancel_url, v)))
    done = sim.seed_job(lifecycle="already-succeeded")
    done_url = sim.job_url(done) + (":cancel" if version.cancel_by_post else "")
    out.append(("Jobs_Cancel", _send(sim, token, cancel_method, done_url, v)))
    if version.cancel_by_post:
        sim.set_options(cancelResponse=200)
        fresh = sim.seed_job()
        out.append(("Jobs_Cancel", _send(sim, token, "POST", sim.job_url(fresh) + ":cancel", v)))
        out.append(("Jobs_Delete", _send(sim, token, "DELETE", sim.job_url(fresh), v)))
        out.append(("Jobs_Delete", _send(sim, token, "DELETE", sim.job_url(fresh), v)))
    return out


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: v.name)
def test_every_answer_matches_the_governing_spec(
    simulator: SimulatorServer, sim_token: str, version: ApiVersion
) -> None:
    exchanges = _exercise(simulator, sim_token, version)
    statuses = set()
    for operation, response in exchanges:
        statuses.add((operation, response.status_code))
        if operation == "Jobs_Cancel" and response.status_code == 204 and version.cancel_by_post:
            # The documented deviation: the live service answers 204 with no body.
            assert declared_statuses(version.name, "Jobs_Cancel") == {"200", "default"}
            assert response.content == b""
            continue
        validate_response(
            version.spec, operation, response.status_code, _body(response), dict(response.headers)
        )
        if response.status_code >= 400:
            assert response.headers["Content-Type"].startswith("application/json")
    # The scenario really produced successes and errors for each operation.
    assert ("Jobs_Create", 201) in statuses and ("Jobs_Create", 200) in statuses
    assert ("Jobs_Get", 200) in statuses and ("Jobs_Get", 404) in statuses
    assert ("Jobs_List", 200) in statuses and ("Jobs_Cancel", 409) in statuses


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: v.name)
def test_logged_operation_names_match_the_spec(
    simulator: SimulatorServer, sim_token: str, version: ApiVersion
) -> None:
    _exercise(simulator, sim_token, version)
    spec = load_spec(version.spec)
    checked = 0
    for entry in simulator.requests():
        if entry["status"] in (200, 201, 204):
            match = find_operation(spec, entry["method"], entry["path"])
            assert match is not None and match.operation_id == entry["operation"], entry
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: v.name)
def test_statuses_stay_within_the_versions_enum(
    simulator: SimulatorServer, sim_token: str, version: ApiVersion
) -> None:
    enum = set(load_spec(version.spec)["definitions"]["JobStatus"]["enum"])
    job_id = simulator.seed_job(lifecycle="queued-finishing")
    seen = set()
    for step in range(6):
        response = _send(simulator, sim_token, "GET", simulator.job_url(job_id), version.name)
        seen.add(response.json()["status"])
        if step == 1:
            simulator.clock.advance(300)
    assert seen <= enum, seen - enum


def test_cancel_post_declares_200_only() -> None:
    for version in SUPPORTED:
        if version.cancel_by_post:
            assert declared_statuses(version.name, "Jobs_Cancel") == {"200", "default"}
            assert declared_statuses(version.name, "Jobs_Delete") == {"204", "default"}
        else:
            assert declared_statuses(version.name, "Jobs_Cancel") == {"204", "default"}


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: v.name)
def test_simulator_routes_are_the_spec_routes(version: ApiVersion) -> None:
    spec = load_spec(version.spec)
    prefix = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers"
        "/Microsoft.Quantum/workspaces/ws/jobs"
    )
    job = f"{prefix}/{uuid.uuid4()}"
    expected = {
        ("GET", prefix): "Jobs_List",
        ("GET", job): "Jobs_Get",
        ("PUT", job): "Jobs_Create",
        ("DELETE", job): "Jobs_Delete" if version.cancel_by_post else "Jobs_Cancel",
    }
    if version.cancel_by_post:
        expected[("POST", job + ":cancel")] = "Jobs_Cancel"
    else:
        assert find_operation(spec, "POST", job + ":cancel") is None
    for (method, path), operation_id in expected.items():
        match = validate_request(
            version.name,
            method,
            path,
            {"api-version": version.name},
            {
                "containerUri": "c",
                "name": "n",
                "providerId": "p",
                "target": "t",
                "itemType": "Job",
                "id": path[-36:],
            },
        )
        assert match.operation_id == operation_id


@pytest.mark.parametrize("spec_version", sorted({v.spec for v in SUPPORTED}))
def test_path_parameter_rules_equal_the_spec(spec_version: str) -> None:
    spec = load_spec(spec_version)
    operation = spec["paths"][
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
        "Microsoft.Quantum/workspaces/{workspaceName}/jobs/{jobId}"
    ]["get"]
    for parameter in operation["parameters"]:
        if parameter.get("in") != "path":
            continue
        pattern, low, high = PARAMETER_RULES[parameter["name"]]
        assert pattern.pattern == parameter["pattern"]
        assert (parameter.get("minLength", 0), parameter["maxLength"]) == (low, high)


def test_error_bodies_are_error_responses(simulator: SimulatorServer, sim_token: str) -> None:
    base = simulator.job_url(str(uuid.uuid4()))
    answers = [
        _send(simulator, sim_token, "GET", base, "2026-01-15-preview", params={"api-version": ""}),
        _send(simulator, sim_token, "PATCH", base, "2026-01-15-preview"),
        _send(simulator, sim_token, "POST", base + ":cancel", "2024-10-01-preview"),
        _send(simulator, sim_token, "GET", simulator.url + "/unknown", "2026-01-15-preview"),
    ]
    for response in answers:
        assert response.status_code >= 400
        for spec_version in {v.spec for v in SUPPORTED}:
            assert (
                definition_errors(
                    spec_version, "Azure.Core.Foundations.ErrorResponse", response.json()
                )
                == []
            )
        assert response.headers["x-ms-error-code"] == response.json()["error"]["code"]


def test_spec_copies_hold_facts_only() -> None:
    # The repository keeps the official documents without their prose (specs/README.md):
    # re-applying the refresh script's filter changes nothing, and paths and schemas remain.
    from scripts.refresh_specs import DROPPED_FIELDS, PROSE_FIELDS, facts_only

    documents = sorted(SPECS_DIR.glob("azure-quantum-data-plane-*.json"))
    assert len(documents) == 4
    for path in documents:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert facts_only(document) == document, path.name
        text = path.read_text(encoding="utf-8")
        assert all(f'"{name}":' not in text for name in DROPPED_FIELDS)
        assert not any(f'"{name}": "' in text for name in PROSE_FIELDS), path.name
        assert document["paths"] and document["definitions"]


def test_session_answers_follow_the_spec(simulator: SimulatorServer, sim_token: str) -> None:
    session = simulator.seed_session()
    simulator.seed_job(details={"sessionId": session})
    base = f"{simulator.workspace_url()}/sessions/{session}"
    headers = {"Authorization": f"Bearer {sim_token}"}
    version = "2026-01-15-preview"
    for operation, method, url in (
        ("Sessions_Get", "GET", base),
        ("Sessions_Close", "POST", f"{base}:close"),
        ("SessionsJobs_List", "GET", f"{base}/jobs"),
    ):
        response = requests.request(
            method, url, params={"api-version": version}, headers=headers, timeout=10
        )
        assert response.status_code == 200, (operation, response.text)
        validate_response(version, operation, 200, response.json(), dict(response.headers))
        path = url.removeprefix(simulator.url)
        validate_request(version, method, path, {"api-version": version})
