"""A local managed-identity token endpoint, shaped like App Service's.

On App Service and Functions, the platform sets IDENTITY_ENDPOINT and IDENTITY_HEADER and
azure-identity's ManagedIdentityCredential asks that local endpoint for tokens. Pointing those
two variables at ``/_simulator/identity/token`` lets the app's own identity path
(DefaultAzureCredential, unchanged) run locally and in tests: the token it gets is the one the
simulator accepts, and no request leaves the machine.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from .core import Simulator
from .errors import ApiError
from .responses import Response, error_response, json_response

PATH = "/_simulator/identity/token"
# What the simulator hands out when it accepts any token (no --token given).
DEFAULT_IDENTITY_TOKEN = "simulator-managed-identity-token"
TOKEN_LIFETIME_SECONDS = 3600


def handle(sim: Simulator, query: str, identity_header: str | None) -> Response:
    """Answer a token request the way the App Service identity endpoint does."""
    params = {name: values[0] for name, values in parse_qs(query).items()}
    if not identity_header:
        return error_response(
            ApiError(401, "MissingIdentityHeader", "The X-IDENTITY-HEADER header is required.")
        )
    resource = params.get("resource")
    if not resource:
        return error_response(
            ApiError(400, "MissingResource", "The resource parameter is required.")
        )
    with sim.lock:
        sim.identity_requests += 1
        sim.identity_client_ids.append(params.get("client_id"))
        token = sim.options.token or DEFAULT_IDENTITY_TOKEN
    return json_response(
        200,
        {
            "access_token": token,
            "expires_on": str(int(time.time()) + TOKEN_LIFETIME_SECONDS),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": params.get("client_id", "00000000-0000-0000-0000-000000000000"),
        },
    )
