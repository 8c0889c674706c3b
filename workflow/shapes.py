"""The JSON shapes that cross function boundaries, as TypedDicts.

Every shape here is what goes over the wire between the starter, the orchestration and its
activities (the Durable extension stores them as JSON), so they hold only JSON types.
"""

from __future__ import annotations

import sys
from typing import Literal, TypedDict

from dataplane.errors import ErrorInfo

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

Outcome = Literal["cancelled", "alreadyTerminal", "finishedBeforeCancel", "timedOut"]
#: What started a cancellation (a telemetry dimension, and ``trigger`` in outcome events).
Trigger = Literal["http", "eventGrid", "bulk", "monitorAlert", "guardrail"]
Phase = Literal["getJob", "cancelJob", "confirmCancelled"]


class PollOptions(TypedDict):
    """How the orchestration polls: first wait, longest wait, and when it gives up."""

    pollIntervalSeconds: float
    maxPollIntervalSeconds: float
    timeoutSeconds: float


class JobCoordinates(TypedDict):
    """The four path parameters that name a job."""

    subscriptionId: str
    resourceGroupName: str
    workspaceName: str
    jobId: str


class ResumeState(TypedDict):
    """What the orchestration carries across continue-as-new while confirming (``deadline``:
    timeoutSeconds after the accepted cancel)."""

    startedAt: str
    deadline: str
    cancelRequestedAt: str | None
    cancelHttpStatus: int | None
    lastStatus: str | None
    polls: int
    activityCalls: int


class CancelJobInput(JobCoordinates):
    """The orchestration's input: a checked workflow request with every default filled in.

    ``sealedToken`` is the caller's bearer token sealed for this run (dataplane.sealing): the
    Durable extension stores the input in the task hub, so the token is never in it in clear.
    Without it the app's identity is used.
    """

    apiVersion: str
    endpoint: str
    options: PollOptions
    trigger: Trigger
    #: The guardrail rule that asked for this cancellation (trigger "guardrail" only).
    rule: NotRequired[str]
    sealedToken: NotRequired[str]
    resume: NotRequired[ResumeState]


class Progress(TypedDict):
    """The orchestration's custom status, shown as ``progress`` in the status document."""

    phase: Phase
    lastStatus: str | None
    polls: int
    nextPollAt: str | None
    retrying: NotRequired[str]


class FailedRun(TypedDict):
    """The input of the last generation of a failed run (one job's or a workspace's): the
    error and nothing secret, and the outcome event that says so (``event``, see
    workflow.outcome_events)."""

    failure: str
    progress: object
    jobId: NotRequired[str]
    event: NotRequired[dict[str, object]]


class JobCall(JobCoordinates):
    """An activity's input: which job, where, with which api-version and credentials, and the
    orchestration instance it serves (the logs name it; a sealed token is bound to it)."""

    apiVersion: str
    endpoint: str
    instanceId: str
    sealedToken: NotRequired[str]
    #: Which attempt of the call this is (1-based; the orchestrator's retries count it).
    attempt: NotRequired[int]


class JobSnapshot(TypedDict):
    """The parts of JobDetails the workflow uses."""

    status: str
    cancellationTime: str | None


class ActivityFailure(TypedDict):
    """An activity's answer when the service call failed."""

    ok: Literal[False]
    error: ErrorInfo
    #: When the answer came back, on the activity host's clock (orchestrators.pacing).
    answeredAt: NotRequired[str]


class GetJobSuccess(TypedDict):
    """get_job's answer when Jobs_Get succeeded."""

    ok: Literal[True]
    job: JobSnapshot
    #: When the answer came back, on the activity host's clock (orchestrators.pacing).
    answeredAt: NotRequired[str]


class CancelJobSuccess(TypedDict):
    """cancel_job's answer when Jobs_Cancel was accepted (200, 202 or 204)."""

    ok: Literal[True]
    httpStatus: int
    jobStatus: str | None
    #: When the answer came back, on the activity host's clock (orchestrators.pacing).
    answeredAt: NotRequired[str]


class CancelOutputs(TypedDict):
    """The orchestration's output: the Arazzo workflow outputs plus what helps an operator."""

    jobId: str
    finalStatus: str | None
    cancellationTime: str | None
    outcome: Outcome
    cancelRequested: bool
    cancelRequestedAt: str | None
    cancelHttpStatus: int | None
    #: When confirming would give up: timeoutSeconds after the accepted cancel (or its 409).
    confirmDeadline: str | None
    polls: int
    activityCalls: int
    startedAt: str
    finishedAt: str
    apiVersion: str
    trigger: Trigger
    rule: NotRequired[str]


# -- workspace-scale cancel (cancel_jobs) ------------------------------------------------------
BulkOutcome = Literal["cancelled", "alreadyTerminal", "finishedBeforeCancel", "timedOut", "failed"]
SelectorKind = Literal["jobIds", "filter", "sessionId"]


class JobFilter(TypedDict, total=False):
    """The ``filter`` selector: every field optional; ``status`` lists non-final statuses."""

    status: list[str]
    target: list[str]
    providerId: list[str]
    namePrefix: str
    createdAfter: str
    createdBefore: str


class Selector(TypedDict):
    """Exactly one way of naming the jobs to cancel."""

    kind: SelectorKind
    jobIds: NotRequired[list[str]]
    filter: NotRequired[JobFilter]
    sessionId: NotRequired[str]
    closeSession: NotRequired[bool]


class BulkOptions(PollOptions):
    """The single-job options plus the run's request-rate cap and cancel concurrency."""

    maxRequestsPerSecond: float
    maxConcurrentCancels: int


class WorkspaceCall(TypedDict):
    """Where a bulk run's requests go, and with which credentials (for its activities)."""

    subscriptionId: str
    resourceGroupName: str
    workspaceName: str
    apiVersion: str
    endpoint: str
    instanceId: str
    sealedToken: NotRequired[str]


class CancelJobsInput(TypedDict):
    """The ``cancel_jobs`` orchestration's input (resume: what continue-as-new carries)."""

    subscriptionId: str
    resourceGroupName: str
    workspaceName: str
    apiVersion: str
    endpoint: str
    options: BulkOptions
    selector: Selector
    dryRun: bool
    maxJobs: int
    trigger: Trigger
    sealedToken: NotRequired[str]
    resume: NotRequired[dict[str, object]]


class ListedJob(TypedDict):
    """What a listing tells of one job (and a dry run reports)."""

    jobId: str
    name: str | None
    status: str | None
    target: str | None
    providerId: str | None
    creationTime: str | None


class JobResult(TypedDict):
    """One job's outcome in a bulk run."""

    jobId: str
    outcome: BulkOutcome
    finalStatus: str | None
    cancellationTime: str | None
    error: NotRequired[str]


class GuardrailCancel(TypedDict):
    """One cancellation a guardrail sweep asks for: the job as a workflow request names it
    (coordinates, ``apiVersion``, ``endpoint``, ``options``) and the rule that acts on it."""

    job: dict[str, object]
    rule: str


class CancelStart(TypedDict):
    """What starting (or finding) one job's ``cancel_running_job`` run came to: ``started``
    false with an ``instanceId`` is a run already going (no second cancel); ``error`` says
    why nothing could be started (no secret, no URL)."""

    jobId: str
    instanceId: str | None
    started: bool
    error: NotRequired[str]
