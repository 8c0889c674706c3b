"""The status document of PRODUCT.md section 3, built from a Durable orchestration status."""

from __future__ import annotations

from typing import Any, TypedDict

from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from workflow.times import iso

FINISHED_STATES = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
        OrchestrationRuntimeStatus.Canceled,
    }
)
# The SDK appends the orchestration's replay state to an orchestrator's error after this
# marker; it is plumbing for the extension, not part of the message.
_OUT_OF_PROC_MARKER = "$OutOfProcData$"


class StatusDocument(TypedDict):
    """What GET /api/cancel-running-job/{instanceId} answers."""

    instanceId: str
    runtimeStatus: str
    createdTime: str | None
    lastUpdatedTime: str | None
    progress: Any
    outputs: Any
    error: str | None


def status_document(status: DurableOrchestrationStatus) -> StatusDocument:
    """Describe one orchestration for an operator: where it is, what it found, what failed."""
    runtime = status.runtime_status
    # ContinuedAsNew is a moment between two generations of one run: to a caller it is running.
    shown = "Running" if runtime is OrchestrationRuntimeStatus.ContinuedAsNew else _name(runtime)
    output = status.output
    error: str | None = None
    if runtime is OrchestrationRuntimeStatus.Failed:
        error = _clean_error(output)
    elif runtime is OrchestrationRuntimeStatus.Terminated:
        error = f"terminated: {output}" if output else "terminated"
    return StatusDocument(
        instanceId=status.instance_id or "",
        runtimeStatus=shown,
        createdTime=iso(status.created_time) if status.created_time else None,
        lastUpdatedTime=iso(status.last_updated_time) if status.last_updated_time else None,
        progress=status.custom_status,
        outputs=output if runtime is OrchestrationRuntimeStatus.Completed else None,
        error=error,
    )


def is_finished(status: DurableOrchestrationStatus) -> bool:
    """Tell whether the orchestration reached a final runtime status."""
    return status.runtime_status in FINISHED_STATES


def _name(runtime: OrchestrationRuntimeStatus | None) -> str:
    return runtime.value if runtime is not None else "Unknown"


def _clean_error(output: Any) -> str:
    text = output if isinstance(output, str) else str(output)
    return text.split(_OUT_OF_PROC_MARKER, 1)[0].strip()
