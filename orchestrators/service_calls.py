"""Calling an activity from an orchestrator with bounded, throttling-aware retries.

``df.RetryOptions`` in azure-functions-durable 1.x knows only a first interval and a number of
attempts: it would retry a 404 and could call back sooner than a Retry-After allows. So the
activities report failures as data, and the retry loop lives here, waiting on durable timers of
at least the length the service asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from dataplane.errors import ErrorInfo, failure_kind
from workflow.schedule import DEFAULT_RETRY_POLICY, RetryPolicy, retry_delay
from workflow.shapes import JobCall, WorkspaceCall


class ServiceCallFailed(Exception):
    """A service call failed for good; the message names operation, status, code and cause."""

    def __init__(self, error: ErrorInfo, attempts: int, reason: str) -> None:
        status = failure_kind(error)
        code = f" {error['code']}" if error["code"] else ""
        super().__init__(
            f"{error['operation']} failed with {status}{code}: {error['message']} "
            f"({reason}; {attempts} attempt{'s' if attempts != 1 else ''})"
        )
        self.error = error


def job_already_finished(error: ErrorInfo) -> bool:
    """A cancel answered 409: the job finished before the cancel arrived, which a read shows."""
    return error["operation"] == "Jobs_Cancel" and error["status"] == 409


class DeadlineReached(ServiceCallFailed):
    """A retry would only come after the run's deadline."""


def retry_or_reason(
    error: ErrorInfo, attempt: int, policy: RetryPolicy = DEFAULT_RETRY_POLICY
) -> float | str:
    """The one retry rule: seconds to wait before trying again after failed attempt number
    ``attempt``, or why the call is not tried again (the reason ServiceCallFailed gives)."""
    if not error["transient"]:
        return "permanent error, not retried"
    if attempt >= policy.max_attempts:
        return "gave up after the last retry"
    retry_after = error["retryAfterSeconds"]
    if retry_after is not None and retry_after > policy.max_retry_after_seconds:
        return f"the service asked to wait {retry_after:.0f} s, too long"
    return retry_delay(attempt, retry_after, policy)


def workspace_call(request: Mapping[str, Any], instance_id: str) -> WorkspaceCall:
    """The one builder of an activity's payload: where the requests of run ``instance_id`` go
    and with which credentials (a caller's token stays sealed, bound to that run)."""
    call = WorkspaceCall(
        subscriptionId=request["subscriptionId"],
        resourceGroupName=request["resourceGroupName"],
        workspaceName=request["workspaceName"],
        apiVersion=request["apiVersion"],
        endpoint=request["endpoint"],
        instanceId=instance_id,
    )
    if "sealedToken" in request:
        call["sealedToken"] = request["sealedToken"]
    return call


def job_call(call: WorkspaceCall, job_id: str) -> JobCall:
    """The input of get_job or cancel_job for one job of ``call``'s workspace."""
    return JobCall(**call, jobId=job_id)  # type: ignore[typeddict-item]


@dataclass
class CallCounter:
    """Counts activity invocations of one orchestration run, for its outputs."""

    calls: int = 0


def call_service(
    context: df.DurableOrchestrationContext,
    activity: str,
    payload: Any,
    counter: CallCounter,
    *,
    tolerate: Callable[[ErrorInfo], bool] | None = None,
    on_retry: Callable[[ErrorInfo, int, datetime], None] | None = None,
    deadline: datetime | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> Generator[Any, Any, dict[str, Any]]:
    """Run ``activity`` until it succeeds, and return its result.

    A transient failure is retried after ``retry_delay`` on a durable timer. A permanent one
    raises ServiceCallFailed at once, unless ``tolerate(error)`` says the workflow can go on
    (a 409 on cancel), in which case the failed result is returned. ServiceCallFailed is also
    raised when the attempts run out or the service asks for a longer wait than the policy
    allows. ``on_retry(error, attempt, resume_at)`` reports each pending retry. DeadlineReached
    is raised instead of waiting for a retry that would come after ``deadline``.
    """
    attempt = 1
    while True:
        result: dict[str, Any] = yield context.call_activity(
            activity, {**payload, "attempt": attempt}
        )
        counter.calls += 1
        if result["ok"]:
            return result
        error: ErrorInfo = result["error"]
        if not error["transient"] and tolerate is not None and tolerate(error):
            return result
        wait = retry_or_reason(error, attempt, policy)
        if isinstance(wait, str):
            raise ServiceCallFailed(error, attempt, wait)
        resume_at = context.current_utc_datetime + timedelta(seconds=wait)
        if deadline is not None and resume_at > deadline:
            raise DeadlineReached(error, attempt, "the next attempt would come after the deadline")
        if on_retry is not None:
            on_retry(error, attempt, resume_at)
        yield context.create_timer(resume_at)
        attempt += 1
