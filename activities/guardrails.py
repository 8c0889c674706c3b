"""The guardrail sweep's own activity: Quotas_List of one workspace, reduced to what the
``quotaUtilizationOver`` condition reads. Job listings reuse ``list_jobs_page``."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.connection import client_for, failure, workspace_of
from dataplane.errors import QuantumError
from workflow.shapes import ActivityFailure

bp = df.Blueprint()
QUOTA_FIELDS = ("dimension", "providerId", "scope", "utilization", "limit", "period")


@bp.activity_trigger(input_name="call")
def list_quotas(call: dict[str, Any]) -> dict[str, Any] | ActivityFailure:
    """Quotas_List: ``{"ok", "quotas": [{dimension, providerId, utilization, limit, …}]}``."""
    try:
        quotas = client_for(call, "Quotas_List").list_quotas(workspace_of(call))
    except QuantumError as error:
        return failure(call, error)
    return {
        "ok": True,
        "quotas": [{k: q[k] for k in QUOTA_FIELDS if k in q} for q in quotas],
    }
