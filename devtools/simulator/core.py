"""The simulator's state behind one lock, and the in-process control API over it."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

from . import lifecycles, routing
from .clock import SimulatorClock
from .errors import ApiError
from .faults import FaultEngine, FaultRule
from .jobs import SERVER_FIELDS, Job, JobStore, job_key
from .lifecycles import Lifecycle, PresetParams
from .options import Options, updated
from .requestlog import RequestLog
from .sessions import Session, SessionStore

DEFAULT_SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555"
DEFAULT_RESOURCE_GROUP = "rg-quantum"
DEFAULT_WORKSPACE = "ws-quantum"

DEFAULT_REDIRECT_BASE = "https://redirect-target.invalid"
"""Where the redirect switch points by default: another host that never resolves."""


def default_details(job_id: str) -> dict[str, Any]:
    """Plausible user fields for a job seeded without any."""
    return {
        "name": f"simulated-job-{job_id[:8]}",
        "providerId": "quantinuum",
        "target": "quantinuum.sim.h2-1e",
        "itemType": "Job",
        "jobType": "QuantumComputing",
        "containerUri": f"https://simstorage.blob.core.windows.net/job-{job_id.lower()}",
        "inputDataFormat": "qir.v1",
        "outputDataFormat": "microsoft.quantum-results.v2",
    }


def _params(base: PresetParams, overrides: dict[str, Any] | None) -> PresetParams:
    if not overrides:
        return base
    names = {
        "executingSeconds": "executing_seconds",
        "slowCancelSeconds": "slow_cancel_seconds",
        "staleReads": "stale_reads",
        "unknownStatusReads": "unknown_status_reads",
        "unknownStatus": "unknown_status",
    }
    fields: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in names:
            raise ValueError(f"unknown lifecycle parameter {name!r}")
        fields[names[name]] = value
    return replace(base, **fields)


def _backdate(job: Job, ages: dict[str, float]) -> None:
    unknown = set(ages) - {"creationTime", "beginExecutionTime"}
    if unknown:
        raise ValueError(f"unknown ages: {', '.join(sorted(unknown))}")
    now = job.created_at
    if "creationTime" in ages:
        job.created_at = now - float(ages["creationTime"])
    if "beginExecutionTime" in ages and job.begin_at is not None:
        job.begin_at = now - float(ages["beginExecutionTime"])


class Simulator:
    """Jobs, faults, the request log, options and the clock; every change holds ``lock``."""

    def __init__(
        self,
        options: Options | None = None,
        manual_clock: bool = False,
        seeds: list[dict[str, Any]] | None = None,
    ) -> None:
        """State with ``options`` as the defaults that :meth:`reset` returns to."""
        self.lock = threading.RLock()
        self.initial_options = options or Options()
        self.options = self.initial_options
        self.clock = SimulatorClock(manual=manual_clock)
        self._manual_default = manual_clock
        self.store = JobStore()
        self.sessions = SessionStore()
        self.faults = FaultEngine(self.options.random_seed)
        self.log = RequestLog()
        self.redirects: dict[str, str | None] = {}
        #: Quotas_List answers by workspace (see set_quotas).
        self.quotas: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        #: Outcome events received on the local Event Grid topic (see events.py), every
        #: publish attempt (status, ids), and statuses to answer the next publishes with.
        self.events: list[dict[str, Any]] = []
        self.event_attempts: list[dict[str, Any]] = []
        self.events_refused: list[int] = []
        #: Tokens handed out by the managed-identity endpoint (see identity.py).
        self.identity_requests = 0
        #: The client_id each token request named (None: the system-assigned identity).
        self.identity_client_ids: list[str | None] = []
        self.base_url = "http://127.0.0.1"
        self._seeds = list(seeds or [])
        self._apply_seeds()

    def _apply_seeds(self) -> None:
        for seed in self._seeds:
            self.seed_job(**seed)

    # -- lifecycle of the state -------------------------------------------------------------
    def reset(self) -> None:
        """Jobs, faults, log, redirects and options back to the start-up defaults."""
        with self.lock:
            self.store.clear()
            self.sessions.clear()
            self.faults.clear()
            self.log.clear()
            self.redirects.clear()
            self.quotas.clear()
            self.events.clear()
            self.event_attempts.clear()
            self.events_refused.clear()
            self.identity_requests = 0
            self.identity_client_ids.clear()
            self.options = self.initial_options
            self.faults.reseed(self.options.random_seed)
            if self._manual_default:
                self.clock.set_manual()
            else:
                self.clock.set_real()
            self._apply_seeds()

    # -- options -------------------------------------------------------------------------
    def set_options(self, **changes: Any) -> Options:
        """Change options (camelCase or snake_case names); returns the new options."""
        with self.lock:
            self.options = updated(self.options, changes)
            if "random_seed" in changes or "randomSeed" in changes:
                self.faults.reseed(self.options.random_seed)
            return self.options

    # -- jobs ----------------------------------------------------------------------------
    def make_lifecycle(self, spec: Any, params: dict[str, Any] | None = None) -> Lifecycle:
        """Resolve a preset name or custom script with the current options' durations."""
        return lifecycles.resolve(
            spec if spec is not None else self.options.default_lifecycle,
            _params(self.options.preset_params(), params),
        )

    def seed_job(
        self,
        job_id: str | None = None,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        workspace: str = DEFAULT_WORKSPACE,
        lifecycle: Any = None,
        lifecycle_params: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        ages: dict[str, float] | None = None,
        cost_estimate: float | None = None,
    ) -> str:
        """Create (or replace) a job directly, bypassing the wire; returns its id.

        ``lifecycle`` is a preset name, a list of phases or a script object (see
        :func:`lifecycles.resolve`); ``details`` adds or overrides JobDetails fields.
        ``ages`` backdates server-owned times by seconds: ``{"creationTime": 7200,
        "beginExecutionTime": 7260}`` (a job seeded Executing began that long ago);
        ``cost_estimate`` sets ``costEstimate.estimatedTotal`` (USD).
        """
        job_id = job_id or str(uuid.uuid4())
        route = routing.Route(routing.ITEM, subscription_id, resource_group, workspace, job_id)
        try:
            routing.validate(route)
        except ApiError as exc:
            raise ValueError(exc.message) from exc
        with self.lock:
            life = self.make_lifecycle(lifecycle, lifecycle_params)
            fields = default_details(job_id)
            fields.update({k: v for k, v in (details or {}).items() if k not in SERVER_FIELDS})
            job = self.add_job(job_id, (subscription_id, resource_group, workspace), fields, life)
            _backdate(job, ages or {})
            if cost_estimate is not None:
                job.cost_estimate = {"currencyCode": "USD", "estimatedTotal": cost_estimate}
        return job_id

    def set_quotas(
        self,
        quotas: list[dict[str, Any]],
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> None:
        """What Quotas_List answers for the workspace: Quota objects (dimension, providerId,
        utilization, limit; scope, holds and period are filled in when left out)."""
        key = (subscription_id.lower(), resource_group.lower(), workspace.lower())
        filled = [
            {"scope": "Workspace", "holds": 0.0, "period": "Monthly", **quota} for quota in quotas
        ]
        with self.lock:
            self.quotas[key] = filled

    def refuse_events(self, *statuses: int) -> None:
        """Answer the next publishes to the local topic with these statuses (503, 401, …)."""
        with self.lock:
            self.events_refused.extend(statuses)

    def received_events(self) -> list[dict[str, Any]]:
        """The outcome events the local topic accepted, in order."""
        with self.lock:
            return [dict(e) for e in self.events]

    def quotas_of(self, subscription_id: str, resource_group: str, workspace: str) -> list[Any]:
        """The workspace's quotas (none unless set)."""
        with self.lock:
            key = (subscription_id.lower(), resource_group.lower(), workspace.lower())
            return [dict(q) for q in self.quotas.get(key, [])]

    def add_job(
        self,
        job_id: str,
        coordinates: tuple[str, str, str],
        details: dict[str, Any],
        life: Lifecycle,
    ) -> Job:
        """Insert a new job in its first phase (caller holds the lock)."""
        now = self.clock.now()
        job = Job(job_key(*coordinates, job_id), job_id, coordinates, details, life, now)
        job.start(now)
        self.store.put(job)
        return job

    def seed_session(
        self,
        session_id: str | None = None,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        workspace: str = DEFAULT_WORKSPACE,
        details: dict[str, Any] | None = None,
    ) -> str:
        """Open a session directly (its jobs name it in ``details={"sessionId": ...}``)."""
        session_id = session_id or str(uuid.uuid4())
        with self.lock:
            self.sessions.put(
                Session(
                    job_key(subscription_id, resource_group, workspace, session_id),
                    session_id,
                    dict(details or {}),
                    self.clock.now(),
                )
            )
        return session_id

    def session_state(self, session_id: str, **workspace: str) -> dict[str, Any]:
        """Whether a session was closed and how many close requests it got; KeyError if none."""
        coordinates = {
            "subscription": workspace.get("subscription_id", DEFAULT_SUBSCRIPTION_ID),
            "group": workspace.get("resource_group", DEFAULT_RESOURCE_GROUP),
            "workspace": workspace.get("workspace", DEFAULT_WORKSPACE),
        }
        with self.lock:
            session = self.sessions.get(session_id=session_id, **coordinates)
            if session is None:
                raise KeyError(session_id)
            return {"closed": session.closed, "closeRequests": session.close_requests}

    def set_lifecycle(
        self, job_id: str, lifecycle: Any, lifecycle_params: dict[str, Any] | None = None
    ) -> None:
        """Restart an existing job on another lifecycle; KeyError when unknown."""
        with self.lock:
            job = self.store.find(job_id)
            if job is None:
                raise KeyError(job_id)
            job.set_lifecycle(self.make_lifecycle(lifecycle, lifecycle_params), self.clock.now())

    def job_state(self, job_id: str) -> dict[str, Any]:
        """Internal state of a job (deleted ones too): counters, status, lifecycle, details.

        KeyError when no job with that id was ever created.
        """
        with self.lock:
            job = self.store.find(job_id)
            if job is None:
                raise KeyError(job_id)
            job.settle(self.clock.now())
            return job.state(self.clock)

    def job_states(self) -> list[dict[str, Any]]:
        """Internal state of every job."""
        with self.lock:
            now = self.clock.now()
            result = []
            for job in self.store.all():
                job.settle(now)
                result.append(job.state(self.clock))
            return result

    # -- faults, redirects, log ----------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Append a fault rule (JSON form, see README); returns it with its id."""
        with self.lock:
            added: FaultRule = self.faults.add(rule)
            return added.to_json()

    def fault_rules(self) -> list[dict[str, Any]]:
        """The fault rules in matching order, with how often each applied."""
        with self.lock:
            return [rule.to_json() for rule in self.faults.rules()]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self.lock:
            self.faults.clear()

    def set_redirect(self, job_id: str, location: str | None = None) -> None:
        """Make Jobs_Get for ``job_id`` answer 307 to ``location`` (default: another host)."""
        with self.lock:
            self.redirects[job_id.lower()] = location

    def clear_redirect(self, job_id: str | None = None) -> None:
        """Stop redirecting one job (or every job when ``job_id`` is None)."""
        with self.lock:
            if job_id is None:
                self.redirects.clear()
            else:
                self.redirects.pop(job_id.lower(), None)

    def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first (never contains a token)."""
        return self.log.entries()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.log.clear()
