"""Data-plane routes: split the raw path, decode each segment, validate path parameters,
and name the operation that a method and api-version select.

The path is split on ``/`` before percent-decoding, so ``%2F`` inside a segment stays part of
that segment (and then fails its pattern) instead of becoming a separator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from . import errors
from .errors import ApiError
from .versions import ApiVersion

# The spec's patterns and lengths (identical in every governing document).
PARAMETER_RULES: dict[str, tuple[re.Pattern[str], int, int]] = {
    "subscriptionId": (re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$"), 36, 36),
    "resourceGroupName": (re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_\.]*$"), 1, 90),
    "workspaceName": (re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_]*$"), 2, 50),
    "jobId": (
        re.compile(
            r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}"
            r"-[a-fA-F0-9]{12}$"
        ),
        0,
        36,
    ),
}
# The spec gives sessionId the jobId pattern.
PARAMETER_RULES["sessionId"] = PARAMETER_RULES["jobId"]

_FIXED = (
    "subscriptions",
    None,
    "resourcegroups",
    None,
    "providers",
    "microsoft.quantum",
    "workspaces",
    None,
)
_CANCEL_SUFFIX = ":cancel"
_CLOSE_SUFFIX = ":close"

COLLECTION = "jobs"
ITEM = "job"
CANCEL = "cancel"
SESSION = "session"
SESSION_CLOSE = "session-close"
SESSION_JOBS = "session-jobs"
QUOTAS = "quotas"


@dataclass(frozen=True)
class Route:
    """A matched data-plane route with its decoded (not yet validated) path parameters."""

    kind: str
    subscription_id: str
    resource_group: str
    workspace: str
    job_id: str | None
    session_id: str | None = None


def match(raw_path: str) -> Route | None:
    """The route for a raw (still encoded) path, or None for an unknown path."""
    if not raw_path.startswith("/"):
        return None
    segments = [unquote(part) for part in raw_path[1:].split("/")]
    if len(segments) not in (9, 10, 11):
        return None
    for fixed, segment in zip(_FIXED, segments[:8], strict=True):
        if fixed is not None and segment.lower() != fixed:
            return None
    sub, rg, ws = segments[1], segments[3], segments[7]
    collection, rest = segments[8].lower(), segments[9:]
    if collection == "sessions":
        return _session_route(sub, rg, ws, rest)
    if collection == "quotas":
        return Route(QUOTAS, sub, rg, ws, None) if not rest else None
    if collection != "jobs" or len(rest) > 1:
        return None
    if not rest:
        return Route(COLLECTION, sub, rg, ws, None)
    last = rest[0]
    if last.lower().endswith(_CANCEL_SUFFIX):
        return Route(CANCEL, sub, rg, ws, last[: -len(_CANCEL_SUFFIX)])
    if ":" in last or not last:
        return None  # another action (e.g. :resume) or an empty id: not served here
    return Route(ITEM, sub, rg, ws, last)


def _session_route(sub: str, rg: str, ws: str, rest: list[str]) -> Route | None:
    if len(rest) == 2 and rest[1].lower() == "jobs":
        return Route(SESSION_JOBS, sub, rg, ws, None, rest[0])
    if len(rest) != 1 or not rest[0]:
        return None
    if rest[0].lower().endswith(_CLOSE_SUFFIX):
        return Route(SESSION_CLOSE, sub, rg, ws, None, rest[0][: -len(_CLOSE_SUFFIX)])
    return None if ":" in rest[0] else Route(SESSION, sub, rg, ws, None, rest[0])


def validate(route: Route) -> None:
    """Raise 400 InvalidParameter naming the first path parameter that breaks the spec."""
    values = [
        ("subscriptionId", route.subscription_id),
        ("resourceGroupName", route.resource_group),
        ("workspaceName", route.workspace),
    ]
    if route.job_id is not None:
        values.append(("jobId", route.job_id))
    if route.session_id is not None:
        values.append(("sessionId", route.session_id))
    for name, value in values:
        pattern, low, high = PARAMETER_RULES[name]
        if not low <= len(value) <= high or not pattern.match(value) or "\n" in value:
            raise ApiError(
                400,
                errors.INVALID_PARAMETER,
                f"The path parameter '{name}' is invalid: {value!r} does not match "
                f"{pattern.pattern} with length {low}-{high}.",
                target=name,
            )


def operation_for(route: Route, method: str, version: ApiVersion | None) -> str | None:
    """The spec operation id that ``method`` on ``route`` means under ``version``.

    None when the method is not served there; for DELETE without a known version, None too
    (it is Jobs_Cancel or Jobs_Delete depending on the version).
    """
    if route.kind == COLLECTION:
        return "Jobs_List" if method == "GET" else None
    if route.kind == QUOTAS:
        return "Quotas_List" if method == "GET" else None
    if route.kind in (SESSION, SESSION_CLOSE, SESSION_JOBS):
        # Sessions are in the 2025-12-01-preview specs and later only.
        if version is not None and not version.cancel_by_post:
            return None
        return {
            (SESSION, "GET"): "Sessions_Get",
            (SESSION, "PUT"): "Sessions_Open",
            (SESSION_CLOSE, "POST"): "Sessions_Close",
            (SESSION_JOBS, "GET"): "SessionsJobs_List",
        }.get((route.kind, method))
    if route.kind == ITEM:
        if method == "GET":
            return "Jobs_Get"
        if method == "PUT":
            return "Jobs_Create"
        if method == "DELETE" and version is not None:
            return "Jobs_Delete" if version.cancel_by_post else "Jobs_Cancel"
        return None
    if method == "POST" and (version is None or version.cancel_by_post):
        return "Jobs_Cancel"
    return None


def allowed_methods(route: Route, version: ApiVersion) -> list[str]:
    """The methods served on ``route`` under ``version`` (for 405 and ``Allow``)."""
    if route.kind == QUOTAS:
        return ["GET"]
    if route.kind in (COLLECTION, SESSION_JOBS):
        return ["GET"] if route.kind == COLLECTION or version.cancel_by_post else []
    if route.kind == ITEM:
        return ["GET", "PUT", "DELETE"]
    if route.kind == SESSION:
        return ["GET", "PUT"] if version.cancel_by_post else []
    return ["POST"] if version.cancel_by_post else []
