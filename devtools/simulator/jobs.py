"""The job store and the lifecycle engine that moves each job through its script.

Not thread-safe by itself: the simulator holds its one lock around every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import SimulatorClock
from .lifecycles import TERMINAL, Lifecycle, Phase

# Fields the server owns: whatever a client sends for them is ignored on create.
SERVER_FIELDS = frozenset(
    {
        "id",
        "status",
        "creationTime",
        "beginExecutionTime",
        "endExecutionTime",
        "cancellationTime",
        "costEstimate",
        "errorData",
        "quantumComputingData",
        "createdBy",
        "createdByType",
        "lastModifiedTime",
        "lastModifiedBy",
        "lastModifiedByType",
        "lastUpdatedTime",
        "usage",
    }
)

JobKey = tuple[str, str, str, str]


def job_key(subscription_id: str, resource_group: str, workspace: str, job_id: str) -> JobKey:
    """Store key: ARM names and GUIDs compare case-insensitively."""
    return (subscription_id.lower(), resource_group.lower(), workspace.lower(), job_id.lower())


class JobAlreadyFinished(Exception):
    """Cancel asked of a job whose status is terminal."""

    def __init__(self, status: str) -> None:
        """Remember the terminal status for the error message."""
        super().__init__(status)
        self.status = status


@dataclass
class Counters:
    """What happened to a job over the wire."""

    reads: int = 0
    cancel_requests: int = 0
    repeated_cancels: int = 0
    deletes: int = 0

    def to_json(self) -> dict[str, int]:
        """camelCase JSON view."""
        return {
            "reads": self.reads,
            "cancelRequests": self.cancel_requests,
            "repeatedCancels": self.repeated_cancels,
            "deletes": self.deletes,
        }


@dataclass
class Job:
    """One job: its user fields, its lifecycle and where it is in it."""

    key: JobKey
    job_id: str
    coordinates: tuple[str, str, str]
    details: dict[str, Any]
    lifecycle: Lifecycle
    created_at: float
    script: tuple[Phase, ...] = ()
    in_after_script: bool = False
    phase_index: int = 0
    phase_started: float = 0.0
    phase_reads: int = 0
    begin_at: float | None = None
    end_at: float | None = None
    cancelled_at: float | None = None
    cancel_requested_at: float | None = None
    deleted: bool = False
    sequence: int = 0
    #: costEstimate as seeded (a server field: clients cannot set it).
    cost_estimate: dict[str, Any] | None = None
    counters: Counters = field(default_factory=Counters)

    def start(self, now: float) -> None:
        """Enter the first phase of the before-cancel script."""
        self.script = self.lifecycle.before
        self.in_after_script = False
        self._enter(0, now)

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self.script[self.phase_index]

    @property
    def status(self) -> str:
        """The current internal status (newest vocabulary)."""
        return self.phase.status

    def _enter(self, index: int, at: float) -> None:
        self.phase_index = index
        self.phase_started = at
        self.phase_reads = 0
        status = self.phase.status
        if status == "Executing" and self.begin_at is None:
            self.begin_at = at
        if status in TERMINAL:
            if self.end_at is None:
                self.end_at = at
            if status == "Cancelled" and self.cancelled_at is None:
                self.cancelled_at = at

    def _is_last(self) -> bool:
        return self.phase_index >= len(self.script) - 1

    def settle(self, now: float) -> None:
        """Leave every seconds-based phase whose time has run out by ``now``."""
        while not self._is_last():
            seconds = self.phase.seconds
            if seconds is None or now - self.phase_started < seconds:
                return
            self._enter(self.phase_index + 1, self.phase_started + seconds)

    def count_read(self, now: float) -> None:
        """Record one Jobs_Get; a reads-based phase ends after its last read."""
        self.counters.reads += 1
        self.phase_reads += 1
        reads = self.phase.reads
        if reads is not None and not self._is_last() and self.phase_reads >= reads:
            self._enter(self.phase_index + 1, now)

    def request_cancel(self, now: float) -> bool:
        """Move into the after-cancel script; True for a repeated (idempotent) request.

        Raises JobAlreadyFinished when the job is terminal.
        """
        if self.status in TERMINAL:
            raise JobAlreadyFinished(self.status)
        self.counters.cancel_requests += 1
        if self.in_after_script:
            self.counters.repeated_cancels += 1
            return True
        self.script = self.lifecycle.after_when.get(self.status, self.lifecycle.after)
        self.in_after_script = True
        self.cancel_requested_at = now
        self._enter(0, now)
        return False

    def set_lifecycle(self, lifecycle: Lifecycle, now: float) -> None:
        """Restart the job on another lifecycle (control API)."""
        self.lifecycle = lifecycle
        self.begin_at = self.end_at = self.cancelled_at = self.cancel_requested_at = None
        self.start(now)

    def render(self, clock: SimulatorClock) -> dict[str, Any]:
        """JobDetails with the internal status (the caller maps it per api-version)."""
        body: dict[str, Any] = {"id": self.job_id}
        body.update(self.details)
        body["itemType"] = "Job"
        body["status"] = self.status
        body["creationTime"] = clock.iso(self.created_at)
        if self.begin_at is not None:
            body["beginExecutionTime"] = clock.iso(self.begin_at)
        if self.end_at is not None:
            body["endExecutionTime"] = clock.iso(self.end_at)
        if self.cancelled_at is not None:
            body["cancellationTime"] = clock.iso(self.cancelled_at)
        if self.cost_estimate is not None:
            body["costEstimate"] = dict(self.cost_estimate)
        if self.status == "Failed":
            body["errorData"] = {
                "code": "JobFailed",
                "message": "The job failed on the target (simulated).",
            }
        return body

    def state(self, clock: SimulatorClock) -> dict[str, Any]:
        """Internal view for the control API."""
        sub, rg, ws = self.coordinates
        return {
            "jobId": self.job_id,
            "subscriptionId": sub,
            "resourceGroupName": rg,
            "workspaceName": ws,
            "status": self.status,
            "deleted": self.deleted,
            "terminal": self.status in TERMINAL,
            "script": "afterCancel" if self.in_after_script else "beforeCancel",
            "phaseIndex": self.phase_index,
            "phaseReads": self.phase_reads,
            "phaseStarted": self.phase_started,
            "cancelRequestedAt": (
                clock.iso(self.cancel_requested_at)
                if self.cancel_requested_at is not None
                else None
            ),
            "counters": self.counters.to_json(),
            "lifecycle": self.lifecycle.to_json(),
            "details": self.render(clock),
        }


class JobStore:
    """Jobs by (subscription, resource group, workspace, job id); deleted ones are kept."""

    def __init__(self) -> None:
        """An empty store."""
        self._jobs: dict[JobKey, Job] = {}
        self._sequence = 0

    def clear(self) -> None:
        """Forget every job."""
        self._jobs.clear()

    def live(self, key: JobKey) -> Job | None:
        """The job at ``key`` unless it does not exist or was deleted."""
        job = self._jobs.get(key)
        return job if job is not None and not job.deleted else None

    def put(self, job: Job) -> None:
        """Add or replace a job (creation order is kept for stable listing)."""
        self._sequence += 1
        job.sequence = self._sequence
        self._jobs[job.key] = job

    def find(self, job_id: str) -> Job | None:
        """Any job (deleted too) with this id, whatever its workspace; newest first."""
        matches = [job for job in self._jobs.values() if job.key[3] == job_id.lower()]
        return max(matches, key=lambda job: job.sequence) if matches else None

    def in_workspace(self, subscription_id: str, resource_group: str, workspace: str) -> list[Job]:
        """Live jobs in one workspace."""
        prefix = job_key(subscription_id, resource_group, workspace, "")[:3]
        return [job for job in self._jobs.values() if job.key[:3] == prefix and not job.deleted]

    def all(self) -> list[Job]:
        """Every job, deleted ones included."""
        return list(self._jobs.values())
