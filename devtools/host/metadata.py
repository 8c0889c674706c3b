"""The function index: what the Functions host learns about the app, and nothing more.

The Python worker indexes a v2 app with ``app.get_functions()`` and sends the host each
function's name and its bindings as JSON (``Function.get_raw_bindings()``). Everything this
stand-in knows about a function comes from that same metadata, so a wrong route, binding name
or trigger breaks here as it breaks under ``func start``. The worker's own load-time check
(every Python parameter has a binding and every input binding has a parameter) is repeated.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devtools.durable.functions import app_functions

HTTP_TRIGGER = "httpTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"
HTTP_OUTPUT = "http"
RETURN_BINDING = "$return"
#: Every verb the host accepts when an HTTP trigger declares no ``methods``.
ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
#: Binding types this stand-in can supply; anything else makes the function unloadable here.
SUPPORTED_BINDINGS = frozenset(
    {
        HTTP_TRIGGER,
        HTTP_OUTPUT,
        EVENT_GRID_TRIGGER,
        ORCHESTRATION_TRIGGER,
        ACTIVITY_TRIGGER,
        TIMER_TRIGGER,
        DURABLE_CLIENT,
    }
)
#: The worker passes a ``context`` parameter (func.Context) without any binding.
CONTEXT_PARAMETER = "context"


class FunctionIndexError(Exception):
    """The app's functions would not load in the Functions host; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem, so one start shows all of them."""
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Binding:
    """One binding as the host receives it (the raw JSON, parsed)."""

    type: str
    name: str
    direction: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class HttpTriggerInfo:
    """Route, verbs and declared auth level of an HTTP trigger."""

    route: str
    methods: tuple[str, ...]
    #: "anonymous", "function" or "admin": recorded, not enforced (Core Tools does the same).
    auth_level: str


@dataclass(frozen=True)
class FunctionInfo:
    """One function of the app, as the host indexed it."""

    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    user_function: Callable[..., Any]
    http: HttpTriggerInfo | None = None

    @property
    def trigger_type(self) -> str:
        """The trigger binding's type, e.g. ``httpTrigger``."""
        return self.trigger.type

    @property
    def durable_clients(self) -> tuple[Binding, ...]:
        """The function's ``durableClient`` input bindings."""
        return tuple(b for b in self.bindings if b.type == DURABLE_CLIENT)

    @property
    def is_async(self) -> bool:
        """True for ``async def`` functions (run on the host's event loop)."""
        return inspect.iscoroutinefunction(self.user_function)

    @property
    def wants_context(self) -> bool:
        """True when the Python function declares the worker's ``context`` parameter."""
        bound = {b.name for b in self.bindings}
        return CONTEXT_PARAMETER not in bound and CONTEXT_PARAMETER in _parameters(
            self.user_function
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (what ``func start`` lists, plus the bindings)."""
        summary: dict[str, Any] = {
            "name": self.name,
            "triggerType": self.trigger_type,
            "bindings": [dict(b.raw) for b in self.bindings],
        }
        if self.http is not None:
            summary.update(
                route=self.http.route,
                methods=list(self.http.methods),
                authLevel=self.http.auth_level,
            )
        return summary


@dataclass
class FunctionIndex:
    """Every function of the app, by name (names are case-insensitive in the host)."""

    functions: list[FunctionInfo] = field(default_factory=list)

    def get(self, name: str) -> FunctionInfo | None:
        """The function called ``name`` (any case), or None."""
        lowered = name.lower()
        return next((f for f in self.functions if f.name.lower() == lowered), None)

    def by_trigger(self, trigger_type: str) -> list[FunctionInfo]:
        """Functions whose trigger has type ``trigger_type``."""
        return [f for f in self.functions if f.trigger_type == trigger_type]

    def names(self) -> list[str]:
        """All function names, in registration order."""
        return [f.name for f in self.functions]


def index_app(app: Any) -> FunctionIndex:
    """Index ``app`` like the worker and host do; FunctionIndexError lists every problem."""
    problems: list[str] = []
    index = FunctionIndex()
    for function in app_functions(app):
        info = _index_one(function, problems)
        if info is not None:
            index.functions.append(info)
    problems.extend(_route_conflicts(index.by_trigger(HTTP_TRIGGER)))
    if problems:
        raise FunctionIndexError(problems)
    return index


def _index_one(function: Any, problems: list[str]) -> FunctionInfo | None:
    name = str(function.get_function_name())
    bindings = tuple(_binding(json.loads(raw)) for raw in function.get_raw_bindings())
    triggers = [b for b in bindings if b.type.endswith("Trigger")]
    before = len(problems)
    if len(triggers) != 1:
        problems.append(f"{name}: needs exactly one trigger binding, has {len(triggers)}")
    for binding in bindings:
        if binding.type not in SUPPORTED_BINDINGS:
            problems.append(f"{name}: binding type {binding.type!r} is not supported here")
    user_function = function.get_user_function()
    problems.extend(f"{name}: {p}" for p in _parameter_problems(user_function, bindings))
    if len(problems) > before:
        return None
    trigger = triggers[0]
    http = _http_info(name, trigger, problems) if trigger.type == HTTP_TRIGGER else None
    return FunctionInfo(
        name=name, trigger=trigger, bindings=bindings, user_function=user_function, http=http
    )


def _binding(raw: dict[str, Any]) -> Binding:
    return Binding(
        type=str(raw.get("type", "")),
        name=str(raw.get("name", "")),
        direction=str(raw.get("direction", "")).upper(),
        raw=raw,
    )


def _parameters(user_function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(user_function).parameters)


def _parameter_problems(
    user_function: Callable[..., Any], bindings: Iterable[Binding]
) -> list[str]:
    """The worker's FunctionLoadError checks, in its words."""
    parameters = set(_parameters(user_function))
    declared = {b.name for b in bindings if b.name != RETURN_BINDING and b.direction != "OUT"}
    if CONTEXT_PARAMETER not in declared:
        parameters.discard(CONTEXT_PARAMETER)
    problems = []
    extra_python = sorted(parameters - declared)
    if extra_python:
        problems.append(
            "the following parameters are declared in Python but not in function.json: "
            + repr(set(extra_python))
        )
    extra_json = sorted(declared - parameters)
    if extra_json:
        problems.append(
            "the following parameters are declared in function.json but not in Python: "
            + repr(set(extra_json))
        )
    return problems


def _http_info(name: str, trigger: Binding, problems: list[str]) -> HttpTriggerInfo:
    raw = trigger.raw
    # Without a route, the host serves the function under its own name.
    route = raw.get("route")
    route = name if route is None or str(route).strip("/") == "" else str(route).strip("/")
    methods_raw = raw.get("methods")
    methods = tuple(str(m).upper() for m in methods_raw) if methods_raw else ALL_METHODS
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        problems.append(f"{name}: unknown HTTP methods {unknown}")
    auth_level = str(raw.get("authLevel", "function")).lower()
    if auth_level not in ("anonymous", "function", "admin"):
        problems.append(f"{name}: unknown authLevel {auth_level!r}")
    return HttpTriggerInfo(route=route, methods=methods, auth_level=auth_level)


def _route_conflicts(functions: list[FunctionInfo]) -> list[str]:
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for function in functions:
        assert function.http is not None
        for method in function.http.methods:
            key = (function.http.route.lower(), method)
            other = seen.setdefault(key, function.name)
            if other != function.name:
                problems.append(
                    f"{function.name}: route {function.http.route!r} {method} is already "
                    f"used by {other}"
                )
    return problems
