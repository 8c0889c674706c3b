"""How a run that cannot finish ends, the same for one job and for a workspace.

Raising out of an orchestrator would make the SDK embed the execution's actions (activity
inputs and all) in the error the host logs. So a failing run continues as new with the error
message alone (``fail_in_next_generation``), and that last generation publishes the run's
outcome event, if it has one, then raises it (``end_failed``): the logged error is the message,
and nothing else of the run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Generator, Mapping
from typing import Any, NoReturn

import azure.durable_functions as df

from orchestrators.outcome_events import publish
from orchestrators.service_calls import ServiceCallFailed
from workflow.outcome_events import OutcomeEvent
from workflow.shapes import FailedRun

log = logging.getLogger(__name__)
MAX_FAILURE_MESSAGE = 2000


class CancellationFailed(Exception):
    """The run could not finish: a permanent service error, retries exhausted, or a bug."""


def failure_text(context: df.DurableOrchestrationContext, what: str, error: Exception) -> str:
    """The run's error: the service failure as it is, anything else with its type, and a bug
    logged once with its traceback (``what`` names the run in that log line)."""
    if isinstance(error, (ServiceCallFailed, CancellationFailed)):
        return str(error)[:MAX_FAILURE_MESSAGE]
    if not context.is_replaying:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        log.error("%s failed with an unexpected %s:\n%s", what, type(error).__name__, trace)
    return f"{type(error).__name__}: {error}"[:MAX_FAILURE_MESSAGE]


def fail_in_next_generation(
    context: df.DurableOrchestrationContext,
    failure: str,
    *,
    event: OutcomeEvent | None = None,
    **identity: Any,
) -> None:
    """End this generation; the next one only reports ``failure`` (with the last progress)
    and publishes ``event``."""
    failed: dict[str, Any] = {
        **identity,
        "failure": failure,
        "progress": _settled(context.custom_status),
    }
    if event is not None:
        failed["event"] = dict(event)
    context.continue_as_new(failed)


def end_failed(
    context: df.DurableOrchestrationContext, failed: FailedRun
) -> Generator[Any, Any, NoReturn]:
    """The last generation of a failed run: show the last progress, publish its outcome
    event (a publish never fails the run), and raise the failure."""
    context.set_custom_status(failed["progress"])
    if "event" in failed:
        yield from publish(context, [failed["event"]])  # type: ignore[list-item]
    raise CancellationFailed(failed["failure"])


def _settled(progress: Any) -> Any:
    # A failed run's progress shows where it stopped, not a retry that will never come (the
    # run's error says why it stopped).
    if isinstance(progress, Mapping):
        return {key: value for key, value in progress.items() if key != "retrying"}
    return progress
