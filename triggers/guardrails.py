"""Guardrails from outside: the ``watch_jobs`` timer, ``GET /api/guardrails`` and
``POST /api/guardrails/sweep`` (PRODUCT.md section 12).

Every entry point reads the policy from GUARDRAIL_POLICY when it runs and checks it with
workflow.guardrail_policy: a bad policy never starts a sweep (the timer logs every problem,
the sweep route answers 409 listing them, ``GET`` shows them) and the app's other functions
never read it. Real sweeps share one instance id, so two never overlap (the timer and the
route start it with ``start_or_find``, which starts none while one runs, as for a job's run);
a dry run has its own and leaves ``lastSweep`` alone. A sweep ends without waiting for the
cancellations it started, so one never holds up the next.

The timer's NCRONTAB (six fields, seconds first) comes from GUARDRAIL_SCHEDULE when the app is
indexed ("Timer trigger for Azure Functions", learn.microsoft.com/azure/azure-functions/
functions-bindings-timer: NCRONTAB expressions), default ``0 */5 * * * *``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from appsettings import Settings, SettingsError, guardrail_schedule, load_settings
from dataplane.endpoint import resolve_endpoint
from dataplane.errors import EndpointNotAllowed
from orchestrators.guardrail_plan import SweepInput, SweepWorkspace
from triggers.answers import (
    json_answer,
    problem,
    settings_or_problem,
    start_and_answer,
    status_answer,
    wait_seconds,
)
from triggers.starting import start_or_find
from triggers.status_document import status_document
from workflow.guardrail_policy import PolicyCheck, check_policy_setting
from workflow.inputs import Problem, checked_poll_options
from workflow.instance_ids import DRY_RUN_INSTANCE_ID, SWEEP_INSTANCE_ID, SWEEP_INSTANCE_IDS

bp = df.Blueprint()
log = logging.getLogger(__name__)

ORCHESTRATION = "enforce_guardrails"
#: ``@relative/path.json`` policies live in the app's folder (where function_app.py is).
APP_DIR = Path(__file__).resolve().parent.parent
POLICY_PROBLEM = "urn:cancel-running-job:problem:guardrail-policy"


def checked_policy(settings: Settings) -> PolicyCheck | None:
    """GUARDRAIL_POLICY checked (None: guardrails are off)."""
    return check_policy_setting(settings.guardrail_policy, APP_DIR)


def sweep_input(check: PolicyCheck, settings: Settings, dry_run: bool) -> SweepInput:
    """The sweep's input: each workspace's endpoint and api-version resolved with the
    settings' defaults; raises ValueError listing what the settings make invalid."""
    assert check.policy is not None
    problems: list[Problem] = []
    workspaces: list[SweepWorkspace] = []
    for index, workspace in enumerate(check.policy["workspaces"]):
        try:
            endpoint = resolve_endpoint(
                workspace.get("endpoint"),
                workspace.get("location"),
                settings.endpoint,
                settings.location,
                settings.allow_loopback,
            )
        except EndpointNotAllowed as error:
            problems.append(Problem(f"workspaces[{index}].endpoint", error.message))
            continue
        workspaces.append(
            SweepWorkspace(
                subscriptionId=workspace["subscriptionId"],
                resourceGroupName=workspace["resourceGroupName"],
                workspaceName=workspace["workspaceName"],
                apiVersion=workspace.get("apiVersion", settings.api_version),
                endpoint=endpoint,
            )
        )
    options = checked_poll_options({}, settings, problems)
    if problems or options is None:
        raise PolicyNotUsable(problems)
    return SweepInput(
        policy=check.policy,
        workspaces=workspaces,
        dryRun=dry_run,
        maxRequestsPerSecond=settings.bulk_max_requests_per_second,
        options=options,
    )


class PolicyNotUsable(ValueError):
    """The policy is valid on its own, but the app's settings cannot reach a workspace."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.name} {p.reason}" for p in problems))
        self.problems = problems


def _ready(settings: Settings, dry_run: bool) -> SweepInput | list[Problem]:
    check = checked_policy(settings)
    if check is None:
        return [Problem("GUARDRAIL_POLICY", "is not set: guardrails are off")]
    if not check.ok:
        return check.problems
    try:
        return sweep_input(check, settings, dry_run)
    except PolicyNotUsable as unusable:
        return unusable.problems


@bp.timer_trigger(schedule=guardrail_schedule(), arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def watch_jobs(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start one sweep, unless guardrails are off, the policy is bad, or one still runs."""
    try:
        settings = load_settings()
    except SettingsError as error:
        log.error("no guardrail sweep: the app settings are invalid: %s", error)
        return
    if settings.guardrail_policy is None:
        log.info("no guardrail sweep: GUARDRAIL_POLICY is not set")
        return
    ready = _ready(settings, dry_run=False)
    if isinstance(ready, list):
        log.error(
            "no guardrail sweep: GUARDRAIL_POLICY has %d problem(s): %s",
            len(ready),
            "; ".join(f"{p.name}: {p.reason}" for p in ready),
        )
        return
    started = await start_or_find(client, ORCHESTRATION, SWEEP_INSTANCE_ID, ready)
    log.info(
        "guardrail sweep %s %s%s",
        SWEEP_INSTANCE_ID,
        "started" if started.started else "still running: none started",
        " (the timer is late)" if timer.past_due else "",
    )


@bp.route(route="guardrails", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_guardrails(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """``{"enabled", "policy", "problems", "lastSweep"}``."""
    settings = settings_or_problem()
    if isinstance(settings, func.HttpResponse):
        return settings
    check = checked_policy(settings)
    last = await client.get_status(SWEEP_INSTANCE_ID)
    body: dict[str, Any] = {
        "enabled": check is not None and check.ok,
        "policy": check.policy if check is not None else None,
        "problems": check.problem_list() if check is not None else [],
        "lastSweep": dict(status_document(last)) if last else None,
    }
    return json_answer(200, body)


@bp.route(route="guardrails/sweep", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_guardrails_sweep(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """A sweep now (``dryRun=true``: evaluate and report only); 202, or 200 with
    ``waitSeconds``; 409 listing the problems when there is no usable policy."""
    settings = settings_or_problem()
    if isinstance(settings, func.HttpResponse):
        return settings
    problems: list[Problem] = []
    wait = wait_seconds(req.params.get("waitSeconds"), problems)
    raw_dry = (req.params.get("dryRun") or "false").lower()
    if raw_dry not in ("true", "false"):
        problems.append(Problem("dryRun", "must be true or false"))
    if problems:
        return problem(
            400,
            "urn:cancel-running-job:problem:invalid-request",
            "The sweep request is not valid",
            "invalid query",
            invalid=problems,
        )
    dry_run = raw_dry == "true"
    ready = _ready(settings, dry_run)
    if isinstance(ready, list):
        return problem(
            409,
            POLICY_PROBLEM,
            "No guardrail policy to enforce",
            f"GUARDRAIL_POLICY cannot be enforced: {len(ready)} problem(s); nothing started",
            invalid=ready,
        )
    instance_id = DRY_RUN_INSTANCE_ID if dry_run else SWEEP_INSTANCE_ID
    return await start_and_answer(req, client, ORCHESTRATION, instance_id, ready, wait)


@bp.route(
    route="guardrails/sweep/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
@bp.durable_client_input(client_name="client")
async def get_guardrails_sweep(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The status document of the sweep (``guardrails-sweep``) or of the last preview
    (``guardrails-dry-run``): the ``statusUrl`` of the sweep route's 202; 404 otherwise."""
    instance_id = req.route_params.get("instanceId", "")
    return await status_answer(client, instance_id, SWEEP_INSTANCE_IDS, "guardrail sweep")
