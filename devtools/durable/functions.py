"""Find an app's durable functions and call them the way the Python worker does.

The worker indexes a v2-programming-model app once through ``app.get_functions()``
(which refuses to run twice on the same app: it records every name it has seen), so
the result is cached per app object here. Anything else that needs the function list
(the future devtools.host) should call :func:`app_functions` rather than
``get_functions()`` itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import traceback
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .errors import UnknownFunctionError

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
DURABLE_CLIENT = "durableClient"

_CACHE_LOCK = threading.Lock()
_CACHE: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def app_functions(app: Any) -> list[Any]:
    """``app.get_functions()``, computed once per app object (see module docstring)."""
    with _CACHE_LOCK:
        cached = _CACHE.get(app)
        if cached is None:
            cached = _index(app)
            _CACHE[app] = cached
        return cached


def _index(app: Any) -> list[Any]:
    try:
        return list(app.get_functions())
    except ValueError:
        # Someone already indexed this app with get_functions(), which remembers the
        # names it saw and then rejects them as duplicates. Index again from a clean
        # slate and put its record back as it was.
        seen = getattr(app, "functions_bindings", None)
        if not seen:
            raise
        app.functions_bindings = None
        try:
            return list(app.get_functions())
        finally:
            app.functions_bindings = seen


@dataclass(frozen=True)
class ClientBinding:
    """A ``durableClient`` input binding of a function: parameter name, task hub, connection."""

    name: str
    task_hub: str | None = None
    connection_name: str | None = None


class ActivityHost(Protocol):
    """What the Functions host and the Python worker give an activity besides its input.

    An activity may declare input bindings next to its trigger, a ``durableClient`` among them
    (learn.microsoft.com/azure/azure-functions/durable/durable-functions-bindings, activity
    trigger, "Using input and output bindings"; durable-functions-types-features-overview,
    "Client functions": any non-orchestrator function can be a client function). The binding's
    value is the JSON string the extension builds for every client function, and async code
    runs on the worker's one event loop.
    """

    def client_binding(self, task_hub: str | None, connection_name: str | None) -> str:
        """The value of a ``durableClient`` binding (the extension's JSON string)."""
        ...

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the worker's event loop and return its result."""
        ...


@dataclass(frozen=True)
class RegisteredFunction:
    """One function of the app, as the worker sees it after indexing."""

    name: str
    trigger_type: str
    #: Name of the trigger parameter: the worker passes the trigger value by keyword.
    binding_name: str
    #: For orchestrators this is the SDK's ``handle``; for activities the user's code.
    user_function: Callable[..., Any]
    #: The function's ``durableClient`` input bindings.
    clients: tuple[ClientBinding, ...] = ()

    @property
    def is_async(self) -> bool:
        """True for ``async def`` functions (the worker awaits them on its event loop)."""
        return inspect.iscoroutinefunction(self.user_function)


class FunctionRegistry:
    """Orchestrators and activities registered on an azure.functions FunctionApp."""

    def __init__(self, app: Any) -> None:
        """Index ``app`` (a FunctionApp / df.DFApp) like the worker does."""
        self._by_trigger: dict[str, dict[str, RegisteredFunction]] = {}
        for function in app_functions(app):
            trigger = function.get_trigger()
            if trigger is None:
                continue
            entry = RegisteredFunction(
                name=function.get_function_name(),
                trigger_type=trigger.type,
                binding_name=trigger.name,
                user_function=function.get_user_function(),
                clients=_client_bindings(function),
            )
            self._by_trigger.setdefault(entry.trigger_type, {})[entry.name] = entry

    def _find(self, trigger_type: str, name: str) -> RegisteredFunction | None:
        table = self._by_trigger.get(trigger_type, {})
        found = table.get(name)
        if found is None:
            # Function names are case-insensitive in the Functions host.
            lowered = name.lower()
            found = next((f for n, f in table.items() if n.lower() == lowered), None)
        return found

    def orchestrator(self, name: str) -> RegisteredFunction:
        """The orchestrator called ``name``; UnknownFunctionError if there is none."""
        found = self._find(ORCHESTRATION_TRIGGER, name)
        if found is None:
            # Same wording as the extension's start-time validation.
            raise UnknownFunctionError(
                f"The function '{name}' doesn't exist, is disabled, or is not an "
                "orchestrator function."
            )
        return found

    def activity(self, name: str) -> RegisteredFunction | None:
        """The activity called ``name``, or None (the caller reports a TaskFailed)."""
        return self._find(ACTIVITY_TRIGGER, name)

    def names(self, trigger_type: str) -> list[str]:
        """Registered function names for one trigger type."""
        return sorted(self._by_trigger.get(trigger_type, {}))


def _client_bindings(function: Any) -> tuple[ClientBinding, ...]:
    raw = [json.loads(text) for text in function.get_raw_bindings()]
    return tuple(
        ClientBinding(b["name"], b.get("taskHub"), b.get("connectionName"))
        for b in raw
        if b.get("type") == DURABLE_CLIENT
    )


@dataclass(frozen=True)
class ActivityOutcome:
    """What the extension records for one activity execution."""

    succeeded: bool
    #: JSON text of the return value (TaskCompleted.Result).
    result: str | None = None
    #: TaskFailed.Reason and TaskFailed.Details.
    reason: str = ""
    details: str = ""


# How many traceback frames to keep in Details: enough to locate the error.
_STACK_FRAMES = 3


def failure_outcome(activity_name: str, exc: BaseException) -> ActivityOutcome:
    """Build TaskFailed Reason/Details like worker + host + extension do together.

    * worker: RpcException(message=f"{type}: {exc}", stack_trace=<traceback>);
    * host:   "Result: Failure\\nException: <message>\\nStack: <stack>";
    * extension (TaskActivityShim + OutOfProcExceptionHelpers): the friendly message is
      the text between "\\nException:" and "\\nStack:" (so it keeps a leading space),
      Reason = "Activity function '<name>' failed: <friendly>", Details = the exception
      serialised to JSON by its ErrorDataConverter (abridged here).
    """
    worker_message = f"{type(exc).__name__}: {exc}"
    frames = traceback.format_tb(exc.__traceback__)[-_STACK_FRAMES:]
    stack = "".join(frames).rstrip()
    rpc_message = f"Result: Failure\nException: {worker_message}\nStack: {stack}"
    start = rpc_message.index("\nException:") + len("\nException:")
    end = rpc_message.index("\nStack:")
    friendly = rpc_message[start:end]
    details = json.dumps(
        {
            "$type": "System.Exception, System.Private.CoreLib",
            "ClassName": "System.Exception",
            "Message": friendly,
            "Data": None,
            "InnerException": {
                "$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, "
                "Microsoft.Azure.WebJobs.Script",
                "ClassName": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
                "Message": rpc_message,
                "RemoteStackTraceString": stack,
            },
            "HelpURL": None,
            "StackTraceString": None,
            "HResult": -2146233088,
            "Source": None,
        }
    )
    return ActivityOutcome(
        succeeded=False,
        reason=f"Activity function '{activity_name}' failed: {friendly}",
        details=details,
    )


def missing_activity_outcome(activity_name: str) -> ActivityOutcome:
    """What TaskNonexistentActivityShim reports for an unknown activity name."""
    message = f"Activity function '{activity_name}' does not exist."
    details = json.dumps(
        {
            "$type": "Microsoft.Azure.WebJobs.Extensions.DurableTask.FunctionFailedException, "
            "Microsoft.Azure.WebJobs.Extensions.DurableTask",
            "ClassName": "Microsoft.Azure.WebJobs.Extensions.DurableTask.FunctionFailedException",
            "Message": message,
            "InnerException": None,
        }
    )
    return ActivityOutcome(
        succeeded=False,
        reason=f"Activity function '{activity_name}' failed: {message}",
        details=details,
    )


def invoke_activity(
    function: RegisteredFunction, input_json: str | None, host: ActivityHost | None = None
) -> ActivityOutcome:
    """Run one activity like the worker: decode input, call, encode the return value.

    Input arrives as JSON text (TaskScheduled.Input) and goes through
    ActivityTriggerConverter.decode with a ``json`` Datum; the return value goes through
    ActivityTriggerConverter.encode. ``host`` supplies each ``durableClient`` binding and the
    loop async functions run on (without one, a private loop, and no client binding: an
    activity that declares one fails, naming it).
    """
    try:
        argument = ActivityTriggerConverter.decode(
            meta.Datum(value=input_json, type="json"), trigger_metadata=None
        )
        arguments: dict[str, Any] = {function.binding_name: argument}
        for client in function.clients:
            if host is None:
                raise RuntimeError(
                    f"activity '{function.name}' has a durableClient binding "
                    f"'{client.name}', and this engine has no ActivityHost to supply it"
                )
            arguments[client.name] = host.client_binding(client.task_hub, client.connection_name)
        value = function.user_function(**arguments)
        if inspect.isawaitable(value):
            value = (
                host.run_coroutine(_await(value))
                if host is not None
                else asyncio.run(_await(value))
            )
        encoded = ActivityTriggerConverter.encode(value, expected_type=None)
        return ActivityOutcome(succeeded=True, result=encoded.value)
    except Exception as exc:
        return failure_outcome(function.name, exc)


async def _await(awaitable: Any) -> Any:
    return await awaitable
