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
from devtools.durable.functions import app_functions
from tests.support.orchestration import Harness
from tests.support.telemetry import Capture, moved, telemetry_capture
from workflow.inputs import instance_id_for
from workflow.times import parse_iso

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
    seconds = (
        parse_iso(outputs["finishedAt"]) - parse_iso(outputs["cancelRequestedAt"])
    ).total_seconds()
    assert confirmation[outcome | {("__count__", True)}] == 1
    assert confirmation[outcome | {("__sum__", True)}] == pytest.approx(seconds)


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


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + json.dumps(
        {k: v for k, v in vars(record).items() if k in FIELDS}, default=str
    )
