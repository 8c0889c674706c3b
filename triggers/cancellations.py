"""The app's own runs, as an operator (or the ``quantum-cancel`` CLI) looks for them.

``GET /api/cancellations`` lists the runs, single-job and workspace-scale, newest first, with
their progress; ``GET /api/cancel-running-job?subscriptionId=…&jobId=…`` finds the run of one
job by the instance id the app derives from its coordinates. Both answer through the app's
routes and function key, so nobody needs the Durable extension's system key (which opens every
instance) to find a run.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from triggers.answers import (
    api_url,
    invalid_request,
    json_answer,
    not_found,
    whole_number_param,
)
from triggers.status_document import status_document
from workflow.inputs import COORDINATES, InvalidInput, Problem, checked_coordinates, instance_id_for
from workflow.instance_ids import BULK_INSTANCE_ID, INSTANCE_ID

bp = df.Blueprint()

LIST_ROUTE = "cancellations"
JOB_ROUTE = "cancel-running-job"
BULK_ROUTE = "cancel-jobs"
DEFAULT_TOP = 20
TOP_LIMITS = (1, 100)
#: Every id the app makes starts so (single: cancel-{jobId}-…, bulk: cancel-jobs-…).
INSTANCE_PREFIX = "cancel-"
RUNNING = [
    OrchestrationRuntimeStatus.Pending,
    OrchestrationRuntimeStatus.Running,
    OrchestrationRuntimeStatus.ContinuedAsNew,
]
_STATUS_CHOICES = ("running", "all")
#: Read from the run's input (never its token, which is sealed there anyway).
WORKSPACE_FIELDS = COORDINATES[:3]


@bp.route(route=LIST_ROUTE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def list_cancellations(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The app's runs, newest first: ``status=running|all`` (default all), ``top`` ≤ 100."""
    problems: list[Problem] = []
    wanted = req.params.get("status", "all")
    if wanted not in _STATUS_CHOICES:
        problems.append(Problem("status", "must be running or all"))
    top = whole_number_param(req.params.get("top"), "top", TOP_LIMITS, DEFAULT_TOP, problems)
    if problems:
        return invalid_request(problems)
    found = await client.get_status_by(
        runtime_status=RUNNING if wanted == "running" else None,
        instance_id_prefix=INSTANCE_PREFIX,
    )
    # Only the runs an operator started: a bulk run's pages are its own sub-orchestrations.
    runs = [status for status in found if _kind(status.instance_id or "") is not None]
    runs.sort(key=_created, reverse=True)
    return json_answer(200, {"value": [_summary(req, status) for status in runs[:top]]})


@bp.route(route=JOB_ROUTE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def find_cancel_running_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The status document (and ``statusUrl``) of the run for the job the query names, or 404.

    Other query parameters (``code``, the function key) are not the job's and are ignored.
    """
    try:
        job = checked_coordinates({name: req.params.get(name) for name in COORDINATES})
    except InvalidInput as invalid:
        return invalid_request(invalid.problems)
    instance_id = instance_id_for(job)
    status = await client.get_status(instance_id)
    if not status:
        return not_found("no cancellation of this job has been started")
    document = {**status_document(status), "statusUrl": _status_url(req, JOB_ROUTE, instance_id)}
    return json_answer(200, document)


def _created(status: DurableOrchestrationStatus) -> float:
    return status.created_time.timestamp() if status.created_time else 0.0


def _kind(instance_id: str) -> str | None:
    if INSTANCE_ID.fullmatch(instance_id):
        return "job"
    if BULK_INSTANCE_ID.fullmatch(instance_id):
        return "workspace"
    return None


def _status_url(req: func.HttpRequest, own_route: str, instance_id: str) -> str:
    route = JOB_ROUTE if _kind(instance_id) == "job" else BULK_ROUTE
    return api_url(req, own_route, f"{route}/{instance_id}")


def _summary(req: func.HttpRequest, status: DurableOrchestrationStatus) -> dict[str, Any]:
    """One line of the list: where the run is, and how it ended once it has."""
    document = status_document(status)
    instance_id = document["instanceId"]
    outputs = document["outputs"] if isinstance(document["outputs"], dict) else {}
    kind = _kind(instance_id)
    summary: dict[str, Any] = {
        "instanceId": instance_id,
        "kind": kind,
        "runtimeStatus": document["runtimeStatus"],
        "createdTime": document["createdTime"],
        "lastUpdatedTime": document["lastUpdatedTime"],
        "progress": document["progress"],
        "outcome": outputs.get("outcome"),
        "error": document["error"],
        "statusUrl": _status_url(req, LIST_ROUTE, instance_id),
    }
    request = status.input_ if isinstance(status.input_, dict) else {}
    summary["workspace"] = "/".join(str(request.get(name, "?")) for name in WORKSPACE_FIELDS)
    if kind == "job":
        # cancel-{jobId}-{digest}: the job id is the GUID between the two.
        summary["jobId"] = instance_id[len(INSTANCE_PREFIX) : -17]
    else:
        summary["outcomes"] = outputs.get("outcomes")
    return summary
