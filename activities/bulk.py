"""The workspace-scale cancel's own activities: one Jobs_List (or SessionsJobs_List) page, and
Sessions_Close. Cancels and single reads reuse ``get_job`` and ``cancel_job``.

A page comes back as at most a page of small job summaries (never a whole listing), so no
activity result grows with the number of jobs.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.connection import answered, client_for, failure, workspace_of
from dataplane.errors import QuantumError
from workflow.shapes import ActivityFailure, ListedJob

bp = df.Blueprint()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def listed(details: dict[str, Any]) -> ListedJob:
    """The summary of one job of a listing."""
    return ListedJob(
        jobId=str(details.get("id", "")),
        name=_text(details.get("name")),
        status=_text(details.get("status")),
        target=_text(details.get("target")),
        providerId=_text(details.get("providerId")),
        creationTime=_text(details.get("creationTime")),
    )


@bp.activity_trigger(input_name="call")
def list_jobs_page(call: dict[str, Any]) -> dict[str, Any] | ActivityFailure:
    """One page of the selection: ``{"ok", "jobs", "count", "nextLink"}`` (``jobs`` left out
    with ``countOnly``; ``cancellationTime`` kept for the confirmation)."""
    try:
        client = client_for(call, "Jobs_List")
        items, next_link = client.list_page(
            workspace_of(call),
            session_id=call.get("sessionId"),
            filter=call.get("filter"),
            top=call.get("top"),
            skip=call.get("skip"),
            orderby=call.get("orderby"),
            next_link=call.get("nextLink"),
        )
    except QuantumError as error:
        return failure(call, error)
    answer: dict[str, Any] = {"ok": True, "count": len(items), "nextLink": next_link}
    if not call.get("countOnly"):
        answer["jobs"] = [
            {**listed(item), "cancellationTime": _text(item.get("cancellationTime"))}
            | (_guardrail_fields(item) if call.get("guardrailFields") else {})
            for item in items
        ]
    return answered(answer)


def _guardrail_fields(details: dict[str, Any]) -> dict[str, Any]:
    # What guardrail conditions read (workflow.guardrail_rules), asked for by the sweep only.
    cost = details.get("costEstimate")
    total = cost.get("estimatedTotal") if isinstance(cost, dict) else None
    return {
        "beginExecutionTime": _text(details.get("beginExecutionTime")),
        "costEstimate": total if isinstance(total, (int, float)) else None,
    }


@bp.activity_trigger(input_name="call")
def close_session(call: dict[str, Any]) -> dict[str, Any] | ActivityFailure:
    """Sessions_Close: the session accepts no new jobs while its jobs are cancelled."""
    try:
        client_for(call, "Sessions_Close").close_session(workspace_of(call), call["sessionId"])
    except QuantumError as error:
        return failure(call, error)
    return {"ok": True}
