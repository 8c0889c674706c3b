"""The outcome events of PRODUCT.md section 13, built from what a run already knows.

Event Grid schema, one event per fact: ``Quantum.Job.CancellationFinished`` (a single-job run
ended), ``Quantum.Workspace.CancellationFinished`` (a bulk run ended) and
``Quantum.Guardrail.Violation`` (a guardrail acted, alerted, or hit maxJobsPerSweep). Pure and
deterministic: every field comes from the run (its instance id, its own start, the
orchestration clock), so an event rebuilt on replay, or re-sent after a failed publish, is the
same event with the same ``id`` and subscribers can drop duplicates. Nothing here ever holds a
token: the data are a run's outputs, which never carry one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from workflow.shapes import CancelJobInput, CancelJobsInput, CancelOutputs

JOB_FINISHED = "Quantum.Job.CancellationFinished"
WORKSPACE_FINISHED = "Quantum.Workspace.CancellationFinished"
GUARDRAIL_VIOLATION = "Quantum.Guardrail.Violation"
DATA_VERSION = "1.0"
#: The namespace of this app's event ids (uuid5 of the facts that make an event unique).
_EVENT_NAMESPACE = uuid.UUID("6f3d2b8e-51c4-4f0a-9a57-2c1d7e0b4a19")


class OutcomeEvent(TypedDict):
    """An Event Grid schema event, as the publisher sends it."""

    id: str
    eventType: str
    subject: str
    eventTime: str
    dataVersion: str
    data: dict[str, Any]


def event_id(*facts: str) -> str:
    """A stable event id: the same facts always give the same id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "|".join(facts)))


def workspace_subject(workspace: Mapping[str, Any]) -> str:
    """The workspace's resource ID path."""
    return (
        f"/subscriptions/{workspace['subscriptionId']}"
        f"/resourceGroups/{workspace['resourceGroupName']}"
        f"/providers/Microsoft.Quantum/workspaces/{workspace['workspaceName']}"
    )


def job_subject(workspace: Mapping[str, Any], job_id: str) -> str:
    """The job's resource ID path."""
    return f"{workspace_subject(workspace)}/jobs/{job_id}"


def _event(kind: str, subject: str, now: str, data: dict[str, Any], *facts: str) -> OutcomeEvent:
    return OutcomeEvent(
        id=event_id(kind, *facts),
        eventType=kind,
        subject=subject,
        eventTime=now,
        dataVersion=DATA_VERSION,
        data=data,
    )


def job_finished(
    instance_id: str, request: CancelJobInput, outputs: CancelOutputs, now: str
) -> OutcomeEvent:
    """A single-job run ended with ``outputs``."""
    return _job_event(instance_id, request, dict(outputs), outputs["startedAt"], now)


def job_failed(
    instance_id: str, request: CancelJobInput, started_at: str, error: str, now: str
) -> OutcomeEvent:
    """A single-job run failed with ``error`` (a message that never holds a token)."""
    data = {
        "jobId": request["jobId"],
        "outcome": "failed",
        "error": error,
        "startedAt": started_at,
        "finishedAt": now,
    }
    return _job_event(instance_id, request, data, started_at, now)


def _job_event(
    instance_id: str, request: CancelJobInput, data: dict[str, Any], started_at: str, now: str
) -> OutcomeEvent:
    data.update(instanceId=instance_id, trigger=request["trigger"])
    if "rule" in request:
        data["rule"] = request["rule"]
    return _event(
        JOB_FINISHED,
        job_subject(request, request["jobId"]),
        now,
        data,
        instance_id,
        started_at,
        str(data["outcome"]),
    )


def workspace_finished(
    instance_id: str, request: CancelJobsInput, output: Mapping[str, Any], now: str
) -> OutcomeEvent:
    """A bulk run ended: its totals (no per-job list), instance and trigger."""
    data = {k: v for k, v in output.items() if k not in ("jobs", "jobsOmitted")}
    data.setdefault("outcome", "failed" if "error" in output else "finished")
    data.update(instanceId=instance_id, trigger=request["trigger"])
    return _event(
        WORKSPACE_FINISHED,
        workspace_subject(request),
        now,
        data,
        instance_id,
        str(output.get("startedAt", "")),
        str(data["outcome"]),
    )


def violation(
    sweep_instance_id: str,
    sweep_started_at: str,
    rule: str,
    action: str,
    reason: str,
    workspaces: Sequence[Mapping[str, Any]],
    now: str,
    *,
    job_id: str | None = None,
    matched: int | None = None,
) -> OutcomeEvent:
    """A guardrail acted on (or alerted about) one job, or refused a rule with too many
    matches (``matched``, every workspace named)."""
    data: dict[str, Any] = {
        "rule": rule,
        "action": action,
        "reason": reason,
        "workspace": dict(workspaces[0]) if len(workspaces) == 1 else [dict(w) for w in workspaces],
        "sweepInstanceId": sweep_instance_id,
    }
    if job_id is not None:
        data["jobId"] = job_id
    if matched is not None:
        data["matched"] = matched
    subject = (
        job_subject(workspaces[0], job_id)
        if job_id is not None
        else workspace_subject(workspaces[0])
    )
    return _event(
        GUARDRAIL_VIOLATION,
        subject,
        now,
        data,
        sweep_instance_id,
        sweep_started_at,
        rule,
        job_id or "*",
        action,
    )
