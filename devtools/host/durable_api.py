"""The Durable extension's HTTP APIs over devtools.durable's engine.

Served twice, as the extension serves them: under ``/durabletask/`` (the local RPC endpoint
in the client binding's ``rpcBaseUrl``, which DurableOrchestrationClient calls) and under
``/runtime/webhooks/durabletask/`` (the public management API that a check-status payload's
URLs point to). Routes, status codes and bodies follow HttpApiHandler.cs:

* ``POST orchestrators/{functionName}[/{instanceId}]`` → 202 check-status payload with
  ``Location`` and ``Retry-After: 10``; unknown orchestrator → 400 with ``ExceptionMessage``
  (the SDK raises it), as is an input over the payload cap; an instance that is
  Pending/Running under host.json ``overridableExistingInstanceStates: NonRunningStates`` (the
  extension's default) → 409, under ``AnyState`` it is replaced; invalid JSON → 400.
* ``GET instances/{id}`` → 202 (Pending/Running, ``Location``, ``Retry-After: 5``), 200
  (Completed, Terminated, and Failed unless ``returnInternalServerErrorOnFailure=true``,
  then 500), 404 unknown.
* ``GET instances`` → 200 list; ``POST instances/{id}/terminate?reason=`` → 202, 404, 410
  when finished; ``DELETE instances/{id}`` → 200 ``{"instancesDeleted": 1}``, 404, 412 when
  still running.

``input`` is shown unless ``showInput=false``, as the extension does: a caller's token in
the orchestration input is visible to whoever holds a management URL (the README says so).
Deliberate differences: history events keep their ``Input``/``Result`` only with
``showHistoryOutput=true``. Keys (``code=``) are not
checked, as with ``func start``. raiseEvent, rewind, restart, suspend and resume answer 501:
the engine has no such operations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote

from devtools.durable import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    OrchestrationStatus,
    PayloadTooLarge,
    RuntimeStatus,
    UnknownFunctionError,
)
from devtools.durable.history import EventType, parse_timestamp

from .client_binding import DurableEndpoints
from .messages import Request, Response, json_response, text_response

log = logging.getLogger(__name__)

MAX_INSTANCE_ID_LENGTH = 100
_FORBIDDEN_ID_CHARS = frozenset("/\\#?")
_RUNNING = frozenset({RuntimeStatus.PENDING, RuntimeStatus.RUNNING})
_HISTORY_OUTPUT_FIELDS = ("Input", "Result", "Details")
#: Longest wait a start request may ask for with ``timeout`` (keeps a request bounded).
_MAX_WAIT_SECONDS = 300.0


class Engine(Protocol):
    """What this module needs from devtools.durable.DurableEngine."""

    def start_new(
        self, function_name: str, instance_id: str | None = None, input: Any = None
    ) -> str:
        """Create an instance; refuse one that is Pending/Running."""
        ...

    def get_status(
        self, instance_id: str, show_history: bool = False, show_input: bool = True
    ) -> OrchestrationStatus | None:
        """Status of one instance or None."""
        ...

    def list_instances(self) -> list[OrchestrationStatus]:
        """Status of every instance."""
        ...

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Terminate a running instance."""
        ...

    def purge(self, instance_id: str) -> bool:
        """Delete a finished instance."""
        ...


def invalid_instance_id(instance_id: str) -> str | None:
    """Why ``instance_id`` cannot be used (None when it is fine)."""
    if not instance_id:
        return "Instance ID must not be empty."
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"Instance ID must be at most {MAX_INSTANCE_ID_LENGTH} characters."
    if any(ch in _FORBIDDEN_ID_CHARS or not ch.isprintable() for ch in instance_id):
        return "Instance ID contains invalid characters ('/', '\\', '#', '?' or control)."
    return None


def error_body(message: str, exception: BaseException | None = None) -> dict[str, Any]:
    """ASP.NET's HttpError shape (what request.CreateErrorResponse writes)."""
    body: dict[str, Any] = {"Message": message}
    if exception is not None:
        body.update(
            ExceptionMessage=str(exception),
            ExceptionType=_dotnet_type(exception),
            StackTrace=None,
        )
    return body


def _dotnet_type(exception: BaseException) -> str:
    # The names the extension's errors carry, so callers see the same ExceptionType.
    if isinstance(exception, json.JSONDecodeError | UnicodeDecodeError):
        return "Newtonsoft.Json.JsonReaderException"
    if isinstance(exception, UnknownFunctionError | ValueError):
        return "System.ArgumentException"
    return "System.Exception"


class DurableApi:
    """Answers RPC and management requests; ``sub_path`` is relative to the API root."""

    def __init__(
        self,
        engine: Engine,
        endpoints: DurableEndpoints,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Serve ``engine``; ``endpoints`` builds the management URLs."""
        self._engine = engine
        self._endpoints = endpoints
        self._monotonic = clock
        self._sleep = sleep

    def handle(self, request: Request, sub_path: str) -> Response:
        """Route one request (``sub_path`` still percent-encoded, no leading '/')."""
        trimmed = sub_path.strip("/")
        segments = [unquote(s) for s in trimmed.split("/")] if trimmed else []
        method = request.method.upper()
        try:
            if segments and segments[0].lower() == "orchestrators" and len(segments) in (2, 3):
                if method != "POST":
                    return text_response(404)
                return self._start(request, segments[1], segments[2] if len(segments) == 3 else "")
            if segments and segments[0].lower() == "instances" and len(segments) <= 4:
                return self._instances(request, method, segments[1:])
        except Exception as exc:
            log.exception("durable API error")
            return json_response(
                500, error_body("Something went wrong while processing your request", exc)
            )
        return text_response(404)

    # -- start -----------------------------------------------------------------------
    def _start(self, request: Request, function_name: str, instance_id: str) -> Response:
        if instance_id:
            problem = invalid_instance_id(instance_id)
            if problem is not None:
                return self._bad_argument(ValueError(problem))
        try:
            value = _start_input(request.body)
        except ValueError as exc:
            return json_response(400, error_body("Invalid JSON content", exc))
        try:
            started = self._engine.start_new(function_name, instance_id or None, value)
        except (UnknownFunctionError, PayloadTooLarge) as exc:
            return self._bad_argument(exc)
        except InstanceAlreadyExistsError as exc:
            return json_response(409, error_body(str(exc)))
        timeout = _seconds(request.query_param("timeout"))
        interval = _seconds(request.query_param("pollingInterval"))
        if timeout is not None and interval is not None:
            return self._wait(request, started, min(timeout, _MAX_WAIT_SECONDS), interval)
        return self._check_status(request, started)

    def _bad_argument(self, exc: Exception) -> Response:
        # The SDK's start_new reads ExceptionMessage of a 400 and raises it.
        return json_response(
            400, error_body("One or more of the arguments submitted is incorrect", exc)
        )

    def _check_status(self, request: Request, instance_id: str) -> Response:
        payload = self._endpoints.management_urls(instance_id, origin=request.origin)
        body = {
            key: payload[key]
            for key in (
                "id",
                "statusQueryGetUri",
                "sendEventPostUri",
                "terminatePostUri",
                "purgeHistoryDeleteUri",
                "restartPostUri",
                "suspendPostUri",
                "resumePostUri",
            )
        }
        return json_response(
            202, body, [("Location", body["statusQueryGetUri"]), ("Retry-After", "10")]
        )

    def _wait(
        self, request: Request, instance_id: str, timeout: float, interval: float
    ) -> Response:
        deadline = self._monotonic() + timeout
        while True:
            status = self._engine.get_status(instance_id)
            if status is not None and status.runtime_status is RuntimeStatus.COMPLETED:
                return json_response(200, status.output)
            if status is not None and status.runtime_status.is_terminal:
                return self._status(request, instance_id)
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return self._check_status(request, instance_id)
            self._sleep(max(0.05, min(interval, remaining)))

    # -- instances -------------------------------------------------------------------
    def _instances(self, request: Request, method: str, rest: list[str]) -> Response:
        if not rest or (len(rest) == 1 and rest[0] == ""):
            return self._list(request) if method == "GET" else text_response(404)
        instance_id = rest[0]
        problem = invalid_instance_id(instance_id)
        if problem is not None:
            return json_response(400, error_body(problem))
        if len(rest) == 1:
            if method == "GET":
                return self._status(request, instance_id)
            if method == "DELETE":
                return self._purge(instance_id)
            return text_response(404)
        operation = rest[1].lower()
        if method != "POST":
            return text_response(404)
        if operation == "terminate" and len(rest) == 2:
            return self._terminate(request, instance_id)
        known = ("raiseevent", "rewind", "restart", "suspend", "resume")
        if operation in known:
            if self._engine.get_status(instance_id) is None:
                return text_response(404)
            return json_response(501, error_body(f"'{rest[1]}' is not supported by devtools.host"))
        return text_response(404)

    def _status(self, request: Request, instance_id: str) -> Response:
        show_history = _flag(request.query_param("showHistory"))
        show_output = _flag(request.query_param("showHistoryOutput"))
        show_input = _flag(request.query_param("showInput"), default=True)
        status = self._engine.get_status(
            instance_id, show_history=show_history, show_input=show_input
        )
        if status is None:
            return text_response(404)
        body = status.to_json()
        if "historyEvents" in body:
            body["historyEvents"] = [_history_event(e, show_output) for e in body["historyEvents"]]
        runtime = status.runtime_status
        if runtime in _RUNNING:
            headers = [("Location", request.url), ("Retry-After", "5")]
            return json_response(202, body, headers)
        if runtime is RuntimeStatus.FAILED and _flag(
            request.query_param("returnInternalServerErrorOnFailure")
        ):
            return json_response(500, body)
        return json_response(200, body)

    def _list(self, request: Request) -> Response:
        statuses = self._engine.list_instances()
        wanted = {
            s.strip().lower()
            for s in (request.query_param("runtimeStatus") or "").split(",")
            if s.strip()
        }
        prefix = request.query_param("instanceIdPrefix")
        created_from = _time(request.query_param("createdTimeFrom"))
        created_to = _time(request.query_param("createdTimeTo"))
        show_input = _flag(request.query_param("showInput"), default=True)
        selected = [
            s
            for s in statuses
            if (not wanted or s.runtime_status.value.lower() in wanted)
            and (prefix is None or s.instance_id.startswith(prefix))
            and (created_from is None or s.created_time >= created_from)
            and (created_to is None or s.created_time <= created_to)
        ]
        top = _int(request.query_param("top"))
        if top is not None and top > 0:
            selected = selected[:top]
        bodies = []
        for status in selected:
            body = status.to_json()
            if not show_input:
                body["input"] = None
            bodies.append(body)
        return json_response(200, bodies)

    def _terminate(self, request: Request, instance_id: str) -> Response:
        try:
            self._engine.terminate(instance_id, request.query_param("reason"))
        except InstanceNotFoundError:
            return text_response(404)
        except InstanceNotRunningError:
            return text_response(410)
        return text_response(202)

    def _purge(self, instance_id: str) -> Response:
        status = self._engine.get_status(instance_id, show_input=False)
        if status is None:
            return text_response(404)
        try:
            deleted = self._engine.purge(instance_id)
        except InstanceNotRunningError:
            return json_response(
                412,
                "Only orchestrations in a terminal state can be purged, but the orchestration "
                f"with instance ID {instance_id} has status {status.runtime_status.value}",
            )
        if not deleted:
            return text_response(404)
        return json_response(200, {"instancesDeleted": 1})


def _start_input(body: bytes) -> Any:
    """The orchestration input from a start request body.

    The Python client posts ``json=df_dumps(input)``: the body is a JSON *string* holding
    the input's JSON text. The engine serialises the value itself, so decode both layers;
    a plain JSON body (curl) is taken as the input directly.
    """
    if not body.strip():
        return None
    value = json.loads(body.decode("utf-8"))
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _history_event(event: dict[str, Any], show_output: bool) -> dict[str, Any]:
    shown = dict(event)
    kind = shown.get("EventType")
    if isinstance(kind, int) and not isinstance(kind, bool):
        # The HTTP API names event types ("TaskScheduled") instead of numbering them.
        with contextlib.suppress(ValueError):
            shown["EventType"] = _EVENT_NAMES[EventType(kind)]
    if not show_output:
        for name in _HISTORY_OUTPUT_FIELDS:
            shown.pop(name, None)
    return shown


_EVENT_NAMES = {
    member: "".join(part.capitalize() for part in member.name.split("_")) for member in EventType
}


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() == "true"


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _time(value: str | None) -> Any:
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
