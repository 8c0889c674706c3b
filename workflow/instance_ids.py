"""Every instance id the app makes, next to the pattern that recognises it.

Ids are derived from what a run is about, so the same request finds the same run, and the
HTTP routes look up only ids that match these patterns: no caller text reaches the Durable
management API's URL.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from dataplane.resources import GUID, PATH_PARAMETER_RULES, WORKSPACE_PARAMETERS
from workflow.shapes import JobCoordinates

COORDINATES = tuple(PATH_PARAMETER_RULES)  # subscriptionId, resourceGroupName, workspaceName, jobId

#: One job's run (instance_id_for).
INSTANCE_ID = re.compile(rf"cancel-{GUID.pattern}-[0-9a-f]{{16}}")
#: A workspace-scale run (bulk_instance_id).
BULK_INSTANCE_ID = re.compile(r"cancel-jobs-[0-9a-f]{32}")
#: Guardrail sweeps: real sweeps share one id, so two never run at once; previews another.
SWEEP_INSTANCE_ID = "guardrails-sweep"
DRY_RUN_INSTANCE_ID = "guardrails-dry-run"
SWEEP_INSTANCE_IDS = re.compile(f"{SWEEP_INSTANCE_ID}|{DRY_RUN_INSTANCE_ID}")


def instance_id_for(job: JobCoordinates) -> str:
    """The orchestration instance id of a job: the same job always gets the same id.

    Subscription and job ids are GUIDs and Azure resource group and workspace names are
    case-insensitive, so all four are lower-cased before hashing: ``RG`` and ``rg`` name one job.
    The job id is kept readable in front so an operator can find the run in the task hub.
    """
    key = "/".join(job[name].lower() for name in COORDINATES)  # type: ignore[literal-required]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"cancel-{job['jobId'].lower()}-{digest}"


def bulk_instance_id(request: Mapping[str, Any]) -> str:
    """One bulk run per (workspace, selector, dryRun): the same request finds the same run."""
    key = json.dumps(
        {
            "workspace": [request[name].lower() for name in WORKSPACE_PARAMETERS],
            "selector": request["selector"],
            "dryRun": request["dryRun"],
        },
        sort_keys=True,
    )
    return f"cancel-jobs-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def page_instance_id(run_id: str, page: int) -> str:
    """The instance id that keeps page ``page`` of bulk run ``run_id``'s results."""
    return f"{run_id}-p{page:05d}"
