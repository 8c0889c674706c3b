"""Telemetry: one log record, one client span and one metric point per data-plane request;
cancellations by outcome and trigger, and the time from the accepted cancel to the end.

The app uses the OpenTelemetry API only; here the SDK's in-memory exporter and reader
(tests/support/telemetry.py) collect what it emits, and the simulator's request log is the
independent record it is held to.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from opentelemetry import trace

import function_app
from appsettings import load_settings
from dataplane import auth
from devtools.durable.functions import app_functions
from devtools.simulator import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_WORKSPACE
from tests.support import plants
from tests.support.orchestration import ORCHESTRATION, Harness
from tests.support.telemetry import Capture, moved, telemetry_capture
from triggers import job_alerts
from workflow.inputs import instance_id_for

JOB = "0a1b2c3d-0000-4000-8000-0000000007e1"
OPTIONS = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 600}
FIELDS = (
    "instanceId",
    "jobId",
    "operation",
    "attempt",
    "clientRequestId",
    "serviceRequestId",
    "httpStatus",
    "durationMs",
)


@pytest.fixture
def capture() -> Capture:
    found = telemetry_capture()
    found.clear()
    return found


def test_a_full_run_gives_one_span_and_one_record_per_request_and_the_right_metrics(
    harness: Harness, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    harness.simulator.seed_job(JOB)
    harness.simulator.add_fault({"operation": "Jobs_Get", "count": 1, "httpStatus": 503})
    requests_before = capture.totals("quantum.dataplane.requests")
    outcomes_before = capture.totals("cancel_running_job.cancellations")
    confirmation_before = capture.totals("cancel_running_job.confirmation.duration")
    with caplog.at_level(logging.INFO, logger="activities"):
        run = harness.run(harness.request(JOB, options=OPTIONS))
    outputs = run.outputs
    assert outputs["outcome"] == "cancelled"
    logged = harness.simulator.requests()
    spans = capture.finished_spans()

    # One client span per request the simulator saw, matched by the client request id.
    assert len(spans) == len(logged) == outputs["activityCalls"]
    by_id = {span.attributes["az.client_request_id"]: span for span in spans}
    for entry in logged:
        span = by_id[entry["clientRequestId"]]
        attributes = dict(span.attributes)
        assert span.kind is trace.SpanKind.CLIENT and span.name == entry["operation"]
        assert attributes["http.request.method"] == entry["method"]
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == harness.simulator.port
        assert attributes["http.response.status_code"] == entry["status"]
        assert attributes["az.service_request_id"] == entry["requestId"]
        assert attributes["quantum.job.id"] == JOB
        assert attributes["quantum.orchestration.instance_id"] == run.instance_id
        assert attributes["url.full"].endswith(f"{entry['path']}?api-version={entry['apiVersion']}")
        assert (span.status.status_code is trace.StatusCode.ERROR) == (entry["status"] >= 400)

    # Every request has a distinct GUID, found in exactly one log record with every field.
    ids = [entry["clientRequestId"] for entry in logged]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 4 for i in ids)
    for entry in logged:
        records = [r for r in caplog.records if entry["clientRequestId"] in _record_text(r)]
        assert len(records) == 1, entry
        fields = {name: getattr(records[0], name) for name in FIELDS}
        assert fields["clientRequestId"] == entry["clientRequestId"]
        assert fields["serviceRequestId"] == entry["requestId"]
        assert fields["httpStatus"] == entry["status"] and fields["jobId"] == JOB
        assert fields["instanceId"] == run.instance_id and fields["operation"] == entry["operation"]
    attempts = [r.attempt for r in caplog.records if hasattr(r, "attempt")]
    assert attempts[:2] == [1, 2]  # the 503 was retried as attempt 2

    # Requests by operation and status code, as the simulator logged them.
    counted = moved(requests_before, capture.totals("quantum.dataplane.requests"))
    expected: dict[frozenset[tuple[str, object]], float] = {}
    for entry in logged:
        key = frozenset(
            {
                ("quantum.operation", entry["operation"]),
                ("http.response.status_code", entry["status"]),
            }
        )
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected

    outcome = frozenset({("outcome", "cancelled"), ("trigger", "http")})
    assert moved(outcomes_before, capture.totals("cancel_running_job.cancellations")) == {
        outcome: 1
    }
    confirmation = moved(
        confirmation_before, capture.totals("cancel_running_job.confirmation.duration")
    )
    # From the simulator's log: the accepted cancel to the read that saw the job Cancelled
    # (the simulator's clock follows the run's virtual clock, one request at a time).
    [accepted] = [e for e in logged if e["operation"] == "Jobs_Cancel" and e["status"] == 204]
    confirming = [e for e in logged if e["operation"] == "Jobs_Get" and e["status"] == 200]
    seconds = confirming[-1]["clock"] - accepted["clock"]
    assert seconds > 0
    assert confirmation[outcome | {("__count__", True)}] == 1
    assert confirmation[outcome | {("__sum__", True)}] == pytest.approx(seconds, abs=1e-3)


def test_the_client_span_is_a_child_of_the_current_context(
    harness: Harness, capture: Capture
) -> None:
    # In Azure the worker makes the activity's trace current; any current span must parent
    # the request's span.
    harness.simulator.seed_job(JOB)
    request = harness.request(JOB)
    [get_job] = [
        f.get_user_function()
        for f in app_functions(function_app.app)
        if f.get_function_name() == "get_job"
    ]
    call = {
        **{k: request[k] for k in ("subscriptionId", "resourceGroupName", "workspaceName")},
        "jobId": JOB,
        "apiVersion": request["apiVersion"],
        "endpoint": request["endpoint"],
        "instanceId": instance_id_for(request),  # the run its token is sealed for
        "sealedToken": request["sealedToken"],
        "attempt": 1,
    }
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("activity get_job") as parent:
        answer = get_job(call=call)
    assert answer["ok"] is True
    [span] = [s for s in capture.finished_spans() if s.name == "Jobs_Get"]
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id


def test_a_failed_run_counts_as_failed(harness: Harness, capture: Capture) -> None:
    before = capture.totals("cancel_running_job.cancellations")
    run = harness.run(harness.request("0a1b2c3d-0000-4000-8000-0000000007e2"))  # no such job
    assert run.status.runtime_status.value == "Failed"
    after = moved(before, capture.totals("cancel_running_job.cancellations"))
    assert after == {frozenset({("outcome", "failed"), ("trigger", "http")}): 1}


def alert_cancellations(
    harness: Harness, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> dict[frozenset[tuple[str, object]], float]:
    """Two runs started as on_job_alert starts them (one job cancelled, one unknown) with
    the app's identity; returns how the cancellations metric moved."""
    sim = harness.simulator
    monkeypatch.setenv("QUANTUM_ENDPOINT", sim.url)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{sim.url}/_simulator/identity/token")
    monkeypatch.setenv("IDENTITY_HEADER", "tests")
    monkeypatch.setattr(auth, "_identity", {})
    settings = load_settings()
    before = capture.totals("cancel_running_job.cancellations")
    for job in (sim.seed_job(JOB), "0a1b2c3d-0000-4000-8000-0000000007e3"):
        data = {
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobId": job,
        }
        decision = job_alerts.decide("Quantum.Job.CostAlert", "/alerts", data, settings)
        assert decision.request is not None, decision.reason
        harness.run_orchestration(ORCHESTRATION, decision.instance_id, decision.request)
    return moved(before, capture.totals("cancel_running_job.cancellations"))


def check_alert_cancellations(found: dict[frozenset[tuple[str, object]], float]) -> None:
    """An alert's runs count under trigger ``eventGrid``, by outcome."""
    assert found == {
        frozenset({("outcome", "cancelled"), ("trigger", "eventGrid")}): 1,
        frozenset({("outcome", "failed"), ("trigger", "eventGrid")}): 1,
    }, found


def test_an_alert_run_counts_under_event_grid(
    harness: Harness, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_alert_cancellations(alert_cancellations(harness, capture, monkeypatch))


def test_an_alert_run_counted_as_http_is_caught(
    harness: Harness, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planted: the alert's run forgets its trigger; the check above must refuse the figures.
    plants.apply("alert-trigger-lost", monkeypatch.setattr)
    found = alert_cancellations(harness, capture, monkeypatch)
    assert {dict(key)["trigger"] for key in found} == {"http"}
    with pytest.raises(AssertionError):
        check_alert_cancellations(found)


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + json.dumps(
        {k: v for k, v in vars(record).items() if k in FIELDS}, default=str
    )
