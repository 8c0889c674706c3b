"""The official ``azure-quantum`` SDK pointed at devtools.simulator, for tests and benchmarks.

``Workspace`` is given the simulator as its data-plane endpoint through the SDK's internal
``_quantum_endpoint`` keyword (``Workspace._QUANTUM_ENDPOINT_PARAM``, what its connection
strings use), with every other connection parameter set, so it never looks anything up in
Azure (no ARM, no Resource Graph). The SDK sends a bearer token only over https (azure-core's
BearerTokenCredentialPolicy refuses plain http), so the simulator serves TLS with a
certificate made here for 127.0.0.1, trusted through ``REQUESTS_CA_BUNDLE`` while
:func:`trusting` is in force. What the SDK sends is what it would send to Azure.

``virtual_waits`` is the one place where the SDK is bent: its ``Job.wait_until_completed``
sleeps with ``time.sleep`` between refreshes, and the benchmark replaces the ``time`` that the
SDK's job module sees so that a sleep advances the simulator's manual clock instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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


class FixedCredential:
    """A TokenCredential that hands out one token (the simulator's expected one)."""

    def __init__(self, token: str) -> None:
        """Hand out ``token`` for an hour from each request."""
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token, valid for an hour."""
        return AccessToken(self.token, int(time.time()) + 3600)


def loopback_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day: (certificate, key) paths."""
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
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
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


def tls_simulator(
    directory: Path, options: Options, *, manual_clock: bool
) -> tuple[SimulatorServer, Path]:
    """A started simulator serving https on 127.0.0.1, and its certificate's path."""
    cert, key = loopback_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SimulatorServer(0, options=options, manual_clock=manual_clock, tls=context)
    return server.start(), cert


@contextmanager
def trusting(cert: Path) -> Iterator[None]:
    """Trust ``cert`` for https requests made with ``requests`` (the SDK's transport)."""
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved


def workspace(server: SimulatorServer, token: str) -> Any:
    """An ``azure.quantum.Workspace`` whose data plane is ``server``'s default workspace."""
    from azure.quantum import Workspace

    return Workspace(
        subscription_id=DEFAULT_SUBSCRIPTION_ID,
        resource_group=DEFAULT_RESOURCE_GROUP,
        name=DEFAULT_WORKSPACE,
        location="westus",
        _quantum_endpoint=server.url,
        credential=FixedCredential(token),
    )


@contextmanager
def virtual_waits(server: SimulatorServer, rtt_seconds: float) -> Iterator[None]:
    """Make the SDK's waits advance ``server``'s manual clock instead of sleeping.

    Each sleep of ``wait_until_completed`` is followed by one refresh (one Jobs_Get), so a
    sleep also advances the modelled round trip of that request, as the other loops do.
    """
    from azure.quantum.job import job as job_module

    clock = server.clock

    def sleep(seconds: float) -> None:
        clock.advance(seconds + rtt_seconds)

    saved = job_module.time
    job_module.time = SimpleNamespace(sleep=sleep, time=clock.now)  # type: ignore[assignment]
    try:
        yield
    finally:
        job_module.time = saved
