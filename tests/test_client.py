"""The data-plane client against the simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import parse_qsl

import pytest
import requests

from dataplane.auth import StaticToken
from dataplane.client import USER_AGENT, Exchange, QuantumJobsClient, thread_session
from dataplane.errors import (
    ConnectError,
    InvalidParameter,
    InvalidResponse,
    PermanentServiceError,
    QuantumError,
    RequestTimeout,
    TransientServiceError,
)
from dataplane.resources import JobRef, WorkspaceRef
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.spec import validate_request

NEW = "2026-01-15-preview"
NEWEST = "2026-08-01-preview"
LEGACY = "2024-10-01-preview"
JOB = "0a1b2c3d-0000-4000-8000-00000000abcd"


def job_ref(job_id: str = JOB) -> JobRef:
    return JobRef.checked(
        DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE, job_id
    )


def make_client(
    sim: SimulatorServer, token: str, api_version: str = NEW, **kwargs: object
) -> QuantumJobsClient:
    return QuantumJobsClient(
        sim.url,
        api_version,
        StaticToken(token),
        session=requests.Session(),
        **kwargs,  # type: ignore[arg-type]
    )


def assert_requests_follow_the_spec(sim: SimulatorServer) -> None:
    for entry in sim.requests():
        query = dict(parse_qsl(entry["query"] or ""))
        validate_request(entry["apiVersion"], entry["method"], entry["path"], query)


def test_get_job_reads_status_and_sends_identification(
    simulator: SimulatorServer, sim_token: str
) -> None:
    simulator.seed_job(JOB)
    seen: list[Exchange] = []
    client = make_client(simulator, sim_token, observer=seen.append)
    job = client.get_job(job_ref())
    assert job["status"] == "Waiting"
    assert job["id"] == JOB
    client.get_job(job_ref())
    entries = simulator.requests()
    assert [(e["method"], e["operation"], e["apiVersion"]) for e in entries] == [
        ("GET", "Jobs_Get", NEW)
    ] * 2
    # A fresh GUID per attempt, as the Azure REST guidelines ask, and the service's own id.
    ids = [e["clientRequestId"] for e in entries]
    assert len(set(ids)) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    assert [x.client_request_id for x in seen] == ids
    assert [x.request_id for x in seen] == [e["requestId"] for e in entries]
    assert [x.status for x in seen] == [200, 200]
    assert_requests_follow_the_spec(simulator)


def test_user_agent_names_the_app() -> None:
    assert USER_AGENT.startswith("cancel-running-job/")


@pytest.mark.parametrize("api_version", [NEW, NEWEST, "2025-12-01-preview"])
def test_new_versions_cancel_with_post_and_never_delete(
    simulator: SimulatorServer, sim_token: str, api_version: str
) -> None:
    simulator.seed_job(JOB)
    client = make_client(simulator, sim_token, api_version)
    client.get_job(job_ref())
    client.get_job(job_ref())  # now Executing
    outcome = client.cancel_job(job_ref())
    assert (outcome.http_status, outcome.job_status) == (204, None)
    methods = [(e["method"], e["operation"]) for e in simulator.requests()]
    assert ("POST", "Jobs_Cancel") in methods
    assert all(method != "DELETE" for method, _ in methods)
    state = simulator.job_state(JOB)
    assert not state["deleted"]
    assert client.get_job(job_ref())["status"] in {"CancellationRequested", "Cancelling"}
    assert_requests_follow_the_spec(simulator)


def test_cancel_answered_200_with_body(simulator: SimulatorServer, sim_token: str) -> None:
    simulator.set_options(cancel_response=200)
    simulator.seed_job(JOB)
    outcome = make_client(simulator, sim_token).cancel_job(job_ref())
    assert outcome.http_status == 200
    assert outcome.job_status is not None


@pytest.mark.parametrize(
    "api_version",
    [
        "2022-09-12-preview",
        "2023-11-13-preview",
        "2024-03-01-preview",
        LEGACY,
        "2025-09-01-preview",
    ],
)
def test_legacy_versions_cancel_with_delete(
    simulator: SimulatorServer, sim_token: str, api_version: str
) -> None:
    simulator.seed_job(JOB)
    client = make_client(simulator, sim_token, api_version)
    outcome = client.cancel_job(job_ref())
    assert outcome.http_status == 204
    [entry] = simulator.requests()
    assert (entry["method"], entry["operation"]) == ("DELETE", "Jobs_Cancel")
    assert not simulator.job_state(JOB)["deleted"]
    assert client.get_job(job_ref())["status"] != "Succeeded"
    assert_requests_follow_the_spec(simulator)


def test_cancel_of_a_finished_job_is_a_conflict(simulator: SimulatorServer, sim_token: str) -> None:
    simulator.seed_job(JOB, lifecycle="already-succeeded")
    with pytest.raises(PermanentServiceError) as caught:
        make_client(simulator, sim_token).cancel_job(job_ref())
    assert caught.value.status == 409
    assert caught.value.operation == "Jobs_Cancel"
    assert caught.value.code


def test_list_jobs_follows_next_links_and_filters(
    simulator: SimulatorServer, sim_token: str
) -> None:
    for index in range(7):
        simulator.seed_job(f"0a1b2c3d-0000-4000-8000-{index:012d}")
    simulator.seed_job(JOB, lifecycle="already-failed")
    simulator.set_options(page_size=3)
    client = make_client(simulator, sim_token)
    workspace = job_ref().workspace
    everything = list(client.list_jobs(workspace))
    assert len({job["id"] for job in everything}) == len(everything) == 8
    assert len([e for e in simulator.requests() if e["operation"] == "Jobs_List"]) == 3
    # top sizes the pages; every job after skip still comes, page by page.
    assert len(list(client.list_jobs(workspace, top=4, skip=1))) == 7
    failed = list(
        client.list_jobs(workspace, filter="status eq 'Failed'", orderby="creationTime desc")
    )
    assert [job["id"] for job in failed] == [JOB]
    assert_requests_follow_the_spec(simulator)


def test_list_refuses_a_next_link_to_another_origin(sim_token: str) -> None:
    class Paged(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"value": [], "nextLink": "http://127.0.0.2:9/elsewhere?x=1"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serve(Paged) as url:
        client = QuantumJobsClient(url, NEW, StaticToken(sim_token))
        with pytest.raises(InvalidResponse, match="outside"):
            list(client.list_jobs(WorkspaceRef(DEFAULT_SUBSCRIPTION_ID, "rg", "ws")))


class TestErrors:
    def test_unknown_job_is_permanent_404(self, simulator: SimulatorServer, sim_token: str) -> None:
        with pytest.raises(PermanentServiceError) as caught:
            make_client(simulator, sim_token).get_job(job_ref())
        error = caught.value
        assert (error.operation, error.status, error.code) == ("Jobs_Get", 404, "JobNotFound")
        assert error.service_message
        assert "Jobs_Get" in str(error) and "404" in str(error) and "JobNotFound" in str(error)

    def test_wrong_token_is_401(self, simulator: SimulatorServer) -> None:
        simulator.seed_job(JOB)
        with pytest.raises(PermanentServiceError) as caught:
            make_client(simulator, "not-the-right-token").get_job(job_ref())
        assert caught.value.status == 401
        assert "not-the-right-token" not in repr(caught.value) + str(caught.value)

    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_transient_statuses(
        self, simulator: SimulatorServer, sim_token: str, status: int
    ) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault({"operation": "Jobs_Get", "httpStatus": status, "count": 1})
        with pytest.raises(TransientServiceError) as caught:
            make_client(simulator, sim_token).get_job(job_ref())
        assert caught.value.status == status
        assert caught.value.transient

    def test_retry_after_in_seconds(self, simulator: SimulatorServer, sim_token: str) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault(
            {"operation": "Jobs_Get", "httpStatus": 429, "retryAfter": 17, "count": 1}
        )
        with pytest.raises(TransientServiceError) as caught:
            make_client(simulator, sim_token).get_job(job_ref())
        assert caught.value.retry_after == 17

    def test_retry_after_as_http_date(self, simulator: SimulatorServer, sim_token: str) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault(
            {
                "operation": "Jobs_Cancel",
                "httpStatus": 503,
                "retryAfter": 30,
                "retryAfterFormat": "http-date",
                "count": 1,
            }
        )
        with pytest.raises(TransientServiceError) as caught:
            make_client(simulator, sim_token).cancel_job(job_ref())
        assert caught.value.retry_after is not None
        assert 25 <= caught.value.retry_after <= 31
        assert simulator.job_state(JOB)["counters"]["cancelRequests"] == 0

    @pytest.mark.parametrize("effect", ["drop", "reset"])
    def test_broken_connections(
        self, simulator: SimulatorServer, sim_token: str, effect: str
    ) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault({"operation": "Jobs_Get", "effect": effect, "count": 1})
        with pytest.raises(ConnectError) as caught:
            make_client(simulator, sim_token).get_job(job_ref())
        assert caught.value.transient

    def test_slow_response_times_out(self, simulator: SimulatorServer, sim_token: str) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault({"operation": "Jobs_Get", "delaySeconds": 1.5, "count": 1})
        with pytest.raises(RequestTimeout):
            make_client(simulator, sim_token, read_timeout=0.3).get_job(job_ref())

    def test_connection_refused(self, sim_token: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = QuantumJobsClient(f"http://127.0.0.1:{port}", NEW, StaticToken(sim_token))
        with pytest.raises(ConnectError):
            client.get_job(job_ref())

    @pytest.mark.parametrize("effect", ["malformedJson", "missingStatus"])
    def test_bad_bodies(self, simulator: SimulatorServer, sim_token: str, effect: str) -> None:
        simulator.seed_job(JOB)
        simulator.add_fault({"operation": "Jobs_Get", "effect": effect, "count": 1})
        with pytest.raises(InvalidResponse) as caught:
            make_client(simulator, sim_token).get_job(job_ref())
        assert caught.value.transient

    def test_redirects_are_not_followed(self, simulator: SimulatorServer, sim_token: str) -> None:
        seen: list[str] = []

        class Elsewhere(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        with serve(Elsewhere) as elsewhere:
            simulator.seed_job(JOB)
            simulator.set_redirect(JOB, elsewhere + "/steal")
            with pytest.raises(PermanentServiceError) as caught:
                make_client(simulator, sim_token).get_job(job_ref())
        assert caught.value.status == 307
        assert seen == []

    def test_hostile_path_values_never_reach_the_wire(
        self, simulator: SimulatorServer, sim_token: str
    ) -> None:
        # References built without JobRef.checked (as a tampered input could make them):
        # the client itself refuses them before any connection.
        client = make_client(simulator, sim_token)
        workspace = WorkspaceRef(DEFAULT_SUBSCRIPTION_ID, "rg", "ws")
        hostile_refs = [
            JobRef(workspace, hostile)
            for hostile in ("../../jobs", JOB + "/..", JOB + "?api-version=x", "%2e%2e")
        ]
        hostile_refs += [
            JobRef(WorkspaceRef(DEFAULT_SUBSCRIPTION_ID, hostile, "ws"), JOB)
            for hostile in ("rg/../other", "rg?x=1", "rg#x", "rg%2Fx")
        ]
        hostile_refs.append(JobRef(WorkspaceRef("../x", "rg", "ws"), JOB))
        for ref in hostile_refs:
            for call in (client.get_job, client.cancel_job):
                with pytest.raises(InvalidParameter):
                    call(ref)
            if ref.workspace != workspace:
                with pytest.raises(InvalidParameter):
                    list(client.list_jobs(ref.workspace))
        with pytest.raises(InvalidParameter):
            JobRef.checked(DEFAULT_SUBSCRIPTION_ID, "rg", "ws", "../../jobs")
        assert simulator.requests() == []

    def test_token_never_in_any_error(self, simulator: SimulatorServer) -> None:
        token = "tok-RECOGNISABLE-0123456789"
        simulator.set_options(token=token)
        simulator.seed_job(JOB)
        errors: list[QuantumError] = []
        for rule in (
            {"httpStatus": 429, "retryAfter": 1},
            {"httpStatus": 500},
            {"effect": "drop"},
            {"effect": "malformedJson"},
        ):
            simulator.clear_faults()
            simulator.add_fault({"operation": "Jobs_Get", "count": 1, **rule})
            with pytest.raises(QuantumError) as caught:
                make_client(simulator, token).get_job(job_ref())
            errors.append(caught.value)
        with pytest.raises(QuantumError) as caught:
            make_client(simulator, token).get_job(job_ref("0a1b2c3d-0000-4000-8000-ffffffffffff"))
        errors.append(caught.value)
        client = make_client(simulator, token)
        text = repr(client) + "".join(
            str(e) + repr(e) + repr(e.to_info()) + repr(e.__cause__) + repr(e.__context__)
            for e in errors
        )
        assert token not in text


class serve:
    """A tiny HTTP server on 127.0.0.1 for redirect and nextLink targets."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Odd(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status in its path's last segment, and a cookie."""

    cookies_seen: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        _Odd.cookies_seen.append(self.headers.get("Cookie"))
        status = int(self.path.split("?")[0].rsplit("/", 1)[-1].split(":")[0][-3:])
        body = b'{"id": "x", "status": "Executing"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=tracking-value; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.mark.parametrize("status", [201, 203, 206])
def test_only_200_202_and_204_accept_a_cancel(sim_token: str, status: int) -> None:
    job = JobRef.checked(
        DEFAULT_SUBSCRIPTION_ID, "rg", "ws", f"00000000-0000-4000-8000-000000000{status}"
    )
    with serve(_Odd) as origin:
        client = QuantumJobsClient(origin, NEW, StaticToken(sim_token), session=requests.Session())
        with pytest.raises(InvalidResponse) as caught:
            client.cancel_job(job)
        with pytest.raises(InvalidResponse):
            client.get_job(job)  # a read is answered 200, nothing else
    assert caught.value.status == status
    assert f"unexpected HTTP {status}" in str(caught.value)


def test_sessions_are_per_thread_and_keep_no_cookies(sim_token: str) -> None:
    job = JobRef.checked(
        DEFAULT_SUBSCRIPTION_ID, "rg", "ws", "00000000-0000-4000-8000-000000000200"
    )
    _Odd.cookies_seen.clear()
    with serve(_Odd) as origin:
        client = QuantumJobsClient(origin, NEW, StaticToken(sim_token))
        client.get_job(job)
        client.get_job(job)  # the first answer set a cookie: it must not come back
        sessions: list[requests.Session] = []
        worker = threading.Thread(target=lambda: sessions.append(thread_session()))
        worker.start()
        worker.join()
    assert _Odd.cookies_seen == [None, None]
    assert sessions[0] is not thread_session()
    assert len(thread_session().cookies) == 0


@pytest.fixture(autouse=True)
def _no_stray_state(simulator: SimulatorServer) -> Iterator[None]:
    yield
    simulator.clear_redirect()


def test_identity_failure_is_transient_and_sends_nothing(simulator: SimulatorServer) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from dataplane.errors import TokenUnavailable

    class Refusing:
        def token(self) -> str:
            raise ClientAuthenticationError("identity endpoint refused the connection")

    client = QuantumJobsClient(simulator.url, NEW, Refusing(), session=requests.Session())
    with pytest.raises(TokenUnavailable) as caught:
        client.get_job(job_ref())
    assert caught.value.transient
    assert caught.value.operation == "Jobs_Get"
    assert simulator.requests() == []
