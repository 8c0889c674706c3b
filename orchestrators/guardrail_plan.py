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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from dataplane.errors import ErrorInfo
from orchestrators.service_calls import ServiceCallFailed, retry_or_reason
from workflow.bulk_state import PAGE_SIZE
from workflow.filters import service_filter
from workflow.guardrail_policy import GuardrailPolicy, GuardrailRule
from workflow.guardrail_rules import filter_key, in_scope, needs_quotas, reasons
from workflow.shapes import GuardrailCancel, PollOptions

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
    #: Carried through continue-as-new: the listing so far, or the decisions of the acting
    #: generation; the sweep's start (its "now" for every condition) and the pacer's state.
    listing: NotRequired[dict[str, Any]]
    decided: NotRequired[dict[str, Any]]
    startedAt: NotRequired[str]
    nextAt: NotRequired[str | None]


class Request(TypedDict):
    """One listing or Quotas_List request of the sweep, and its attempt."""

    workspace: int
    activity: str
    payload: dict[str, Any]
    key: str
    attempt: int


@dataclass
class Listing:
    """What the sweep has learnt so far; plain JSON (``to_json``), as it travels through
    continue-as-new every few ticks so that no execution's history holds many pages.

    Pages are evaluated as they arrive (a workspace's pages wait in ``held`` until its quotas
    are known, when a rule reads them); only matches are kept, and of a rule past its
    maxJobsPerSweep only the first MAX_REPORTED_JOBS."""

    queue: list[Request]
    #: Per workspace: its quotas, or None while Quotas_List is awaited.
    quotas: list[list[dict[str, Any]] | None]
    held: list[list[dict[str, Any]]]
    errors: list[str | None]
    #: Matches by "workspace/jobId": {workspace, job, rules, reasons, shown}.
    found: dict[str, dict[str, Any]]
    #: Matches per workspace and rule (a workspace that fails is taken out of the counts).
    counts: list[dict[str, int]]
    #: Rules that went past their maxJobsPerSweep at any moment: they act on nothing.
    over: list[str]
    #: Per rule, how many kept matches its report shows (at most MAX_REPORTED_JOBS).
    reported: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def to_json(self) -> dict[str, Any]:
        """The state, for continue-as-new."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Listing:
        """The inverse of :meth:`to_json`."""
        return cls(**data)

    def matched(self, rule: str) -> int:
        """Matches of ``rule`` in every workspace that could be listed."""
        return sum(counts.get(rule, 0) for counts in self.counts)


def workspace_name(workspace: Mapping[str, Any]) -> dict[str, str]:
    """The three names of a workspace, as reports and events show it."""
    return {
        "subscriptionId": workspace["subscriptionId"],
        "resourceGroupName": workspace["resourceGroupName"],
        "workspaceName": workspace["workspaceName"],
    }


def start_listing(sweep: SweepInput) -> Listing:
    """Every first request: one listing per (workspace, distinct filter), and Quotas_List per
    workspace when a rule reads quotas (first, so that pages seldom wait for them)."""
    rules = sweep["policy"]["rules"]
    filters = {filter_key(rule["filter"]): rule["filter"] for rule in rules}
    count = len(sweep["workspaces"])
    quotas = needs_quotas(rules)
    listing = Listing(
        queue=[],
        quotas=[None if quotas else [] for _ in range(count)],
        held=[[] for _ in range(count)],
        errors=[None] * count,
        found={},
        counts=[{} for _ in range(count)],
        over=[],
    )
    for index, workspace in enumerate(sweep["workspaces"]):
        if quotas:
            listing.queue.append(_request(index, "list_quotas", dict(workspace)))
        for key, chosen in filters.items():
            query = {"filter": service_filter(chosen), "orderby": ORDER, "top": PAGE_SIZE}
            payload = {**workspace, **query, "guardrailFields": True}
            listing.queue.append(_request(index, "list_jobs_page", payload, key))
    return listing


def _request(workspace: int, activity: str, payload: dict[str, Any], key: str = "") -> Request:
    return Request(workspace=workspace, activity=activity, payload=payload, key=key, attempt=1)


def take(listing: Listing, most: int) -> list[Request]:
    """The next requests of a tick (at most ``most``)."""
    taken, listing.queue = listing.queue[:most], listing.queue[most:]
    return taken


def answered(
    sweep: SweepInput,
    listing: Listing,
    request: Request,
    answer: Mapping[str, Any],
    now: datetime,
) -> float:
    """Apply one answer; returns the wait a retry asks for (the whole sweep pauses)."""
    listing.requests += 1
    index = request["workspace"]
    if listing.errors[index] is not None:
        return 0.0
    if not answer["ok"]:
        return _failed(listing, request, answer["error"])
    if request["activity"] == "list_quotas":
        listing.quotas[index] = list(answer["quotas"])
        held, listing.held[index] = listing.held[index], []
        for page in held:
            _evaluate(sweep, listing, index, page["key"], page["jobs"], now)
        return 0.0
    if answer.get("nextLink"):
        kept = {
            k: v for k, v in request["payload"].items() if k not in ("filter", "orderby", "top")
        }
        payload = {**kept, "nextLink": answer["nextLink"]}
        listing.queue.append(_request(index, request["activity"], payload, request["key"]))
    if listing.quotas[index] is None:
        listing.held[index].append({"key": request["key"], "jobs": answer["jobs"]})
    else:
        _evaluate(sweep, listing, index, request["key"], answer["jobs"], now)
    return 0.0


def _failed(listing: Listing, request: Request, error: ErrorInfo) -> float:
    wait = retry_or_reason(error, request["attempt"])
    if not isinstance(wait, str):
        listing.queue.insert(0, {**request, "attempt": request["attempt"] + 1})
        return wait
    # Failed for good: the workspace is reported and left out whole.
    index = request["workspace"]
    name = "/".join(workspace_name(request["payload"]).values())
    failure = ServiceCallFailed(error, request["attempt"], wait)
    listing.errors[index] = f"workspace {name}: {failure}"
    listing.queue = [r for r in listing.queue if r["workspace"] != index]
    listing.held[index] = []
    listing.counts[index] = {}
    listing.found = {k: m for k, m in listing.found.items() if m["workspace"] != index}
    listing.reported = {}
    for match in listing.found.values():
        for name in match["shown"]:
            listing.reported[name] = listing.reported.get(name, 0) + 1
    return 0.0


def _evaluate(
    sweep: SweepInput,
    listing: Listing,
    index: int,
    key: str,
    jobs: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Every rule of this listing's filter on one page of jobs."""
    quotas = listing.quotas[index]
    for rule in sweep["policy"]["rules"]:
        if filter_key(rule["filter"]) != key:
            continue
        name = rule["name"]
        for job in jobs:
            slot = f"{index}/{str(job['jobId']).lower()}"
            known = listing.found.get(slot)
            if known is not None and name in known["rules"]:
                continue  # listed again (pages shift as jobs end)
            if not in_scope(job, rule):
                continue
            why = reasons(job, rule["when"], now, quotas)
            if why is None:
                continue
            counts = listing.counts[index]
            counts[name] = counts.get(name, 0) + 1
            shown = listing.reported.get(name, 0)
            over = name in listing.over or listing.matched(name) > rule["maxJobsPerSweep"]
            if not over or shown < MAX_REPORTED_JOBS:
                match = listing.found.setdefault(
                    slot,
                    {
                        "workspace": index,
                        "job": {"jobId": job["jobId"], "status": job.get("status")},
                        "rules": [],
                        "reasons": [],
                        "shown": [],
                    },
                )
                match["rules"].append(name)
                match["reasons"].append(f"{name}: {', '.join(why)}")
                if shown < MAX_REPORTED_JOBS:
                    match["shown"].append(name)
                    listing.reported[name] = shown + 1
            if over and name not in listing.over:
                _went_over(listing, name)


def _went_over(listing: Listing, name: str) -> None:
    # The rule will act on nothing: keep only what some report or acting rule still needs.
    listing.over.append(name)
    listing.found = {
        slot: match
        for slot, match in listing.found.items()
        if match["shown"] or any(rule not in listing.over for rule in match["rules"])
    }


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


def decide(sweep: SweepInput, listing: Listing) -> Decisions:
    """What the finished listing decides: a job is acted on once, cancel over alert, and a
    rule that went past its maxJobsPerSweep (all workspaces together) acts on none of its
    jobs. Only what is acted on or reported is kept."""
    rules = sweep["policy"]["rules"]
    matched = {rule["name"]: listing.matched(rule["name"]) for rule in rules}
    too_many = set(listing.over) | {
        rule["name"] for rule in rules if matched[rule["name"]] > rule["maxJobsPerSweep"]
    }
    by_name = {rule["name"]: rule for rule in rules}
    kept: list[Match] = []
    for found in listing.found.values():
        match = Match(found["workspace"], found["job"], found["rules"], found["reasons"])
        acting = [by_name[name] for name in match.rules if name not in too_many]
        for action in ("cancel", "alert"):
            chosen = [rule for rule in acting if rule["action"] == action]
            if chosen:
                match.action, match.by = action, chosen[0]["name"]  # type: ignore[assignment]
                break
        if found["shown"] or match.action != "none":
            kept.append(match)
    where = {
        rule["name"]: [i for i, counts in enumerate(listing.counts) if counts.get(rule["name"])]
        for rule in rules
    }
    return Decisions(kept, matched, too_many, list(listing.errors), listing.requests, where)


def cancel_start(sweep: SweepInput, match: Match) -> GuardrailCancel:
    """A match's cancellation as a workflow request names it, and the rule acting on it (the
    start activity builds the run's input with the triggers' own single-job rules)."""
    workspace = sweep["workspaces"][match.workspace]
    job: dict[str, object] = {
        **workspace_name(workspace),
        "jobId": str(match.job["jobId"]),
        "apiVersion": workspace["apiVersion"],
        "endpoint": workspace["endpoint"],
        "options": dict(sweep["options"]),
    }
    return GuardrailCancel(job=job, rule=str(match.by))


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
