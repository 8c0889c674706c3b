"""The client an activity needs, built from its input and the app settings, once per call.

Shared by every activity (one job or a workspace's): the endpoint is checked again (a tampered
orchestration input cannot send a token elsewhere), a caller's sealed token is opened here and
only here, and every request is logged and traced (telemetry.py). A call that carries
``notBefore`` (its slot of a workspace-scale run's rate cap) gets its client once that moment
has come; every answer carries ``answeredAt`` (both in orchestrators.pacing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from appsettings import load_settings
from dataplane.auth import StaticToken, TokenProvider, app_identity
from dataplane.client import Exchange, QuantumJobsClient
from dataplane.endpoint import checked_endpoint
from dataplane.errors import QuantumError, TokenUnreadable
from dataplane.resources import WorkspaceRef
from dataplane.sealing import TokenNotOpened, open_sealed
from telemetry import exchange_fields, record_exchange
from workflow.shapes import ActivityFailure
from workflow.times import iso, parse_iso

Answer = TypeVar("Answer", bound=Mapping[str, Any])
#: Longest a call waits for its ``notBefore``: the pacer never sets one more than a quarter of
#: a second after it releases the batch (orchestrators.pacing.MAX_HOLD), so a longer wait
#: would mean this host's clock disagrees with the others by far more than the pacer assumes.
MAX_TURN_WAIT_SECONDS = 1.0

log = logging.getLogger("activities")


def client_for(call: Mapping[str, Any], operation: str) -> QuantumJobsClient:
    """A client for the call's endpoint, api-version and credentials, once the call's turn
    has come (``wait_for_turn``)."""
    settings = load_settings()
    endpoint = checked_endpoint(call["endpoint"], settings.allow_loopback)
    sealed = call.get("sealedToken")
    credential: TokenProvider = (
        StaticToken(_opened(sealed, settings.caller_token_keys, call, operation))
        if sealed
        else app_identity(settings.azure_client_id)
    )
    client = QuantumJobsClient(
        endpoint,
        call["apiVersion"],
        credential,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        observer=lambda exchange: _log_exchange(call, exchange),
    )
    wait_for_turn(call)
    return client


def wait_for_turn(call: Mapping[str, Any]) -> None:
    """Wait until the call's ``notBefore`` on this host's clock, if it has one: its slot of
    a workspace-scale run's rate cap (orchestrators.pacing). At most MAX_TURN_WAIT_SECONDS."""
    text = call.get("notBefore")
    if not isinstance(text, str):
        return
    delay = (parse_iso(text) - datetime.now(timezone.utc)).total_seconds()
    if delay > 0:
        time.sleep(min(delay, MAX_TURN_WAIT_SECONDS))


def workspace_of(call: Mapping[str, Any]) -> WorkspaceRef:
    """The workspace a call names (checked again by the client before any request)."""
    return WorkspaceRef(call["subscriptionId"], call["resourceGroupName"], call["workspaceName"])


def failure(call: Mapping[str, Any], error: QuantumError) -> ActivityFailure:
    """A failed service call as data, for the orchestrator to decide on."""
    info = error.to_info()
    log.warning(
        "%s failed for job %s: %s (transient=%s)",
        info["operation"],
        call.get("jobId", "-"),
        error,
        info["transient"],
    )
    return answered(ActivityFailure(ok=False, error=info))


def answered(answer: Answer) -> Answer:
    """``answer`` with ``answeredAt``: this host's clock once the service call has ended (or
    failed), the latest moment the service can have counted its request. The orchestration's
    pacer reads it from history (orchestrators.pacing), so it is taken here, never there."""
    cast(dict[str, Any], answer)["answeredAt"] = iso(datetime.now(timezone.utc))
    return answer


def _opened(sealed: str, keys: tuple[bytes, ...], call: Mapping[str, Any], operation: str) -> str:
    # Only here, right before the request, is a caller's token ever in clear.
    try:
        return open_sealed(sealed, keys, call["instanceId"])
    except TokenNotOpened as exc:
        raise TokenUnreadable(
            operation,
            f"the caller's token cannot be decrypted with CALLER_TOKEN_KEY or "
            f"CALLER_TOKEN_KEY_PREVIOUS ({exc}): was the key rotated twice, or the sealed "
            "token copied from another run?",
        ) from exc


def _log_exchange(call: Mapping[str, Any], exchange: Exchange) -> None:
    # One record per request, pairing the run with the ids the service logs, so one request
    # can be followed across both; its fields become custom dimensions in Azure.
    job_id = call.get("jobId", "-")
    fields = exchange_fields(
        exchange, instance_id=call["instanceId"], job_id=job_id, attempt=call.get("attempt", 1)
    )
    log.info(
        "%s job %s (instance %s, attempt %s): HTTP %s, client request id %s, "
        "service request id %s, %.1f ms",
        exchange.operation,
        job_id,
        call["instanceId"],
        fields["attempt"],
        exchange.status if exchange.status is not None else exchange.error,
        exchange.client_request_id,
        exchange.request_id,
        fields["durationMs"],
        extra=fields,
    )
    record_exchange(exchange, instance_id=call["instanceId"], job_id=job_id)
