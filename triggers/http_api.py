"""The HTTP API: start a cancellation (POST) and read its status document (GET)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from appsettings import Settings, SettingsError, load_settings
from triggers.starting import start_or_find
from triggers.status_document import INSTANCE_ID, is_finished, status_document
from workflow.inputs import InvalidInput, Problem, checked_cancel_input

bp = df.Blueprint()
log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_WAIT_SECONDS = 60.0
WAIT_POLL_SECONDS = 0.5
PROBLEM_TYPE = "urn:cancel-running-job:problem:invalid-request"
MISCONFIGURED_TYPE = "urn:cancel-running-job:problem:invalid-setting"
# Stands for "no body to check": the body itself was the problem and is already reported.
_UNREADABLE = object()


@bp.route(route="cancel-running-job", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_cancel_running_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Check the workflow inputs, then start (or find) the job's cancellation."""
    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    problems: list[Problem] = []
    wait_seconds = _wait_seconds(req.params.get("waitSeconds"), problems)
    body = _json_body(req.get_body(), problems)
    request = None
    if body is not _UNREADABLE:
        try:
            request = checked_cancel_input(body, settings)
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
    if problems or request is None:
        return _invalid_request(problems)

    started = await start_or_find(client, request)
    log.info(
        "cancel of job %s: instance %s %s",
        request["jobId"],
        started.instance_id,
        "started" if started.started else "already running",
    )
    if wait_seconds > 0:
        finished = await _wait_for(client, started.instance_id, wait_seconds)
        if finished is not None:
            return _json(200, finished)
    response: func.HttpResponse = client.create_check_status_response(req, started.instance_id)
    return response


@bp.route(
    route="cancel-running-job/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
@bp.durable_client_input(client_name="client")
async def get_cancel_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Answer the status document of one cancellation, or 404."""
    instance_id = req.route_params.get("instanceId", "")
    if INSTANCE_ID.fullmatch(instance_id):
        status = await client.get_status(instance_id)
        if status:
            return _json(200, status_document(status))
    return _problem(404, "about:blank", "Not Found", "no cancellation with this instance id")


def _settings() -> Settings | func.HttpResponse:
    """The app settings, or the 500 problem document that names the one that is invalid."""
    try:
        return load_settings()
    except SettingsError as error:
        log.error("the app settings are invalid: %s", error)
        return _problem(
            500, MISCONFIGURED_TYPE, "An app setting of this app is invalid", str(error)
        )


def _json_body(raw: bytes, problems: list[Problem]) -> Any:
    if len(raw) > MAX_BODY_BYTES:
        problems.append(Problem("body", f"must be at most {MAX_BODY_BYTES} bytes"))
        return _UNREADABLE
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        problems.append(Problem("body", "must be a JSON object (UTF-8)"))
        return _UNREADABLE


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _wait_seconds(raw: str | None, problems: list[Problem]) -> float:
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


async def _wait_for(
    client: df.DurableOrchestrationClient, instance_id: str, seconds: float
) -> dict[str, Any] | None:
    deadline = time.monotonic() + seconds
    while True:
        status = await client.get_status(instance_id)
        if status and is_finished(status):
            return dict(status_document(status))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(WAIT_POLL_SECONDS, remaining))


def _invalid_request(problems: list[Problem]) -> func.HttpResponse:
    count = len(problems)
    return _problem(
        400,
        PROBLEM_TYPE,
        "The cancellation request is not valid",
        f"{count} invalid field{'s' if count != 1 else ''}",
        invalid=problems,
    )


def _problem(
    status: int, kind: str, title: str, detail: str, invalid: list[Problem] | None = None
) -> func.HttpResponse:
    """An RFC 9457 problem document; nothing in it repeats a value a caller sent."""
    body: dict[str, Any] = {"type": kind, "title": title, "status": status, "detail": detail}
    if invalid is not None:
        body["invalid-params"] = [problem.to_dict() for problem in invalid]
    return _json(status, body, content_type="application/problem+json")


def _json(status: int, body: Any, content_type: str = "application/json") -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers={"Content-Type": content_type}
    )
