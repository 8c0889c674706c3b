"""Core Tools' local Event Grid endpoint: ``POST /runtime/webhooks/EventGrid?functionName=``.

Behaves like the Event Grid extension's webhook (HttpRequestProcessor and
EventGridExtensionConfigProvider in Microsoft.Azure.WebJobs.Extensions.EventGrid):

* unknown or missing ``functionName`` → 404 ``cannot find function: '<name>'``;
* ``aeg-event-type: SubscriptionValidation`` → 200 ``{"validationResponse": code}`` (code from
  ``[0].data.validationCode``, or from a CloudEvent object whose ``data`` is JSON text);
* ``aeg-event-type: Notification`` → the body is a JSON array of events or one event object
  (Event Grid schema or CloudEvents 1.0); the function runs once per event; 202 when every
  invocation succeeded, else 500 with the first error message, so Event Grid would retry the
  whole delivery; ``Unsubscribe`` → 202; any other header value → 400.

Each event reaches the function as the worker builds it: azure.functions'
EventGridEventInConverter decodes a ``json`` Datum into an EventGridEvent or a CloudEvent.
A body that is not JSON makes the extension throw, which the host answers with 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from .client_binding import DurableEndpoints, client_arguments
from .invoker import FunctionInvoker
from .messages import Request, Response, json_response, text_response
from .metadata import EVENT_GRID_TRIGGER, FunctionIndex, FunctionInfo

log = logging.getLogger(__name__)

EVENT_TYPE_HEADER = "aeg-event-type"


class EventGridEndpoint:
    """Delivers Event Grid requests to the app's eventGridTrigger functions."""

    def __init__(
        self, index: FunctionIndex, invoker: FunctionInvoker, endpoints: DurableEndpoints
    ) -> None:
        """Serve the functions of ``index`` whose trigger is ``eventGridTrigger``."""
        self._functions = {f.name: f for f in index.by_trigger(EVENT_GRID_TRIGGER)}
        self._invoker = invoker
        self._endpoints = endpoints

    def handle(self, request: Request) -> Response:
        """Answer one webhook request."""
        if request.method.upper() != "POST":
            return text_response(404)
        name = request.query_param("functionName") or ""
        function = self._find(name)
        if function is None:
            return text_response(404, f"cannot find function: '{name}'")
        kind = (request.header(EVENT_TYPE_HEADER) or "").lower()
        try:
            if kind == "subscriptionvalidation":
                return json_response(200, {"validationResponse": _validation_code(request.body)})
            if kind == "notification":
                return self._deliver(function, _events(request.body))
        except (ValueError, LookupError, TypeError) as exc:
            return text_response(500, f"the request could not be read: {type(exc).__name__}")
        return text_response(202 if kind == "unsubscribe" else 400)

    def _find(self, name: str) -> FunctionInfo | None:
        # Listener keys are the function names as indexed (exact match).
        return self._functions.get(name)

    def _deliver(self, function: FunctionInfo, events: list[Any]) -> Response:
        failures: list[str] = []
        for event in events:
            error = self._invoke(function, event)
            if error is not None:
                failures.append(error)
        if failures:
            return text_response(500, failures[0])
        return text_response(202)

    def _invoke(self, function: FunctionInfo, event: Any) -> str | None:
        try:
            value = EventGridEventInConverter.decode(
                meta.Datum(type="json", value=json.dumps(event)), trigger_metadata=None
            )
            arguments: dict[str, Any] = {function.trigger.name: value}
            arguments.update(client_arguments(self._endpoints, function))
            self._invoker.invoke(function, arguments)
        except Exception:
            log.exception("function %s failed", function.name)
            return f"Exception while executing function: Functions.{function.name}"
        return None


def _events(body: bytes) -> list[Any]:
    token = json.loads(body.decode("utf-8"))
    if isinstance(token, list):
        return token
    if isinstance(token, dict):
        return [token]
    raise ValueError("the request content should be a JSON object or array")


def _validation_code(body: bytes) -> str:
    token = json.loads(body.decode("utf-8"))
    if isinstance(token, list):
        return str(token[0]["data"]["validationCode"])
    if isinstance(token, dict):
        # A CloudEvent validation event carries its data as JSON text.
        data = token["data"]
        data = json.loads(data) if isinstance(data, str) else data
        return str(data["validationCode"])
    raise ValueError("the request content should be a JSON object or array")
