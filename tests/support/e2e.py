"""Shared pieces of the end-to-end tests: one devtools.host per test module, pointed at the
session's simulator, signing in with the managed identity the simulator stands in for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.host import HostProcess, module_host, wait_for

TIMEOUT = 10
# The job moves to Cancelled on the first read after the cancel: runs end in about a second.
QUICK = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
FAST_OPTIONS = {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1, "timeoutSeconds": 60}


@pytest.fixture(scope="module")
def e2e_host(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    """A host for the whole module, its data plane the session simulator."""
    url = _simulator_session.url
    env = {
        "IDENTITY_ENDPOINT": f"{url}/_simulator/identity/token",
        "IDENTITY_HEADER": "e2e-tests",
        # Alerts carry no options: the settings' defaults apply, kept short here.
        "CANCEL_POLL_INTERVAL_SECONDS": "1",
        "CANCEL_MAX_POLL_INTERVAL_SECONDS": "1",
    }
    yield from module_host(url, tmp_path_factory, "e2e-host", env)


def job_body(job_id: str, **changes: Any) -> dict[str, Any]:
    """A POST /api/cancel-running-job body for a job in the simulator's default workspace."""
    body: dict[str, Any] = {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "jobId": job_id,
        "options": FAST_OPTIONS,
    }
    body.update(changes)
    return body


def status_document(host: HostProcess, instance_id: str) -> dict[str, Any]:
    """GET the app's status document (200 expected)."""
    response = requests.get(f"{host.url}/api/cancel-running-job/{instance_id}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def wait_finished(host: HostProcess, instance_id: str, timeout: float = 60) -> dict[str, Any]:
    """The one "until finished" wait: poll the app's status document (GET
    /api/cancel-running-job/{id}) until the run is no longer Pending or Running."""

    def finished() -> dict[str, Any] | None:
        document = status_document(host, instance_id)
        return document if document["runtimeStatus"] not in ("Pending", "Running") else None

    found: dict[str, Any] = wait_for(
        finished, timeout=timeout, interval=0.2, message=f"run {instance_id} finished"
    )
    return found


MANAGEMENT = "/runtime/webhooks/durabletask/instances"


def stored_inputs(host: HostProcess, orchestration: str) -> dict[str, Any]:
    """The stored input of every instance of ``orchestration`` the host holds, by instance
    id, read from the Durable management API."""
    listing = requests.get(host.url + MANAGEMENT, timeout=TIMEOUT).json()
    return {
        item["instanceId"]: item.get("input") for item in listing if item["name"] == orchestration
    }


def started_instances(host: HostProcess, orchestration: str, **input_fields: Any) -> list[str]:
    """The instances of ``orchestration`` that the host's store holds for one job (or one
    bulk selection): those whose stored input has every one of ``input_fields`` (text
    compared without letter case). The instance that really started, not the id an answer
    echoed."""
    return matching(stored_inputs(host, orchestration), **input_fields)


def matching(inputs: dict[str, Any], **input_fields: Any) -> list[str]:
    """The instance ids of ``inputs`` (from :func:`stored_inputs`) whose input has every one
    of ``input_fields``."""

    def same(stored: Any, wanted: Any) -> bool:
        if isinstance(stored, str) and isinstance(wanted, str):
            return stored.lower() == wanted.lower()
        return bool(stored == wanted)

    return sorted(
        instance_id
        for instance_id, stored in inputs.items()
        if isinstance(stored, dict)
        and all(same(stored.get(name), value) for name, value in input_fields.items())
    )


def assert_one_run(host: HostProcess, orchestration: str, named: Any, **input_fields: Any) -> str:
    """Every answer named the one instance that started for this job; returns its id."""
    return check_one_run(started_instances(host, orchestration, **input_fields), named)


def check_one_run(started: list[str], named: Any) -> str:
    """``started`` (from :func:`started_instances`) is one instance, and every answer named
    it; returns its id."""
    assert len(started) == 1 and set(named) == set(started), (
        f"instances that started: {started}; the answers named {sorted(set(named))}"
    )
    return started[0]
