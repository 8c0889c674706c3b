"""Hostile input: property-based tests over the HTTP API and Event Grid, and the SSRF refusals.

Through ``devtools.host`` (the real edge: body parsing, routes, queries, the Event Grid
webhook), hypothesis sends bodies built from a valid request, changed by valid values and, half
the time, by one value that is invalid by construction: path traversal, ``?``, ``#``, ``%2F``,
unicode, control characters, huge strings, wrong types, nested junk, endpoints and locations
that name a decoy server. The oracle is two-sided: a valid body must be answered 202 and start
exactly one run, an invalid one 400 and start none; never a 5xx. Every event must be
acknowledged and its rejection logged, events naming the decoy as their endpoint included; the
host must log no unhandled exception; and the simulator may only ever see requests for the
intended path and query (``/subscriptions/{guid}/resourceGroups/{rg}/.../jobs/{guid}[:cancel]
?api-version=V``) of jobs that were accepted, and the decoy nothing.

In process, with the outbound guard active (no connect or name lookup except the simulator's
port), the input checks, the Event Grid decision and the SSRF cases run at higher volume, and
tampered orchestration inputs and simulator redirects prove the client refuses before any
connection and never follows a redirect with the token.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appsettings import load_settings
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.e2e import job_body
from tests.support.evidence import INTENDED_PATH, answer_of
from tests.support.host import HostProcess, start_host, wait_for
from tests.support.orchestration import ORCHESTRATION, Harness
from tests.support.reliability import DecoyServer, OutboundGuard, SuiteRecords, sizes
from triggers.job_alerts import decide
from workflow.inputs import InvalidInput, checked_cancel_input, instance_id_for

TIMEOUT = 15
API = "/api/cancel-running-job"
EVENTS = "/runtime/webhooks/EventGrid?functionName=on_job_alert"
MANAGEMENT = "/runtime/webhooks/durabletask/instances"
COORDINATES = ("subscriptionId", "resourceGroupName", "workspaceName", "jobId")
VALID_VERSIONS = [
    "2022-09-12-preview",
    "2024-10-01-preview",
    "2025-12-01-preview",
    "2026-08-01-preview",
]

# -- hostile values -------------------------------------------------------------------------
TRICKS = [
    "../../../etc/passwd",
    "..%2F..%2Fjobs",
    "%2e%2e%2f",
    "rg/../../other",
    "rg?api-version=2019-11-04-preview",
    "rg#fragment",
    "rg%2Fjobs%2F00000000-0000-0000-0000-000000000000",
    "rg%00",
    "rg\r\nX-Injected: 1",
    "rg\x00",
    "\uff52\uff47",  # fullwidth "rg"
    "rg\u202e",
    "ws@evil.example",
    "https://evil.example/",
    "//evil.example",
    "\\\\evil.example\\share",
    "a" * 70_000,
    "",
    " ",
    "0a1b2c3d-0000-4000-8000-00000000abcd/../x",
    "0a1b2c3d-0000-4000-8000-00000000abcd:cancel",
    "0a1b2c3d-0000-4000-8000-00000000abcd?x=1",
]
hostile_text = st.one_of(
    st.sampled_from(TRICKS),
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
    st.from_regex(r"[a-z]{1,8}(/|\?|#|%2F|%2f|\.\.|@|\\)[a-z./]{0,8}", fullmatch=True),
    st.integers(min_value=1, max_value=4).map(lambda n: "x" * (20_000 * n)),
)
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
hostile_value = st.one_of(hostile_text, json_junk)
not_a_string = st.one_of(st.none(), st.booleans(), st.integers(), st.lists(st.integers()))

# The spec's patterns (PRODUCT.md section 1), written independently of the app's checks.
SPEC_PATTERNS = {
    "subscriptionId": re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"),
    "resourceGroupName": re.compile(r"[a-zA-Z][a-zA-Z0-9\-_.]{0,89}"),
    "workspaceName": re.compile(r"[a-zA-Z][a-zA-Z0-9\-_]{1,49}"),
    "jobId": re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"),
}


def decoy_forms(decoy: DecoyServer) -> list[str]:
    """Endpoints naming the decoy that no policy may accept, even with loopback allowed."""
    port = decoy.port
    return [
        f"{decoy.url}/steal",
        f"{decoy.url}?x=1",
        f"{decoy.url}#.quantum.azure.com",
        f"https://westus.quantum.azure.com@127.0.0.1:{port}",
        f"http://2130706433:{port}",
        f"http://127.1:{port}",
        f"ftp://127.0.0.1:{port}",
    ]


def valid_changes() -> st.SearchStrategy[dict[str, Any]]:
    """Changes a valid request may carry and stay valid (the endpoint stays the simulator)."""
    return st.fixed_dictionaries(
        {},
        optional={
            "subscriptionId": st.uuids().map(lambda u: str(u).upper()),
            "resourceGroupName": st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-_.]{0,30}", fullmatch=True),
            "workspaceName": st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-_]{1,30}", fullmatch=True),
            "apiVersion": st.sampled_from(VALID_VERSIONS),
            "authToken": st.from_regex(r"[A-Za-z0-9\-._~+/]{1,60}=?", fullmatch=True),
            # The first wait is always given: the setting's default (5 s) may pass a
            # maxPollIntervalSeconds of 2 or 3, which is rightly refused.
            "options": st.fixed_dictionaries(
                {"pollIntervalSeconds": st.integers(1, 2)},
                optional={
                    "maxPollIntervalSeconds": st.integers(2, 3),
                    "timeoutSeconds": st.floats(1, 20),
                },
            ),
        },
    )


def invalid_change(decoy: DecoyServer) -> st.SearchStrategy[tuple[str, Any]]:
    """One (field, value) that makes any request invalid, by construction."""
    coordinate = st.sampled_from(COORDINATES).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.one_of(
                not_a_string,
                hostile_text.filter(lambda v, n=name: not SPEC_PATTERNS[n].fullmatch(v)),
            ),
        )
    )
    return st.one_of(
        coordinate,
        st.tuples(
            st.just("apiVersion"),
            st.one_of(
                st.sampled_from(["2019-11-04-preview", "2024-02-01-preview", "2025-11-30"]),
                hostile_text.filter(lambda v: not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", v)),
                not_a_string,
            ),
        ),
        st.tuples(
            st.just("authToken"),
            st.one_of(st.sampled_from(["", "Bearer abc", "a b", "x" * 20_000]), not_a_string),
        ),
        st.tuples(
            st.just("endpoint"),
            st.one_of(
                st.sampled_from(decoy_forms(decoy)),
                st.sampled_from(["https://evil.example", "https://quantum.azure.com.evil.example"]),
                not_a_string,
            ),
        ),
        st.tuples(
            st.just("location"),
            st.sampled_from([f"127.0.0.1:{decoy.port}", "evil.example", "westus/..", "", "a b"]),
        ),
        st.tuples(
            st.just("options"),
            st.one_of(
                st.sampled_from([{"timeoutSeconds": 0}, {"pollIntervalSeconds": "5"}, {"x": 1}]),
                st.sampled_from([[], "fast", 3]),
            ),
        ),
        st.tuples(st.sampled_from(["extra", "jobid", "auth_token"]), hostile_value),
    )


def valid_body(job_id: str) -> dict[str, Any]:
    """A request the app accepts (for a job the simulator does not have)."""
    return job_body(
        job_id,
        authToken="fuzz-token",
        options={"pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1, "timeoutSeconds": 5},
    )


def fuzz_settings(examples: int) -> Any:
    """Hypothesis settings of every fuzz test here: repeatable, no per-example deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )


# -- the host, once per module --------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_env(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostProcess, SimulatorServer, DecoyServer]]:
    """A host pointed at the session's simulator, and a decoy that must stay untouched."""
    decoy = DecoyServer().start()
    # Event-started runs use the app identity: start_host points it at the simulator's
    # loopback identity endpoint, so they really reach the simulator (and nothing else).
    _simulator_session.reset()
    host = start_host(tmp_path_factory.mktemp("fuzz-host"), quantum_endpoint=_simulator_session.url)
    try:
        yield host, _simulator_session, decoy
    finally:
        if host.running:
            host.stop()
        decoy.stop()
        _simulator_session.reset()


class Trail:
    """What the fuzzing sent, what came back, and which jobs were accepted."""

    def __init__(self) -> None:
        """Nothing sent yet."""
        self.answers: list[dict[str, Any]] = []
        self.accepted_jobs: set[str] = set()

    def record(self, channel: str, response: requests.Response) -> int:
        """Keep the answer; a 5xx fails at once with the body."""
        self.answers.append(answer_of(channel, response))
        assert response.status_code < 500, (response.status_code, response.text[:500])
        return response.status_code


def _instances(host: HostProcess) -> list[dict[str, Any]]:
    listing: list[dict[str, Any]] = requests.get(
        host.url + MANAGEMENT + "?showInput=false", timeout=TIMEOUT
    ).json()
    return listing


@contextlib.contextmanager
def fuzzing(
    host: HostProcess, sim: SimulatorServer, decoy: DecoyServer, records: SuiteRecords
) -> Iterator[Trail]:
    """A trail for one fuzzing test. Once the inputs are sent, wait for the runs they started
    to end; whatever happened, keep the answers, the simulator's log and the decoy's hits."""
    trail = Trail()
    hits_before = len(decoy.hits)
    try:
        yield trail
        wait_for(
            lambda: all(i["runtimeStatus"] not in ("Pending", "Running") for i in _instances(host)),
            timeout=60,
            message="fuzzed runs finished",
        )
    finally:
        records.add("answers", answers=trail.answers)
        records.add("requests", entries=sim.requests(), jobs=sorted(trail.accepted_jobs))
        records.add("decoy", hits=decoy.hits[hits_before:])


def _check_host_and_figures(
    host: HostProcess, sim: SimulatorServer, decoy: DecoyServer, records: SuiteRecords
) -> None:
    log = host.log_text()
    assert "Traceback" not in log, log[-3000:]
    assert "Exception while executing" not in log
    found = records.figures()
    assert found["disallowed_requests"] == 0, (sim.requests()[:5], decoy.hits[:5])


# -- HTTP API --------------------------------------------------------------------------------
def test_http_api_accepts_exactly_the_valid_bodies(
    fuzz_env: tuple[HostProcess, SimulatorServer, DecoyServer], records: SuiteRecords
) -> None:
    host, sim, decoy = fuzz_env
    sim.reset()
    known = {i["instanceId"] for i in _instances(host)}
    counter = itertools.count()
    expected: set[str] = set()

    @fuzz_settings(sizes().http_examples)
    @given(
        changes=valid_changes(),
        broken=st.one_of(st.none(), invalid_change(decoy)),
        wait=st.one_of(
            st.none(),
            st.just("0"),
            st.sampled_from(["nan", "inf", "-1", "61", "1e309", "0x10", "", "1;rm", "%00"]),
        ),
    )
    def send(changes: dict[str, Any], broken: tuple[str, Any] | None, wait: str | None) -> None:
        job_id = str(uuid.UUID(int=next(counter) + 1, version=4))
        body = valid_body(job_id)
        body.update(changes)
        if broken is not None:
            body[broken[0]] = broken[1]
        valid = broken is None and wait in (None, "0")
        query = {} if wait is None else {"waitSeconds": wait}
        response = requests.post(host.url + API, json=body, params=query, timeout=TIMEOUT)
        status = trail.record("http", response)
        if status == 202:
            expected.add(response.json()["id"])
        assert "fuzz-token" not in response.text
        if not valid:
            assert status == 400, (broken, wait, response.text[:300])
            assert response.headers["Content-Type"] == "application/problem+json"
            assert json.loads(response.text)["invalid-params"]
            return
        assert status == 202, (changes, response.text[:300])
        assert response.json()["id"] == instance_id_for(body)
        trail.accepted_jobs.add(job_id)

    with fuzzing(host, sim, decoy, records) as trail:
        send()
    listing = [i for i in _instances(host) if i["instanceId"] not in known]
    for instance in listing:
        records.add("run", runtimeStatus=instance["runtimeStatus"])
    _check_host_and_figures(host, sim, decoy, records)
    # Both sides of the oracle were exercised.
    assert expected and any(a["status"] == 400 for a in trail.answers)
    started = {i["instanceId"] for i in listing}
    # Exactly one run per valid body, none for an invalid one.
    assert started == expected, (sorted(started - expected)[:3], sorted(expected - started)[:3])


RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{",
    b"\xff\xfe\x00{",
    b"[" * 100_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"subscriptionId": NaN}',
    b'{"jobId": Infinity}',
    b"{" + b'"k": 1,' * 20_000 + b'"z": 0}',
    b" " * (65 * 1024) + b"{}",
]


def test_http_api_rejects_raw_junk_and_hostile_routes(
    fuzz_env: tuple[HostProcess, SimulatorServer, DecoyServer], records: SuiteRecords
) -> None:
    host, sim, decoy = fuzz_env
    sim.reset()
    answered: list[tuple[bytes, int]] = []

    @fuzz_settings(sizes().http_examples)
    @given(
        raw=st.binary(max_size=300),
        instance=st.one_of(
            hostile_text.filter(lambda s: len(s) < 3000),
            st.sampled_from(
                ["..%2F..%2Fadmin", "%2e%2e/%2e%2e/", "cancel-%2F", "x?showInput=true", "a#b"]
            ),
        ),
    )
    def send(raw: bytes, instance: str) -> None:
        response = requests.post(host.url + API, data=raw, timeout=TIMEOUT)
        assert trail.record("http", response) == 400
        path = quote(instance, safe="%/?#")
        response = requests.get(f"{host.url}{API}/{path}", timeout=TIMEOUT)
        assert trail.record("http", response) in (400, 404)

    with fuzzing(host, sim, decoy, records) as trail:
        for raw in RAW_BODIES:
            response = requests.post(
                host.url + API,
                data=raw,
                headers={"Content-Type": "application/json"},
                timeout=TIMEOUT,
            )
            answered.append((raw[:40], trail.record("http", response)))
        send()
    _check_host_and_figures(host, sim, decoy, records)
    assert [raw for raw, status in answered if status != 400] == []


# -- Event Grid --------------------------------------------------------------------------------
def _coordinates_data(job_id: str) -> dict[str, Any]:
    return {
        "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
        "resourceGroupName": DEFAULT_RESOURCE_GROUP,
        "workspaceName": DEFAULT_WORKSPACE,
        "jobId": job_id,
    }


def test_event_grid_logs_and_acknowledges_hostile_events(
    fuzz_env: tuple[HostProcess, SimulatorServer, DecoyServer], records: SuiteRecords
) -> None:
    host, sim, decoy = fuzz_env
    sim.reset()
    counter = itertools.count()
    sent_ids: list[str] = []
    # An event may name any endpoint, the decoy's plain origin included: none is ever used.
    smuggled_endpoints = [decoy.url, *decoy_forms(decoy), "https://evil.example"]

    @fuzz_settings(sizes().event_examples)
    @given(
        schema=st.sampled_from(["eventgrid", "cloudevents"]),
        # Every event here has a type: one without fails on purpose, so that Event Grid
        # retries it (test_event_grid_e2e.py covers that).
        event_type=st.one_of(
            st.just("Quantum.Job.CostAlert"), hostile_value.filter(lambda v: v not in (None, ""))
        ),
        subject=st.one_of(
            hostile_value,
            st.sampled_from(
                [
                    "/subscriptions/x/resourceGroups/../providers/Microsoft.Quantum"
                    "/workspaces/w/jobs/j",
                    f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg%2F..%2F"
                    "/providers/Microsoft.Quantum/workspaces/ws/jobs/"
                    f"{uuid.UUID(int=7, version=4)}",
                    decoy.url,
                ]
            ),
        ),
        data=st.one_of(
            hostile_value,
            st.dictionaries(
                st.sampled_from(
                    [*COORDINATES, "jobResourceId", "authToken", "endpoint", "apiVersion"]
                ),
                st.one_of(hostile_value, st.sampled_from(smuggled_endpoints)),
                max_size=5,
            ),
        ),
        smuggled=st.dictionaries(
            st.sampled_from(["authToken", "endpoint", "apiVersion", "location"]),
            st.sampled_from(["evil-token", *smuggled_endpoints, "2019-11-04-preview", "evil"]),
            max_size=4,
        ),
        valid_job=st.booleans(),
    )
    def send(
        schema: str,
        event_type: Any,
        subject: Any,
        data: Any,
        smuggled: dict[str, str],
        valid_job: bool,
    ) -> None:
        event_id = f"fz-{next(counter)}"
        if valid_job:
            # Accepted type and a valid job, plus smuggled fields an event must never supply.
            job_id = str(uuid.UUID(int=10_000 + next(counter), version=4))
            data = {**_coordinates_data(job_id), **smuggled}
            event_type = "Quantum.Job.CostAlert"
        if schema == "eventgrid":
            event = {
                "id": event_id,
                "eventType": event_type,
                "subject": subject,
                "data": data,
                "dataVersion": "1",
                "eventTime": "2026-01-01T00:00:00Z",
            }
        else:
            event = {
                "specversion": "1.0",
                "id": event_id,
                "type": event_type,
                "source": "/fuzz",
                "subject": subject,
                "data": data,
            }
        response = requests.post(
            host.url + EVENTS,
            json=[event],
            headers={"aeg-event-type": "Notification"},
            timeout=TIMEOUT,
        )
        assert trail.record("event", response) == 202, response.text[:300]
        sent_ids.append(event_id)
        if valid_job:
            trail.accepted_jobs.add(job_id)

    with fuzzing(host, sim, decoy, records) as trail:
        send()
    log = host.log_text()
    records.add("texts", secret="evil-token", places={"host log": log})
    _check_host_and_figures(host, sim, decoy, records)
    for event_id in sent_ids:
        # Every event left a line: started, ignored, or rejected with its reason.
        assert re.search(rf"event {re.escape(event_id)}[ :]", log), event_id
    assert records.figures()["tokens_leaked"] == 0
    # Smuggled endpoints and api-versions were never used: only the simulator, the default.
    assert all(e["apiVersion"] == "2026-01-15-preview" for e in sim.requests())
    assert trail.accepted_jobs and any(INTENDED_PATH.fullmatch(e["path"]) for e in sim.requests())


# -- in process, guarded ---------------------------------------------------------------------
def test_input_checks_and_alert_decisions_in_process(
    guard: OutboundGuard, monkeypatch: pytest.MonkeyPatch, records: SuiteRecords
) -> None:
    monkeypatch.setenv("QUANTUM_ENDPOINT", "https://westus.quantum.azure.com")
    settings_now = load_settings()

    @fuzz_settings(sizes().inprocess_examples)
    @given(
        changes=st.dictionaries(
            st.sampled_from(
                [
                    *COORDINATES,
                    "apiVersion",
                    "authToken",
                    "endpoint",
                    "location",
                    "options",
                    "extra",
                ]
            ),
            hostile_value,
            min_size=1,
            max_size=4,
        ),
        subject=hostile_value,
        data=json_junk,
    )
    def check(changes: dict[str, Any], subject: Any, data: Any) -> None:
        body = valid_body(str(uuid.uuid4()))
        body.update(changes)
        try:
            request = checked_cancel_input(body, settings_now)
        except InvalidInput as invalid:
            assert invalid.problems
            assert "fuzz-token" not in str(invalid)
        else:
            assert re.fullmatch(r"https://[a-z0-9-]+\.quantum\.azure\.com", request["endpoint"])
            for name in COORDINATES:
                assert SPEC_PATTERNS[name].fullmatch(request[name])  # type: ignore[literal-required]
        decision = decide("Quantum.Job.CostAlert", subject, data, settings_now)
        if decision.request is not None:
            assert decision.request["endpoint"] == "https://westus.quantum.azure.com"
            assert "authToken" not in decision.request
            assert decision.request["apiVersion"] == settings_now.api_version

    check()
    assert guard.allowed == [] and guard.disallowed == []


# -- SSRF ------------------------------------------------------------------------------------
SSRF_ENDPOINTS = [
    "https://quantum.azure.com.evil.example",
    "https://westus.quantum.azure.com.evil.example",
    "https://westus.quantum.azure.com.",
    "https://evilquantum.azure.com",
    "https://quantum.azure.com",
    "https://westus.quantum.azure.co",
    "https://westus.quantum-azure.com",
    "https://westus.quantum.azure.com@evil.example",
    "https://user:pass@westus.quantum.azure.com",
    "https://evil.example#@westus.quantum.azure.com",
    "https://evil.example\\@westus.quantum.azure.com",
    "https://evil.example?.quantum.azure.com",
    "https://evil.example/.quantum.azure.com",
    "https://westus.quantum.azure.com:8443",
    "https://westus.quantum.azure.com:443@evil.example",
    "http://westus.quantum.azure.com",
    "ftp://westus.quantum.azure.com",
    "https://10.0.0.1",
    "https://169.254.169.254",
    "http://169.254.169.254/metadata/identity/oauth2/token",
    "https://[fd00::1]",
    "https://2130706433",
    "https://0x7f000001",
    "https://127.1",
    "http://127.0.0.1:1",
    "http://localhost:1",
    "http://[::1]:1",
    "https://westus.quantum.azure.com/../evil",
    "https://westus.quantum.azure.com/?x=1",
    "https://xn--westus-quantum.azure.com.evil.example",
    "https://westus.quantum.azure.com\u3002evil.example",
    "https://westus\u2024quantum.azure.com",
    " https://westus.quantum.azure.com",
    "https://westus.quantum.azure.com\n.evil.example",
]
SSRF_LOCATIONS = [
    "westus.evil.example",
    "westus/../",
    "evil.example#",
    "westus@evil",
    "127.0.0.1",
    "westus:8443",
    "west us",
    "x" * 60,
]


def test_ssrf_endpoints_and_locations_are_refused_before_any_connection(
    guard: OutboundGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loopback off, as in Azure: then not even 127.0.0.1 may get a token.
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "false")
    monkeypatch.setenv("QUANTUM_ENDPOINT", "https://westus.quantum.azure.com")
    for name, values in (("endpoint", SSRF_ENDPOINTS), ("location", SSRF_LOCATIONS)):
        for value in values:
            body = valid_body(str(uuid.uuid4()))
            body[name] = value
            with pytest.raises(InvalidInput) as refused:
                checked_cancel_input(body, load_settings())
            assert [p.name for p in refused.value.problems] == [name], value
    assert guard.allowed == [] and guard.disallowed == []


def test_tampered_run_input_never_sends_the_token_elsewhere(
    harness: Harness, guard: OutboundGuard, records: SuiteRecords
) -> None:
    # Even an orchestration input edited in the task hub is checked again by the activity.
    harness.simulator.seed_job("0a1b2c3d-0000-4000-8000-00000000abcd")
    good = harness.request("0a1b2c3d-0000-4000-8000-00000000abcd")
    ended = []
    for endpoint in SSRF_ENDPOINTS[:12]:
        tampered = {**good, "endpoint": endpoint}
        engine = harness.engine()
        instance_id = engine.start_new(ORCHESTRATION, instance_id_for(good), tampered)
        engine.run_until_idle()
        status = engine.get_status(instance_id)
        records.add("run", runtimeStatus=status.runtime_status.value if status else None)
        ended.append((endpoint, status))
    records.add("requests", entries=harness.simulator.requests(), jobs=[])
    for endpoint, status in ended:
        assert status is not None and status.runtime_status.value == "Failed", endpoint
        assert "not retried" in str(status.output)
    assert harness.simulator.requests() == []
    assert guard.allowed == [] and guard.disallowed == []


def test_redirect_is_never_followed_with_the_token(
    harness: Harness, guard: OutboundGuard, decoy: DecoyServer, records: SuiteRecords
) -> None:
    job = "0a1b2c3d-0000-4000-8000-00000000abcd"
    guard.allowed_ports.add(decoy.port)  # let it through, so a follow would be seen
    runs = []
    for target in (f"{decoy.url}/steal", "https://evil.example/steal", "//evil.example/x"):
        harness.simulator.reset()
        harness.simulator.seed_job(job)
        harness.simulator.set_redirect(job, target)
        run = harness.run(harness.request(job))
        records.add("run", runtimeStatus=run.status.runtime_status.value)
        records.add("requests", entries=run.calls(), jobs=[job])
        runs.append((run.status, run.calls()))
    for status, calls in runs:
        assert status.runtime_status.value == "Failed"
        assert "Jobs_Get failed with HTTP 307" in str(status.output)
        assert len(calls) == 1
    assert decoy.hits == []
    assert all(port == harness.simulator.port for _, port in guard.allowed)
    assert guard.disallowed == []


def test_host_refuses_endpoints_that_point_at_a_decoy(
    decoy: DecoyServer, tmp_path: Path, records: SuiteRecords
) -> None:
    # The host with loopback off (as in Azure): every way of naming the decoy is a 400.
    host = start_host(
        tmp_path / "ssrf-host",
        allow_loopback=False,
        env={"QUANTUM_ENDPOINT": "https://westus.quantum.azure.com"},
    )
    port = decoy.port
    targets = [
        f"http://127.0.0.1:{port}",
        f"https://127.0.0.1:{port}",
        f"http://localhost:{port}",
        f"http://[::1]:{port}",
        f"https://westus.quantum.azure.com@127.0.0.1:{port}",
        f"http://127.0.0.1:{port}#.quantum.azure.com",
        f"http://2130706433:{port}",
        f"http://127.1:{port}",
    ]
    trail = Trail()
    try:
        for target in targets:
            body = valid_body(str(uuid.uuid4()))
            body["endpoint"] = target
            response = requests.post(host.url + API, json=body, timeout=TIMEOUT)
            assert trail.record("http", response) == 400, target
            names = [p["name"] for p in response.json()["invalid-params"]]
            assert names == ["endpoint"], (target, names)
        assert decoy.hits == []
        assert "Traceback" not in host.log_text()
    finally:
        host.stop()
        records.add("answers", answers=trail.answers)
