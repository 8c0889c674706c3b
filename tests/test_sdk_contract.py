"""The simulator held to the official client: the ``azure-quantum`` SDK (3.x) against it.

``Workspace`` is given the simulator as its data-plane endpoint through the SDK's internal
``_quantum_endpoint`` keyword (``Workspace._QUANTUM_ENDPOINT_PARAM``, what its connection
strings use), with every other connection parameter set, so it never looks anything up in
Azure (no ARM, no Resource Graph). The SDK sends a bearer
token only over https (azure-core's BearerTokenCredentialPolicy refuses plain http), so the
simulator serves TLS here with a certificate this module makes for 127.0.0.1, trusted through
``REQUESTS_CA_BUNDLE`` for these tests only. Nothing of the SDK is patched: what it sends is what
it would send to Azure, and the simulator must answer it so that the SDK's own models read it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    Options,
    SimulatorServer,
)

azure_quantum = pytest.importorskip("azure.quantum")
TOKEN = "sdk-contract-token"


class Credential:
    """A TokenCredential that hands out the token the simulator expects."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "simulator.pem", directory / "simulator.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_simulator(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SimulatorServer, Path]]:
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SimulatorServer(
        0, options=Options(token=TOKEN, page_size=100), manual_clock=True, tls=context
    ).start()
    try:
        yield server, cert
    finally:
        server.stop()


@pytest.fixture
def sdk(
    tls_simulator: tuple[SimulatorServer, Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, SimulatorServer]:
    server, cert = tls_simulator
    server.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    workspace = azure_quantum.Workspace(
        subscription_id=DEFAULT_SUBSCRIPTION_ID,
        resource_group=DEFAULT_RESOURCE_GROUP,
        name=DEFAULT_WORKSPACE,
        location="westus",
        _quantum_endpoint=server.url,
        credential=Credential(),
    )
    return workspace, server


def test_get_job_reads_the_simulators_job_details(sdk: tuple[Any, SimulatorServer]) -> None:
    workspace, server = sdk
    job_id = server.seed_job(details={"name": "sdk-read", "target": "ionq.simulator"})
    job = workspace.get_job(job_id)
    assert job.id == job_id and job.details.status == "Waiting"
    assert job.details.name == "sdk-read" and job.details.target == "ionq.simulator"
    [entry] = server.requests()
    assert entry["operation"] == "Jobs_Get" and entry["status"] == 200


def test_list_jobs_with_each_filter_kind_and_paging(sdk: tuple[Any, SimulatorServer]) -> None:
    workspace, server = sdk
    ionq = [
        server.seed_job(
            lifecycle=[["Executing", {}]],
            details={"name": f"batch-{n}", "providerId": "ionq", "target": "ionq.simulator"},
        )
        for n in range(130)
    ]
    other = server.seed_job(
        lifecycle=[["Waiting", {}]],
        details={"name": "solo", "providerId": "quantinuum", "target": "quantinuum.sim.h2-1e"},
    )
    done = server.seed_job(
        lifecycle="already-succeeded", details={"name": "batch-done", "providerId": "ionq"}
    )

    def ids(**filters: Any) -> list[str]:
        return [job.id for job in workspace.list_jobs(**filters)]

    assert sorted(ids(status=["Executing"])) == sorted(ionq)  # 130: two pages of 100
    assert sorted(ids(provider=["quantinuum"])) == [other]
    assert sorted(ids(target=["ionq.simulator"], status=["Executing", "Waiting"])) == sorted(ionq)
    assert sorted(ids(name_match="batch-")) == sorted([*ionq, done])
    assert sorted(ids(created_after=dt.datetime(2000, 1, 1))) == sorted([*ionq, other, done])
    assert ids(created_before=dt.datetime(2000, 1, 1)) == []
    lists = [e for e in server.requests() if e["operation"] == "Jobs_List"]
    # The SDK pages with top=100 and follows nextLink; every request named the grammar's fields.
    assert any("skip=100" in e["query"] for e in lists)
    assert all(e["status"] == 200 for e in lists)


@pytest.mark.parametrize("answer", [204, 200])
def test_cancel_job_and_wait_until_completed(sdk: tuple[Any, SimulatorServer], answer: int) -> None:
    workspace, server = sdk
    server.set_options(cancelResponse=answer)
    server.clock.set_real()  # wait_until_completed sleeps in real time
    job_id = server.seed_job(
        lifecycle={
            "before": [["Executing", {}]],
            "after": [["CancellationRequested", {"seconds": 0.3}], ["Cancelled", {}]],
        }
    )
    job = workspace.get_job(job_id)
    workspace.cancel_job(job)
    job.wait_until_completed(timeout_secs=30)
    assert job.details.status == "Cancelled"
    assert server.job_state(job_id)["counters"]["cancelRequests"] == 1
    cancel = next(e for e in server.requests() if e["operation"] == "Jobs_Cancel")
    assert cancel["method"] == "POST" and cancel["status"] == answer
