"""The ``get_job`` and ``cancel_job`` activities (Jobs_Get and Jobs_Cancel).

Each one builds a client from its input and the app settings, makes exactly one request and
returns a small JSON result. A failure of the service call comes back as data
(``{"ok": false, "error": ...}``) so the orchestrator can tell a 404 from a 429 and decide what
to do; retrying here would hide the time from the Durable timers and the replay log.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df

from appsettings import load_settings
from dataplane.auth import StaticToken, TokenProvider, app_identity
from dataplane.client import Exchange, QuantumJobsClient
from dataplane.endpoint import checked_endpoint
from dataplane.errors import QuantumError, TokenUnreadable
from dataplane.resources import JobRef
from dataplane.sealing import TokenNotOpened, open_sealed
from telemetry import exchange_fields, record_exchange
from workflow.shapes import ActivityFailure, CancelJobSuccess, GetJobSuccess, JobCall

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _connect(call: JobCall, operation: str) -> tuple[QuantumJobsClient, JobRef]:
    settings = load_settings()
    job = JobRef.checked(
        call["subscriptionId"],
        call["resourceGroupName"],
        call["workspaceName"],
        call["jobId"],
        operation=operation,
    )
    # The endpoint was checked when the run started; checking again here means that even a
    # tampered orchestration input cannot send the token elsewhere.
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
    return client, job


def _opened(sealed: str, keys: tuple[bytes, ...], call: JobCall, operation: str) -> str:
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


def _log_exchange(call: JobCall, exchange: Exchange) -> None:
    # One record per request, pairing the run with the ids the service logs, so one request
    # can be followed across both; its fields become custom dimensions in Azure.
    fields = exchange_fields(
        exchange,
        instance_id=call["instanceId"],
        job_id=call["jobId"],
        attempt=call.get("attempt", 1),
    )
    log.info(
        "%s job %s (instance %s, attempt %s): HTTP %s, client request id %s, "
        "service request id %s, %.1f ms",
        exchange.operation,
        call["jobId"],
        call["instanceId"],
        fields["attempt"],
        exchange.status if exchange.status is not None else exchange.error,
        exchange.client_request_id,
        exchange.request_id,
        fields["durationMs"],
        extra=fields,
    )
    record_exchange(exchange, instance_id=call["instanceId"], job_id=call["jobId"])


def _failure(call: JobCall, error: QuantumError) -> ActivityFailure:
    info = error.to_info()
    log.warning(
        "%s failed for job %s: %s (transient=%s)",
        info["operation"],
        call["jobId"],
        error,
        info["transient"],
    )
    return ActivityFailure(ok=False, error=info)


@bp.activity_trigger(input_name="call")
def get_job(call: JobCall) -> GetJobSuccess | ActivityFailure:
    """Jobs_Get: read the job's status and cancellation time."""
    try:
        client, job = _connect(call, "Jobs_Get")
        details = client.get_job(job)
    except QuantumError as error:
        return _failure(call, error)
    cancellation_time = details.get("cancellationTime")
    return GetJobSuccess(
        ok=True,
        job={
            "status": details["status"],
            "cancellationTime": cancellation_time if isinstance(cancellation_time, str) else None,
        },
    )


@bp.activity_trigger(input_name="call")
def cancel_job(call: JobCall) -> CancelJobSuccess | ActivityFailure:
    """Jobs_Cancel: request cancellation with the verb the api-version calls for."""
    try:
        client, job = _connect(call, "Jobs_Cancel")
        outcome = client.cancel_job(job)
    except QuantumError as error:
        return _failure(call, error)
    return CancelJobSuccess(ok=True, httpStatus=outcome.http_status, jobStatus=outcome.job_status)
