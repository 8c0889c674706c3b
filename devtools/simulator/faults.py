"""Fault rules: which requests they hit, and what they do to the answer.

Rules are matched in order; the first rule that matches a request applies. A rule applies
before the operation takes effect (a faulted cancel does not cancel) unless ``after`` is
true: then the operation happens and only its answer is faulted.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

OPERATIONS = frozenset(
    {
        "Jobs_Get",
        "Jobs_Cancel",
        "Jobs_Delete",
        "Jobs_List",
        "Jobs_Create",
        "Sessions_Get",
        "Sessions_Open",
        "Sessions_Close",
        "SessionsJobs_List",
        "Quotas_List",
        "any",
    }
)
EFFECTS = frozenset(
    {"httpError", "delay", "drop", "reset", "malformedJson", "missingStatus", "statusOverride"}
)
MAX_DELAY_SECONDS = 30.0
"""A slow-response fault never sleeps longer than this, so a typo cannot hang a test run."""


@dataclass
class FaultRule:
    """One rule; see the module docstring and the README for the JSON form."""

    rule_id: str
    operation: str = "any"
    job_id: str | None = None
    count: int | None = None
    probability: float | None = None
    after: bool = False
    effect: str = "httpError"
    http_status: int = 503
    retry_after: int | str | None = None
    retry_after_format: str = "seconds"
    delay_seconds: float = 0.0
    job_status: str | None = None
    applied: int = 0

    def matches(self, operation: str | None, job_id: str | None, after: bool) -> bool:
        """Whether this rule targets the request (ignoring count and probability)."""
        if self.after != after or (self.count is not None and self.count <= 0):
            return False
        if self.operation != "any" and self.operation != operation:
            return False
        return self.job_id is None or (job_id is not None and self.job_id.lower() == job_id.lower())

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API shows it."""
        return {
            "id": self.rule_id,
            "operation": self.operation,
            "jobId": self.job_id,
            "count": self.count,
            "probability": self.probability,
            "after": self.after,
            "effect": self.effect,
            "httpStatus": self.http_status,
            "retryAfter": self.retry_after,
            "retryAfterFormat": self.retry_after_format,
            "delaySeconds": self.delay_seconds,
            "jobStatus": self.job_status,
            "applied": self.applied,
        }


def _number(raw: dict[str, Any], name: str, low: float, high: float | None) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if value < low or (high is not None and value > high):
        raise ValueError(
            f"{name} must be between {low} and {high}"
            if high is not None
            else f"{name} must be >= {low}"
        )
    return float(value)


_KNOWN_FIELDS = {
    "operation",
    "jobId",
    "count",
    "probability",
    "after",
    "effect",
    "httpStatus",
    "retryAfter",
    "retryAfterFormat",
    "delaySeconds",
    "jobStatus",
}


def parse_rule(raw: Any, rule_id: str) -> FaultRule:
    """Validate the JSON form of a rule; raises ValueError naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a fault rule is a JSON object")
    unknown = set(raw) - _KNOWN_FIELDS
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    operation = raw.get("operation", "any")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(sorted(OPERATIONS))}")
    effect = raw.get("effect")
    if effect is None:
        # A rule with only a delay is a slow response; otherwise an HTTP error.
        effect = "delay" if "delaySeconds" in raw and "httpStatus" not in raw else "httpError"
    if effect not in EFFECTS:
        raise ValueError(f"effect must be one of {', '.join(sorted(EFFECTS))}")
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be an integer >= 1")
    probability = _number(raw, "probability", 0.0, 1.0)
    if count is not None and probability is not None:
        raise ValueError("give count or probability, not both")
    status = raw.get("httpStatus", 503)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("httpStatus must be an HTTP error status (400-599)")
    retry_after = raw.get("retryAfter")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, (int, str))
    ):
        raise ValueError("retryAfter is whole seconds, or a string sent verbatim")
    if isinstance(retry_after, int) and retry_after < 0:
        raise ValueError("retryAfter must be >= 0")
    fmt = raw.get("retryAfterFormat", "seconds")
    if fmt not in ("seconds", "http-date"):
        raise ValueError("retryAfterFormat must be 'seconds' or 'http-date'")
    delay = _number(raw, "delaySeconds", 0.0, MAX_DELAY_SECONDS) or 0.0
    job_status = raw.get("jobStatus")
    if effect == "statusOverride" and (not isinstance(job_status, str) or not job_status):
        raise ValueError("statusOverride needs jobStatus (the status value to report)")
    job_id = raw.get("jobId")
    if job_id is not None and not isinstance(job_id, str):
        raise ValueError("jobId must be a string")
    after = raw.get("after", False)
    if not isinstance(after, bool):
        raise ValueError("after must be true or false")
    return FaultRule(
        rule_id,
        operation,
        job_id,
        count,
        probability,
        after,
        effect,
        status,
        retry_after,
        fmt,
        delay,
        job_status,
    )


class FaultEngine:
    """The ordered rule list and the seedable random source for probabilistic rules."""

    def __init__(self, seed: int | None = None) -> None:
        """No rules; ``seed`` makes probabilistic rules repeatable."""
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the random source."""
        self._random = random.Random(seed)

    def add(self, raw: Any) -> FaultRule:
        """Validate and append a rule."""
        rule = parse_rule(raw, f"fault-{next(self._ids)}")
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """The rules in matching order."""
        return list(self._rules)

    def take(
        self,
        operation: str | None,
        job_id: str | None,
        after: bool,
        usable: frozenset[str] = EFFECTS,
    ) -> FaultRule | None:
        """The first rule that fires for this request, consuming one of its count.

        ``usable`` lists the effects the request can carry (a body override needs a body).
        """
        for rule in self._rules:
            if rule.effect not in usable or not rule.matches(operation, job_id, after):
                continue
            if rule.probability is not None and self._random.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
            rule.applied += 1
            return rule
        return None
