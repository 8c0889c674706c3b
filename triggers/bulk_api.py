"""The workspace-scale cancel over HTTP: start one (POST), read its status document (GET),
and page through its per-job results (GET …/jobs), which live in its pages' outputs."""

from __future__ import annotations

import re
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from triggers.answers import (
    invalid_request,
    json_answer,
    not_found,
    start_from_request,
    status_answer,
)
from triggers.starting import BULK_ORCHESTRATION
from workflow.bulk_inputs import checked_bulk_input
from workflow.inputs import Problem
from workflow.instance_ids import BULK_INSTANCE_ID, bulk_instance_id, page_instance_id

bp = df.Blueprint()

MAX_RESULTS_PAGE = 100
#: 10,000 job ids (the contract's most) take about 400 KB of JSON; the single-job route keeps
#: its 64 KiB.
MAX_BULK_BODY_BYTES = 1024 * 1024


@bp.route(route="cancel-jobs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_cancel_jobs(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Check the request, then start (or find) the workspace-scale cancel it names."""
    return await start_from_request(
        req,
        client,
        BULK_ORCHESTRATION,
        checked_bulk_input,
        bulk_instance_id,
        max_body_bytes=MAX_BULK_BODY_BYTES,
    )


@bp.route(route="cancel-jobs/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_cancel_jobs_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The status document of one bulk run (progress holds counts only), or 404."""
    instance_id = req.route_params.get("instanceId", "")
    return await status_answer(client, instance_id, BULK_INSTANCE_ID, "workspace-scale cancel")


@bp.route(
    route="cancel-jobs/{instanceId}/jobs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
@bp.durable_client_input(client_name="client")
async def get_cancel_jobs_results(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Per-job results, ``skip``/``top`` (≤ 100) at a time, from the finished pages.

    ``nextLink`` also carries ``from=P.Q`` (page P begins at result Q), so that following the
    links reads each page once instead of every page before the window again.
    """
    instance_id = req.route_params.get("instanceId", "")
    problems: list[Problem] = []
    skip = _whole(req.params.get("skip"), "skip", 0, 10**7, 0, problems)
    top = _whole(req.params.get("top"), "top", 1, MAX_RESULTS_PAGE, MAX_RESULTS_PAGE, problems)
    page, seen = _cursor(req.params.get("from"), skip, problems)
    if problems:
        return invalid_request(problems)
    run = await client.get_status(instance_id) if BULK_INSTANCE_ID.fullmatch(instance_id) else None
    if not run:
        return not_found("no workspace-scale cancel with this instance id")
    value: list[dict[str, Any]] = []
    more = False
    # The results are the finished pages' outputs, in page order (a page holds at most
    # PAGE_SIZE of them); reading stops as soon as the window is full.
    while not more:
        status = await client.get_status(page_instance_id(instance_id, page))
        if not status or not isinstance(status.output, dict):
            break
        results = status.output.get("results", [])
        if len(value) >= top and results:
            more = True
            break
        for result in results[max(0, skip - seen) :]:
            if len(value) < top:
                value.append(result)
            else:
                more = True
                break
        if not more:
            seen += len(results)
            page += 1
    body: dict[str, Any] = {"value": value}
    if more:
        base = req.url.split("?", 1)[0]
        body["nextLink"] = f"{base}?skip={skip + len(value)}&top={top}&from={page}.{seen}"
    return json_answer(200, body)


def _cursor(raw: str | None, skip: int, problems: list[Problem]) -> tuple[int, int]:
    """``from=P.Q`` of a nextLink: start at page P, whose first result is number Q."""
    if raw is None:
        return 0, 0
    found = re.fullmatch(r"(\d{1,6})\.(\d{1,8})", raw)
    if found is None or int(found.group(2)) > skip:
        problems.append(Problem("from", "must be the page.offset a nextLink gave, at most skip"))
        return 0, 0
    return int(found.group(1)), int(found.group(2))


def _whole(
    raw: str | None, name: str, low: int, high: int, default: int, problems: list[Problem]
) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        problems.append(Problem(name, f"must be a whole number from {low} to {high}"))
        return default
    return int(raw)
