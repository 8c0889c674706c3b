"""How a run that cannot finish ends, the same for one job and for a workspace.

Raising out of an orchestrator would make the SDK embed the execution's actions (activity
inputs and all) in the error the host logs. So a failing run continues as new with the error
message alone (``fail_in_next_generation``), and that last generation raises it
(``end_failed``): the logged error is the message, and nothing else of the run.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, NoReturn

import azure.durable_functions as df

from orchestrators.service_calls import ServiceCallFailed
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
    context: df.DurableOrchestrationContext, failure: str, **identity: Any
) -> None:
    """End this generation; the next one only reports ``failure`` (and the last progress)."""
    failed: dict[str, Any] = {**identity, "failure": failure, "progress": context.custom_status}
    context.continue_as_new(failed)


def end_failed(context: df.DurableOrchestrationContext, failed: FailedRun) -> NoReturn:
    """The last generation of a failed run: show the last progress and raise the failure."""
    context.set_custom_status(failed["progress"])
    raise CancellationFailed(failed["failure"])
