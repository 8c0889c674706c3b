"""The ``get_job`` and ``cancel_job`` activities (Jobs_Get and Jobs_Cancel).

Each one builds a client from its input and the app settings (activities.connection), makes
exactly one request and returns a small JSON result. A failure of the service call comes back
as data (``{"ok": false, "error": ...}``) so the orchestrator can tell a 404 from a 429 and
decide what to do; retrying here would hide the time from the Durable timers and the replay
log. The workspace-scale cancel calls them too, one job at a time.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.connection import answered, client_for, failure
from dataplane.errors import QuantumError
from dataplane.resources import JobRef
from workflow.shapes import ActivityFailure, CancelJobSuccess, GetJobSuccess, JobCall

bp = df.Blueprint()


def _job(call: JobCall, operation: str) -> JobRef:
    return JobRef.checked(
        call["subscriptionId"],
        call["resourceGroupName"],
        call["workspaceName"],
        call["jobId"],
        operation=operation,
    )


@bp.activity_trigger(input_name="call")
def get_job(call: JobCall) -> GetJobSuccess | ActivityFailure:
    """Jobs_Get: read the job's status and cancellation time."""
    try:
        details = client_for(call, "Jobs_Get").get_job(_job(call, "Jobs_Get"))
    except QuantumError as error:
        return failure(call, error)
    cancellation_time = details.get("cancellationTime")
    return answered(
        GetJobSuccess(
            ok=True,
            job={
                "status": details["status"],
                "cancellationTime": (
                    cancellation_time if isinstance(cancellation_time, str) else None
                ),
            },
        )
    )


@bp.activity_trigger(input_name="call")
def cancel_job(call: JobCall) -> CancelJobSuccess | ActivityFailure:
    """Jobs_Cancel: request cancellation with the verb the api-version calls for."""
    try:
        outcome = client_for(call, "Jobs_Cancel").cancel_job(_job(call, "Jobs_Cancel"))
    except QuantumError as error:
        return failure(call, error)
    return answered(
        CancelJobSuccess(ok=True, httpStatus=outcome.http_status, jobStatus=outcome.job_status)
    )
