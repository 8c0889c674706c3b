"""A local Event Grid custom topic: ``POST /api/events`` records the app's outcome events.

It stands in for ``https://<topic>.<region>-1.eventgrid.azure.net/api/events`` as Event Grid
documents it ("Publish events to Azure Event Grid custom topics using access keys",
learn.microsoft.com/azure/event-grid/post-to-custom-topic): the key in the ``aeg-sas-key``
header, ``api-version`` in the query, a JSON array of Event Grid schema events as the body,
200 with no body when accepted, 401 without the right key, 400 for a body that is no array of
events. Point ``EVENTS_TOPIC_ENDPOINT`` at ``<simulator url>/api/events`` and
``EVENTS_TOPIC_KEY`` at :data:`TOPIC_KEY` (with QUANTUM_ALLOW_LOOPBACK=true).

Every attempt is kept in order (``attempts``: status and event ids), accepted events in
``events``; ``refuse_events(503, 503)`` makes the next publishes fail with those statuses, so
tests can watch a retried publish carry the same ids.
"""

from __future__ import annotations

import json
from typing import Any

from .core import Simulator
from .responses import Response, empty_response, json_response

PATH = "/api/events"
#: The local topic's access key (a local stand-in, not a secret).
TOPIC_KEY = "local-topic-key"
REQUIRED = ("id", "eventType", "subject", "eventTime", "data", "dataVersion")


def handle(sim: Simulator, method: str, headers: Any, body: bytes) -> Response:
    """Answer one publish to the local topic."""
    if method != "POST":
        return json_response(405, {"error": {"code": "MethodNotAllowed", "message": "POST only"}})
    if headers.get("aeg-sas-key") != TOPIC_KEY:
        return _record(sim, 401, [], "Unauthorized", "The aeg-sas-key header is missing or wrong.")
    try:
        events = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        events = None
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and all(name in e for name in REQUIRED) for e in events
    ):
        return _record(sim, 400, [], "BadRequest", "The body must be an array of events.")
    with sim.lock:
        status = sim.events_refused.pop(0) if sim.events_refused else 200
    if status != 200:
        return _record(sim, status, events, "ServiceUnavailable", "The topic refused the events.")
    _record(sim, 200, events)
    with sim.lock:
        sim.events.extend(events)
    return empty_response(200)


def _record(
    sim: Simulator, status: int, events: list[Any], code: str = "", message: str = ""
) -> Response:
    with sim.lock:
        sim.event_attempts.append({"status": status, "ids": [e.get("id") for e in events]})
    return json_response(status, {"error": {"code": code, "message": message}})
