"""Checks of a workspace-scale run against the simulator's own records (its request log and
its job states), shared by the bulk tests, the bulk end-to-end test and the bulk crash test,
and planted against in tests/test_bulk_plants.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from bench.workspace_scale import busiest_second
from devtools.simulator import SimulatorServer

PAGE = 100


def cancelled_at(simulator: SimulatorServer, jobs: Sequence[str]) -> dict[str, float | None]:
    """When each job reached Cancelled, by the simulator's clock (None: it has not)."""
    for job in jobs:
        simulator.job_state(job)  # brings time-based lifecycles up to now
    with simulator.lock:
        return {job: simulator.store.find(job).cancelled_at for job in jobs}  # type: ignore[union-attr]


def _page_listing_skip(entry: dict[str, Any]) -> int | None:
    """The skip of a listing that re-reads a page (no status in its filter), else None."""
    if entry["operation"] not in ("Jobs_List", "SessionsJobs_List"):
        return None
    query = parse_qs(entry["query"] or "")
    if "State" in " ".join(query.get("filter", [])):
        return None  # a count, not a read of a page
    return int(query.get("skip", ["0"])[0])


def unconfirmed(
    entries: list[dict[str, Any]], simulator: SimulatorServer, jobs: Sequence[str]
) -> list[str]:
    """The jobs that no read could have shown final: neither a Jobs_Get of the job nor a
    listing of its page (``jobs`` in listing order, a hundred a page) came after the moment
    the simulator says it reached Cancelled. Empty when every job was confirmed by a read."""
    moments = cancelled_at(simulator, jobs)
    gets: dict[str, float] = {}
    listings: dict[int, float] = {}
    for entry in entries:
        if entry["operation"] == "Jobs_Get" and entry["status"] == 200:
            gets[entry["jobId"]] = max(gets.get(entry["jobId"], -1.0), entry["clock"])
        skip = _page_listing_skip(entry)
        if skip is not None and entry["status"] == 200:
            listings[skip] = max(listings.get(skip, -1.0), entry["clock"])
    missing = []
    for index, job in enumerate(jobs):
        moment = moments[job]
        last_read = max(gets.get(job, -1.0), listings.get(index // PAGE * PAGE, -1.0))
        if moment is None or last_read < moment:
            missing.append(job)
    return missing


def assert_confirmed_by_reads(
    entries: list[dict[str, Any]], simulator: SimulatorServer, jobs: Sequence[str]
) -> None:
    """Every job was seen final by a read made after it ended (confirmation happened)."""
    missing = unconfirmed(entries, simulator, jobs)
    assert not missing, f"{len(missing)} of {len(jobs)} jobs never read after they ended"


def assert_rate_cap(entries: list[dict[str, Any]], cap: int, clock: str = "clock") -> None:
    """No one-second window of the log holds more than ``cap`` requests (a run whose every
    request lands in one second is caught too: the busiest window is then all of them)."""
    assert entries, "no requests were logged"
    busiest = busiest_second(entries, clock)
    assert busiest <= cap, f"{busiest} requests in one second, cap {cap}"


def assert_no_delete(
    entries: list[dict[str, Any]], simulator: SimulatorServer, jobs: Sequence[str]
) -> None:
    """No DELETE went out (with a new api-version it is Jobs_Delete) and no job was deleted."""
    deletes = [e for e in entries if e["method"] == "DELETE"]
    assert not deletes, f"{len(deletes)} DELETE requests"
    assert not [j for j in jobs if simulator.job_state(j)["deleted"]], "jobs were deleted"
