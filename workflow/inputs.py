"""Turning a caller's workflow inputs into a checked orchestration input.

Both entry points (HTTP and Event Grid) go through ``checked_cancel_input``: it reports every
invalid field at once, never quotes the values it rejects (one of them may be a token), fills
every default from the settings so the orchestration never reads settings itself, and seals a
caller's token for the run (dataplane.sealing) so that it never enters a Durable input in clear.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataplane.endpoint import resolve_endpoint
from dataplane.errors import EndpointNotAllowed
from dataplane.resources import (
    WORKSPACE_PARAMETERS,
    normalize_path_parameter,
    parameter_problems,
)
from dataplane.sealing import seal
from dataplane.versions import api_version_problem
from workflow.defaults import RequestDefaults
from workflow.instance_ids import COORDINATES as COORDINATES  # re-exported
from workflow.instance_ids import instance_id_for as instance_id_for  # re-exported
from workflow.schedule import POLL_OPTION_LIMITS
from workflow.shapes import CancelJobInput, JobCoordinates, PollOptions, Trigger

OPTIONAL_FIELDS = ("apiVersion", "authToken", "location", "endpoint", "options")
OPTION_LIMITS = POLL_OPTION_LIMITS
MAX_TOKEN_LENGTH = 16384
# RFC 6750 b64token: what a bearer token may contain; no spaces, so no "Bearer " prefix.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class Problem:
    """One invalid field and why; the value itself is never repeated."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """As an entry of a problem document's ``invalid-params``."""
        return {"name": self.name, "reason": self.reason}


class InvalidInput(ValueError):
    """The inputs break one or more rules; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.name} {p.reason}" for p in problems))
        self.problems = problems


def checked_coordinates(values: Mapping[str, Any], prefix: str = "") -> JobCoordinates:
    """Check the four path parameters; raise InvalidInput naming each bad one."""
    problems = parameter_problems(values, COORDINATES)
    if problems:
        raise InvalidInput([Problem(prefix + name, reason) for name, reason in problems.items()])
    return JobCoordinates(
        subscriptionId=normalize_path_parameter("subscriptionId", values["subscriptionId"]),
        resourceGroupName=values["resourceGroupName"],
        workspaceName=values["workspaceName"],
        jobId=values["jobId"],
    )


def checked_cancel_input(
    body: object, settings: RequestDefaults, trigger: Trigger = "http"
) -> CancelJobInput:
    """Check a workflow request body and return the orchestration input it stands for."""
    if not isinstance(body, dict):
        raise InvalidInput([Problem("body", "must be a JSON object")])
    problems: list[Problem] = [
        Problem(shown_name(name), "is not a known field")
        for name in body
        if name not in COORDINATES and name not in OPTIONAL_FIELDS
    ]
    coordinates: JobCoordinates | None = None
    try:
        coordinates = checked_coordinates(body)
    except InvalidInput as error:
        problems.extend(error.problems)

    api_version = checked_api_version(body, settings, problems)

    token = body.get("authToken")
    token_reason = token_problem(token, settings) if "authToken" in body else None
    if token_reason:
        problems.append(Problem("authToken", token_reason))

    endpoint = checked_endpoint_of(body, settings, problems)
    options = checked_poll_options(body.get("options"), settings, problems)

    if problems or coordinates is None or endpoint is None or options is None:
        raise InvalidInput(problems)
    request = CancelJobInput(
        subscriptionId=coordinates["subscriptionId"],
        resourceGroupName=coordinates["resourceGroupName"],
        workspaceName=coordinates["workspaceName"],
        jobId=coordinates["jobId"],
        apiVersion=api_version,
        endpoint=endpoint,
        options=options,
        trigger=trigger,
    )
    if token is not None:
        assert settings.caller_token_key is not None  # token_problem saw to it
        request["sealedToken"] = seal(token, settings.caller_token_key, instance_id_for(request))
    return request


def checked_workspace(values: Mapping[str, Any], problems: list[Problem]) -> dict[str, str] | None:
    """The three workspace path parameters (subscription id folded), or None after adding
    each bad one to ``problems``."""
    found = parameter_problems(values, WORKSPACE_PARAMETERS)
    problems.extend(Problem(name, reason) for name, reason in found.items())
    if found:
        return None
    return {name: normalize_path_parameter(name, values[name]) for name in WORKSPACE_PARAMETERS}


def checked_api_version(
    body: Mapping[str, Any], settings: RequestDefaults, problems: list[Problem]
) -> str:
    """The request's api-version (the setting's by default); a bad one is added to
    ``problems``."""
    api_version = body.get("apiVersion", settings.api_version)
    reason = api_version_problem(api_version)
    if reason:
        problems.append(Problem("apiVersion", reason))
    return str(api_version)


def shown_name(name: object) -> str:
    """A field name fit to repeat in a problem document (or a placeholder)."""
    # An unknown field's name helps find a typo, but a name can be any text, a token
    # included: only short identifier-like names are repeated back.
    text = str(name)
    return text if _FIELD_NAME.fullmatch(text) else "(unnamed field)"


def token_problem(token: object, settings: RequestDefaults) -> str | None:
    """Why ``token`` cannot be a caller's bearer token here, or None."""
    if not isinstance(token, str) or not token:
        return "must be a non-empty string"
    if len(token) > MAX_TOKEN_LENGTH:
        return f"must be at most {MAX_TOKEN_LENGTH} characters"
    if not _TOKEN.fullmatch(token):
        return 'must be the bearer token alone, without "Bearer " or spaces'
    if settings.caller_token_key is None:
        return (
            "cannot be accepted: the app has no CALLER_TOKEN_KEY setting to encrypt it with "
            "(send no authToken to use the app's own identity)"
        )
    return None


def checked_endpoint_of(
    body: Mapping[str, Any], settings: RequestDefaults, problems: list[Problem]
) -> str | None:
    """The endpoint a request names (or the settings' one), held to the endpoint policy."""
    endpoint, location = body.get("endpoint"), body.get("location")
    for name, value in (("endpoint", endpoint), ("location", location)):
        if name in body and (not isinstance(value, str) or not value):
            problems.append(Problem(name, "must be a non-empty string"))
            return None
    try:
        return resolve_endpoint(
            endpoint, location, settings.endpoint, settings.location, settings.allow_loopback
        )
    except EndpointNotAllowed as error:
        name = "location" if location and not endpoint else "endpoint"
        reason = error.message.removeprefix(f"{name} ")
        if not endpoint and not location:
            reason = f"{reason} (from the QUANTUM_ENDPOINT / QUANTUM_LOCATION settings)"
        problems.append(Problem(name, reason))
        return None


def checked_poll_options(
    raw: object, settings: RequestDefaults, problems: list[Problem]
) -> PollOptions | None:
    """The polling options with the settings' defaults, or None after naming each bad one."""
    values: dict[str, float] = {
        "pollIntervalSeconds": settings.poll_interval_seconds,
        "maxPollIntervalSeconds": settings.max_poll_interval_seconds,
        "timeoutSeconds": settings.timeout_seconds,
    }
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(Problem("options", "must be a JSON object"))
        return None
    before = len(problems)
    for name, value in raw.items():
        if name not in OPTION_LIMITS:
            problems.append(Problem(f"options.{shown_name(name)}", "is not a known option"))
            continue
        low, high = OPTION_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(f"options.{name}", "must be a number of seconds"))
        elif not (low <= value <= high and math.isfinite(value)):  # ints may overflow isfinite
            problems.append(Problem(f"options.{name}", f"must be between {low:g} and {high:g}"))
        else:
            values[name] = float(value)
    if len(problems) > before:
        return None
    if "maxPollIntervalSeconds" not in raw:
        values["maxPollIntervalSeconds"] = max(
            values["maxPollIntervalSeconds"], values["pollIntervalSeconds"]
        )
    if values["maxPollIntervalSeconds"] < values["pollIntervalSeconds"]:
        problems.append(
            Problem("options.maxPollIntervalSeconds", "must not be less than pollIntervalSeconds")
        )
        return None
    return PollOptions(
        pollIntervalSeconds=values["pollIntervalSeconds"],
        maxPollIntervalSeconds=values["maxPollIntervalSeconds"],
        timeoutSeconds=values["timeoutSeconds"],
    )
