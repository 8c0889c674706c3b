"""Server options: the knobs the CLI and the control API turn."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .lifecycles import PRESETS, PresetParams


@dataclass(frozen=True)
class Options:
    """Everything that can be changed while the server runs."""

    token: str | None = None
    """The expected bearer token; None accepts any non-empty token."""
    cancel_response: int = 204
    """What ``POST …:cancel`` answers: 204 without a body (live service) or 200 JobDetails."""
    default_lifecycle: str = "default"
    page_size: int = 10
    executing_seconds: float = 300.0
    slow_cancel_seconds: float = 1800.0
    stale_reads: int = 3
    random_seed: int | None = None

    def preset_params(self) -> PresetParams:
        """Durations for building presets."""
        return PresetParams(
            executing_seconds=self.executing_seconds,
            slow_cancel_seconds=self.slow_cancel_seconds,
            stale_reads=self.stale_reads,
        )

    def to_json(self) -> dict[str, Any]:
        """camelCase view; the token itself is never shown, only whether one is set."""
        return {
            "tokenSet": self.token is not None,
            "cancelResponse": self.cancel_response,
            "defaultLifecycle": self.default_lifecycle,
            "pageSize": self.page_size,
            "executingSeconds": self.executing_seconds,
            "slowCancelSeconds": self.slow_cancel_seconds,
            "staleReads": self.stale_reads,
            "randomSeed": self.random_seed,
        }


_JSON_NAMES = {
    "token": "token",
    "expectedToken": "token",
    "cancelResponse": "cancel_response",
    "defaultLifecycle": "default_lifecycle",
    "pageSize": "page_size",
    "executingSeconds": "executing_seconds",
    "slowCancelSeconds": "slow_cancel_seconds",
    "staleReads": "stale_reads",
    "randomSeed": "random_seed",
}


def updated(options: Options, changes: dict[str, Any]) -> Options:
    """``options`` with ``changes`` applied; keys may be camelCase (JSON) or snake_case.

    Raises ValueError naming the first bad field.
    """
    fields: dict[str, Any] = {}
    for name, value in changes.items():
        attr = _JSON_NAMES.get(name, name)
        if attr not in _JSON_NAMES.values():
            raise ValueError(f"unknown option {name!r}")
        fields[attr] = value
    result = replace(options, **fields)
    _check(result)
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(o: Options) -> None:
    if o.token is not None and (not isinstance(o.token, str) or not o.token):
        raise ValueError("token must be a non-empty string or null")
    if o.cancel_response not in (200, 204):
        raise ValueError("cancelResponse must be 200 or 204")
    if o.default_lifecycle not in PRESETS:
        raise ValueError(f"defaultLifecycle must be one of {', '.join(PRESETS)}")
    if isinstance(o.page_size, bool) or not isinstance(o.page_size, int) or o.page_size < 1:
        raise ValueError("pageSize must be an integer >= 1")
    for name, value in (
        ("executingSeconds", o.executing_seconds),
        ("slowCancelSeconds", o.slow_cancel_seconds),
    ):
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0")
    if isinstance(o.stale_reads, bool) or not isinstance(o.stale_reads, int) or o.stale_reads < 1:
        raise ValueError("staleReads must be an integer >= 1")
    if o.random_seed is not None and (
        isinstance(o.random_seed, bool) or not isinstance(o.random_seed, int)
    ):
        raise ValueError("randomSeed must be an integer or null")
