"""The ``on_job_alert`` Event Grid trigger: cancel the job an alert names.

Azure Quantum has no Event Grid system topic, so alerts come from a custom topic, in the Event
Grid schema or as CloudEvents 1.0. The job is named by ``data`` (subscriptionId,
resourceGroupName, workspaceName, jobId), by ``data.jobResourceId``, or by the ``subject``, as an
Azure Quantum job resource ID. An event never supplies a token, endpoint or api-version: those
come from the app's settings and identity, so a forged event can at most cancel a job in a
workspace the app's identity may already manage.

An alert must never be acknowledged unread: an event whose type cannot be read, or invalid
app settings, fail the invocation so that Event Grid delivers it again. azure-functions 1.25
is the first to decode CloudEvents; an older copy (the Python worker bundles one, and loads it
on Python 3.10-3.12 unless PYTHON_ISOLATE_WORKER_DEPENDENCIES=1) turns a CloudEvent into an
event with no type, so the app logs an error at start-up when the loaded copy cannot decode them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from appsettings import (
    JOB_ALERT_EVENT_TYPES,
    WORKSPACE_ALERT_EVENT_TYPES,
    Settings,
    SettingsError,
    load_settings,
)
from triggers.starting import BULK_ORCHESTRATION, ORCHESTRATION, start_or_find
from workflow.bulk_inputs import bulk_instance_id, checked_bulk_input
from workflow.inputs import (
    COORDINATES,
    InvalidInput,
    Problem,
    checked_cancel_input,
    checked_coordinates,
    instance_id_for,
)
from workflow.shapes import CancelJobInput, CancelJobsInput

bp = df.Blueprint()
log = logging.getLogger(__name__)

JOB_RESOURCE_ID = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Quantum"
    r"/workspaces/([^/]+)/jobs/([^/]+)",
    re.IGNORECASE,
)
WORKSPACE_RESOURCE_ID = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Quantum"
    r"/workspaces/([^/]+)",
    re.IGNORECASE,
)
_MAX_LOGGED = 120


class UnreadableEvent(Exception):
    """An event whose type cannot be read: failing the invocation makes Event Grid retry it."""


def decodes_cloud_events(module: Any = func) -> bool:
    """Whether this azure-functions decodes CloudEvents (1.25 and later have ``CloudEvent``)."""
    return hasattr(module, "CloudEvent")


if not decodes_cloud_events():
    log.error(
        "azure-functions %s cannot decode CloudEvents: CloudEvents alerts will fail and be "
        "retried by Event Grid. Set PYTHON_ISOLATE_WORKER_DEPENDENCIES=1 so the worker loads "
        "the app's azure-functions (>= 1.25) instead of its bundled copy.",
        getattr(func, "__version__", "?"),
    )


@dataclass(frozen=True)
class AlertDecision:
    """What to do with one event: start a run (which, as which instance), or say why not."""

    request: CancelJobInput | CancelJobsInput | None
    reason: str
    orchestration: str = ORCHESTRATION
    instance_id: str = ""


def decide(event_type: object, subject: object, data: object, settings: Settings) -> AlertDecision:
    """Read one event: an accepted type naming a valid job yields the orchestration input; a
    workspace alert type (WORKSPACE_ALERT_EVENT_TYPES) naming a workspace yields the
    workspace-scale cancel's, with the app's identity and the default maxJobs."""
    fields = data if isinstance(data, Mapping) else {}
    if event_type in settings.workspace_alert_event_types:
        return _workspace_decision(fields, subject, settings)
    if event_type not in settings.job_alert_event_types:
        return AlertDecision(
            None,
            f"ignored: event type {_shown(event_type)} is in neither {JOB_ALERT_EVENT_TYPES} "
            f"nor {WORKSPACE_ALERT_EVENT_TYPES} (add it to the one it belongs to)",
        )
    try:
        coordinates = _coordinates(fields, subject)
        request = checked_cancel_input(dict(coordinates), settings, trigger="eventGrid")
    except InvalidInput as invalid:
        return AlertDecision(None, f"malformed: {invalid}")
    return AlertDecision(request, "accepted", ORCHESTRATION, instance_id_for(request))


def _workspace_decision(
    data: Mapping[str, Any], subject: object, settings: Settings
) -> AlertDecision:
    # Only the workspace and the selector come from the event: never a token, an endpoint,
    # an api-version or a maxJobs.
    body: dict[str, Any] = {}
    try:
        body.update(_workspace(data, subject))
        if "sessionId" in data:
            body["sessionId"] = data["sessionId"]
        else:
            body["filter"] = data.get("filter", {})
        request = checked_bulk_input(body, settings, trigger="eventGrid")
    except InvalidInput as invalid:
        return AlertDecision(None, f"malformed: {invalid}")
    return AlertDecision(request, "accepted", BULK_ORCHESTRATION, bulk_instance_id(request))


def _workspace(data: Mapping[str, Any], subject: object) -> dict[str, Any]:
    names = COORDINATES[:3]
    if any(name in data for name in names):
        return {name: data.get(name) for name in names}
    for source, value in (
        ("data.workspaceResourceId", data.get("workspaceResourceId")),
        ("subject", subject),
    ):
        if value is None:
            continue
        match = WORKSPACE_RESOURCE_ID.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise InvalidInput([Problem(source, "is not an Azure Quantum workspace resource ID")])
        return dict(zip(names, match.groups(), strict=True))
    raise InvalidInput([Problem("data", "names no workspace (coordinates, resource ID, subject)")])


def _coordinates(data: Mapping[str, Any], subject: object) -> Mapping[str, Any]:
    present = [name for name in COORDINATES if name in data]
    if present:
        return checked_coordinates(data, prefix="data.")
    for source, value in (("data.jobResourceId", data.get("jobResourceId")), ("subject", subject)):
        if value is None:
            continue
        match = JOB_RESOURCE_ID.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise InvalidInput([Problem(source, "is not an Azure Quantum job resource ID")])
        return checked_coordinates(
            dict(zip(COORDINATES, match.groups(), strict=True)), prefix=f"{source}:"
        )
    raise InvalidInput([Problem("data", "names no job (coordinates, jobResourceId or subject)")])


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return "".join(ch if ch.isprintable() else "?" for ch in text[:_MAX_LOGGED])


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_job_alert(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """Start the cancellation an alert asks for; log and acknowledge anything else."""
    event_id = _shown(event.id)
    # Event Grid schema events have event_type, CloudEvents have type.
    event_type = getattr(event, "event_type", None)
    if event_type is None:
        event_type = getattr(event, "type", None)
    if event_type is None or event_type == "":
        log.error(
            "event %s has no readable type (a CloudEvent decoded by an azure-functions older "
            "than 1.25?): failing, so that Event Grid delivers it again",
            event_id,
        )
        raise UnreadableEvent(f"event {event_id} has no readable type")
    try:
        settings = load_settings()
    except SettingsError as error:
        log.error("event %s not handled, the app settings are invalid: %s", event_id, error)
        raise
    try:
        data = event.get_json()
    except ValueError:
        data = None
    decision = decide(event_type, event.subject, data, settings)
    if decision.request is None:
        level = logging.INFO if decision.reason.startswith("ignored") else logging.WARNING
        log.log(level, "event %s %s", event_id, decision.reason)
        return
    # A failure to reach the Durable backend propagates, so Event Grid delivers the event again.
    started = await start_or_find(
        client, decision.orchestration, decision.instance_id, decision.request
    )
    named = decision.request.get("jobId", "(workspace)")
    log.info(
        "event %s: job %s, instance %s %s",
        event_id,
        named,
        started.instance_id,
        "started" if started.started else "already running",
    )
