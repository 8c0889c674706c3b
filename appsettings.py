"""Every app setting the app reads, with its default, in one place.

Azure Functions exposes app settings (``local.settings.json`` → ``Values`` locally) as
environment variables. Values are read when needed, not at import time, so tests and the local
host can change them between runs. A setting is held to the same limits as the request option
it stands for; a bad one raises SettingsError naming the setting, never its value (a setting
may hold a secret).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dataplane.sealing import parse_key
from dataplane.versions import DEFAULT_API_VERSION
from workflow.schedule import (
    BULK_RATE_LIMITS,
    HTTP_TIMEOUT_LIMITS,
    POLL_OPTION_LIMITS,
)

QUANTUM_ENDPOINT = "QUANTUM_ENDPOINT"
QUANTUM_LOCATION = "QUANTUM_LOCATION"
QUANTUM_API_VERSION = "QUANTUM_API_VERSION"
QUANTUM_ALLOW_LOOPBACK = "QUANTUM_ALLOW_LOOPBACK"
QUANTUM_HTTP_CONNECT_TIMEOUT_SECONDS = "QUANTUM_HTTP_CONNECT_TIMEOUT_SECONDS"
QUANTUM_HTTP_READ_TIMEOUT_SECONDS = "QUANTUM_HTTP_READ_TIMEOUT_SECONDS"
AZURE_CLIENT_ID = "AZURE_CLIENT_ID"
JOB_ALERT_EVENT_TYPES = "JOB_ALERT_EVENT_TYPES"
CANCEL_POLL_INTERVAL_SECONDS = "CANCEL_POLL_INTERVAL_SECONDS"
CANCEL_MAX_POLL_INTERVAL_SECONDS = "CANCEL_MAX_POLL_INTERVAL_SECONDS"
CANCEL_TIMEOUT_SECONDS = "CANCEL_TIMEOUT_SECONDS"
BULK_MAX_REQUESTS_PER_SECOND = "BULK_MAX_REQUESTS_PER_SECOND"
BULK_MAX_CONCURRENCY = "BULK_MAX_CONCURRENCY"
WORKSPACE_ALERT_EVENT_TYPES = "WORKSPACE_ALERT_EVENT_TYPES"
CALLER_TOKEN_KEY = "CALLER_TOKEN_KEY"
CALLER_TOKEN_KEY_PREVIOUS = "CALLER_TOKEN_KEY_PREVIOUS"
GUARDRAIL_POLICY = "GUARDRAIL_POLICY"
GUARDRAIL_SCHEDULE = "GUARDRAIL_SCHEDULE"
EVENTS_TOPIC_ENDPOINT = "EVENTS_TOPIC_ENDPOINT"
EVENTS_TOPIC_KEY = "EVENTS_TOPIC_KEY"
MONITOR_ALERT_ACTIONS = "MONITOR_ALERT_ACTIONS"

DEFAULT_JOB_ALERT_EVENT_TYPES = ("Quantum.Job.CostAlert", "Quantum.Job.CancelRequested")
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
DEFAULT_MAX_POLL_INTERVAL_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 1800.0
DEFAULT_BULK_MAX_REQUESTS_PER_SECOND = 20.0
DEFAULT_BULK_MAX_CONCURRENCY = 50
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 30.0
#: Every five minutes, at second 0 (NCRONTAB: second minute hour day month day-of-week).
DEFAULT_GUARDRAIL_SCHEDULE = "0 */5 * * * *"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class SettingsError(ValueError):
    """An app setting holds a value the app cannot use; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    """The app's settings, parsed and checked."""

    endpoint: str | None
    location: str | None
    api_version: str
    allow_loopback: bool
    azure_client_id: str | None
    job_alert_event_types: tuple[str, ...]
    poll_interval_seconds: float
    max_poll_interval_seconds: float
    timeout_seconds: float
    connect_timeout_seconds: float
    read_timeout_seconds: float
    bulk_max_requests_per_second: float = DEFAULT_BULK_MAX_REQUESTS_PER_SECOND
    bulk_max_concurrency: int = DEFAULT_BULK_MAX_CONCURRENCY
    #: Event types that start a workspace-scale cancel (empty: off).
    workspace_alert_event_types: tuple[str, ...] = ()
    #: Seals a caller's token (CALLER_TOKEN_KEY); None: requests with authToken are refused.
    caller_token_key: bytes | None = field(default=None, repr=False)
    #: Every key that may open a sealed token: the current one, then the previous one.
    caller_token_keys: tuple[bytes, ...] = field(default=(), repr=False)
    #: GUARDRAIL_POLICY as set (JSON or @file); checked by workflow.guardrail_policy.
    guardrail_policy: str | None = None
    #: Where outcome events go (None: not published), and the topic key used locally.
    events_topic_endpoint: str | None = None
    events_topic_key: str | None = field(default=None, repr=False)
    #: Azure Monitor alert rule name → what its firing starts (MONITOR_ALERT_ACTIONS: a JSON
    #: object of objects here; triggers.monitor_alerts checks an action when its rule fires).
    monitor_alert_actions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (the process environment by default)."""
    env = os.environ if environ is None else environ
    event_types = tuple(
        part.strip() for part in env.get(JOB_ALERT_EVENT_TYPES, "").split(",") if part.strip()
    )
    workspace_types = tuple(
        part.strip() for part in env.get(WORKSPACE_ALERT_EVENT_TYPES, "").split(",") if part.strip()
    )
    key = _key(env, CALLER_TOKEN_KEY)
    previous = _key(env, CALLER_TOKEN_KEY_PREVIOUS)
    return Settings(
        endpoint=env.get(QUANTUM_ENDPOINT) or None,
        location=env.get(QUANTUM_LOCATION) or None,
        api_version=env.get(QUANTUM_API_VERSION) or DEFAULT_API_VERSION,
        allow_loopback=_flag(env, QUANTUM_ALLOW_LOOPBACK),
        azure_client_id=env.get(AZURE_CLIENT_ID) or None,
        job_alert_event_types=event_types or DEFAULT_JOB_ALERT_EVENT_TYPES,
        poll_interval_seconds=_seconds(
            env,
            CANCEL_POLL_INTERVAL_SECONDS,
            DEFAULT_POLL_INTERVAL_SECONDS,
            POLL_OPTION_LIMITS["pollIntervalSeconds"],
        ),
        max_poll_interval_seconds=_seconds(
            env,
            CANCEL_MAX_POLL_INTERVAL_SECONDS,
            DEFAULT_MAX_POLL_INTERVAL_SECONDS,
            POLL_OPTION_LIMITS["maxPollIntervalSeconds"],
        ),
        timeout_seconds=_seconds(
            env,
            CANCEL_TIMEOUT_SECONDS,
            DEFAULT_TIMEOUT_SECONDS,
            POLL_OPTION_LIMITS["timeoutSeconds"],
        ),
        connect_timeout_seconds=_seconds(
            env,
            QUANTUM_HTTP_CONNECT_TIMEOUT_SECONDS,
            DEFAULT_CONNECT_TIMEOUT_SECONDS,
            HTTP_TIMEOUT_LIMITS,
        ),
        read_timeout_seconds=_seconds(
            env,
            QUANTUM_HTTP_READ_TIMEOUT_SECONDS,
            DEFAULT_READ_TIMEOUT_SECONDS,
            HTTP_TIMEOUT_LIMITS,
        ),
        bulk_max_requests_per_second=_seconds(
            env,
            BULK_MAX_REQUESTS_PER_SECOND,
            DEFAULT_BULK_MAX_REQUESTS_PER_SECOND,
            BULK_RATE_LIMITS,
            "a number of requests per second",
        ),
        bulk_max_concurrency=_whole(
            env, BULK_MAX_CONCURRENCY, DEFAULT_BULK_MAX_CONCURRENCY, (1, 500)
        ),
        workspace_alert_event_types=workspace_types,
        caller_token_key=key,
        caller_token_keys=tuple(k for k in (key, previous) if k is not None),
        guardrail_policy=env.get(GUARDRAIL_POLICY, "").strip() or None,
        events_topic_endpoint=_topic_endpoint(env, _flag(env, QUANTUM_ALLOW_LOOPBACK)),
        events_topic_key=env.get(EVENTS_TOPIC_KEY, "").strip() or None,
        monitor_alert_actions=_alert_actions(env),
    )


def guardrail_schedule(environ: Mapping[str, str] | None = None) -> str:
    """GUARDRAIL_SCHEDULE, the NCRONTAB of ``watch_jobs`` (read when the app is indexed: the
    host builds the timer's schedule once, at start-up)."""
    env = os.environ if environ is None else environ
    return env.get(GUARDRAIL_SCHEDULE, "").strip() or DEFAULT_GUARDRAIL_SCHEDULE


def _topic_endpoint(env: Mapping[str, str], allow_loopback: bool) -> str | None:
    # The app's identity token (or the topic key) goes here: https only, or plain-http
    # loopback for a local sink when QUANTUM_ALLOW_LOOPBACK is on.
    raw = env.get(EVENTS_TOPIC_ENDPOINT, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if parts.username or parts.password or parts.query or parts.fragment or not host:
        raise SettingsError(f"{EVENTS_TOPIC_ENDPOINT} must be the topic's URL, without a query")
    if parts.scheme == "https" or (parts.scheme == "http" and loopback and allow_loopback):
        return raw
    raise SettingsError(
        f"{EVENTS_TOPIC_ENDPOINT} must be an https URL (plain-http loopback only when "
        f"{QUANTUM_ALLOW_LOOPBACK} is true)"
    )


_MAX_RULE_NAME = 260


def _alert_actions(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    raw = env.get(MONITOR_ALERT_ACTIONS, "").strip()
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise SettingsError(f"{MONITOR_ALERT_ACTIONS} must be a JSON object") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{MONITOR_ALERT_ACTIONS} must be a JSON object")
    for rule, action in document.items():
        if not rule.strip() or len(rule) > _MAX_RULE_NAME:
            raise SettingsError(
                f"{MONITOR_ALERT_ACTIONS}: an alert rule name must be 1-{_MAX_RULE_NAME} characters"
            )
        if not isinstance(action, dict):
            raise SettingsError(
                f"{MONITOR_ALERT_ACTIONS}[{json.dumps(rule)}] must be a JSON object"
            )
    return document


def _whole(env: Mapping[str, str], name: str, default: int, limits: tuple[int, int]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    low, high = limits
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _key(env: Mapping[str, str], name: str) -> bytes | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_key(raw)
    except ValueError as exc:
        raise SettingsError(
            f"{name} {exc}: make one with "
            "python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
        ) from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false")


def _seconds(
    env: Mapping[str, str],
    name: str,
    default: float,
    limits: tuple[float, float],
    what: str = "a number of seconds",
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    low, high = limits
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {what}") from None
    if not low <= value <= high:  # NaN and infinities fail here too
        raise SettingsError(f"{name} must be {what} from {low:g} to {high:g}")
    return value
