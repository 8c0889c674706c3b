"""Reading an Azure Monitor alert in the common alert schema: only the fields this app acts on.

The schema (Learn, Azure Monitor → Alerts → "Common alert schema" and "Sample alert payloads",
the test-action definitions) is ``{"schemaId": "azureMonitorCommonAlertSchema", "data":
{"essentials": {...}, "alertContext": {...}, "customProperties": ...}}``. In ``essentials``
the app reads ``alertId`` (the alert instance: duplicate deliveries start one run),
``alertRule`` (which action to take), ``monitorCondition`` (``Fired`` or ``Resolved``),
``alertTargetIDs`` (the resources the alert is about) and ``firedDateTime``.

Cost Management budget alerts are a variant of the same schema with
``monitoringService: "CostAlerts"``: there ``alertRule``, ``monitorCondition`` and
``alertTargetIDs`` are null, a budget only ever fires, and its name is
``alertContext.AlertData.BudgetName`` — that name is the rule name the action is looked up by.

Every field the app reads is checked; a body that is not the schema raises InvalidInput naming
each field that is wrong, under its JSON path. Nothing else of the alert is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from workflow.inputs import InvalidInput, Problem

SCHEMA_ID = "azureMonitorCommonAlertSchema"
COST_ALERTS = "CostAlerts"
MAX_ALERT_ID = 1024
MAX_RULE_NAME = 260
MAX_TARGETS = 100
Condition = Literal["Fired", "Resolved"]
_ESSENTIALS = "data.essentials"
_MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class MonitorAlert:
    """What the app reads from one alert notification."""

    alert_id: str
    rule: str
    condition: Condition
    targets: tuple[str, ...]
    fired: datetime
    #: ``monitoringService`` (e.g. ``Platform``, ``Log Analytics``, ``CostAlerts``), for the logs.
    service: str


def read_alert(body: object) -> MonitorAlert:
    """Check ``body`` against the common alert schema; raise InvalidInput naming every problem."""
    if not isinstance(body, dict):
        raise InvalidInput([Problem("body", "must be a JSON object")])
    problems: list[Problem] = []
    if body.get("schemaId") != SCHEMA_ID:
        problems.append(
            Problem("schemaId", f"must be {SCHEMA_ID} (enable the common alert schema)")
        )
    data = body.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        problems.append(Problem(_ESSENTIALS, "must be a JSON object"))
        raise InvalidInput(problems)
    service = essentials.get("monitoringService")
    is_budget = service == COST_ALERTS
    alert_id = _text(essentials, "alertId", MAX_ALERT_ID, problems)
    fired = _moment(essentials.get("firedDateTime"), problems)
    if is_budget:
        # A budget alert has no rule, condition or target: it fires, under its budget's name.
        context = data.get("alertContext") if isinstance(data, dict) else None
        alert_data = context.get("AlertData") if isinstance(context, dict) else None
        rule = _text(
            alert_data if isinstance(alert_data, dict) else {},
            "BudgetName",
            MAX_RULE_NAME,
            problems,
            where="data.alertContext.AlertData",
        )
        condition: str | None = "Fired"
        targets: tuple[str, ...] = ()
    else:
        rule = _text(essentials, "alertRule", MAX_RULE_NAME, problems)
        condition = essentials.get("monitorCondition")
        if condition not in ("Fired", "Resolved"):
            problems.append(Problem(f"{_ESSENTIALS}.monitorCondition", "must be Fired or Resolved"))
        targets = _targets(essentials.get("alertTargetIDs"), problems)
    if problems:
        raise InvalidInput(problems)
    assert alert_id is not None and rule is not None and fired is not None
    return MonitorAlert(
        alert_id=alert_id,
        rule=rule,
        condition="Fired" if condition == "Fired" else "Resolved",
        targets=targets,
        fired=fired,
        service=service if isinstance(service, str) else "",
    )


def _text(
    fields: Mapping[str, Any],
    name: str,
    longest: int,
    problems: list[Problem],
    where: str = _ESSENTIALS,
) -> str | None:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        problems.append(Problem(f"{where}.{name}", f"must be a string of 1-{longest} characters"))
        return None
    return value


def _moment(value: object, problems: list[Problem]) -> datetime | None:
    match = _MOMENT.fullmatch(value) if isinstance(value, str) else None
    if match:
        # Azure Monitor writes up to seven fraction digits; Python reads six (and before 3.11
        # only exactly three or six), so the fraction is cut or padded to six.
        seconds, fraction, offset = match.groups()
        zone = "+00:00" if offset in (None, "Z") else offset
        micros = ((fraction or ".")[1:] + "000000")[:6]
        try:
            return datetime.fromisoformat(f"{seconds}.{micros}{zone}")
        except ValueError:
            pass
    problems.append(Problem(f"{_ESSENTIALS}.firedDateTime", "must be an ISO 8601 UTC date-time"))
    return None


def _targets(value: object, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_TARGETS
        or not all(isinstance(v, str) for v in value)
    ):
        problems.append(
            Problem(
                f"{_ESSENTIALS}.alertTargetIDs",
                f"must be a list of at most {MAX_TARGETS} resource IDs",
            )
        )
        return ()
    return tuple(value)
