"""App settings and host.json, read like the Functions host reads them locally.

``local.settings.json`` → ``Values`` supplies app settings, but a variable already in the
environment wins (Core Tools behaves the same), and the merged values are put into
``os.environ`` because that is how the Python worker exposes app settings to the app.
As in the Functions host, an app setting ``AzureFunctionsJobHost__a__b`` overrides host.json's
``a.b`` (names compared case-insensitively).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_SETTINGS = "local.settings.json"
HOST_JSON = "host.json"
#: The extension's default task hub name for Functions v2+ apps without ``hubName``.
DEFAULT_HUB_NAME = "TestHubName"
#: Functions' default HTTP route prefix (host.json ``extensions.http.routePrefix``).
DEFAULT_ROUTE_PREFIX = "api"
#: The extension's default since Durable Functions 2.0 (DurableTaskOptions).
DEFAULT_OVERRIDABLE_STATES = "NonRunningStates"
#: Azure Storage provider's default maxQueuePollingInterval: 1 s when the app setting
#: WEBSITE_SKU is FlexConsumption, 30 s elsewhere (AzureStorageOptions.MaxQueuePollingInterval,
#: Azure/azure-functions-durable-extension), which the template's Flex Consumption app gets.
DEFAULT_MAX_QUEUE_POLLING = "00:00:30"
FLEX_MAX_QUEUE_POLLING = "00:00:01"
FLEX_CONSUMPTION_SKU = "FlexConsumption"
HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


class SettingsFileError(ValueError):
    """local.settings.json or host.json cannot be used; the message names the file."""


def read_local_settings(app_dir: Path) -> dict[str, str]:
    """``Values`` of ``local.settings.json`` in ``app_dir`` ({} when the file is absent)."""
    path = app_dir / LOCAL_SETTINGS
    if not path.is_file():
        return {}
    document = _read_json(path)
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsFileError(f"{path}: 'Values' must be a JSON object")
    # Core Tools passes every value as a string; non-string JSON values become their text.
    return {str(key): _as_text(value) for key, value in values.items() if value is not None}


def apply_settings(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Put ``values`` into ``environ`` unless already set there; return the names applied."""
    applied: list[str] = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json this stand-in honours."""

    hub_name: str
    route_prefix: str
    overridable_existing_instance_states: str
    #: extensions.durableTask.storageProvider.maxQueuePollingInterval (a TimeSpan).
    max_queue_polling_interval: str


def read_host_json(app_dir: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
    """Read host.json (defaults when absent), resolving ``%SETTING%`` in hubName."""
    env = os.environ if environ is None else environ
    path = app_dir / HOST_JSON
    document: Any = _read_json(path) if path.is_file() else {}
    if not isinstance(document, dict):
        raise SettingsFileError(f"{path}: must be a JSON object")
    _apply_overrides(document, env)
    extensions = _section(document, "extensions")
    durable = _section(extensions, "durableTask")
    http = _section(extensions, "http")
    provider = _section(durable, "storageProvider")
    hub = str(_get(durable, "hubName") or DEFAULT_HUB_NAME)
    if len(hub) > 2 and hub.startswith("%") and hub.endswith("%"):
        # host.json may name an app setting instead of a literal hub name.
        hub = env.get(hub[1:-1], "") or DEFAULT_HUB_NAME
    prefix = _get(http, "routePrefix", DEFAULT_ROUTE_PREFIX)
    states = _get(durable, "overridableExistingInstanceStates", DEFAULT_OVERRIDABLE_STATES)
    on_flex = env.get("WEBSITE_SKU", "").lower() == FLEX_CONSUMPTION_SKU.lower()
    polling = FLEX_MAX_QUEUE_POLLING if on_flex else DEFAULT_MAX_QUEUE_POLLING
    return HostConfig(
        hub_name=hub,
        route_prefix=str(prefix).strip("/"),
        overridable_existing_instance_states=str(states),
        max_queue_polling_interval=str(_get(provider, "maxQueuePollingInterval", polling)),
    )


def _apply_overrides(document: dict[str, Any], env: Mapping[str, str]) -> None:
    """Put every ``AzureFunctionsJobHost__a__b`` setting into ``document`` at ``a.b``."""
    for name, value in env.items():
        if not name.lower().startswith(HOST_OVERRIDE_PREFIX.lower()):
            continue
        path = [part for part in name[len(HOST_OVERRIDE_PREFIX) :].split("__") if part]
        node = document
        for part in path[:-1]:
            key = _existing_key(node, part)
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if path:
            node[_existing_key(node, path[-1])] = value


def _existing_key(node: dict[str, Any], name: str) -> str:
    # host.json keys are matched case-insensitively, as configuration keys are in .NET.
    return next((key for key in node if key.lower() == name.lower()), name)


def _get(node: dict[str, Any], name: str, default: Any = None) -> Any:
    return node.get(_existing_key(node, name), default)


def _section(document: Any, name: str) -> dict[str, Any]:
    value = _get(document, name) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _read_json(path: Path) -> Any:
    try:
        # utf-8-sig: files saved by Windows editors may start with a BOM.
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise SettingsFileError(f"{path}: {exc}") from exc


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)
