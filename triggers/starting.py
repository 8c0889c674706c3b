"""Start the orchestration for a job, or find the one already running for it.

The instance id comes from the job's coordinates, so "is this job already being cancelled?" is
one status lookup. host.json sets ``overridableExistingInstanceStates`` to ``NonRunningStates``:
a start that races another one for the same job is refused by the Durable extension instead of
replacing the running instance, and the loser reports the winner's instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from triggers.status_document import is_finished

ORCHESTRATION = "cancel_running_job"
BULK_ORCHESTRATION = "cancel_jobs"


@dataclass(frozen=True)
class StartResult:
    """Which instance handles the job, and whether this call started it."""

    instance_id: str
    started: bool


async def is_active(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    """Tell whether the instance exists and has not finished."""
    status = await client.get_status(instance_id)
    return bool(status) and not is_finished(status)


async def start_or_find(
    client: df.DurableOrchestrationClient, orchestration: str, instance_id: str, request: Any
) -> StartResult:
    """Start ``orchestration`` as ``instance_id`` unless that run is pending or running;
    never start two."""
    if await is_active(client, instance_id):
        return StartResult(instance_id, started=False)
    try:
        await client.start_new(orchestration, instance_id, request)
    except Exception:
        # The SDK raises a bare Exception for every refusal. If another start won the race,
        # that instance is the answer; anything else is a backend failure and propagates.
        if await is_active(client, instance_id):
            return StartResult(instance_id, started=False)
        raise
    return StartResult(instance_id, started=True)
