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

from azure.core.exceptions import ClientAuthenticationError

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


#: What to do when there is nothing to sign in with (PRODUCT.md sections 3 and 6).
MISSING_CREDENTIAL_HELP = (
    "no credential for Azure Quantum: the request carries no authToken and the app has no "
    "identity here. Send authToken (the app needs CALLER_TOKEN_KEY for that), or set "
    "IDENTITY_ENDPOINT and IDENTITY_HEADER (locally: the simulator's identity, "
    "http://127.0.0.1:8090/_simulator/identity/token, any header value), or in Azure give the "
    "app a managed identity (AZURE_CLIENT_ID names a user-assigned one)"
)


class NoCredential(Exception):
    """Nothing to sign in with where the app runs: no managed-identity endpoint, and none of
    DefaultAzureCredential's local sources (environment, Azure CLI, …) has a login."""


class IdentityToken:
    """Tokens of the app's own identity from an azure-identity credential."""

    def __init__(self, credential: Any, managed: bool = True) -> None:
        self._credential = credential
        #: A managed-identity endpoint is configured: a refusal from it may pass (retry).
        self._managed = managed

    def token(self) -> str:
        """Return a token for the Azure Quantum scope (cached by azure-identity).

        Without a managed-identity endpoint, a credential chain that finds no token is a
        missing setting, not an outage: NoCredential says what to set.
        """
        try:
            return str(self._credential.get_token(QUANTUM_SCOPE).token)
        except ClientAuthenticationError as exc:
            if self._managed:
                raise
            raise NoCredential(MISSING_CREDENTIAL_HELP) from exc

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
            provider = _identity[client_id] = IdentityToken(
                identity_credential(client_id), managed=has_managed_identity()
            )
        return provider


def has_managed_identity(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether the host offers a managed-identity endpoint (as App Service does)."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in MANAGED_IDENTITY_VARIABLES)


def identity_credential(client_id: str | None, environ: Mapping[str, str] | None = None) -> Any:
    """The credential for the app's identity in this environment (see the module docstring)."""
    # Imported here: azure-identity is heavy and not needed when callers bring a token.
    if has_managed_identity(environ):
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)
