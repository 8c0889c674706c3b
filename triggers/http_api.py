"""The HTTP API: start a cancellation (POST) and read its status document (GET)."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from triggers.answers import start_from_request, status_answer
from triggers.starting import ORCHESTRATION
from workflow.inputs import checked_cancel_input, instance_id_for
from workflow.instance_ids import INSTANCE_ID

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="cancel-running-job", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_cancel_running_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Check the workflow inputs, then start (or find) the job's cancellation."""
    return await start_from_request(
        req,
        client,
        ORCHESTRATION,
        checked_cancel_input,
        instance_id_for,  # type: ignore[arg-type]
    )


@bp.route(
    route="cancel-running-job/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
@bp.durable_client_input(client_name="client")
async def get_cancel_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Answer the status document of one cancellation, or 404."""
    instance_id = req.route_params.get("instanceId", "")
    return await status_answer(client, instance_id, INSTANCE_ID, "cancellation")
