"""The ``publish_outcome_events`` activity: one publish of a batch of outcome events.

It sends with azure-eventgrid's ``EventGridPublisherClient`` (Event Grid schema) to the custom
topic in setting EVENTS_TOPIC_ENDPOINT: with the topic key in the ``aeg-sas-key`` header when
EVENTS_TOPIC_KEY is set (local runs; "Publish events to Azure Event Grid custom topics using
access keys", learn.microsoft.com/azure/event-grid/post-to-custom-topic), else with the app's
identity through Microsoft Entra ID (scope ``https://eventgrid.azure.net/.default``, the
client's own; the identity needs EventGrid Data Sender on the topic). One attempt per call:
the client's own retries are off, because the orchestrator retries on durable timers
(orchestrators.outcome_events), where a wait costs no worker thread and replay sees it.

A failure comes back as data (``{"ok": false, "transient", "status", "reason"}``) and never as
an exception: a publish never fails a run. The reason names the HTTP status or the error class,
never a header, the key or a token.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError

from appsettings import SettingsError, load_settings
from dataplane.auth import identity_credential
from dataplane.errors import TRANSIENT_STATUS_CODES

bp = df.Blueprint()
log = logging.getLogger(__name__)
#: Seconds to connect and to read the topic's answer: a stuck topic must not hold a worker.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 15


def publisher(endpoint: str, key: str | None, client_id: str | None) -> Any:
    """The Event Grid publisher client for ``endpoint`` (key, or the app's identity)."""
    from azure.eventgrid import EventGridPublisherClient

    credential: Any = AzureKeyCredential(key) if key else identity_credential(client_id)
    return EventGridPublisherClient(endpoint, credential)


@bp.activity_trigger(input_name="batch")
def publish_outcome_events(batch: dict[str, Any]) -> dict[str, Any]:
    """Publish ``batch["events"]`` (Event Grid schema) once; off when no topic is set."""
    events: list[dict[str, Any]] = batch.get("events", [])
    try:
        settings = load_settings()
    except SettingsError as error:
        log.error("outcome events not published, the app settings are invalid: %s", error)
        return {"ok": False, "transient": False, "status": None, "reason": str(error)}
    endpoint = settings.events_topic_endpoint
    if endpoint is None or not events:
        return {"ok": True, "sent": 0}
    try:
        client = publisher(endpoint, settings.events_topic_key, settings.azure_client_id)
        # Per-call options: the basic-topic client does not pass constructor options on.
        client.send(
            events,
            retry_total=0,
            connection_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        )
    except HttpResponseError as error:
        status = error.status_code
        transient = status is None or status in TRANSIENT_STATUS_CODES
        return _failed(events, transient, status, f"HTTP {status}")
    except (AzureError, OSError) as error:
        return _failed(events, True, None, type(error).__name__)
    log.info("published %d outcome event(s): %s", len(events), _ids(events))
    return {"ok": True, "sent": len(events)}


def _failed(
    events: list[dict[str, Any]], transient: bool, status: int | None, reason: str
) -> dict[str, Any]:
    log.warning(
        "publishing %d outcome event(s) failed: %s (transient=%s): %s",
        len(events),
        reason,
        transient,
        _ids(events),
    )
    return {"ok": False, "transient": transient, "status": status, "reason": reason}


def _ids(events: list[dict[str, Any]]) -> str:
    shown = ", ".join(f"{e.get('eventType')} {e.get('id')}" for e in events[:5])
    return shown + (f" and {len(events) - 5} more" if len(events) > 5 else "")
