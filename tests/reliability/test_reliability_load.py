"""Load: many cancellations started at once through devtools.host, duplicates mixed in.

Every job gets one POST; every third job gets a second, racing POST for the same job (and some
a third with its names in other letter cases, which name the same job). All are sent at once
from a thread pool. Every run must finish ``cancelled`` with correct outputs, every request
must answer 202 (or 200), all requests for one job must name one instance, and the simulator
must have accepted exactly one cancel per job.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.e2e import check_one_run, matching, stored_inputs, wait_finished
from tests.support.evidence import answer_of
from tests.support.host import start_host
from tests.support.reliability import SuiteRecords, sizes

WORKERS = 32  # concurrent clients: everything is sent at once
QUICK_CANCEL = {
    "before": [["Executing", {}]],
    "after": [["CancellationRequested", {"reads": 1}], ["Cancelled", {}]],
}


def _body(sim: SimulatorServer, token: str, job_id: str, shout: bool = False) -> dict[str, Any]:
    return {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID.upper() if shout else DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP.upper() if shout else DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "jobId": job_id.upper() if shout else job_id,
        "endpoint": sim.url,
        "authToken": token,
        "options": {"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 2, "timeoutSeconds": 600},
    }


def test_many_cancellations_at_once_with_duplicates(
    simulator: SimulatorServer, sim_token: str, tmp_path: Path, records: SuiteRecords
) -> None:
    size = sizes()
    jobs = [
        simulator.seed_job(str(uuid.UUID(int=0xA0AD0000 + n, version=4)), lifecycle=QUICK_CANCEL)
        for n in range(size.load_jobs)
    ]
    sends: list[tuple[str, bool]] = [(job, False) for job in jobs]
    for n, job in enumerate(jobs):
        if n % size.load_duplicate_every == 0:
            sends.append((job, False))
        if n % (size.load_duplicate_every * 2) == 0:
            sends.append((job, True))
    # Interleave so duplicates race the first requests instead of trailing them.
    sends.sort(key=lambda item: (jobs.index(item[0]) // 4, item[1]))
    host = start_host(
        tmp_path / "load-host",
        quantum_endpoint=simulator.url,
    )
    began = time.monotonic()
    named: dict[str, list[str]] = {job: [] for job in jobs}
    started: dict[str, list[str]] = {}
    documents: list[dict[str, Any]] = []
    try:
        with requests.Session() as session, ThreadPoolExecutor(max_workers=WORKERS) as pool:
            session.mount("http://", HTTPAdapter(pool_maxsize=WORKERS))

            def send(item: tuple[str, bool]) -> tuple[str, requests.Response]:
                job, shout = item
                response = session.post(
                    host.url + "/api/cancel-running-job",
                    json=_body(simulator, sim_token, job, shout),
                    timeout=60,
                )
                return job, response

            responses = list(pool.map(send, sends))
        records.add("answers", answers=[answer_of("http", r) for _, r in responses])
        for job, response in responses:
            if response.status_code in (200, 202):
                named[job].append(response.json().get("id", ""))
        # What really started for each job, from the store (the management API).
        inputs = stored_inputs(host, "cancel_running_job")
        for job in jobs:
            started[job] = matching(inputs, jobId=job)
            records.add("sends", named=named[job], started=started[job])
        bad = [(job, r.status_code) for job, r in responses if r.status_code not in (200, 202)]
        assert bad == [], bad[:5]
        for job in jobs:
            check_one_run(started[job], named[job])
        for job in jobs:
            documents.append(wait_finished(host, started[job][0], 300))
        elapsed = time.monotonic() - began
    finally:
        host.stop()
        records.add("requests", entries=simulator.requests(), jobs=jobs)
        for document in documents:
            records.add("run", runtimeStatus=document["runtimeStatus"])
    found = records.figures()
    assert found["disallowed_requests"] == 0
    # Duplicates and racing starts must never make a second cancel: counted from the log.
    assert found["cancels_sent_again"] == 0, found
    # Every duplicate request was answered with the run the first one started (measured from
    # the answers and the instances the store holds).
    assert found["duplicate_requests"] == len(sends) - len(jobs), found
    for job, document in zip(jobs, documents, strict=True):
        assert document["runtimeStatus"] == "Completed", document
        outputs = document["outputs"]
        # The racing request in other letter cases may be the one that started the run.
        assert outputs["jobId"].lower() == job
        assert outputs["outcome"] == "cancelled" and outputs["finalStatus"] == "Cancelled"
        assert outputs["cancelRequested"] is True and outputs["cancelHttpStatus"] == 204
        assert outputs["cancellationTime"]
    counters = [simulator.job_state(job)["counters"] for job in jobs]
    assert all(c["cancelRequests"] == 1 and c["deletes"] == 0 for c in counters), counters
    print(f"load: {len(jobs)} jobs, {len(sends)} requests, all finished in {elapsed:.1f} s")
