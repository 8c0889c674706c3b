"""Turning a workspace-scale cancel request into a checked ``cancel_jobs`` input.

The shared rules come from workflow.inputs (coordinates, api-version, token, endpoint, the
polling options), so one job and many are held to the same ones; this module adds the
selector (exactly one of ``jobIds``, ``filter``, ``sessionId``), ``dryRun``, ``maxJobs`` and
the rate and concurrency options. Every invalid field is reported at once, no value is echoed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dataplane import status as job_status
from dataplane.resources import GUID, WORKSPACE_PARAMETERS
from dataplane.sealing import seal
from workflow.defaults import BulkDefaults
from workflow.inputs import (
    InvalidInput,
    Problem,
    checked_api_version,
    checked_endpoint_of,
    checked_poll_options,
    checked_workspace,
    shown_name,
    token_problem,
)
from workflow.instance_ids import bulk_instance_id as bulk_instance_id
from workflow.schedule import BULK_CONCURRENCY_LIMITS, BULK_RATE_LIMITS
from workflow.shapes import BulkOptions, CancelJobsInput, JobFilter, Selector, Trigger

MAX_JOB_IDS = 10_000
DEFAULT_MAX_JOBS = 1_000
MAX_MAX_JOBS = 100_000
FIELDS = (
    *WORKSPACE_PARAMETERS,
    "apiVersion",
    "authToken",
    "location",
    "endpoint",
    "options",
    "jobIds",
    "filter",
    "sessionId",
    "closeSession",
    "dryRun",
    "maxJobs",
)
SELECTORS = ("jobIds", "filter", "sessionId")
FILTER_FIELDS = ("status", "target", "providerId", "namePrefix", "createdAfter", "createdBefore")
# A filter value goes into the service's filter text between quotes: keep it to plain names.
_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_PREFIX = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?")


def checked_bulk_input(
    body: object, settings: BulkDefaults, trigger: Trigger = "http"
) -> CancelJobsInput:
    """Check a POST /api/cancel-jobs body; raise InvalidInput naming every invalid field."""
    if not isinstance(body, dict):
        raise InvalidInput([Problem("body", "must be a JSON object")])
    problems = [
        Problem(shown_name(name), "is not a known field") for name in body if name not in FIELDS
    ]
    workspace = checked_workspace(body, problems)
    api_version = checked_api_version(body, settings, problems)
    token = body.get("authToken")
    if "authToken" in body:
        reason = token_problem(token, settings)
        if reason:
            problems.append(Problem("authToken", reason))
    endpoint = checked_endpoint_of(body, settings, problems)
    selector = _checked_selector(body, api_version, problems)
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        problems.append(Problem("dryRun", "must be true or false"))
    max_jobs = body.get("maxJobs", DEFAULT_MAX_JOBS)
    if (
        isinstance(max_jobs, bool)
        or not isinstance(max_jobs, int)
        or not (1 <= max_jobs <= MAX_MAX_JOBS)
    ):
        problems.append(Problem("maxJobs", f"must be a whole number from 1 to {MAX_MAX_JOBS:,}"))
    options = _checked_options(body.get("options"), settings, problems)
    if problems or workspace is None or endpoint is None or selector is None or options is None:
        raise InvalidInput(problems)
    request = CancelJobsInput(
        subscriptionId=workspace["subscriptionId"],
        resourceGroupName=workspace["resourceGroupName"],
        workspaceName=workspace["workspaceName"],
        apiVersion=api_version,
        endpoint=endpoint,
        options=options,
        selector=selector,
        dryRun=bool(dry_run),
        maxJobs=int(max_jobs),
        trigger=trigger,
    )
    if token is not None:
        assert settings.caller_token_key is not None
        request["sealedToken"] = seal(token, settings.caller_token_key, bulk_instance_id(request))
    return request


def _checked_selector(
    body: Mapping[str, Any], api_version: str, problems: list[Problem]
) -> Selector | None:
    given = [name for name in SELECTORS if name in body]
    if len(given) != 1:
        problems.append(
            Problem("selector", "give exactly one of jobIds, filter or sessionId")
            if given
            else Problem("selector", "is required: one of jobIds, filter or sessionId")
        )
        return None
    if "closeSession" in body and given != ["sessionId"]:
        problems.append(Problem("closeSession", "applies to the sessionId selector only"))
    kind = given[0]
    if kind == "jobIds":
        return _job_ids(body["jobIds"], problems)
    if kind == "sessionId":
        session, close = body["sessionId"], body.get("closeSession", True)
        bad = False
        if not isinstance(session, str) or not GUID.fullmatch(session):
            problems.append(Problem("sessionId", "must be a GUID"))
            bad = True
        if not isinstance(close, bool):
            problems.append(Problem("closeSession", "must be true or false"))
            bad = True
        if bad:
            return None
        return Selector(kind="sessionId", sessionId=session.lower(), closeSession=close)
    checked = _job_filter(body["filter"], api_version, problems)
    return None if checked is None else Selector(kind="filter", filter=checked)


def _job_ids(raw: object, problems: list[Problem]) -> Selector | None:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem("jobIds", "must be a non-empty list of job GUIDs"))
        return None
    if len(raw) > MAX_JOB_IDS:
        problems.append(Problem("jobIds", f"must hold at most {MAX_JOB_IDS:,} job ids"))
        return None
    bad = [
        i for i, value in enumerate(raw) if not isinstance(value, str) or not GUID.fullmatch(value)
    ]
    if bad:
        problems.append(Problem(f"jobIds[{bad[0]}]", f"must be a GUID ({len(bad)} invalid)"))
        return None
    folded = list(dict.fromkeys(value.lower() for value in raw))  # duplicates folded, order kept
    return Selector(kind="jobIds", jobIds=folded)


def _job_filter(raw: object, api_version: str, problems: list[Problem]) -> JobFilter | None:
    if not isinstance(raw, dict):
        problems.append(Problem("filter", "must be a JSON object"))
        return None
    before = len(problems)
    checked = JobFilter()
    for name, value in raw.items():
        if name not in FILTER_FIELDS:
            problems.append(Problem(f"filter.{shown_name(name)}", "is not a known filter field"))
        elif name in ("status", "target", "providerId"):
            values = _names(f"filter.{name}", value, problems)
            if values is not None:
                checked[name] = values  # type: ignore[literal-required]
        elif name == "namePrefix":
            if not isinstance(value, str) or not _PREFIX.fullmatch(value):
                problems.append(
                    Problem("filter.namePrefix", "must be 1-128 letters, digits, '.', '_' or '-'")
                )
            else:
                checked["namePrefix"] = value
        else:
            moment = _moment(f"filter.{name}", value, problems)
            if moment is not None:
                checked[name] = moment  # type: ignore[literal-required]
    statuses = checked.get("status")
    unfinished = job_status.unfinished_statuses(api_version)
    if statuses is not None:
        # A typo such as "Runing" would match nothing and look like an empty workspace.
        unknown = [s for s in statuses if s not in job_status.listed_statuses(api_version)]
        if unknown:
            problems.append(
                Problem(
                    "filter.status",
                    f"names a status the api-version does not list; valid: {', '.join(unfinished)}",
                )
            )
        elif any(job_status.is_terminal(s) for s in statuses):
            problems.append(
                Problem(
                    "filter.status",
                    f"may name only non-final statuses: {', '.join(unfinished)}",
                )
            )
    after, before_ = checked.get("createdAfter"), checked.get("createdBefore")
    if after and before_ and after > before_:
        problems.append(Problem("filter.createdBefore", "must not be before createdAfter"))
    if len(problems) > before:
        return None
    checked.setdefault("status", list(unfinished))
    return checked


def _names(name: str, value: object, problems: list[Problem]) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append(Problem(name, "must be a non-empty list of names"))
        return None
    if not all(_VALUE.fullmatch(v) for v in value):
        problems.append(Problem(name, "may hold only letters, digits, '.', '_' and '-'"))
        return None
    return list(dict.fromkeys(value))


def _moment(name: str, value: object, problems: list[Problem]) -> str | None:
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        problems.append(Problem(name, "must be an RFC 3339 date-time or a date (YYYY-MM-DD)"))
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        problems.append(Problem(name, "is not a real date"))
        return None
    return value


def _checked_options(
    raw: object, settings: BulkDefaults, problems: list[Problem]
) -> BulkOptions | None:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(Problem("options", "must be a JSON object"))
        return None
    own = {k: raw[k] for k in ("maxRequestsPerSecond", "maxConcurrentCancels") if k in raw}
    polling = checked_poll_options(
        {k: v for k, v in raw.items() if k not in own}, settings, problems
    )
    rate = own.get("maxRequestsPerSecond", settings.bulk_max_requests_per_second)
    concurrency = own.get("maxConcurrentCancels", settings.bulk_max_concurrency)
    bad = False
    low, high = BULK_RATE_LIMITS
    if (
        isinstance(rate, bool)
        or not isinstance(rate, (int, float))
        or not (low <= rate <= high and math.isfinite(rate))
    ):
        problems.append(
            Problem("options.maxRequestsPerSecond", f"must be from {low:g} to {high:g}")
        )
        bad = True
    low_c, high_c = BULK_CONCURRENCY_LIMITS
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not (low_c <= concurrency <= high_c)
    ):
        problems.append(
            Problem(
                "options.maxConcurrentCancels", f"must be a whole number from {low_c} to {high_c}"
            )
        )
        bad = True
    if polling is None or bad:
        return None
    return BulkOptions(
        **polling, maxRequestsPerSecond=float(rate), maxConcurrentCancels=int(concurrency)
    )
