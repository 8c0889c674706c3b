"""The guardrail policy (PRODUCT.md section 12): its shape, and the one check that finds every
problem in it.

Pure: no app settings are read and nothing is opened except by :func:`read_policy_file`, so the
operator CLI can check a policy offline (``quantum-cancel guardrails check FILE``) with the very
rules the app applies. The public entry points:

* :func:`check_policy_text` — policy JSON text → :class:`PolicyCheck`;
* :func:`check_policy_document` — an already parsed JSON value → :class:`PolicyCheck`;
* :func:`read_policy_file` — a path → :class:`PolicyCheck` (a missing or unreadable file, or
  one that is not JSON, is a problem like any other);
* :func:`check_policy_setting` — the ``GUARDRAIL_POLICY`` value (JSON, or ``@relative/path``
  inside the app's folder) → :class:`PolicyCheck`, or None when guardrails are off.

A check holds either the policy (every default filled in) or every problem, each with its JSON
path (``rules[1].when.runningMinutesOver``) and reason; never both. No value is ever repeated in
a problem, only names.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

from dataplane.endpoint import endpoint_problem, location_problem
from dataplane.resources import WORKSPACE_PARAMETERS, normalize_path_parameter, parameter_problems
from dataplane.versions import DEFAULT_API_VERSION, api_version_problem
from workflow.bulk_inputs import _job_filter
from workflow.inputs import Problem, shown_name
from workflow.shapes import JobFilter

MAX_WORKSPACES = 50
MAX_RULES = 100
DEFAULT_MAX_JOBS_PER_SWEEP = 100
MAX_JOBS_PER_SWEEP = 1_000
RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
#: The largest policy text read (a policy of 100 rules and 50 workspaces is far smaller).
MAX_POLICY_BYTES = 256 * 1024

Action = Literal["cancel", "alert"]
ACTIONS: tuple[Action, ...] = ("cancel", "alert")
WORKSPACE_FIELDS = (*WORKSPACE_PARAMETERS, "endpoint", "location", "apiVersion")
RULE_FIELDS = ("name", "filter", "when", "action", "maxJobsPerSweep")
MINUTE_CONDITIONS = ("runningMinutesOver", "queuedMinutesOver")
CONDITIONS = (*MINUTE_CONDITIONS, "costEstimateOver", "quotaUtilizationOver")
QUOTA_FIELDS = ("dimension", "providerId", "fraction")


class PolicyWorkspace(TypedDict, total=False):
    """A workspace the policy watches (endpoint, location and apiVersion optional)."""

    subscriptionId: str
    resourceGroupName: str
    workspaceName: str
    endpoint: str
    location: str
    apiVersion: str


class QuotaCondition(TypedDict):
    """``quotaUtilizationOver``: Quotas_List shows utilization / limit ≥ fraction."""

    dimension: str
    providerId: str
    fraction: float


class Conditions(TypedDict, total=False):
    """``when``: every condition given must hold."""

    runningMinutesOver: float
    queuedMinutesOver: float
    costEstimateOver: float
    quotaUtilizationOver: QuotaCondition


class GuardrailRule(TypedDict):
    """One rule, defaults filled in (``filter.status`` included, as the bulk path fills it)."""

    name: str
    filter: JobFilter
    when: Conditions
    action: Action
    maxJobsPerSweep: int


class GuardrailPolicy(TypedDict):
    """A checked policy."""

    workspaces: list[PolicyWorkspace]
    rules: list[GuardrailRule]


@dataclass(frozen=True)
class PolicyCheck:
    """The outcome of a check: the policy, or every problem (``policy`` is then None)."""

    policy: GuardrailPolicy | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the policy may be enforced."""
        return self.policy is not None

    def problem_list(self) -> list[dict[str, str]]:
        """The problems as JSON (``{"path", "reason"}``), for documents and the CLI."""
        return [{"path": p.name, "reason": p.reason} for p in self.problems]


def check_policy_text(text: str | bytes) -> PolicyCheck:
    """Check a policy given as JSON text."""
    if len(text) > MAX_POLICY_BYTES:
        return _failed("policy", f"must be at most {MAX_POLICY_BYTES // 1024} KiB of JSON")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _failed("policy", "is not valid JSON")
    return check_policy_document(document)


def read_policy_file(path: str | Path) -> PolicyCheck:
    """Read and check a policy file; a missing or unreadable file is reported as a problem."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return _failed("policy", "names a file that does not exist")
    except OSError:
        return _failed("policy", "names a file that cannot be read")
    return check_policy_text(raw)


def check_policy_setting(value: str | None, app_dir: Path) -> PolicyCheck | None:
    """Check the ``GUARDRAIL_POLICY`` setting: None (guardrails off) when it is empty; JSON
    text; or ``@relative/path.json``, a file inside ``app_dir`` (deployed with the app)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.startswith("@"):
        return check_policy_text(text)
    relative = text[1:].strip()
    root = app_dir.resolve()
    target = (root / relative).resolve()
    if not relative or Path(relative).is_absolute() or not target.is_relative_to(root):
        return _failed("policy", "must name a file inside the app's folder: @relative/path.json")
    return read_policy_file(target)


def check_policy_document(document: object) -> PolicyCheck:
    """Check a parsed policy; every problem is listed with its JSON path."""
    problems: list[Problem] = []
    if not isinstance(document, dict):
        return _failed("policy", "must be a JSON object with workspaces and rules")
    for name in document:
        if name not in ("workspaces", "rules"):
            problems.append(Problem(shown_name(name), "is not a known field"))
    workspaces = _listed(document, "workspaces", MAX_WORKSPACES, problems)
    rules = _listed(document, "rules", MAX_RULES, problems)
    checked_workspaces = [
        _workspace(f"workspaces[{i}]", w, problems) for i, w in enumerate(workspaces)
    ]
    _no_repeats(checked_workspaces, problems)
    # A rule's filter is listed in every workspace: its statuses must be ones each workspace's
    # api-version lists (the app's default api-version where a workspace names none).
    versions = sorted(
        {w.get("apiVersion", DEFAULT_API_VERSION) for w in checked_workspaces if w is not None}
    ) or [DEFAULT_API_VERSION]
    checked_rules = [_rule(f"rules[{i}]", r, versions, problems) for i, r in enumerate(rules)]
    seen: dict[str, int] = {}
    for index, rule in enumerate(checked_rules):
        if rule is None:
            continue
        first = seen.setdefault(rule["name"].lower(), index)
        if first != index:
            problems.append(Problem(f"rules[{index}].name", f"repeats the name of rules[{first}]"))
    if problems:
        return PolicyCheck(None, problems)
    return PolicyCheck(
        GuardrailPolicy(
            workspaces=[w for w in checked_workspaces if w is not None],
            rules=[r for r in checked_rules if r is not None],
        )
    )


def _failed(path: str, reason: str) -> PolicyCheck:
    return PolicyCheck(None, [Problem(path, reason)])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _listed(
    document: Mapping[str, Any], name: str, most: int, problems: list[Problem]
) -> list[Any]:
    value = document.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        problems.append(Problem(name, f"must be a list of 1 to {most} objects"))
        return []
    return value


def _unknown(
    path: str, value: Mapping[str, Any], known: tuple[str, ...], problems: list[Problem]
) -> None:
    problems.extend(
        Problem(f"{path}.{shown_name(name)}", "is not a known field")
        for name in value
        if name not in known
    )


def _object(
    path: str, value: object, known: tuple[str, ...], problems: list[Problem]
) -> dict[str, Any] | None:
    """``value`` when it is an object (its unknown fields reported), else None, reported."""
    if not isinstance(value, dict):
        problems.append(Problem(path, "must be a JSON object"))
        return None
    _unknown(path, value, known, problems)
    return value


def _workspace(path: str, raw: object, problems: list[Problem]) -> PolicyWorkspace | None:
    before = len(problems)
    value = _object(path, raw, WORKSPACE_FIELDS, problems)
    if value is None:
        return None
    found = parameter_problems(value, WORKSPACE_PARAMETERS)
    problems.extend(Problem(f"{path}.{name}", reason) for name, reason in found.items())
    if "endpoint" in value and "location" in value:
        problems.append(Problem(f"{path}.location", "give endpoint or location, not both"))
    # The loopback simulator is the app's own decision (QUANTUM_ALLOW_LOOPBACK), checked again
    # when a sweep starts; here only its form is held.
    endpoint = value.get("endpoint")
    reason = endpoint_problem(endpoint, allow_loopback=True) if "endpoint" in value else None
    if reason:
        problems.append(Problem(f"{path}.endpoint", reason))
    reason = location_problem(value.get("location")) if "location" in value else None
    if reason:
        problems.append(Problem(f"{path}.location", reason))
    reason = api_version_problem(value.get("apiVersion")) if "apiVersion" in value else None
    if reason:
        problems.append(Problem(f"{path}.apiVersion", reason))
    if len(problems) > before:
        return None
    checked = PolicyWorkspace(
        subscriptionId=normalize_path_parameter("subscriptionId", value["subscriptionId"]),
        resourceGroupName=str(value["resourceGroupName"]),
        workspaceName=str(value["workspaceName"]),
    )
    for name in ("endpoint", "location", "apiVersion"):
        if name in value:
            checked[name] = str(value[name])  # type: ignore[literal-required]
    return checked


def _no_repeats(workspaces: list[PolicyWorkspace | None], problems: list[Problem]) -> None:
    seen: dict[tuple[str, ...], int] = {}
    for index, workspace in enumerate(workspaces):
        if workspace is None:
            continue
        key = tuple(workspace[n].lower() for n in WORKSPACE_PARAMETERS)  # type: ignore[literal-required]
        first = seen.setdefault(key, index)
        if first != index:
            problems.append(Problem(f"workspaces[{index}]", f"repeats workspaces[{first}]"))


def _rule(
    path: str, raw: object, versions: list[str], problems: list[Problem]
) -> GuardrailRule | None:
    before = len(problems)
    value = _object(path, raw, RULE_FIELDS, problems)
    if value is None:
        return None
    name = value.get("name")
    if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
        problems.append(
            Problem(
                f"{path}.name",
                "must be 1-64 letters, digits, '.', '_' or '-' (a letter or digit first)",
            )
        )
    job_filter = _filter(path, value.get("filter", {}), versions, problems)
    when = _conditions(f"{path}.when", value.get("when"), problems)
    action = value.get("action")
    if action not in ACTIONS:
        problems.append(Problem(f"{path}.action", "must be cancel or alert"))
    most = value.get("maxJobsPerSweep", DEFAULT_MAX_JOBS_PER_SWEEP)
    if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_JOBS_PER_SWEEP:
        problems.append(
            Problem(
                f"{path}.maxJobsPerSweep",
                f"must be a whole number from 1 to {MAX_JOBS_PER_SWEEP:,}",
            )
        )
    if len(problems) > before or job_filter is None or when is None:
        return None
    return GuardrailRule(
        name=str(name),
        filter=job_filter,
        when=when,
        action="cancel" if action == "cancel" else "alert",
        maxJobsPerSweep=int(most),
    )


def _filter(
    path: str, value: object, versions: list[str], problems: list[Problem]
) -> JobFilter | None:
    # The bulk path's own filter rules (fields, plain names, no final status, statuses the
    # api-version lists, dates), with each problem's name moved under this rule.
    found: list[Problem] = []
    checked = [_job_filter(value, version, found) for version in versions]
    problems.extend(Problem(f"{path}.{p.name}", p.reason) for p in dict.fromkeys(found))
    return None if found else checked[0]


def _conditions(path: str, value: object, problems: list[Problem]) -> Conditions | None:
    if not isinstance(value, dict) or not any(name in value for name in CONDITIONS):
        problems.append(
            Problem(path, f"must be an object with at least one of {', '.join(CONDITIONS)}")
        )
        return None
    before = len(problems)
    _unknown(path, value, CONDITIONS, problems)
    checked = Conditions()
    for name in (*MINUTE_CONDITIONS, "costEstimateOver"):
        if name in value:
            number = _positive(f"{path}.{name}", value[name], problems)
            if number is not None:
                checked[name] = number  # type: ignore[literal-required]
    if "quotaUtilizationOver" in value:
        quota = _quota(f"{path}.quotaUtilizationOver", value["quotaUtilizationOver"], problems)
        if quota is not None:
            checked["quotaUtilizationOver"] = quota
    return checked if len(problems) == before else None


def _positive(path: str, value: object, problems: list[Problem]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(Problem(path, "must be a number > 0"))
        return None
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        problems.append(Problem(path, "must be a number > 0"))
        return None
    return number


def _quota(path: str, value: object, problems: list[Problem]) -> QuotaCondition | None:
    if not isinstance(value, dict):
        problems.append(Problem(path, "must be an object with dimension, providerId and fraction"))
        return None
    before = len(problems)
    _unknown(path, value, QUOTA_FIELDS, problems)
    for name in ("dimension", "providerId"):
        text = value.get(name)
        if not isinstance(text, str) or not _PLAIN_NAME.fullmatch(text):
            problems.append(
                Problem(f"{path}.{name}", "is required: a name of letters, digits, '.', '_' or '-'")
            )
    fraction = value.get("fraction")
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not (math.isfinite(fraction) and 0 < fraction <= 1)
    ):
        problems.append(Problem(f"{path}.fraction", "is required: a number > 0 and at most 1"))
    if len(problems) > before:
        return None
    return QuotaCondition(
        dimension=value["dimension"],
        providerId=value["providerId"],
        fraction=float(fraction),  # type: ignore[arg-type]
    )
