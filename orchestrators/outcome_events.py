"""Publishing outcome events from an orchestration, with bounded retries on durable timers.

``publish`` sends the events through the ``publish_outcome_events`` activity, in batches, and
retries a transient failure at most ``ATTEMPTS`` times in all, waiting 2, 4, 8 and 16 s (about
half a minute of waiting, well within two minutes). It never raises: a publish that keeps
failing is logged and dropped, so it can neither fail nor repeat the cancellation it reports.
The events are built before the first attempt (workflow.outcome_events), so every attempt —
and every replay — sends the same ids.

``announce_bulk_run`` is the one call the workspace-scale cancel makes when it ends
(``bulk_failure_event`` builds the event its failed last generation publishes).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from workflow import outcome_events
from workflow.bulk_state import RunState
from workflow.outcome_events import OutcomeEvent
from workflow.schedule import RetryPolicy, retry_delay
from workflow.shapes import CancelJobsInput
from workflow.times import iso

log = logging.getLogger(__name__)
PUBLISH_ACTIVITY = "publish_outcome_events"
ATTEMPTS = 5
#: Events per publish request (Event Grid takes up to 1 MB per request; ours are small).
BATCH = 100
_POLICY = RetryPolicy(max_attempts=ATTEMPTS, first_backoff_seconds=2.0, max_backoff_seconds=16.0)
Steps = Generator[Any, Any, Any]


def publish(context: df.DurableOrchestrationContext, events: Sequence[OutcomeEvent]) -> Steps:
    """Publish ``events``; returns how many were accepted by the topic (or 0 when off)."""
    accepted = 0
    for start in range(0, len(events), BATCH):
        batch = list(events[start : start + BATCH])
        accepted += yield from _publish_batch(context, batch)
    return accepted


def _publish_batch(context: df.DurableOrchestrationContext, batch: list[OutcomeEvent]) -> Steps:
    attempt = 1
    while True:
        try:
            answer: dict[str, Any] = yield context.call_activity(
                PUBLISH_ACTIVITY, {"events": batch, "attempt": attempt}
            )
        except Exception as error:  # the activity itself broke: report, never fail the run
            answer = {"ok": False, "transient": False, "reason": type(error).__name__}
        if answer["ok"]:
            return int(answer.get("sent", 0))
        if not answer["transient"] or attempt >= ATTEMPTS:
            if not context.is_replaying:
                log.error(
                    "outcome events %s not published after %d attempt(s): %s",
                    ", ".join(e["id"] for e in batch[:5]),
                    attempt,
                    answer.get("reason"),
                )
            return 0
        wait = retry_delay(attempt, None, _POLICY)
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
        attempt += 1


def announce_bulk_run(
    context: df.DurableOrchestrationContext, request: CancelJobsInput, output: Mapping[str, Any]
) -> Steps:
    """A bulk run ended with ``output``: publish its Quantum.Workspace.CancellationFinished
    (not for a dry run) and hand ``output`` back."""
    if not request["dryRun"]:
        event = outcome_events.workspace_finished(
            context.instance_id, request, output, iso(context.current_utc_datetime)
        )
        yield from publish(context, [event])
    return output


def bulk_failure_event(
    context: df.DurableOrchestrationContext,
    request: CancelJobsInput,
    state: RunState,
    error: str,
) -> OutcomeEvent:
    """The Quantum.Workspace.CancellationFinished of a bulk run that stopped with ``error``:
    its totals so far, ``outcome: "failed"``."""
    totals = {
        "outcome": "failed",
        "error": error,
        "outcomes": dict(state.totals.outcomes),
        "requests": state.totals.requests,
        "startedAt": state.startedAt,
    }
    return outcome_events.workspace_finished(
        context.instance_id, request, totals, iso(context.current_utc_datetime)
    )
