"""The app's traces and metrics, through the OpenTelemetry API only.

Nothing here configures an exporter: without an SDK the API is a no-op and costs nothing. In
Azure the Python worker configures Azure Monitor itself when
``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` (``azure-monitor-opentelemetry`` is in the
requirements), so the app must not configure it a second time.

* A client span per data-plane request, made from the :class:`dataplane.client.Exchange` the
  client reports, as a child of the current context (the activity's trace in Azure). Its
  attributes follow the HTTP semantic conventions (method, server address and port, status
  code, the URL with no query value but api-version) plus the client and service request ids,
  the job id and the operation; never a header, never a token.
* Metrics: data-plane requests by operation and status code; cancellations by outcome and by
  trigger (``http``, ``eventGrid``, ``bulk``, ``monitorAlert``, ``guardrail``); the time from an
  accepted cancel to the job's final status. Orchestrators record theirs only when not
  replaying.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from dataplane.client import Exchange

SCOPE = "cancel_running_job"
_tracer = trace.get_tracer(SCOPE)
_meter = metrics.get_meter(SCOPE)

REQUESTS = _meter.create_counter(
    "quantum.dataplane.requests",
    unit="{request}",
    description="Azure Quantum data-plane requests, by operation and HTTP status code",
)
CANCELLATIONS = _meter.create_counter(
    "cancel_running_job.cancellations",
    unit="{cancellation}",
    description="Finished cancellations, by outcome and by trigger",
)
CONFIRMATION = _meter.create_histogram(
    "cancel_running_job.confirmation.duration",
    unit="s",
    description="Time from the accepted cancel to the job's final status",
)


def exchange_fields(
    exchange: Exchange, *, instance_id: str, job_id: str, attempt: int
) -> dict[str, Any]:
    """The structured fields of one request's log record (custom dimensions in Azure)."""
    return {
        "instanceId": instance_id,
        "jobId": job_id,
        "operation": exchange.operation,
        "attempt": attempt,
        "clientRequestId": exchange.client_request_id,
        "serviceRequestId": exchange.request_id,
        "httpStatus": exchange.status,
        "durationMs": round(exchange.seconds * 1000, 1),
    }


def record_exchange(exchange: Exchange, *, instance_id: str, job_id: str) -> None:
    """The client span and the request metric of one data-plane request."""
    host, _, port = exchange.origin.split("://", 1)[-1].partition(":")
    attributes: dict[str, Any] = {
        "http.request.method": exchange.method,
        "server.address": host,
        "server.port": int(port) if port else 443,
        "url.full": f"{exchange.origin}{exchange.path}?api-version={exchange.api_version}",
        "az.client_request_id": exchange.client_request_id,
        "quantum.operation": exchange.operation,
        "quantum.job.id": job_id,
        "quantum.orchestration.instance_id": instance_id,
    }
    if exchange.request_id:
        attributes["az.service_request_id"] = exchange.request_id
    if exchange.status is not None:
        attributes["http.response.status_code"] = exchange.status
    failure = exchange.error or (
        str(exchange.status) if exchange.status is not None and exchange.status >= 400 else None
    )
    if failure:
        attributes["error.type"] = failure
    span = _tracer.start_span(
        exchange.operation,
        kind=SpanKind.CLIENT,
        start_time=exchange.started_ns,
        attributes=attributes,
    )
    if failure:
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=exchange.started_ns + round(exchange.seconds * 1e9))
    counted: dict[str, Any] = {"quantum.operation": exchange.operation}
    if exchange.status is not None:
        counted["http.response.status_code"] = exchange.status
    else:
        counted["error.type"] = exchange.error or "unknown"
    REQUESTS.add(1, counted)


def record_outcome(outcome: str, trigger: str, confirmed_after: float | None) -> None:
    """A finished cancellation (``outcome`` is ``failed`` for a failed run); the seconds from
    its accepted cancel to the final status, when there was one."""
    CANCELLATIONS.add(1, {"outcome": outcome, "trigger": trigger})
    if confirmed_after is not None:
        CONFIRMATION.record(confirmed_after, {"outcome": outcome, "trigger": trigger})
