"""``on_monitor_alert``: Azure Monitor alerts (metric, log search, budget) through an action group.

``POST /api/monitor-alerts`` (auth level FUNCTION: the action group's webhook URI carries the
function key) takes the common alert schema (workflow.alert_schema). A fired alert whose rule
has an action in MONITOR_ALERT_ACTIONS starts the workspace-scale cancel ``cancel_jobs`` with
the app's identity, through the same input checks and starter as ``POST /api/cancel-jobs``:
nothing in the alert can supply a token, an endpoint or an api-version. The workspace is the
action's, or the Azure Quantum workspace among the alert's ``alertTargetIDs``.

Answers: 202 with the run's check-status payload; 200 for an alert acknowledged without action
(resolved, or a rule with no action), with the reason, also logged; 400 problem+json for a body
that is not the common schema; 500 problem+json naming MONITOR_ALERT_ACTIONS when the rule's
action cannot be used. The run's instance id is derived from ``alertId``, so a delivery repeated
by the action group finds the run the first one started, even once it has finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from appsettings import MONITOR_ALERT_ACTIONS, Settings
from dataplane.resources import WORKSPACE_PARAMETERS
from triggers.answers import (
    MISCONFIGURED_TYPE,
    api_url,
    check_status_answer,
    invalid_request,
    json_answer,
    json_body,
    problem,
    settings_or_problem,
)
from triggers.job_alerts import WORKSPACE_RESOURCE_ID
from triggers.starting import BULK_ORCHESTRATION, start_or_find
from triggers.status_document import is_finished
from workflow.alert_schema import MonitorAlert, read_alert
from workflow.bulk_inputs import SELECTORS, checked_bulk_input
from workflow.inputs import InvalidInput, Problem
from workflow.shapes import CancelJobsInput

bp = df.Blueprint()
ROUTE = "monitor-alerts"
log = logging.getLogger(__name__)

# The bulk routes' own instance id form (triggers.bulk_api.BULK_INSTANCE_ID), so that the run's
# status and per-job results are served by GET /api/cancel-jobs/{instanceId}[/jobs].
_INSTANCE_PREFIX = "cancel-jobs-"
#: What an action may hold: the workspace, one selector as a bulk request names it, and the run
#: options an operator fixes per rule. No token, endpoint or api-version: the app's own are used.
ACTION_FIELDS = ("workspace", *SELECTORS, "closeSession", "dryRun", "maxJobs")


class ActionProblem(Exception):
    """The rule's action in MONITOR_ALERT_ACTIONS cannot be used; the message says why."""


def alert_instance_id(alert_id: str) -> str:
    """One run per alert instance: every delivery of the same ``alertId`` names the same run."""
    digest = hashlib.sha256(f"monitorAlert\n{alert_id}".encode()).hexdigest()[:32]
    return f"{_INSTANCE_PREFIX}{digest}"


def cancel_request(
    alert: MonitorAlert, action: Mapping[str, Any], settings: Settings
) -> CancelJobsInput:
    """The checked ``cancel_jobs`` input an alert's action stands for.

    Raises InvalidInput when the workspace taken from ``alertTargetIDs`` is not valid (the
    alert's fault), ActionProblem when the action is (the setting's)."""
    where = f"{MONITOR_ALERT_ACTIONS}[{json.dumps(alert.rule)}]"
    unknown = sorted(name[:40] for name in action if name not in ACTION_FIELDS)
    if unknown:
        raise ActionProblem(
            f"{where} has unknown fields ({', '.join(unknown)}); known: {', '.join(ACTION_FIELDS)}"
        )
    body: dict[str, Any] = {k: v for k, v in action.items() if k != "workspace"}
    workspace = action.get("workspace")
    from_alert = workspace is None
    if from_alert:
        workspace = _target_workspace(alert.targets)
        if workspace is None:
            raise ActionProblem(
                f"{where} names no workspace and the alert's alertTargetIDs name no Azure "
                'Quantum workspace: add "workspace" to the action'
            )
    if not isinstance(workspace, Mapping) or any(k not in WORKSPACE_PARAMETERS for k in workspace):
        raise ActionProblem(
            f"{where}.workspace must be an object of {', '.join(WORKSPACE_PARAMETERS)}"
        )
    body.update(workspace)
    try:
        return checked_bulk_input(body, settings, trigger="monitorAlert")
    except InvalidInput as invalid:
        in_workspace = [p for p in invalid.problems if p.name in WORKSPACE_PARAMETERS]
        if from_alert and in_workspace:
            raise InvalidInput(
                [
                    Problem(f"data.essentials.alertTargetIDs ({p.name})", p.reason)
                    for p in in_workspace
                ]
            ) from None
        reasons = "; ".join(f"{where}.{p.name} {p.reason}" for p in invalid.problems)
        raise ActionProblem(reasons) from None


def _target_workspace(targets: tuple[str, ...]) -> dict[str, str] | None:
    for target in targets:
        match = WORKSPACE_RESOURCE_ID.fullmatch(target)
        if match:
            return dict(zip(WORKSPACE_PARAMETERS, match.groups(), strict=True))
    return None


def acknowledged(alert: MonitorAlert, reason: str) -> func.HttpResponse:
    """The 200 answer (and log line) for an alert that starts nothing. Alert text is logged
    with repr and cut short: a line break in it cannot forge a log line."""
    log.info("monitor alert %r (rule %r): %s", alert.alert_id[-80:], alert.rule[:80], reason)
    return json_answer(200, {"acknowledged": True, "started": False, "reason": reason})


async def handled_before(
    client: df.DurableOrchestrationClient, instance_id: str, fired: datetime
) -> bool:
    """Whether this firing already has its run: one still going, or one created after the alert
    fired (the action group delivered it again). A later firing of the same alert instance
    starts a new run once the earlier one has ended."""
    status = await client.get_status(instance_id)
    if not status:
        return False
    if not is_finished(status):
        return True
    created = status.created_time
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return bool(created >= fired)


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def on_monitor_alert(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Start the workspace-scale cancel a fired alert's rule asks for; acknowledge the rest."""
    settings = settings_or_problem()
    if isinstance(settings, func.HttpResponse):
        return settings
    problems: list[Problem] = []
    body = json_body(req.get_body(), problems)
    if problems:
        return invalid_request(problems)
    try:
        alert = read_alert(body)
    except InvalidInput as invalid:
        log.warning("monitor alert refused: %s", invalid)
        return invalid_request(invalid.problems)
    if alert.condition == "Resolved":
        return acknowledged(alert, "resolved: nothing to do")
    action = settings.monitor_alert_actions.get(alert.rule)
    if action is None:
        return acknowledged(
            alert, f"alert rule {alert.rule[:80]!r} has no action in {MONITOR_ALERT_ACTIONS}"
        )
    try:
        request = cancel_request(alert, action, settings)
    except InvalidInput as invalid:
        log.warning("monitor alert %r refused: %s", alert.alert_id[-80:], invalid)
        return invalid_request(invalid.problems)
    except ActionProblem as error:
        log.error("monitor alert %r not handled: %s", alert.alert_id[-80:], error)
        return problem(500, MISCONFIGURED_TYPE, "An app setting of this app is invalid", str(error))
    instance_id = alert_instance_id(alert.alert_id)
    if await handled_before(client, instance_id, alert.fired):
        started = False
    else:
        started = (await start_or_find(client, BULK_ORCHESTRATION, instance_id, request)).started
    log.info(
        "monitor alert %r (rule %r, %r): %s %s",
        alert.alert_id[-80:],
        alert.rule[:80],
        alert.service[:40] or "unknown service",
        instance_id,
        "started" if started else "already started",
    )
    # The run is a workspace-scale cancel: its status lives under that route.
    status_url = api_url(req, ROUTE, f"cancel-jobs/{instance_id}")
    return check_status_answer(req, client, instance_id, status_url)
