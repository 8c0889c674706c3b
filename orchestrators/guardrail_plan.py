"""What a guardrail sweep lists, what it decides from the listings, and what it reports.

Pure bookkeeping, no Durable context: ``orchestrators.enforce_guardrails`` sends the requests
and carries out the decisions. Each workspace is listed once per distinct rule filter (its
unfinished jobs, in the service's own filter grammar, following ``nextLink``), plus one
Quotas_List when a rule needs it. A workspace whose listing fails for good is reported and
left out whole (a partial listing could undercount a rule's matches), the others go on.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from dataplane.errors import ErrorInfo
from orchestrators.bulk_pages import PAGE_SIZE, give_up_reason, retry_wait
from orchestrators.service_calls import ServiceCallFailed
from workflow.filters import service_filter
from workflow.guardrail_policy import GuardrailPolicy, GuardrailRule
from workflow.guardrail_rules import filter_key, in_scope, needs_quotas, reasons
from workflow.inputs import instance_id_for
from workflow.shapes import CancelJobInput, PollOptions

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

ORDER = "CreationTime asc"
#: Job entries reported per rule (the sweep's output stays small whatever the workspace).
MAX_REPORTED_JOBS = 100
JobAction = Literal["cancel", "alert", "none"]


class SweepWorkspace(TypedDict):
    """A policy workspace with its endpoint and api-version resolved by the starter."""

    subscriptionId: str
    resourceGroupName: str
    workspaceName: str
    apiVersion: str
    endpoint: str


class SweepInput(TypedDict):
    """The ``enforce_guardrails`` input: a checked policy and how to reach its workspaces."""

    policy: GuardrailPolicy
    workspaces: list[SweepWorkspace]
    dryRun: bool
    maxRequestsPerSecond: float
    #: The polling options of the cancellations a sweep starts.
    options: PollOptions
    #: Carried into the acting generation (continue-as-new): the decisions and the start.
    decided: NotRequired[dict[str, Any]]
    startedAt: NotRequired[str]
    nextAt: NotRequired[str | None]


@dataclass
class Request:
    """One listing or Quotas_List request of the sweep, and its attempt."""

    workspace: int
    activity: str
    payload: dict[str, Any]
    key: str = ""
    attempt: int = 1


@dataclass
class Listing:
    """What the sweep learnt of every workspace."""

    jobs: list[dict[str, list[dict[str, Any]]]]
    quotas: list[list[dict[str, Any]]]
    errors: list[str | None]
    requests: int = 0
    queue: list[Request] = field(default_factory=list)


def workspace_name(workspace: Mapping[str, Any]) -> dict[str, str]:
    """The three names of a workspace, as reports and events show it."""
    return {
        "subscriptionId": workspace["subscriptionId"],
        "resourceGroupName": workspace["resourceGroupName"],
        "workspaceName": workspace["workspaceName"],
    }


def start_listing(sweep: SweepInput) -> Listing:
    """Every first request: one listing per (workspace, distinct filter), and Quotas_List per
    workspace when a rule reads quotas."""
    rules = sweep["policy"]["rules"]
    filters = {filter_key(rule["filter"]): rule["filter"] for rule in rules}
    count = len(sweep["workspaces"])
    listing = Listing(
        jobs=[{key: [] for key in filters} for _ in range(count)],
        quotas=[[] for _ in range(count)],
        errors=[None] * count,
    )
    for index, workspace in enumerate(sweep["workspaces"]):
        if needs_quotas(rules):
            listing.queue.append(Request(index, "list_quotas", dict(workspace)))
        for key, chosen in filters.items():
            query = {"filter": service_filter(chosen), "orderby": ORDER, "top": PAGE_SIZE}
            payload = {**workspace, **query, "guardrailFields": True}
            listing.queue.append(Request(index, "list_jobs_page", payload, key))
    return listing


def take(listing: Listing, most: int) -> list[Request]:
    """The next requests of a tick (at most ``most``)."""
    taken, listing.queue = listing.queue[:most], listing.queue[most:]
    return taken


def answered(listing: Listing, request: Request, answer: Mapping[str, Any]) -> float:
    """Apply one answer; returns the wait a retry asks for (the whole sweep pauses)."""
    listing.requests += 1
    index = request.workspace
    if listing.errors[index] is not None:
        return 0.0
    if answer["ok"]:
        if request.activity == "list_quotas":
            listing.quotas[index] = list(answer["quotas"])
        else:
            listing.jobs[index][request.key].extend(answer["jobs"])
            if answer.get("nextLink"):
                payload = {
                    **{
                        k: v
                        for k, v in request.payload.items()
                        if k not in ("filter", "orderby", "top")
                    },
                    "nextLink": answer["nextLink"],
                }
                listing.queue.append(Request(index, request.activity, payload, request.key))
        return 0.0
    error: ErrorInfo = answer["error"]
    wait = retry_wait(error, request.attempt)
    if wait is not None:
        request.attempt += 1
        listing.queue.insert(0, request)
        return wait
    name = "/".join(workspace_name(request.payload).values())
    listing.errors[index] = (
        f"workspace {name}: {ServiceCallFailed(error, request.attempt, give_up_reason(error))}"
    )
    listing.queue = [r for r in listing.queue if r.workspace != index]
    return 0.0


@dataclass
class Match:
    """One job of one workspace that one or more rules select."""

    workspace: int
    job: dict[str, Any]
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    action: JobAction = "none"
    #: The rule that acts on the job (the first acting rule with the winning action).
    by: str | None = None


@dataclass
class Decisions:
    """What the listings decided: the matches to act on or report (never more than each
    rule's maxJobsPerSweep and MAX_REPORTED_JOBS), each rule's count, the rules that matched
    too many jobs, and what listing found (errors by workspace, requests sent)."""

    matches: list[Match]
    matched: dict[str, int]
    too_many: set[str]
    errors: list[str | None]
    requests: int
    #: Every workspace (by index) where each rule matched a job, for its tooManyJobs alert.
    where: dict[str, list[int]] = field(default_factory=dict)

    def acts(self) -> bool:
        """Whether anything is to be cancelled or alerted (or refused as too many)."""
        return bool(self.too_many) or any(m.action != "none" for m in self.matches)

    def to_json(self) -> dict[str, Any]:
        """For continue-as-new: the acting phase starts with a short history."""
        return {
            "matches": [
                {
                    "workspace": m.workspace,
                    "job": m.job,
                    "rules": m.rules,
                    "reasons": m.reasons,
                    "action": m.action,
                    "by": m.by,
                }
                for m in self.matches
            ],
            "matched": self.matched,
            "tooMany": sorted(self.too_many),
            "errors": self.errors,
            "requests": self.requests,
            "where": self.where,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decisions:
        """The inverse of :meth:`to_json`."""
        return cls(
            [Match(**m) for m in data["matches"]],
            dict(data["matched"]),
            set(data["tooMany"]),
            list(data["errors"]),
            int(data["requests"]),
            {name: list(indexes) for name, indexes in data["where"].items()},
        )


def decide(sweep: SweepInput, listing: Listing, now: datetime) -> Decisions:
    """Evaluate every rule on the listings; a job is acted on once, cancel over alert, and a
    rule past its maxJobsPerSweep (all workspaces together) acts on none of its jobs."""
    rules = sweep["policy"]["rules"]
    found: dict[tuple[int, str], Match] = {}
    matched = {rule["name"]: 0 for rule in rules}
    for index in range(len(sweep["workspaces"])):
        if listing.errors[index] is not None:
            continue
        for rule in rules:
            seen: set[str] = set()
            for job in listing.jobs[index][filter_key(rule["filter"])]:
                job_id = str(job["jobId"]).lower()
                if job_id in seen or not in_scope(job, rule):
                    continue
                seen.add(job_id)
                why = reasons(job, rule["when"], now, listing.quotas[index])
                if why is None:
                    continue
                matched[rule["name"]] += 1
                summary = {"jobId": job["jobId"], "status": job.get("status")}
                match = found.setdefault((index, job_id), Match(index, summary))
                match.rules.append(rule["name"])
                match.reasons.append(f"{rule['name']}: {', '.join(why)}")
    too_many = {rule["name"] for rule in rules if matched[rule["name"]] > rule["maxJobsPerSweep"]}
    by_name = {rule["name"]: rule for rule in rules}
    for match in found.values():
        acting = [by_name[name] for name in match.rules if name not in too_many]
        for action in ("cancel", "alert"):
            chosen = [rule for rule in acting if rule["action"] == action]
            if chosen:
                match.action, match.by = action, chosen[0]["name"]  # type: ignore[assignment]
                break
    # Keep what is acted on (bounded by maxJobsPerSweep) and what the report shows (the first
    # MAX_REPORTED_JOBS of each rule): a rule that matches a whole workspace costs no memory.
    shown: dict[str, int] = dict.fromkeys(matched, 0)
    kept = []
    for match in found.values():
        reported = [name for name in match.rules if shown[name] < MAX_REPORTED_JOBS]
        for name in reported:
            shown[name] += 1
        if reported or match.action != "none":
            kept.append(match)
    where = {
        name: sorted({m.workspace for m in found.values() if name in m.rules}) for name in matched
    }
    return Decisions(kept, matched, too_many, list(listing.errors), listing.requests, where)


def cancel_request(sweep: SweepInput, match: Match) -> tuple[str, CancelJobInput]:
    """The single-job cancellation of a match, under the job's usual instance id."""
    workspace = sweep["workspaces"][match.workspace]
    request = CancelJobInput(
        subscriptionId=workspace["subscriptionId"],
        resourceGroupName=workspace["resourceGroupName"],
        workspaceName=workspace["workspaceName"],
        jobId=str(match.job["jobId"]),
        apiVersion=workspace["apiVersion"],
        endpoint=workspace["endpoint"],
        options=sweep["options"],
        trigger="guardrail",
        rule=str(match.by),
    )
    return instance_id_for(request), request


def report(
    sweep: SweepInput,
    decisions: Decisions,
    results: Mapping[tuple[int, str], Mapping[str, Any]],
) -> dict[str, Any]:
    """Per rule ``{name, action, matched, acted, outcome, jobs}`` (at most 100 jobs each)
    and per workspace whether it could be listed."""
    rules_out: list[dict[str, Any]] = []
    for rule in sweep["policy"]["rules"]:
        name = rule["name"]
        mine = [m for m in decisions.matches if name in m.rules]
        acted = [m for m in mine if m.by == name]
        entries = [_entry(sweep, m, results.get((m.workspace, _id(m)))) for m in mine]
        rules_out.append(
            {
                "name": name,
                "action": rule["action"],
                "matched": decisions.matched[name],
                "acted": 0 if sweep["dryRun"] else len(acted),
                "outcome": _outcome(sweep, rule, decisions),
                "jobs": entries[:MAX_REPORTED_JOBS],
            }
        )
    return {
        "dryRun": sweep["dryRun"],
        "rules": rules_out,
        "workspaces": [
            {**workspace_name(w), "ok": decisions.errors[i] is None}
            | ({"error": decisions.errors[i]} if decisions.errors[i] else {})
            for i, w in enumerate(sweep["workspaces"])
        ],
        "requests": decisions.requests,
    }


def _id(match: Match) -> str:
    return str(match.job["jobId"]).lower()


def _outcome(sweep: SweepInput, rule: GuardrailRule, decisions: Decisions) -> str:
    if rule["name"] in decisions.too_many:
        return "tooManyJobs"
    if not decisions.matched[rule["name"]]:
        return "noMatch"
    return "dryRun" if sweep["dryRun"] else "acted"


def _entry(sweep: SweepInput, match: Match, result: Mapping[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "jobId": match.job["jobId"],
        "workspace": workspace_name(sweep["workspaces"][match.workspace]),
        "status": match.job.get("status"),
        "rules": match.rules,
        "reason": "; ".join(match.reasons),
        "action": match.action,
    }
    if result is not None:
        entry.update(result)
    return entry
