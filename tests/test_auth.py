"""Tokens: the caller's, or the app identity through azure-identity.

The identity path runs unchanged against the simulator's App Service-style managed-identity
endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER), so no request leaves the machine.
"""

from __future__ import annotations

import http.server
import threading

import pytest
import requests

from dataplane import auth
from dataplane.auth import StaticToken, app_identity
from dataplane.client import QuantumJobsClient
from dataplane.resources import JobRef
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)

USER_ASSIGNED = "5d9a7f0e-1111-4222-8333-944444444444"


@pytest.fixture
def identity_endpoint(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> SimulatorServer:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{simulator.url}/_simulator/identity/token")
    monkeypatch.setenv("IDENTITY_HEADER", "tests")
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    # A fresh process-wide cache for each test.
    monkeypatch.setattr(auth, "_identity", {})
    return simulator


def test_identity_is_created_once_and_its_token_cached(
    identity_endpoint: SimulatorServer, sim_token: str
) -> None:
    first, second = app_identity(None), app_identity(None)
    assert first is second
    assert first.token() == sim_token
    assert second.token() == sim_token
    assert identity_endpoint.identity_requests == 1
    assert identity_endpoint.identity_client_ids == [None]


def test_managed_identity_in_azure_and_default_credential_elsewhere() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    hosted = {"IDENTITY_ENDPOINT": "http://127.0.0.1:9/token", "IDENTITY_HEADER": "x"}
    assert isinstance(auth.identity_credential(None, hosted), ManagedIdentityCredential)
    assert isinstance(auth.identity_credential(USER_ASSIGNED, hosted), ManagedIdentityCredential)
    legacy = {"MSI_ENDPOINT": "http://127.0.0.1:9/token", "MSI_SECRET": "x"}
    assert isinstance(auth.identity_credential(None, legacy), ManagedIdentityCredential)
    assert isinstance(auth.identity_credential(None, {}), DefaultAzureCredential)


def test_app_identity_in_azure_is_the_managed_identity(
    identity_endpoint: SimulatorServer,
) -> None:
    from azure.identity import ManagedIdentityCredential

    provider = app_identity(None)
    assert isinstance(provider._credential, ManagedIdentityCredential)


def test_user_assigned_identity_is_named_by_its_client_id(
    identity_endpoint: SimulatorServer,
) -> None:
    assert app_identity(USER_ASSIGNED) is not app_identity(None)
    app_identity(USER_ASSIGNED).token()
    assert identity_endpoint.identity_client_ids == [USER_ASSIGNED]


def test_identity_token_authenticates_a_real_request(identity_endpoint: SimulatorServer) -> None:
    job = identity_endpoint.seed_job()
    client = QuantumJobsClient(identity_endpoint.url, "2026-01-15-preview", app_identity(None))
    ref = JobRef.checked(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE, job)
    assert client.get_job(ref)["status"] == "Waiting"


def test_caller_token_is_hidden_in_repr() -> None:
    assert "secret" not in repr(StaticToken("secret-value"))
    assert StaticToken("secret-value").token() == "secret-value"


@pytest.mark.parametrize(("status", "body"), [(202, b""), (200, b""), (204, b"")])
def test_every_accepted_cancel_answer(status: int, body: bytes) -> None:
    class Accepting(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = QuantumJobsClient(
            f"http://127.0.0.1:{server.server_address[1]}",
            "2026-01-15-preview",
            StaticToken("t"),
            session=requests.Session(),
        )
        ref = JobRef.checked(
            DEFAULT_SUBSCRIPTION_ID, "rg", "ws", "0a1b2c3d-0000-4000-8000-000000000001"
        )
        outcome = client.cancel_job(ref)
    finally:
        server.shutdown()
        server.server_close()
    assert (outcome.http_status, outcome.job_status) == (status, None)
