"""Part 4: the workspace-scale cancel (``cancel_jobs``), at scale and side by side.

Every job here reaches Cancelled 60 s after its cancel (``CancellationRequested`` for 1 s, then
``Cancelling``), as an operator's jobs on a hardware target might.

* **Scale** (real time): N jobs in a simulator with a real clock, one POST /api/cancel-jobs to
  a ``devtools.host`` subprocess with the default options (rate cap 20 requests a second),
  once with a filter and once naming the N jobs by id (``jobIds``).
  Every figure comes from a record made outside the app: requests and the busiest one-second
  window from the simulator's request log, the run time from the status documents, the peak
  RSS from the host's /proc, the longest history from the engine's counters that the host
  writes when it stops, the outcomes from the simulator's own job states and from the results
  route paged to the end.
* **Side by side** (virtual time, one simulator with a manual clock, the same lifecycle for
  every job): this app's ``cancel_jobs``; one ``cancel_running_job`` run per job, all at once;
  and a loop of the real ``azure-quantum`` SDK as a user script would write it (``list_jobs``,
  then per job ``cancel_job`` and ``wait_until_completed``, one job after the other), its
  sleeps turned into clock advances (``devtools.official_sdk.virtual_waits``). No round trip is
  modelled here: a cancellation's 60 s dominates, and the app's requests of one batch go out
  together.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import requests

from appsettings import load_settings
from devtools import official_sdk
from devtools.host.app import STATS_FILE
from devtools.launch import start_host, wait_for
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from devtools.virtual_run import Harness
from orchestrators.bulk_run import batch_size
from orchestrators.cancel_jobs import BATCHES_PER_GENERATION
from workflow.bulk_inputs import checked_bulk_input
from workflow.bulk_state import MAX_OPEN_PAGES
from workflow.instance_ids import bulk_instance_id, instance_id_for

from .environment import BENCH_TOKEN

SCALE_JOBS = 10_000
QUICK_SCALE_JOBS = 1_000
SIDE_BY_SIDE_JOBS = 100
QUICK_SIDE_BY_SIDE_JOBS = 20
TARGET = "ionq.qpu.aria-1"
CANCEL_SECONDS = 60.0
LIFECYCLE = {
    "before": [["Executing", {}]],
    "after": [
        ["CancellationRequested", {"seconds": 1}],
        ["Cancelling", {"seconds": CANCEL_SECONDS - 1}],
        ["Cancelled", {}],
    ],
}
#: The issue's targets: requests per job, and run time against requests / rate + 60 s.
MAX_REQUESTS_PER_JOB = 1.1
RUN_TIME_FACTOR = 1.1
#: Requests further apart than this (on the log's clock) belong to different batches.
BATCH_GAP_SECONDS = 0.5
MAX_PEAK_RSS_MIB = 256
STATUS_POLL_SECONDS = 1.0


def workspace_body(endpoint: str) -> dict[str, Any]:
    """The workspace part of a request body for the simulator's default workspace."""
    return {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "endpoint": endpoint,
        "authToken": BENCH_TOKEN,
    }


def seed(simulator: SimulatorServer, count: int) -> list[str]:
    """``count`` executing jobs on TARGET that end Cancelled a minute after their cancel."""
    details = {"target": TARGET, "providerId": "ionq"}
    return [simulator.seed_job(lifecycle=LIFECYCLE, details=details) for _ in range(count)]


def cancelled_in_simulator(simulator: SimulatorServer, jobs: list[str]) -> int:
    """How many of ``jobs`` the simulator itself holds in Cancelled."""
    return sum(simulator.job_state(job)["status"] == "Cancelled" for job in jobs)


def busiest_second(entries: list[dict[str, Any]], key: str) -> int:
    """The most requests in any one-second window [t, t + 1) of the log's ``key`` clock."""
    times = sorted(entry[key] for entry in entries)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def history_bound(rate: int) -> int:
    """The longest history one execution of ``cancel_jobs`` can have, from its constants: per
    batch a timer (2 events), the batch (2 a request) and the page records (2 a page, at most
    MAX_OPEN_PAGES + 1), plus the start and end of each episode (2 a batch and 2 a record)."""
    per_batch = 2 + 2 * rate + 2 + 2 * (MAX_OPEN_PAGES + 1) + 2
    return 10 + BATCHES_PER_GENERATION * per_batch


# -- scale ----------------------------------------------------------------------------------
@dataclass
class ScaleRow:
    """One scale run: what the records show."""

    jobs: int
    queue_polling: bool
    named: bool = False
    rate: int = 0
    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    busiest_second: int = 0
    run_seconds: float = 0.0
    peak_rss_kib: int = 0
    peak_history: int = 0
    executions: int = 0
    episodes: int = 0
    replay_cpu_seconds: float = 0.0
    cancelled_in_simulator: int = 0
    results_served: int = 0
    result_outcomes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Where the run time went, from the simulator's log (see ``phases``).
    phases: dict[str, float] = field(default_factory=dict)
    batches: int = 0
    error: str = ""


def run_scale(
    simulator: SimulatorServer,
    jobs_count: int,
    *,
    queue_polling: bool = False,
    named: bool = False,
    budget_factor: float = 1.0,
) -> ScaleRow:
    """Cancel ``jobs_count`` jobs with one request to a host (a filter, or their ids when
    ``named``); always stops the host.

    ``queue_polling`` models the Azure Storage backend's idle back-off (devtools.durable.limits):
    each of the run's one-second timers is then picked up up to about half a second late.
    Without it, delivery is immediate, as with the push-based Durable Task Scheduler. The run
    is waited for ``budget_factor`` times the target run time (for the most requests allowed),
    plus two minutes.
    """
    row = ScaleRow(jobs_count, queue_polling=queue_polling, named=named)
    simulator.reset()
    simulator.set_options(pageSize=100)
    jobs = seed(simulator, jobs_count)
    row.rate = default_rate()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        state = Path(work) / "host"
        host = start_host(
            state,
            quantum_endpoint=simulator.url,
            log_path=state / "host.log",
            log_level="WARNING",
            queue_polling=queue_polling,
            timeout=60.0,
        )
        try:
            simulator.clear_requests()
            selector = {"jobIds": jobs} if named else {"filter": {"target": [TARGET]}}
            body = {**workspace_body(simulator.url), **selector, "maxJobs": jobs_count}
            began = time.monotonic()
            answer = requests.post(f"{host.url}/api/cancel-jobs", json=body, timeout=60)
            if answer.status_code != 202:
                row.error = f"POST answered {answer.status_code}: {answer.text[:300]}"
                return row
            status_url = f"{host.url}/api/cancel-jobs/{answer.json()['id']}"
            limit = RUN_TIME_FACTOR * (MAX_REQUESTS_PER_JOB * jobs_count / row.rate + 60)
            budget = budget_factor * limit + 120
            document = wait_for(
                lambda: _finished(status_url),
                timeout=budget,
                interval=STATUS_POLL_SECONDS,
                message=f"the {jobs_count:,}-job run",
            )
            ended = time.monotonic()
            row.run_seconds = ended - began
            row.outputs = document.get("outputs") or {}
            row.peak_rss_kib = host.memory_kib()["VmHWM"]
            served = _page_results(status_url + "/jobs")
            row.results_served = len(served)
            row.result_outcomes = dict(Counter(r.get("outcome", "?") for r in served))
        except TimeoutError as exc:
            row.error = f"{exc}\n{host.log_tail()}"
        finally:
            host.stop()
        stats = json.loads((state / STATS_FILE).read_text(encoding="utf-8"))
        row.peak_history = int(stats["peak_history_length"])
        row.executions = int(stats["continued_as_new"]) + 1
        row.episodes = int(stats["episodes"])
        row.replay_cpu_seconds = float(stats["replay_cpu_seconds"])
    entries = simulator.requests()
    row.requests = len(entries)
    row.by_operation = dict(Counter(str(e["operation"]) for e in entries))
    row.busiest_second = busiest_second(entries, "monotonic")
    row.cancelled_in_simulator = cancelled_in_simulator(simulator, jobs)
    if entries and not row.error:
        row.phases, row.batches = phases(entries, began, ended)
    return row


def phases(
    entries: list[dict[str, Any]], began: float, ended: float
) -> tuple[dict[str, float], int]:
    """Where a run's time went, from the simulator's log (monotonic clock) and the moments
    the benchmark sent the POST and saw the run finished: until the first request; counting
    (until the last listing whose filter names a status); cancelling (until the last
    cancel); confirming the last cancels; and from the last request to the run's end. Also
    the number of batches (requests closer than BATCH_GAP_SECONDS are one batch)."""
    times = sorted(float(e["monotonic"]) for e in entries)
    counts = [
        float(e["monotonic"])
        for e in entries
        if e["operation"] == "Jobs_List" and "State" in unquote_plus(str(e["query"] or ""))
    ]
    cancels = [float(e["monotonic"]) for e in entries if e["operation"] == "Jobs_Cancel"]
    first, last = times[0], times[-1]
    counted = max(counts, default=first)
    last_cancel = max(cancels, default=counted)
    batches = 1 + sum(1 for a, b in pairwise(times) if b - a > BATCH_GAP_SECONDS)
    return (
        {
            "start (POST to first request)": first - began,
            "count / learn statuses": counted - first,
            "list, cancel, confirm (to last cancel)": last_cancel - counted,
            "confirm the last cancels": last - last_cancel,
            "report (last request to seen finished)": ended - last,
        },
        batches,
    )


def _finished(status_url: str) -> dict[str, Any] | None:
    document: dict[str, Any] = requests.get(status_url, timeout=30).json()
    return None if document["runtimeStatus"] in ("Pending", "Running") else document


def _page_results(url: str) -> list[dict[str, Any]]:
    served: list[dict[str, Any]] = []
    next_url: str | None = f"{url}?top=100"
    while next_url:
        page = requests.get(next_url, timeout=60).json()
        served += page["value"]
        next_url = page.get("nextLink")
    return served


# -- side by side ---------------------------------------------------------------------------
@dataclass
class SideRow:
    """One way of cancelling the same number of jobs on the same timeline."""

    way: str
    jobs: int
    requests: int
    by_operation: dict[str, int]
    service_seconds: float
    #: From the last job reaching Cancelled to the way knowing it (the run's end).
    known_after_seconds: float
    confirmed: int
    cancelled_in_simulator: int


def side_by_side(simulator: SimulatorServer, jobs_count: int) -> list[SideRow]:
    """The three ways, one after the other, on one https simulator with a manual clock."""
    return [
        _measure(simulator, jobs_count, "cancel_jobs (this app)", _bulk_run),
        _measure(simulator, jobs_count, "cancel_running_job per job", _single_runs),
        _measure(simulator, jobs_count, "azure-quantum SDK loop", _sdk_loop),
    ]


def _measure(
    simulator: SimulatorServer,
    jobs_count: int,
    way: str,
    cancel: Callable[[SimulatorServer, list[str]], int],
) -> SideRow:
    simulator.reset()
    simulator.set_options(pageSize=100)
    jobs = seed(simulator, jobs_count)
    began = simulator.clock.now()
    confirmed = cancel(simulator, jobs)
    ended = simulator.clock.now()
    entries = simulator.requests()
    with simulator.lock:
        ends = [simulator.store.find(job).cancelled_at for job in jobs]  # type: ignore[union-attr]
    last_cancelled = max((t for t in ends if t is not None), default=ended)
    return SideRow(
        way=way,
        jobs=jobs_count,
        requests=len(entries),
        by_operation=dict(Counter(str(e["operation"]) for e in entries)),
        service_seconds=ended - began,
        known_after_seconds=ended - last_cancelled,
        confirmed=confirmed,
        cancelled_in_simulator=cancelled_in_simulator(simulator, jobs),
    )


def _bulk_run(simulator: SimulatorServer, jobs: list[str]) -> int:
    harness = Harness(simulator, BENCH_TOKEN)
    request = checked_bulk_input(
        {**workspace_body(simulator.url), "filter": {"target": [TARGET]}}, load_settings()
    )
    run = harness.run_orchestration("cancel_jobs", bulk_instance_id(request), request)
    run.engine.close()
    return int(run.outputs["outcomes"]["cancelled"])


def _single_runs(simulator: SimulatorServer, jobs: list[str]) -> int:
    harness = Harness(simulator, BENCH_TOKEN)
    engine = harness.engine()
    ids = []
    for job in jobs:
        request = harness.request(job)
        ids.append(engine.start_new("cancel_running_job", instance_id_for(request), request))
    engine.run_until_idle()
    statuses = [engine.get_status(instance) for instance in ids]
    engine.close()
    return sum(
        status is not None
        and isinstance(status.output, dict)
        and status.output.get("finalStatus") == "Cancelled"
        for status in statuses
    )


def _sdk_loop(simulator: SimulatorServer, jobs: list[str]) -> int:
    workspace = official_sdk.workspace(simulator, BENCH_TOKEN)
    confirmed = 0
    with official_sdk.virtual_waits(simulator, 0.0):
        for job in workspace.list_jobs(target=[TARGET], status=["Executing"]):
            workspace.cancel_job(job)
            job.wait_until_completed(print_progress=False)
            confirmed += job.details.status == "Cancelled"
    return confirmed


def default_rate() -> int:
    """The default rate cap (setting BULK_MAX_REQUESTS_PER_SECOND), as a batch size."""
    request = checked_bulk_input(
        {**workspace_body("http://127.0.0.1"), "filter": {}}, load_settings()
    )
    return batch_size(request)
