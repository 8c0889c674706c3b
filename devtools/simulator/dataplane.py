"""The data-plane request pipeline: auth, api-version, route, path parameters, faults, and
the five job operations. Errors are raised as ApiError and turned into error answers here.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

from . import errors, listing, routing
from .core import DEFAULT_REDIRECT_BASE, Simulator
from .errors import ApiError, fault_code
from .faults import EFFECTS, FaultRule
from .jobs import SERVER_FIELDS, Job, JobAlreadyFinished, job_key
from .responses import Response, empty_response, error_response, json_response
from .sessions import Session
from .versions import ApiVersion, lookup, reported_status, supported_names

BODY_EFFECTS = frozenset({"missingStatus", "statusOverride"})
LIST_OPERATIONS = frozenset({"Jobs_List", "SessionsJobs_List"})
_REQUIRED_ON_CREATE = ("containerUri", "name", "providerId", "target", "itemType")


@dataclass
class Request:
    """A data-plane request as the HTTP layer read it."""

    method: str
    raw_path: str
    query: str
    headers: Message
    body: bytes


@dataclass
class _Context:
    """What the pipeline learned about the request, for the log and for faults."""

    api_version: str | None = None
    version: ApiVersion | None = None
    route: routing.Route | None = None
    operation: str | None = None
    fault: FaultRule | None = None
    params: dict[str, str] = field(default_factory=dict)


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, items in parse_qs(query, keep_blank_values=True).items():
        # OData-style "$filter" is accepted as an alias of the spec's "filter".
        values.setdefault(name[1:] if name.startswith("$") else name, items[0])
    return values


def handle(sim: Simulator, request: Request) -> Response:
    """Answer one data-plane request and record it in the request log."""
    ctx = _Context(params=_first_values(request.query))
    ctx.api_version = ctx.params.get("api-version") or None
    try:
        response = _pipeline(sim, request, ctx)
    except ApiError as exc:
        response = error_response(exc)
    response.headers["x-ms-request-id"] = str(uuid.uuid4())
    client_request_id = request.headers.get("x-ms-client-request-id")
    echo = (request.headers.get("x-ms-return-client-request-id") or "").lower() == "true"
    if client_request_id is not None and echo:
        # As Azure services do: the caller's id comes back only when it asks for it.
        response.headers["x-ms-client-request-id"] = client_request_id
    fault = ctx.fault
    sim.log.record(
        method=request.method,
        path=request.raw_path,
        query=request.query,
        api_version=ctx.api_version,
        operation=ctx.operation,
        job_id=ctx.route.job_id if ctx.route else None,
        status=None if response.wire else response.status,
        fault=(
            {"id": fault.rule_id, "effect": fault.effect, "after": fault.after} if fault else None
        ),
        client_request_id=client_request_id,
        request_id=response.headers["x-ms-request-id"],
        auth_present=bool(request.headers.get("Authorization")),
        clock=sim.clock.now(),
    )
    return response


def _check_auth(sim: Simulator, request: Request) -> None:
    header = request.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            errors.AUTHENTICATION_FAILED,
            "Authentication failed. The 'Authorization' header is missing or is not "
            "a bearer token.",
            headers=challenge,
        )
    expected = sim.options.token
    if expected is not None and token.strip() != expected:
        raise ApiError(401, errors.INVALID_TOKEN, "The access token is invalid.", headers=challenge)


def _check_version(ctx: _Context) -> ApiVersion:
    name = ctx.params.get("api-version")
    if not name:
        raise ApiError(
            400,
            errors.MISSING_API_VERSION,
            "The api-version query parameter (?api-version=) is required for all requests.",
            target="api-version",
        )
    ctx.api_version = name
    version = lookup(name)
    if version is None:
        raise ApiError(
            400,
            errors.UNSUPPORTED_API_VERSION,
            f"The HTTP resource that matches the request URI does not support the "
            f"API version '{name}'. Supported versions: "
            f"{', '.join(supported_names())}.",
            target="api-version",
        )
    ctx.version = version
    return version


def _resolve(request: Request, ctx: _Context, version: ApiVersion) -> routing.Route:
    route = ctx.route
    if route is None:
        raise ApiError(404, errors.NOT_FOUND, f"No data-plane route matches '{request.raw_path}'.")
    operation = routing.operation_for(route, request.method, version)
    if operation is None:
        allowed = routing.allowed_methods(route, version)
        if not allowed and route.kind == routing.CANCEL:
            # POST …:cancel does not exist before 2025-12-01-preview.
            raise ApiError(
                404,
                errors.NOT_FOUND,
                f"The ':cancel' action does not exist in api-version "
                f"{version.name}; use DELETE on the job to cancel it.",
            )
        if not allowed:
            raise ApiError(
                404, errors.NOT_FOUND, f"Sessions do not exist in api-version {version.name}."
            )
        raise ApiError(
            405,
            errors.METHOD_NOT_ALLOWED,
            f"The method '{request.method}' is not allowed on this resource in "
            f"api-version {version.name}.",
            headers={"Allow": ", ".join(allowed)},
        )
    ctx.operation = operation
    routing.validate(route)
    return route


def _pipeline(sim: Simulator, request: Request, ctx: _Context) -> Response:
    ctx.route = routing.match(request.raw_path)
    if ctx.route is not None:
        # Name the operation early so even auth/version errors are logged with it.
        ctx.operation = routing.operation_for(
            ctx.route, request.method, lookup(ctx.params.get("api-version", ""))
        )
    with sim.lock:
        _check_auth(sim, request)
    version = _check_version(ctx)
    route = _resolve(request, ctx, version)
    with sim.lock:
        rule = sim.faults.take(
            ctx.operation, route.job_id, after=False, usable=_usable_before(sim, ctx, route)
        )
        if rule is not None:
            ctx.fault = rule
            before = _current_body(sim, ctx, route)
    if rule is not None:
        _sleep(rule)
        if rule.effect != "delay":
            return _faulted(rule, before, ctx)
    with sim.lock:
        response, body = _operate(sim, request, ctx, route, version)
        after = None
        if response.status < 400:
            usable = EFFECTS if body is not None else EFFECTS - BODY_EFFECTS
            after = sim.faults.take(ctx.operation, route.job_id, after=True, usable=usable)
    if after is None:
        return response
    ctx.fault = after
    _sleep(after)
    return response if after.effect == "delay" else _faulted(after, body, ctx)


def _sleep(rule: FaultRule) -> None:
    if rule.delay_seconds > 0:
        time.sleep(rule.delay_seconds)


# -- faults ---------------------------------------------------------------------------------
def _usable_before(sim: Simulator, ctx: _Context, route: routing.Route) -> frozenset[str]:
    if ctx.operation in LIST_OPERATIONS:
        return EFFECTS
    if route.job_id is None:
        return EFFECTS - BODY_EFFECTS
    if ctx.operation != "Jobs_Create" and _live(sim, route) is not None:
        return EFFECTS
    return EFFECTS - BODY_EFFECTS


def _current_body(sim: Simulator, ctx: _Context, route: routing.Route) -> Any:
    """What the job (or list) looks like now, without the operation taking effect."""
    assert ctx.version is not None
    if ctx.operation in LIST_OPERATIONS:
        return {"value": _listed_views(sim, route, ctx.version)}
    if route.job_id is None:
        return None
    job = _live(sim, route)
    if job is None:
        return None
    job.settle(sim.clock.now())
    return _view(sim, job, ctx.version)


def _retry_after(rule: FaultRule) -> str | None:
    value = rule.retry_after
    if value is None or isinstance(value, str):
        return value
    if rule.retry_after_format == "http-date":
        return formatdate(time.time() + value, usegmt=True)
    return str(value)


def _without_status(body: Any, status: str | None) -> Any:
    def fix(item: dict[str, Any]) -> dict[str, Any]:
        item = dict(item)
        if status is None:
            item.pop("status", None)
        else:
            item["status"] = status
        return item

    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return dict(body, value=[fix(item) for item in body["value"]])
    return fix(body) if isinstance(body, dict) else body


def _faulted(rule: FaultRule, body: Any, ctx: _Context) -> Response:
    if rule.effect in ("drop", "reset"):
        return Response(0, wire=rule.effect)
    if rule.effect == "httpError":
        headers: dict[str, str] = {}
        retry_after = _retry_after(rule)
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        code = fault_code(rule.http_status)
        return error_response(
            ApiError(
                rule.http_status,
                code,
                f"{code}: the service could not process "
                f"{ctx.operation or 'the request'} right now (injected fault {rule.rule_id}).",
                headers=headers,
            )
        )
    if rule.effect == "malformedJson":
        text = json.dumps(body if body is not None else {"value": [{"id": "x"}]})
        garbled = text[: max(1, len(text) // 2)] + '",,}'
        return Response(
            200, {"Content-Type": "application/json; charset=utf-8"}, garbled.encode("utf-8")
        )
    changed = _without_status(body, rule.job_status if rule.effect == "statusOverride" else None)
    return json_response(200, changed)


# -- operations -----------------------------------------------------------------------------
def _live(sim: Simulator, route: routing.Route) -> Job | None:
    assert route.job_id is not None
    return sim.store.live(
        job_key(route.subscription_id, route.resource_group, route.workspace, route.job_id)
    )


def _job_or_404(sim: Simulator, route: routing.Route) -> Job:
    job = _live(sim, route)
    if job is None:
        raise ApiError(
            404,
            errors.JOB_NOT_FOUND,
            f"Job '{route.job_id}' was not found in workspace '{route.workspace}'.",
            target="jobId",
        )
    return job


def _view(sim: Simulator, job: Job, version: ApiVersion) -> dict[str, Any]:
    body = job.render(sim.clock)
    body["status"] = reported_status(version, body["status"])
    return body


def _operate(
    sim: Simulator, request: Request, ctx: _Context, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    operation = ctx.operation
    if operation == "Jobs_Get":
        return _get(sim, request, route, version)
    if operation == "Jobs_Create":
        return _create(sim, request, route, version)
    if operation == "Jobs_List":
        return _list(sim, request, ctx, route, version)
    if operation == "Jobs_Cancel":
        return _cancel(sim, request, route, version)
    if operation == "SessionsJobs_List":
        _session_or_404(sim, route)
        return _list(sim, request, ctx, route, version)
    if operation == "Quotas_List":
        where = (route.subscription_id, route.resource_group, route.workspace)
        body = {"value": sim.quotas_of(*where)}
        return json_response(200, body), body
    if operation in ("Sessions_Get", "Sessions_Close", "Sessions_Open"):
        return _session(sim, request, operation, route, version)
    return _delete(sim, route)


def _get(
    sim: Simulator, request: Request, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    assert route.job_id is not None
    key = route.job_id.lower()
    if key in sim.redirects:
        location = sim.redirects[key] or (
            f"{DEFAULT_REDIRECT_BASE}{request.raw_path}?{request.query}"
        )
        return empty_response(307, {"Location": location, "Content-Length": "0"}), None
    job = _job_or_404(sim, route)
    now = sim.clock.now()
    job.settle(now)
    body = _view(sim, job, version)
    job.count_read(now)
    return json_response(200, body), body


def _create(
    sim: Simulator, request: Request, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    assert route.job_id is not None
    try:
        payload = json.loads(request.body.decode("utf-8")) if request.body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400, errors.INVALID_REQUEST_BODY, f"The request body is not valid JSON: {exc}."
        ) from exc
    if not isinstance(payload, dict):
        raise ApiError(
            400, errors.INVALID_REQUEST_BODY, "The request body must be a JobDetails JSON object."
        )
    for name in _REQUIRED_ON_CREATE:
        if payload.get(name) in (None, ""):
            raise ApiError(
                400,
                errors.MISSING_REQUIRED_PROPERTY,
                f"The JobDetails property '{name}' is required.",
                target=name,
            )
        if not isinstance(payload[name], str):
            raise ApiError(
                400,
                errors.INVALID_REQUEST_BODY,
                f"The JobDetails property '{name}' must be a string.",
                target=name,
            )
    if payload["itemType"] != "Job":
        raise ApiError(
            400,
            errors.INVALID_REQUEST_BODY,
            "The JobDetails property 'itemType' must be 'Job'.",
            target="itemType",
        )
    body_id = payload.get("id")
    if body_id is not None and str(body_id).lower() != route.job_id.lower():
        raise ApiError(
            400,
            errors.INVALID_PARAMETER,
            "The job id in the body does not match the job id in the path.",
            target="id",
        )
    details = {name: value for name, value in payload.items() if name not in SERVER_FIELDS}
    existing = _live(sim, route)
    if existing is not None:
        # A replace keeps the server-side state: the job goes on where it was.
        existing.details = details
        existing.settle(sim.clock.now())
        body = _view(sim, existing, version)
        return json_response(200, body), body
    job = sim.add_job(
        route.job_id,
        (route.subscription_id, route.resource_group, route.workspace),
        details,
        sim.make_lifecycle(None),
    )
    body = _view(sim, job, version)
    return json_response(201, body), body


def _listed_views(
    sim: Simulator, route: routing.Route, version: ApiVersion
) -> list[dict[str, Any]]:
    """Every live job of the workspace (of the session, on a session route), in creation order."""
    now = sim.clock.now()
    jobs = sim.store.in_workspace(route.subscription_id, route.resource_group, route.workspace)
    views = []
    for job in sorted(jobs, key=lambda j: (j.created_at, j.sequence)):
        if route.session_id is not None and (
            str(job.details.get("sessionId", "")).lower() != route.session_id.lower()
        ):
            continue
        job.settle(now)
        views.append(_view(sim, job, version))
    return views


def _list(
    sim: Simulator, request: Request, ctx: _Context, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    query = listing.parse_query(ctx.params)
    remaining = query.select(_listed_views(sim, route, version))
    size = min(query.top or sim.options.page_size, sim.options.page_size)
    page = remaining[:size]
    body: dict[str, Any] = {"value": page}
    if len(remaining) > size:
        body["nextLink"] = listing.next_link(
            sim.base_url, request.raw_path, version.name, query, query.skip + size
        )
    return json_response(200, body), body


def _session_or_404(sim: Simulator, route: routing.Route) -> Session:
    assert route.session_id is not None
    session = sim.sessions.get(
        route.subscription_id, route.resource_group, route.workspace, route.session_id
    )
    if session is None:
        raise ApiError(
            404,
            errors.SESSION_NOT_FOUND,
            f"Session '{route.session_id}' was not found in workspace '{route.workspace}'.",
            target="sessionId",
        )
    return session


def _session(
    sim: Simulator, request: Request, operation: str, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    assert route.session_id is not None
    status = 200
    if operation == "Sessions_Open":
        payload = _object_body(request)
        existing = sim.sessions.get(
            route.subscription_id, route.resource_group, route.workspace, route.session_id
        )
        if existing is None:
            status = 201
            sim.seed_session(
                route.session_id,
                subscription_id=route.subscription_id,
                resource_group=route.resource_group,
                workspace=route.workspace,
                details={k: v for k, v in payload.items() if k not in SERVER_FIELDS},
            )
    session = _session_or_404(sim, route)
    if operation == "Sessions_Close":
        session.closed = True
        session.close_requests += 1
    views = _listed_views(sim, route_for_session(route), version)
    body = session.render(sim.clock.iso(session.created_at), _session_status(session, views))
    return json_response(status, body), body


def route_for_session(route: routing.Route) -> routing.Route:
    """The session's job-list route (for its jobs' statuses)."""
    return routing.Route(
        routing.SESSION_JOBS,
        route.subscription_id,
        route.resource_group,
        route.workspace,
        None,
        route.session_id,
    )


def _session_status(session: Session, views: list[dict[str, Any]]) -> str:
    statuses = {view["status"] for view in views}
    if statuses & {"Waiting", "Queued", "Executing", "CancellationRequested", "Cancelling"}:
        return "Executing"
    if "Failed" in statuses:
        return "Failure(s)"
    return "Succeeded" if views else "Waiting"


def _object_body(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(request.body.decode("utf-8")) if request.body else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400, errors.INVALID_REQUEST_BODY, f"The request body is not valid JSON: {exc}."
        ) from exc
    if not isinstance(payload, dict):
        raise ApiError(400, errors.INVALID_REQUEST_BODY, "The request body must be an object.")
    return payload


def _cancel(
    sim: Simulator, request: Request, route: routing.Route, version: ApiVersion
) -> tuple[Response, Any]:
    job = _job_or_404(sim, route)
    now = sim.clock.now()
    job.settle(now)
    try:
        job.request_cancel(now)
    except JobAlreadyFinished as exc:
        shown = reported_status(version, exc.status)
        raise ApiError(
            409,
            errors.INVALID_JOB_STATE,
            f"Job '{job.job_id}' has already finished with status '{shown}' and "
            f"cannot be cancelled.",
            target="jobId",
        ) from exc
    if request.method == "POST" and sim.options.cancel_response == 200:
        body = _view(sim, job, version)
        return json_response(200, body), body
    return empty_response(204), None


def _delete(sim: Simulator, route: routing.Route) -> tuple[Response, Any]:
    job = _job_or_404(sim, route)
    job.deleted = True
    job.counters.deletes += 1
    return empty_response(204), None
