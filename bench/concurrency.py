"""Part 3: many cancellations at once through ``devtools.host``, in real time.

The host runs as a subprocess (as ``func start`` would), the simulator in this process with
a real clock. Every cancellation goes through the public HTTP API: POST
/api/cancel-running-job, then the host's engine, activities and durable timers. Measured:
wall time, request rates, the host's peak RSS (VmHWM) and CPU time, and the latency of each
orchestration, precisely from the simulator's request log (POST sent to the confirming
Jobs_Get, one monotonic clock) and coarsely from the status documents
(createdTime to lastUpdatedTime, whole seconds).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from devtools.launch import LaunchError, ServerProcess, start_host
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)

from .environment import BENCH_TOKEN

SIZES: tuple[int, ...] = (100, 1_000)
QUICK_SIZES: tuple[int, ...] = (100,)
#: Short real-time lifecycle: the job takes 2 s to reach Cancelled after the cancel.
CANCEL_SECONDS = 2.0
#: Small poll options, so a cancellation needs about 3 s and two confirming polls.
OPTIONS = {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 2, "timeoutSeconds": 600}
#: Clients posting at once (an alert storm arrives from several senders).
POSTERS = 8
POLL_EVERY_SECONDS = 1.0
HTTP_TIMEOUT_SECONDS = 60.0
LIST_PATH = "/runtime/webhooks/durabletask/instances"


def deadline_for(cancellations: int) -> float:
    """Wall-time bound of one size: generous, and the run stops by itself after it."""
    return 120.0 + 0.3 * cancellations


@dataclass
class ConcurrencyRow:
    """One size: what finished, how fast, and at what cost to the host."""

    cancellations: int
    started: int = 0
    completed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    post_seconds: float = 0.0
    dataplane_requests: int = 0
    baseline_rss_kib: int = 0
    peak_rss_kib: int = 0
    host_cpu_seconds: float = 0.0
    precise_latencies: list[float] = field(default_factory=list)
    status_latencies: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def per_cancellation_kib(self) -> float | None:
        """Peak RSS above the idle host, per cancellation."""
        if not self.cancellations or not self.peak_rss_kib:
            return None
        return (self.peak_rss_kib - self.baseline_rss_kib) / self.cancellations

    @property
    def all_completed(self) -> bool:
        """Every cancellation Completed with outcome ``cancelled``."""
        return self.outcomes.get("cancelled", 0) == self.cancellations and not self.error


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _body(job_id: str) -> dict[str, Any]:
    return {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "jobId": job_id,
        "authToken": BENCH_TOKEN,
        "options": OPTIONS,
    }


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_size(simulator: SimulatorServer, cancellations: int, work_dir: Path) -> ConcurrencyRow:
    """``cancellations`` at once through a fresh host; always stops the host."""
    row = ConcurrencyRow(cancellations)
    lifecycle = {
        "before": [["Executing", {}]],
        "after": [["Cancelling", {"seconds": CANCEL_SECONDS}], ["Cancelled", {}]],
    }
    job_ids = [
        simulator.seed_job(str(uuid.uuid4()), lifecycle=lifecycle) for _ in range(cancellations)
    ]
    try:
        state_dir = work_dir / f"host-{cancellations}"
        # WARNING: per-request INFO lines would make the benchmark measure the log file (in
        # Azure, logs go to Application Insights off the hot path). Queue polling is modelled
        # as on the template's Flex Consumption plan (start_host sets WEBSITE_SKU: the
        # extension's 1 s maximum), so the latencies are the ones its Azure Storage task hub gives.
        host = start_host(
            state_dir,
            quantum_endpoint=simulator.url,
            log_path=state_dir / "host.log",
            log_level="WARNING",
            queue_polling=True,
            timeout=60.0,
        )
    except LaunchError as exc:
        row.error = str(exc)
        return row
    try:
        time.sleep(1.0)
        row.baseline_rss_kib = host.memory_kib()["VmRSS"]
        simulator.clear_requests()
        _drive(host, simulator, job_ids, row)
        if host.running:
            row.peak_rss_kib = host.memory_kib()["VmHWM"]
            row.host_cpu_seconds = _cpu_seconds(host.process.pid)
        else:
            row.error = f"host exited with {host.process.returncode}:\n{host.log_tail()}"
    finally:
        host.stop()
    return row


def _drive(
    host: ServerProcess, simulator: SimulatorServer, job_ids: list[str], row: ConcurrencyRow
) -> None:
    sent_at: dict[str, float] = {}
    instance_of: dict[str, str] = {}
    local = threading.local()

    def post(job_id: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        sent_at[job_id] = time.monotonic()
        try:
            response = session.post(
                host.url + "/api/cancel-running-job",
                json=_body(job_id),
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            row.failures.append(f"POST for job {job_id}: {type(exc).__name__}: {exc}")
            return
        if response.status_code != 202:
            row.failures.append(
                f"POST for job {job_id}: HTTP {response.status_code} {response.text[:200]}"
            )
            return
        instance_of[job_id] = response.json()["id"]

    began = time.monotonic()
    deadline = began + deadline_for(len(job_ids))
    with ThreadPoolExecutor(POSTERS) as pool:
        list(pool.map(post, job_ids))
    row.post_seconds = time.monotonic() - began
    row.started = len(instance_of)

    with requests.Session() as session:
        remaining = _unfinished(session, host)
        while remaining and time.monotonic() < deadline and host.running:
            time.sleep(POLL_EVERY_SECONDS)
            remaining = _unfinished(session, host)
        row.wall_seconds = time.monotonic() - began
        row.unfinished = remaining
        if host.running:
            _collect(session, host, simulator, sent_at, instance_of, row)


def _unfinished(session: requests.Session, host: ServerProcess) -> int:
    try:
        response = session.get(
            host.url + LIST_PATH,
            params={"runtimeStatus": "Pending,Running"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        return len(response.json())
    except (requests.RequestException, ValueError):
        return -1  # unknown: keep waiting until the deadline


def _collect(
    session: requests.Session,
    host: ServerProcess,
    simulator: SimulatorServer,
    sent_at: dict[str, float],
    instance_of: dict[str, str],
    row: ConcurrencyRow,
) -> None:
    statuses = session.get(host.url + LIST_PATH, timeout=HTTP_TIMEOUT_SECONDS).json()
    mine = {status["instanceId"]: status for status in statuses}
    outcomes: Counter[str] = Counter()
    for instance_id in instance_of.values():
        status = mine.get(instance_id)
        if status is None:
            outcomes["missing"] += 1
            continue
        runtime = status["runtimeStatus"]
        if runtime == "Completed":
            row.completed += 1
            outcomes[str((status.get("output") or {}).get("outcome"))] += 1
            span = _parse(status["lastUpdatedTime"]) - _parse(status["createdTime"])
            row.status_latencies.append(span.total_seconds())
        else:
            outcomes[runtime] += 1
            if runtime == "Failed" and len(row.failures) < 5:
                row.failures.append(f"{instance_id} Failed: {str(status.get('output'))[:300]}")
    row.outcomes = dict(outcomes)
    log = simulator.requests()
    row.dataplane_requests = len(log)
    last_get: dict[str, float] = {}
    for entry in log:
        if entry["operation"] == "Jobs_Get" and entry["status"] == 200 and entry["jobId"]:
            last_get[entry["jobId"].lower()] = entry["monotonic"]
    for job_id, instance_id in instance_of.items():
        status = mine.get(instance_id)
        if status is None or status["runtimeStatus"] != "Completed" or job_id not in last_get:
            continue
        row.precise_latencies.append(last_get[job_id] - sent_at[job_id])


def measure_concurrency(simulator: SimulatorServer, sizes: Sequence[int]) -> list[ConcurrencyRow]:
    """Each size on a fresh host, one after the other, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-host-") as work:
        return [run_size(simulator, size, Path(work)) for size in sizes]


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99, max and mean of latencies."""
    return {
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }
