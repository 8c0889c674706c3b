"""Bearer tokens for the data plane: the caller's own, or the app's identity through azure-identity.

In Azure the app's identity is its managed identity: ``ManagedIdentityCredential`` (user-assigned
when AZURE_CLIENT_ID names one), as Microsoft's guidance for hosted apps says, so nothing else
is ever tried there. Only where no managed-identity environment is present (local development
with ``az login`` or VS Code) is ``DefaultAzureCredential`` used. The credential is created once
per process and shared, so azure-identity's token cache is reused across activity invocations
instead of fetching a new token for every request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol

QUANTUM_SCOPE = "https://quantum.microsoft.com/.default"
#: What App Service and Functions (IDENTITY_*) or older hosts (MSI_*) set for managed identity.
MANAGED_IDENTITY_VARIABLES = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")


class TokenProvider(Protocol):
    """Anything that can hand out a bearer token for the Azure Quantum data plane."""

    def token(self) -> str:
        """Return a bearer token (without the ``Bearer`` prefix)."""
        ...


class StaticToken:
    """A token the caller supplied; its repr never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        """Return the caller's token."""
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class IdentityToken:
    """Tokens of the app's own identity from an azure-identity credential."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    def token(self) -> str:
        """Return a token for the Azure Quantum scope (cached by azure-identity)."""
        return str(self._credential.get_token(QUANTUM_SCOPE).token)

    def __repr__(self) -> str:
        return "IdentityToken()"


_lock = threading.Lock()
_identity: dict[str | None, IdentityToken] = {}


def app_identity(client_id: str | None) -> IdentityToken:
    """Return the process-wide identity token provider for ``client_id``.

    ``client_id`` selects a user-assigned managed identity (the AZURE_CLIENT_ID setting); None
    means the system-assigned identity or whatever DefaultAzureCredential finds locally.
    """
    with _lock:
        provider = _identity.get(client_id)
        if provider is None:
            provider = _identity[client_id] = IdentityToken(identity_credential(client_id))
        return provider


def identity_credential(client_id: str | None, environ: Mapping[str, str] | None = None) -> Any:
    """The credential for the app's identity in this environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    # Imported here: azure-identity is heavy and not needed when callers bring a token.
    if any(env.get(name) for name in MANAGED_IDENTITY_VARIABLES):
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)
