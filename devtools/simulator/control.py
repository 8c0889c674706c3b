"""The control API over HTTP under ``/_simulator/…`` (not part of Azure; no auth; loopback).

Each endpoint maps onto a method of :class:`core.Simulator`; see the README for the list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from .core import Simulator
from .errors import ApiError
from .lifecycles import PRESETS
from .responses import Response, empty_response, error_response, json_response
from .versions import SUPPORTED

PREFIX = "/_simulator"


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "InvalidRequestBody", f"The body is not valid JSON: {exc}.") from exc


def _object(body: bytes) -> dict[str, Any]:
    value = _json_body(body)
    if not isinstance(value, dict):
        raise ApiError(400, "InvalidRequestBody", "The body must be a JSON object.")
    return value


def _bad(exc: Exception) -> ApiError:
    return ApiError(400, "InvalidRequest", str(exc).strip("'\""))


def handle(sim: Simulator, method: str, raw_path: str, body: bytes) -> Response:
    """Answer one control-API request."""
    parts = [unquote(part) for part in raw_path[len(PREFIX) :].strip("/").split("/")]
    try:
        return _route(sim, method, parts, body)
    except ApiError as exc:
        return error_response(exc)
    except (ValueError, TypeError) as exc:
        return error_response(_bad(exc))


def _route(sim: Simulator, method: str, parts: list[str], body: bytes) -> Response:
    head = parts[0] if parts else ""
    table: dict[tuple[str, str], Callable[[], Response]] = {
        ("health", "GET"): lambda: json_response(200, _health(sim)),
        ("reset", "POST"): lambda: _done(sim.reset),
        ("requests", "GET"): lambda: json_response(200, {"requests": sim.requests()}),
        ("requests", "DELETE"): lambda: _done(sim.clear_requests),
        ("faults", "GET"): lambda: json_response(200, {"faults": sim.fault_rules()}),
        ("faults", "POST"): lambda: json_response(201, sim.add_fault(_object(body))),
        ("faults", "DELETE"): lambda: _done(sim.clear_faults),
        ("options", "GET"): lambda: json_response(200, sim.options.to_json()),
        ("options", "PUT"): lambda: json_response(200, sim.set_options(**_object(body)).to_json()),
        ("clock", "GET"): lambda: json_response(200, sim.clock.describe()),
        ("clock", "POST"): lambda: json_response(200, _clock(sim, _object(body))),
        ("events", "GET"): lambda: json_response(
            200, {"events": sim.received_events(), "attempts": list(sim.event_attempts)}
        ),
        ("quotas", "PUT"): lambda: _done(lambda: _quotas(sim, _object(body))),
    }
    if head in ("jobs", "redirects"):
        return (
            _jobs(sim, method, parts, body)
            if head == "jobs"
            else _redirects(sim, method, parts, body)
        )
    action = table.get((head, method))
    if action is not None and len(parts) == 1:
        return action()
    if any(key[0] == head for key in table) and len(parts) == 1:
        allowed = ", ".join(sorted(m for h, m in table if h == head))
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"Use {allowed} on {PREFIX}/{head}.",
            headers={"Allow": allowed},
        )
    raise ApiError(404, "NotFound", f"No control endpoint {PREFIX}/{'/'.join(parts)}.")


def _quotas(sim: Simulator, body: dict[str, Any]) -> None:
    names = {"subscriptionId": "subscription_id", "resourceGroupName": "resource_group",
             "workspaceName": "workspace"}
    quotas = body.get("quotas")
    if not isinstance(quotas, list):
        raise ValueError("quotas must be a list of Quota objects")
    sim.set_quotas(quotas, **{names[k]: v for k, v in body.items() if k in names})


def _done(action: Callable[[], None]) -> Response:
    action()
    return empty_response(204)


def _health(sim: Simulator) -> dict[str, Any]:
    return {
        "status": "ok",
        "supportedApiVersions": [v.name for v in SUPPORTED],
        "specDocuments": {v.name: v.spec for v in SUPPORTED},
        "lifecyclePresets": list(PRESETS),
        "clock": sim.clock.describe(),
    }


def _clock(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode")
    if mode == "manual":
        sim.clock.set_manual()
    elif mode == "real":
        sim.clock.set_real()
    elif mode is not None:
        raise ValueError("mode must be 'manual' or 'real'")
    seconds = body.get("advanceSeconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError("advanceSeconds must be a number >= 0")
    sim.clock.advance(float(seconds))
    return sim.clock.describe()


def _seed(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    known = {
        "subscriptionId",
        "resourceGroupName",
        "workspaceName",
        "jobId",
        "lifecycle",
        "lifecycleParams",
        "details",
        "ages",
        "costEstimate",
    }
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    coordinates = {
        name: body[key]
        for key, name in (
            ("subscriptionId", "subscription_id"),
            ("resourceGroupName", "resource_group"),
            ("workspaceName", "workspace"),
        )
        if key in body
    }
    job_id = sim.seed_job(
        body.get("jobId"),
        lifecycle=body.get("lifecycle"),
        lifecycle_params=body.get("lifecycleParams"),
        details=body.get("details"),
        ages=body.get("ages"),
        cost_estimate=body.get("costEstimate"),
        **coordinates,
    )
    return sim.job_state(job_id)


def _jobs(sim: Simulator, method: str, parts: list[str], body: bytes) -> Response:
    if len(parts) == 1:
        if method == "POST":
            return json_response(201, _seed(sim, _object(body)))
        if method == "GET":
            return json_response(200, {"jobs": sim.job_states()})
        raise ApiError(405, "MethodNotAllowed", "Use GET or POST.", headers={"Allow": "GET, POST"})
    job_id = parts[1]
    try:
        if len(parts) == 2 and method == "GET":
            return json_response(200, sim.job_state(job_id))
        if len(parts) == 3 and parts[2] == "lifecycle" and method == "PUT":
            payload = _json_body(body)
            spec = payload.get("lifecycle") if isinstance(payload, dict) else payload
            params = payload.get("lifecycleParams") if isinstance(payload, dict) else None
            sim.set_lifecycle(job_id, spec, params)
            return json_response(200, sim.job_state(job_id))
    except KeyError:
        raise ApiError(404, "JobNotFound", f"No job '{job_id}' in the simulator.") from None
    raise ApiError(404, "NotFound", f"No control endpoint {PREFIX}/{'/'.join(parts)}.")


def _redirects(sim: Simulator, method: str, parts: list[str], body: bytes) -> Response:
    if len(parts) == 1 and method == "DELETE":
        return _done(lambda: sim.clear_redirect(None))
    if len(parts) == 2 and method == "PUT":
        location = _object(body).get("location")
        if location is not None and not isinstance(location, str):
            raise ValueError("location must be a URL string")
        sim.set_redirect(parts[1], location)
        return empty_response(204)
    if len(parts) == 2 and method == "DELETE":
        return _done(lambda: sim.clear_redirect(parts[1]))
    raise ApiError(404, "NotFound", f"No control endpoint {PREFIX}/{'/'.join(parts)}.")
