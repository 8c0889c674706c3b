"""Scripted job lifecycles: phases, the named presets, and parsing of custom scripts.

A lifecycle is a script of phases before cancel and one after cancel. A phase is a status plus
how long it lasts: ``reads`` (Jobs_Get calls for that job) or ``seconds`` on the simulator
clock; the last phase never ends. ``after_when`` swaps the after-cancel script when the cancel
arrives while the job shows a given status (how ``queued-finishing`` loses the race).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled", "Completed"})


@dataclass(frozen=True)
class Phase:
    """A status held for ``reads`` Jobs_Get calls or ``seconds`` of clock time (or forever)."""

    status: str
    reads: int | None = None
    seconds: float | None = None

    def to_json(self) -> list[Any]:
        """The ``[status, {...}]`` form used by the control API."""
        if self.reads is not None:
            return [self.status, {"reads": self.reads}]
        if self.seconds is not None:
            return [self.status, {"seconds": self.seconds}]
        return [self.status, {}]


@dataclass(frozen=True)
class Lifecycle:
    """A named pair of scripts (before and after cancel)."""

    name: str
    before: tuple[Phase, ...]
    after: tuple[Phase, ...]
    after_when: dict[str, tuple[Phase, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "before": [phase.to_json() for phase in self.before],
            "after": [phase.to_json() for phase in self.after],
            "afterCancelWhen": {
                status: [phase.to_json() for phase in script]
                for status, script in self.after_when.items()
            },
        }


@dataclass(frozen=True)
class PresetParams:
    """Durations the presets are built with (server options, overridable per job)."""

    executing_seconds: float = 300.0
    slow_cancel_seconds: float = 1800.0
    stale_reads: int = 3
    unknown_status_reads: int = 3
    unknown_status: str = "Paused"


def _running(params: PresetParams, final: str = "Succeeded") -> tuple[Phase, ...]:
    return (
        Phase("Waiting", reads=1),
        Phase("Executing", seconds=params.executing_seconds),
        Phase(final),
    )


_DEFAULT_AFTER = (
    Phase("CancellationRequested", reads=1),
    Phase("Cancelling", reads=1),
    Phase("Cancelled"),
)


def preset(name: str, params: PresetParams | None = None) -> Lifecycle:
    """The preset called ``name``; raises ValueError for an unknown name."""
    p = params or PresetParams()
    builders = {
        "default": lambda: Lifecycle(name, _running(p), _DEFAULT_AFTER),
        "slow-cancel": lambda: Lifecycle(
            name,
            _running(p),
            (
                Phase("CancellationRequested", reads=1),
                Phase("Cancelling", seconds=p.slow_cancel_seconds),
                Phase("Cancelled"),
            ),
        ),
        "loses-race-succeeded": lambda: Lifecycle(
            name, _running(p), (Phase("CancellationRequested", reads=1), Phase("Succeeded"))
        ),
        "loses-race-failed": lambda: Lifecycle(
            name, _running(p), (Phase("CancellationRequested", reads=1), Phase("Failed"))
        ),
        "stuck-cancelling": lambda: Lifecycle(
            name, _running(p), (Phase("CancellationRequested", reads=1), Phase("Cancelling"))
        ),
        "executing-after-cancel": lambda: Lifecycle(
            name,
            _running(p),
            (
                Phase("Executing", reads=p.stale_reads),
                Phase("Cancelling", reads=1),
                Phase("Cancelled"),
            ),
        ),
        "queued-finishing": lambda: Lifecycle(
            name,
            (
                Phase("Queued", reads=1),
                Phase("Executing", seconds=p.executing_seconds),
                Phase("Finishing", reads=2),
                Phase("Succeeded"),
            ),
            _DEFAULT_AFTER,
            {"Finishing": (Phase("Finishing", reads=1), Phase("Succeeded"))},
        ),
        "completed": lambda: Lifecycle(name, _running(p, "Completed"), _DEFAULT_AFTER),
        "unknown-status": lambda: Lifecycle(
            name,
            (
                Phase("Waiting", reads=1),
                Phase(p.unknown_status, reads=p.unknown_status_reads),
                Phase("Executing", seconds=p.executing_seconds),
                Phase("Succeeded"),
            ),
            _DEFAULT_AFTER,
        ),
        "already-succeeded": lambda: Lifecycle(name, (Phase("Succeeded"),), _DEFAULT_AFTER),
        "already-failed": lambda: Lifecycle(name, (Phase("Failed"),), _DEFAULT_AFTER),
        "already-cancelled": lambda: Lifecycle(name, (Phase("Cancelled"),), _DEFAULT_AFTER),
        "already-completed": lambda: Lifecycle(name, (Phase("Completed"),), _DEFAULT_AFTER),
    }
    if name not in builders:
        raise ValueError(f"unknown lifecycle preset {name!r}; known: {', '.join(PRESETS)}")
    return builders[name]()


PRESETS: tuple[str, ...] = (
    "default",
    "slow-cancel",
    "loses-race-succeeded",
    "loses-race-failed",
    "stuck-cancelling",
    "executing-after-cancel",
    "queued-finishing",
    "completed",
    "unknown-status",
    "already-succeeded",
    "already-failed",
    "already-cancelled",
    "already-completed",
)


def parse_phase(item: Any) -> Phase:
    """Parse ``[status, {"reads": n} | {"seconds": s} | {}]``."""
    if not isinstance(item, (list, tuple)) or len(item) not in (1, 2):
        raise ValueError(f"a phase is [status, {{...}}], got {item!r}")
    status = item[0]
    spec = item[1] if len(item) == 2 else {}
    if not isinstance(status, str) or not status:
        raise ValueError(f"a phase status must be a non-empty string, got {status!r}")
    if not isinstance(spec, dict) or set(spec) - {"reads", "seconds"} or len(spec) > 1:
        raise ValueError(
            f'a phase duration is {{"reads": n}}, {{"seconds": s}} or {{}}, got {spec!r}'
        )
    reads = spec.get("reads")
    seconds = spec.get("seconds")
    if reads is not None and (isinstance(reads, bool) or not isinstance(reads, int) or reads < 1):
        raise ValueError(f"reads must be an integer >= 1, got {reads!r}")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0
    ):
        raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
    return Phase(status, reads=reads, seconds=float(seconds) if seconds is not None else None)


def _parse_script(items: Any, what: str) -> tuple[Phase, ...]:
    if not isinstance(items, list) or not items:
        raise ValueError(f"{what} must be a non-empty list of phases")
    return tuple(parse_phase(item) for item in items)


def resolve(spec: Any, params: PresetParams | None = None) -> Lifecycle:
    """A lifecycle from a preset name, a list of phases (before-cancel script, default
    after-cancel script) or ``{"before": [...], "after": [...], "afterCancelWhen": {...}}``."""
    if isinstance(spec, str):
        return preset(spec, params)
    if isinstance(spec, list):
        return Lifecycle("custom", _parse_script(spec, "the script"), _DEFAULT_AFTER)
    if isinstance(spec, dict):
        unknown = set(spec) - {"name", "before", "after", "afterCancelWhen"}
        if unknown:
            raise ValueError(f"unknown lifecycle fields: {', '.join(sorted(unknown))}")
        before = _parse_script(spec.get("before"), "before")
        after = _parse_script(spec["after"], "after") if "after" in spec else _DEFAULT_AFTER
        when_raw = spec.get("afterCancelWhen", {})
        if not isinstance(when_raw, dict):
            raise ValueError("afterCancelWhen must map a status to a script")
        when = {
            str(status): _parse_script(script, f"afterCancelWhen[{status}]")
            for status, script in when_raw.items()
        }
        name = spec.get("name", "custom")
        return Lifecycle(str(name), before, after, when)
    raise ValueError("a lifecycle is a preset name, a list of phases or an object")
