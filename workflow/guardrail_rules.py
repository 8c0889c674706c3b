"""Which listed jobs a guardrail rule selects, and why, from the listing alone.

Pure and deterministic (the sweep's ``now`` is the orchestration's clock): no extra read per
job. A job is in scope only when it is neither final nor already CancellationRequested or
Cancelling (someone is stopping it), and is in one of the statuses the rule's filter lists.
Every condition a rule gives must hold; each one that holds adds its reason
(``running 143 min > 120``). Boundaries are strict: "over 120 minutes" is not 120 minutes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dataplane import status as job_status
from workflow.guardrail_policy import Conditions, GuardrailRule, QuotaCondition
from workflow.shapes import JobFilter
from workflow.times import parse_iso

QUEUED_STATUSES = frozenset({job_status.QUEUED, job_status.WAITING})
BEING_STOPPED = frozenset({job_status.CANCELLATION_REQUESTED, job_status.CANCELLING})


def filter_key(chosen: JobFilter) -> str:
    """One listing per distinct filter: rules with equal filters share it."""
    return json.dumps(chosen, sort_keys=True)


def needs_quotas(rules: list[GuardrailRule]) -> bool:
    """Whether some rule reads Quotas_List."""
    return any("quotaUtilizationOver" in rule["when"] for rule in rules)


def in_scope(job: Mapping[str, Any], rule: GuardrailRule) -> bool:
    """The job may be acted on by ``rule``: unfinished, not being stopped, status filtered."""
    status = job.get("status")
    if job_status.is_terminal(status) or status in BEING_STOPPED:
        return False
    return status in rule["filter"].get("status", ())


def reasons(
    job: Mapping[str, Any],
    when: Conditions,
    now: datetime,
    quotas: Sequence[Mapping[str, Any]] | None,
) -> list[str] | None:
    """Why every condition of ``when`` holds for ``job`` (None when one does not)."""
    answers = [
        *_timed(job, when, now, quotas),
        _cost(job, when, now, quotas),
        _quota(job, when, now, quotas),
    ]
    if any(answer is False for answer in answers):
        return None
    return [answer for answer in answers if isinstance(answer, str)]


def _minutes_since(text: object, now: datetime) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return (now - parse_iso(text)).total_seconds() / 60.0
    except ValueError:
        return None


# Each check answers None (the condition is not given), False (it does not hold) or its reason.
#: The time conditions: setting, the statuses it applies to, the moment it counts from, verb.
_TIMED = (
    ("runningMinutesOver", frozenset({job_status.EXECUTING}), "beginExecutionTime", "running"),
    ("queuedMinutesOver", QUEUED_STATUSES, "creationTime", "queued"),
)


def _timed(
    job: Mapping[str, Any], when: Conditions, now: datetime, _q: object
) -> list[str | bool | None]:
    answers: list[str | bool | None] = []
    for name, statuses, since, verb in _TIMED:
        limit = when.get(name)
        if limit is None:
            continue
        minutes = _minutes_since(job.get(since), now)
        if job.get("status") not in statuses or minutes is None or minutes <= limit:  # type: ignore[operator]
            answers.append(False)
        else:
            answers.append(f"{verb} {math.floor(minutes)} min > {limit:g}")
    return answers


def _cost(
    job: Mapping[str, Any], when: Conditions, _now: datetime, _q: object
) -> str | bool | None:
    limit = when.get("costEstimateOver")
    if limit is None:
        return None
    cost = job.get("costEstimate")
    # A job without a cost estimate never matches.
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost <= limit:
        return False
    return f"cost estimate {cost:g} > {limit:g}"


def _quota(
    job: Mapping[str, Any],
    when: Conditions,
    _now: datetime,
    quotas: Sequence[Mapping[str, Any]] | None,
) -> str | bool | None:
    condition = when.get("quotaUtilizationOver")
    if condition is None:
        return None
    provider = condition["providerId"].lower()
    if str(job.get("providerId") or "").lower() != provider:
        return False  # only the quota's own provider's jobs are in scope
    used = quota_fraction(quotas or [], condition)
    if used is None or used < condition["fraction"]:
        return False
    return (
        f"quota {condition['dimension']} of {condition['providerId']} at "
        f"{used:.2f} >= {condition['fraction']:g}"
    )


def quota_fraction(quotas: Sequence[Mapping[str, Any]], condition: QuotaCondition) -> float | None:
    """The highest ``utilization / limit`` Quotas_List shows for the dimension and provider."""
    fractions = [
        float(q["utilization"]) / float(q["limit"])
        for q in quotas
        if str(q.get("dimension", "")).lower() == condition["dimension"].lower()
        and str(q.get("providerId", "")).lower() == condition["providerId"].lower()
        and isinstance(q.get("utilization"), (int, float))
        and isinstance(q.get("limit"), (int, float))
        and q["limit"] > 0
    ]
    return max(fractions, default=None)
