"""The ``enforce_guardrails`` orchestration: one sweep over every workspace and rule of the
policy (PRODUCT.md section 12).

Read top to bottom: list (each workspace's unfinished jobs once per distinct filter, Quotas_List
when a rule needs it, paced by one Pacer at the sweep's request-rate cap), decide (every rule on
the listed details, no read per job; orchestrators.guardrail_plan), continue as new with the
decisions only (so the acting generation replays a short history, whatever was listed), then
act: the ``start_guardrail_cancels`` activity starts each job's ``cancel_running_job`` through
the Durable client, as the HTTP and Event Grid triggers do — under the job's usual instance id,
and only when no run of that job is going (an operator's, an alert's, an earlier sweep's: that
job gets no second cancel) —; then one ``Quantum.Guardrail.Violation`` per fact is published
and the sweep ends. It does not wait for the cancellations: each run publishes its own
``Quantum.Job.CancellationFinished``, so a sweep stays short and the next one is never held
up. A dry run stops after deciding. Time is the orchestration's clock, so replay decides the
same.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import guardrail_plan as plan
from orchestrators.outcome_events import publish
from orchestrators.pacing import Pacer
from workflow import outcome_events
from workflow.outcome_events import OutcomeEvent
from workflow.times import iso, parse_iso

bp = df.Blueprint()
log = logging.getLogger(__name__)
Steps = Generator[Any, Any, Any]
#: Listing batches per execution before it continues as new (a batch is at most the rate
#: cap's worth of pages of up to 100 jobs), so the history stays short however much is listed.
LIST_TICKS = 5
START_ACTIVITY = "start_guardrail_cancels"


@bp.orchestration_trigger(context_name="context")
def enforce_guardrails(context: df.DurableOrchestrationContext) -> Steps:
    """One sweep: list, decide, act (unless a dry run), report."""
    sweep: plan.SweepInput = context.get_input()
    pacer = Pacer.resume(max(1, int(sweep["maxRequestsPerSecond"])), sweep.get("nextAt"))
    started_at = sweep.get("startedAt") or iso(context.current_utc_datetime)
    results: dict[tuple[int, str], dict[str, Any]] = {}
    if "decided" in sweep:
        decisions = plan.Decisions.from_json(sweep["decided"])
        context.set_custom_status({"phase": "acting"})
        results = yield from act(context, sweep, decisions, pacer, started_at)
    else:
        listing = (
            plan.Listing.from_json(sweep["listing"])
            if "listing" in sweep
            else plan.start_listing(sweep)
        )
        context.set_custom_status({"phase": "listing", "requests": listing.requests})
        yield from list_workspaces(context, sweep, listing, pacer, parse_iso(started_at))
        # Continue as new between listing slices, and before acting: no execution's history
        # holds more than LIST_TICKS batches of pages, and the acting one only the decisions.
        carried: dict[str, Any] = {k: v for k, v in sweep.items() if k not in ("listing",)}
        carried.update(startedAt=started_at, nextAt=pacer.handover())
        if listing.queue:
            context.continue_as_new({**carried, "listing": listing.to_json()})
            return None
        decisions = plan.decide(sweep, listing)
        if not sweep["dryRun"] and decisions.acts():
            context.continue_as_new({**carried, "decided": decisions.to_json()})
            return None
    output = plan.report(sweep, decisions, results)
    output.update(startedAt=started_at, finishedAt=iso(context.current_utc_datetime))
    context.set_custom_status({"phase": "done"})
    if not context.is_replaying:
        log.info(
            "guardrail sweep %s: %s",
            context.instance_id,
            {r["name"]: (r["matched"], r["outcome"]) for r in output["rules"]},
        )
    return output


def list_workspaces(
    context: df.DurableOrchestrationContext,
    sweep: plan.SweepInput,
    listing: plan.Listing,
    pacer: Pacer,
    now: datetime,
) -> Steps:
    """Step list: at most LIST_TICKS batches of listing pages and Quotas_List, each at most
    ``per_second`` requests, evaluated against the rules as they come (``now``: the sweep's
    start, the moment every condition is read at)."""
    for _ in range(LIST_TICKS):
        if not listing.queue:
            return
        yield from pacer.wait(context)
        batch = plan.take(listing, pacer.per_second)
        answers = yield context.task_all(
            [
                context.call_activity(
                    r["activity"],
                    {**r["payload"], "instanceId": context.instance_id, "attempt": r["attempt"]},
                )
                for r in batch
            ]
        )
        pacer.sent(context)
        pause = max(
            plan.answered(sweep, listing, r, a, now) for r, a in zip(batch, answers, strict=True)
        )
        if pause:
            pacer.hold_until(context.current_utc_datetime + timedelta(seconds=pause))


def act(
    context: df.DurableOrchestrationContext,
    sweep: plan.SweepInput,
    decisions: plan.Decisions,
    pacer: Pacer,
    started_at: str,
) -> Generator[Any, Any, dict[tuple[int, str], dict[str, Any]]]:
    """Step act: start (or find) the cancellations, then publish the violations.

    Starts go out half the cap's worth a second (a started run sends a read and a cancel in
    its first second); each job's entry gets its run's ``instanceId`` and ``started``."""
    now = iso(context.current_utc_datetime)
    events: list[OutcomeEvent] = []
    results: dict[tuple[int, str], dict[str, Any]] = {}
    cancels = [m for m in decisions.matches if m.action == "cancel"]
    per_tick = max(1, pacer.per_second // 2)
    for start in range(0, len(cancels), per_tick):
        yield from pacer.wait(context)
        batch = cancels[start : start + per_tick]
        payload = {"cancels": [plan.cancel_start(sweep, m) for m in batch]}
        try:
            answers = yield context.call_activity(START_ACTIVITY, payload)
        except Exception as error:  # the activity itself broke: report, act on the rest
            first = (str(error).splitlines() or [type(error).__name__])[0]
            reason = f"could not start: {first[:200]}"
            answers = [{"instanceId": None, "started": False, "error": reason} for _ in batch]
        pacer.sent(context)
        for match, answer in zip(batch, answers, strict=True):
            key = (match.workspace, str(match.job["jobId"]).lower())
            results[key] = {k: answer[k] for k in ("instanceId", "started", "error") if k in answer}
    for match in decisions.matches:
        if match.action == "none":
            continue
        workspace = plan.workspace_name(sweep["workspaces"][match.workspace])
        events.append(
            outcome_events.violation(
                context.instance_id,
                started_at,
                str(match.by),
                match.action,
                "; ".join(match.reasons),
                [workspace],
                now,
                job_id=str(match.job["jobId"]),
            )
        )
    for rule in sweep["policy"]["rules"]:
        if rule["name"] in decisions.too_many:
            events.append(_too_many(context, sweep, decisions, rule["name"], started_at, now))
    yield from publish(context, events)
    return results


def _too_many(
    context: df.DurableOrchestrationContext,
    sweep: plan.SweepInput,
    decisions: plan.Decisions,
    name: str,
    started_at: str,
    now: str,
) -> OutcomeEvent:
    rule = next(r for r in sweep["policy"]["rules"] if r["name"] == name)
    workspaces = [plan.workspace_name(sweep["workspaces"][i]) for i in decisions.where[name]]
    return outcome_events.violation(
        context.instance_id,
        started_at,
        name,
        "tooManyJobs",
        f"{decisions.matched[name]} jobs matched, more than maxJobsPerSweep "
        f"{rule['maxJobsPerSweep']}: none was acted on",
        workspaces,
        now,
        matched=decisions.matched[name],
    )
