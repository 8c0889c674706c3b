"""What the HTTP functions share: reading the body and query, waiting for a run, answering
with JSON or a problem document, and starting (or finding) a run from a checked request."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from appsettings import Settings, SettingsError, load_settings
from triggers.starting import start_or_find
from triggers.status_document import is_finished, status_document
from workflow.inputs import InvalidInput, Problem

log = logging.getLogger("triggers.http_api")

MAX_BODY_BYTES = 64 * 1024
MAX_WAIT_SECONDS = 60.0
WAIT_POLL_SECONDS = 0.5
PROBLEM_TYPE = "urn:cancel-running-job:problem:invalid-request"
MISCONFIGURED_TYPE = "urn:cancel-running-job:problem:invalid-setting"
# Stands for "no body to check": the body itself was the problem and is already reported.
_UNREADABLE = object()


async def start_from_request(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    orchestration: str,
    check: Callable[[object, Settings], Mapping[str, Any]],
    instance_id_of: Callable[[Mapping[str, Any]], str],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> func.HttpResponse:
    """The whole of a start route: settings, body and ``waitSeconds`` checked (every problem
    at once), the run started or found, then a 202 check-status answer, or the 200 status
    document when it finished within ``waitSeconds``."""
    settings = settings_or_problem()
    if isinstance(settings, func.HttpResponse):
        return settings
    problems: list[Problem] = []
    wait = wait_seconds(req.params.get("waitSeconds"), problems)
    body = json_body(req.get_body(), problems, max_body_bytes)
    request = None
    if body is not _UNREADABLE:
        try:
            request = check(body, settings)
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
    if problems or request is None:
        return invalid_request(problems)
    return await start_and_answer(
        req, client, orchestration, instance_id_of(request), request, wait
    )


async def start_and_answer(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    orchestration: str,
    instance_id: str,
    request: Any,
    wait: float,
    status_url: str | None = None,
) -> func.HttpResponse:
    """Start (or find) the run, then answer 202 with the check-status payload, or 200 with
    its status document when it finished within ``wait`` seconds (``status_url``: see
    check_status_answer)."""
    started = await start_or_find(client, orchestration, instance_id, request)
    log.info(
        "%s %s %s", orchestration, instance_id, "started" if started.started else "already running"
    )
    if wait > 0:
        finished = await wait_for_finish(client, instance_id, wait)
        if finished is not None:
            return json_answer(200, finished)
    return check_status_answer(req, client, instance_id, status_url)


def check_status_answer(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    instance_id: str,
    status_url: str | None = None,
) -> func.HttpResponse:
    """The extension's 202 check-status answer, plus ``statusUrl``: the app's own status
    route of the run, which needs the function key and not the extension's system key (by
    default the start route's path followed by the instance id)."""
    answer: func.HttpResponse = client.create_check_status_response(req, instance_id)
    payload = json.loads(answer.get_body())
    payload["statusUrl"] = status_url or f"{request_url_path(req)}/{instance_id}"
    return func.HttpResponse(
        json.dumps(payload), status_code=answer.status_code, headers=dict(answer.headers)
    )


def request_url_path(req: func.HttpRequest) -> str:
    """The request's URL without its query string (which may carry the function key)."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def api_url(req: func.HttpRequest, own_route: str, route: str) -> str:
    """The URL of the app's ``route``, next to ``own_route`` where ``req`` arrived; the route
    prefix (host.json) is whatever the request's URL shows before ``own_route``."""
    here = request_url_path(req)
    root = here[: -len(own_route)] if here.lower().endswith("/" + own_route) else here + "/"
    return root + route


def settings_or_problem() -> Settings | func.HttpResponse:
    """The app settings, or the 500 problem document that names the one that is invalid."""
    try:
        return load_settings()
    except SettingsError as error:
        log.error("the app settings are invalid: %s", error)
        return problem(500, MISCONFIGURED_TYPE, "An app setting of this app is invalid", str(error))


def json_body(raw: bytes, problems: list[Problem], most: int = MAX_BODY_BYTES) -> Any:
    """The request body as JSON (at most ``most`` bytes), or a marker after adding why it
    cannot be read."""
    if len(raw) > most:
        problems.append(Problem("body", f"must be at most {most} bytes"))
        return _UNREADABLE
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        problems.append(Problem("body", "must be a JSON object (UTF-8)"))
        return _UNREADABLE


def whole_number_param(
    raw: str | None, name: str, limits: tuple[int, int], default: int, problems: list[Problem]
) -> int:
    """A whole-number query parameter within ``limits`` (``default`` when absent or invalid,
    which is reported)."""
    if raw is None:
        return default
    low, high = limits
    if not raw.isdigit() or not low <= int(raw) <= high:
        problems.append(Problem(name, f"must be a whole number from {low} to {high}"))
        return default
    return int(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def wait_seconds(raw: str | None, problems: list[Problem]) -> float:
    """The ``waitSeconds`` query parameter (0 when absent or invalid, which is reported)."""
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_WAIT_SECONDS:
        problems.append(Problem("waitSeconds", f"must be a number from 0 to {MAX_WAIT_SECONDS:g}"))
        return 0.0
    return value


async def wait_for_finish(
    client: df.DurableOrchestrationClient, instance_id: str, seconds: float
) -> dict[str, Any] | None:
    """The run's status document once it finished, or None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        status = await client.get_status(instance_id)
        if status and is_finished(status):
            return dict(status_document(status))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(WAIT_POLL_SECONDS, remaining))


def invalid_request(problems: list[Problem]) -> func.HttpResponse:
    """The 400 problem document naming every invalid field."""
    count = len(problems)
    return problem(
        400,
        PROBLEM_TYPE,
        "The cancellation request is not valid",
        f"{count} invalid field{'s' if count != 1 else ''}",
        invalid=problems,
    )


def problem(
    status: int, kind: str, title: str, detail: str, invalid: list[Problem] | None = None
) -> func.HttpResponse:
    """An RFC 9457 problem document; nothing in it repeats a value a caller sent."""
    body: dict[str, Any] = {"type": kind, "title": title, "status": status, "detail": detail}
    if invalid is not None:
        body["invalid-params"] = [problem.to_dict() for problem in invalid]
    return json_answer(status, body, content_type="application/problem+json")


def json_answer(
    status: int, body: Any, content_type: str = "application/json"
) -> func.HttpResponse:
    """A JSON answer."""
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers={"Content-Type": content_type}
    )


async def status_answer(
    client: df.DurableOrchestrationClient, instance_id: str, pattern: re.Pattern[str], what: str
) -> func.HttpResponse:
    """The status document of a run whose id has the app's own ``pattern`` (no other text
    reaches the management API), or 404 naming ``what`` was looked for."""
    if pattern.fullmatch(instance_id):
        status = await client.get_status(instance_id)
        if status:
            return json_answer(200, status_document(status))
    return not_found(f"no {what} with this instance id")


def not_found(detail: str) -> func.HttpResponse:
    """The 404 problem document of an unknown run."""
    return problem(404, "about:blank", "Not Found", detail)
