"""Bearer tokens for the data plane: the caller's own, or the app's identity through azure-identity.

The identity credential is created once per process and shared, so azure-identity's token cache
is reused across activity invocations instead of fetching a new token for every request.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

QUANTUM_SCOPE = "https://quantum.microsoft.com/.default"


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
    """Tokens of the app's own identity from azure-identity's DefaultAzureCredential."""

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
            # Imported here: azure-identity is heavy and not needed when callers bring a token.
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(managed_identity_client_id=client_id)
            provider = _identity[client_id] = IdentityToken(credential)
        return provider
