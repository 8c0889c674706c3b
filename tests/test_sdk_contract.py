"""The simulator held to the official client: the ``azure-quantum`` SDK (3.x) against it.

How the SDK is pointed at the simulator lives in ``devtools.official_sdk`` (shared with the
benchmark): the SDK's internal ``_quantum_endpoint`` keyword (what its connection strings use)
with every other connection parameter set, so it never looks anything up in Azure; and https
with a certificate made for 127.0.0.1, because azure-core's bearer-token policy refuses plain
http; the certificate is trusted through ``REQUESTS_CA_BUNDLE`` for these tests only. Nothing of
the SDK is patched here: what it sends is what it would send to Azure, and the simulator must
answer it so that the SDK's own models read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import official_sdk
from devtools.simulator import Options, SimulatorServer
from tests.support.optional import dev_requirement

dev_requirement("azure.quantum")  # a skip locally when missing, a failure in CI
TOKEN = "sdk-contract-token"


@pytest.fixture(scope="module")
def tls_simulator(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SimulatorServer, Path]]:
    server, cert = official_sdk.tls_simulator(
        tmp_path_factory.mktemp("tls"), Options(token=TOKEN, page_size=100), manual_clock=True
    )
    try:
        yield server, cert
    finally:
        server.stop()


@pytest.fixture
def sdk(tls_simulator: tuple[SimulatorServer, Path]) -> Iterator[tuple[Any, SimulatorServer]]:
    server, cert = tls_simulator
    server.reset()
    with official_sdk.trusting(cert):
        yield official_sdk.workspace(server, TOKEN), server


def test_get_job_reads_the_simulators_job_details(sdk: tuple[Any, SimulatorServer]) -> None:
    workspace, server = sdk
    job_id = server.seed_job(details={"name": "sdk-read", "target": "ionq.simulator"})
    job = workspace.get_job(job_id)
    assert job.id == job_id and job.details.status == "Waiting"
    assert job.details.name == "sdk-read" and job.details.target == "ionq.simulator"
    [entry] = server.requests()
    assert entry["operation"] == "Jobs_Get" and entry["status"] == 200


def test_list_jobs_with_each_filter_kind_and_paging(sdk: tuple[Any, SimulatorServer]) -> None:
    workspace, server = sdk
    ionq = [
        server.seed_job(
            lifecycle=[["Executing", {}]],
            details={"name": f"batch-{n}", "providerId": "ionq", "target": "ionq.simulator"},
        )
        for n in range(130)
    ]
    other = server.seed_job(
        lifecycle=[["Waiting", {}]],
        details={"name": "solo", "providerId": "quantinuum", "target": "quantinuum.sim.h2-1e"},
    )
    done = server.seed_job(
        lifecycle="already-succeeded", details={"name": "batch-done", "providerId": "ionq"}
    )

    def ids(**filters: Any) -> list[str]:
        return [job.id for job in workspace.list_jobs(**filters)]

    assert sorted(ids(status=["Executing"])) == sorted(ionq)  # 130: two pages of 100
    assert sorted(ids(provider=["quantinuum"])) == [other]
    assert sorted(ids(target=["ionq.simulator"], status=["Executing", "Waiting"])) == sorted(ionq)
    assert sorted(ids(name_match="batch-")) == sorted([*ionq, done])
    assert sorted(ids(created_after=dt.datetime(2000, 1, 1))) == sorted([*ionq, other, done])
    assert ids(created_before=dt.datetime(2000, 1, 1)) == []
    lists = [e for e in server.requests() if e["operation"] == "Jobs_List"]
    # The SDK pages with top=100 and follows nextLink; every request named the grammar's fields.
    assert any("skip=100" in e["query"] for e in lists)
    assert all(e["status"] == 200 for e in lists)


@pytest.mark.parametrize("answer", [204, 200])
def test_cancel_job_and_wait_until_completed(sdk: tuple[Any, SimulatorServer], answer: int) -> None:
    workspace, server = sdk
    server.set_options(cancelResponse=answer)
    server.clock.set_real()  # wait_until_completed sleeps in real time
    job_id = server.seed_job(
        lifecycle={
            "before": [["Executing", {}]],
            "after": [["CancellationRequested", {"seconds": 0.3}], ["Cancelled", {}]],
        }
    )
    job = workspace.get_job(job_id)
    workspace.cancel_job(job)
    job.wait_until_completed(timeout_secs=30)
    assert job.details.status == "Cancelled"
    assert server.job_state(job_id)["counters"]["cancelRequests"] == 1
    cancel = next(e for e in server.requests() if e["operation"] == "Jobs_Cancel")
    assert cancel["method"] == "POST" and cancel["status"] == answer
