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
from tests.support.host import HostProcess, start_host, wait_for

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
    process = start_host(
        tmp_path_factory.mktemp("e2e-host"),
        quantum_endpoint=url,
        env={
            "IDENTITY_ENDPOINT": f"{url}/_simulator/identity/token",
            "IDENTITY_HEADER": "e2e-tests",
            # Alerts carry no options: the settings' defaults apply, kept short here.
            "CANCEL_POLL_INTERVAL_SECONDS": "1",
            "CANCEL_MAX_POLL_INTERVAL_SECONDS": "1",
        },
    )
    yield process
    if process.running:
        process.stop()


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
