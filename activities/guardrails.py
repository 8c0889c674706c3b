"""The guardrail sweep's own activities: Quotas_List of one workspace, reduced to what the
``quotaUtilizationOver`` condition reads (job listings reuse ``list_jobs_page``), and the start
of the sweep's cancellations.

``start_guardrail_cancels`` is a client function: it starts each job's ``cancel_running_job``
exactly as the HTTP and Event Grid triggers do — the request built by the same single-job
input builder (``checked_cancel_input``, trigger ``guardrail``), then ``start_or_find`` under
the job's usual instance id, which reads the instance's status first and never starts a second
run for a running one. An activity may hold a ``durableClient`` input binding next to its
trigger: "You can use regular input and output bindings in addition to the activity trigger
binding" (learn.microsoft.com/azure/azure-functions/durable/durable-functions-bindings,
activity trigger) and "Any non-orchestrator function can be a client function"
(durable-functions-types-features-overview, "Client functions").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import azure.durable_functions as df

from activities.connection import client_for, failure, workspace_of
from appsettings import Settings, SettingsError, load_settings
from dataplane.errors import QuantumError
from triggers.starting import ORCHESTRATION, start_or_find
from workflow.inputs import InvalidInput, checked_cancel_input, instance_id_for
from workflow.shapes import ActivityFailure, CancelStart, GuardrailCancel

bp = df.Blueprint()
log = logging.getLogger(__name__)
QUOTA_FIELDS = ("dimension", "providerId", "scope", "utilization", "limit", "period")


@bp.activity_trigger(input_name="call")
def list_quotas(call: dict[str, Any]) -> dict[str, Any] | ActivityFailure:
    """Quotas_List: ``{"ok", "quotas": [{dimension, providerId, utilization, limit, …}]}``."""
    try:
        quotas = client_for(call, "Quotas_List").list_quotas(workspace_of(call))
    except QuantumError as error:
        return failure(call, error)
    return {
        "ok": True,
        "quotas": [{k: q[k] for k in QUOTA_FIELDS if k in q} for q in quotas],
    }


@bp.activity_trigger(input_name="batch")
@bp.durable_client_input(client_name="client")
async def start_guardrail_cancels(
    batch: dict[str, Any], client: df.DurableOrchestrationClient
) -> list[CancelStart]:
    """Start (or find) each job's ``cancel_running_job`` run; one answer per job, in order."""
    cancels: list[GuardrailCancel] = batch["cancels"]
    try:
        settings = load_settings()
    except SettingsError as error:
        log.error("no guardrail cancellation started: the app settings are invalid: %s", error)
        return [_not_started(c, "the app settings are invalid") for c in cancels]
    answers = list(await asyncio.gather(*(_start(client, settings, c) for c in cancels)))
    log.info(
        "guardrail cancellations: %d started, %d already running, %d not started",
        sum(a["started"] for a in answers),
        sum(not a["started"] and "error" not in a for a in answers),
        sum("error" in a for a in answers),
    )
    return answers


async def _start(
    client: df.DurableOrchestrationClient, settings: Settings, cancel: GuardrailCancel
) -> CancelStart:
    try:
        request = checked_cancel_input(dict(cancel["job"]), settings, trigger="guardrail")
    except InvalidInput as invalid:
        return _not_started(cancel, f"invalid job: {invalid}")
    request["rule"] = cancel["rule"]
    instance_id = instance_id_for(request)
    try:
        found = await start_or_find(client, ORCHESTRATION, instance_id, request)
    except Exception as error:
        # The Durable API refused or could not be reached; its message may carry the
        # management URL's key, so only the error's class is reported.
        log.error("guardrail cancellation %s not started: %s", instance_id, type(error).__name__)
        return _not_started(cancel, f"could not start: {type(error).__name__}", instance_id)
    return CancelStart(jobId=request["jobId"], instanceId=instance_id, started=found.started)


def _not_started(
    cancel: GuardrailCancel, error: str, instance_id: str | None = None
) -> CancelStart:
    return CancelStart(
        jobId=str(cancel["job"].get("jobId")), instanceId=instance_id, started=False, error=error
    )
