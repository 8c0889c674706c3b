"""The function metadata the Functions host receives from the worker for this app.

The worker indexes the app with ``app.get_functions()`` and sends each function's bindings as
JSON (``get_raw_bindings()``); devtools.host indexes exactly that. These tests pin the
functions' names, triggers, routes, methods, auth levels, binding names and directions, and
check the host's own reading of them (routes, the worker's parameter check, the client binding).
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.DurableOrchestrationClient import DurableOrchestrationClient

import function_app
from devtools.durable import app_functions
from devtools.host.client_binding import DurableEndpoints, client_binding_json
from devtools.host.metadata import FunctionIndexError, index_app
from devtools.host.routes import compile_template

EXPECTED: dict[str, list[dict[str, Any]]] = {
    "start_cancel_running_job": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ["POST"],
            "authLevel": "FUNCTION",
            "route": "cancel-running-job",
        },
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "get_cancel_status": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ["GET"],
            "authLevel": "FUNCTION",
            "route": "cancel-running-job/{instanceId}",
        },
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "on_job_alert": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {"direction": "IN", "type": "eventGridTrigger", "name": "event"},
    ],
    "cancel_running_job": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
    "get_job": [{"direction": "IN", "type": "activityTrigger", "name": "call"}],
    "cancel_job": [{"direction": "IN", "type": "activityTrigger", "name": "call"}],
    **{
        name: [
            {"direction": "IN", "type": "durableClient", "name": "client"},
            {
                "direction": "IN",
                "type": "httpTrigger",
                "name": "req",
                "methods": [method],
                "authLevel": "FUNCTION",
                "route": route,
            },
            {"direction": "OUT", "type": "http", "name": "$return"},
        ]
        for name, method, route in (
            ("start_cancel_jobs", "POST", "cancel-jobs"),
            ("get_cancel_jobs_status", "GET", "cancel-jobs/{instanceId}"),
            ("get_cancel_jobs_results", "GET", "cancel-jobs/{instanceId}/jobs"),
            ("list_cancellations", "GET", "cancellations"),
            ("find_cancel_running_job", "GET", "cancel-running-job"),
            ("get_guardrails", "GET", "guardrails"),
            ("start_guardrails_sweep", "POST", "guardrails/sweep"),
            ("get_guardrails_sweep", "GET", "guardrails/sweep/{instanceId}"),
            ("on_monitor_alert", "POST", "monitor-alerts"),
        )
    },
    "watch_jobs": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "0 */5 * * * *",
            "runOnStartup": False,
        },
    ],
    "enforce_guardrails": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
    "list_quotas": [{"direction": "IN", "type": "activityTrigger", "name": "call"}],
    # An activity that is also a client function: it starts the sweep's cancellations.
    "start_guardrail_cancels": [
        {"direction": "IN", "type": "activityTrigger", "name": "batch"},
        {"direction": "IN", "type": "durableClient", "name": "client"},
    ],
    "publish_outcome_events": [{"direction": "IN", "type": "activityTrigger", "name": "batch"}],
    "cancel_jobs": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
    "cancel_jobs_page": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
    "list_jobs_page": [{"direction": "IN", "type": "activityTrigger", "name": "call"}],
    "close_session": [{"direction": "IN", "type": "activityTrigger", "name": "call"}],
}


def _raw_bindings() -> dict[str, list[dict[str, Any]]]:
    return {
        function.get_function_name(): [json.loads(raw) for raw in function.get_raw_bindings()]
        for function in app_functions(function_app.app)
    }


def _sorted(bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(bindings, key=lambda b: (b["type"], b["name"]))


def test_the_worker_sends_exactly_these_functions() -> None:
    assert sorted(_raw_bindings()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bindings_as_the_host_receives_them(name: str) -> None:
    assert _sorted(_raw_bindings()[name]) == _sorted(EXPECTED[name])


def test_host_index_reads_routes_methods_and_auth_levels() -> None:
    index = index_app(function_app.app)
    summary = {
        f.name: (f.trigger_type, f.http and (f.http.route, f.http.methods, f.http.auth_level))
        for f in index.functions
    }
    assert summary == {
        "start_cancel_running_job": ("httpTrigger", ("cancel-running-job", ("POST",), "function")),
        "get_cancel_status": (
            "httpTrigger",
            ("cancel-running-job/{instanceId}", ("GET",), "function"),
        ),
        "on_job_alert": ("eventGridTrigger", None),
        "cancel_running_job": ("orchestrationTrigger", None),
        "get_job": ("activityTrigger", None),
        "cancel_job": ("activityTrigger", None),
        "start_cancel_jobs": ("httpTrigger", ("cancel-jobs", ("POST",), "function")),
        "list_cancellations": ("httpTrigger", ("cancellations", ("GET",), "function")),
        "find_cancel_running_job": ("httpTrigger", ("cancel-running-job", ("GET",), "function")),
        "get_cancel_jobs_status": (
            "httpTrigger",
            ("cancel-jobs/{instanceId}", ("GET",), "function"),
        ),
        "get_cancel_jobs_results": (
            "httpTrigger",
            ("cancel-jobs/{instanceId}/jobs", ("GET",), "function"),
        ),
        "cancel_jobs": ("orchestrationTrigger", None),
        "cancel_jobs_page": ("orchestrationTrigger", None),
        "list_jobs_page": ("activityTrigger", None),
        "close_session": ("activityTrigger", None),
        "publish_outcome_events": ("activityTrigger", None),
        "watch_jobs": ("timerTrigger", None),
        "get_guardrails": ("httpTrigger", ("guardrails", ("GET",), "function")),
        "start_guardrails_sweep": ("httpTrigger", ("guardrails/sweep", ("POST",), "function")),
        "get_guardrails_sweep": (
            "httpTrigger",
            ("guardrails/sweep/{instanceId}", ("GET",), "function"),
        ),
        "enforce_guardrails": ("orchestrationTrigger", None),
        "list_quotas": ("activityTrigger", None),
        "on_monitor_alert": ("httpTrigger", ("monitor-alerts", ("POST",), "function")),
        "start_guardrail_cancels": ("activityTrigger", None),
    }
    assert [c.name for c in index.get("on_job_alert").durable_clients] == ["client"]  # type: ignore[union-attr]
    starter = index.get("start_guardrail_cancels")
    assert starter is not None and [c.name for c in starter.durable_clients] == ["client"]
    assert starter.is_async  # its client shares the SDK's session on the worker's one loop


def test_every_http_and_event_function_is_async() -> None:
    # They share the SDK's aiohttp session, which is bound to the host's one event loop.
    index = index_app(function_app.app)
    for name in ("start_cancel_running_job", "get_cancel_status", "on_job_alert"):
        assert index.get(name).is_async  # type: ignore[union-attr]


def test_a_binding_name_mistake_fails_indexing_like_the_worker() -> None:
    app = df.DFApp()

    @app.route(route="x", methods=["GET"])
    @app.durable_client_input(client_name="durable")
    async def broken(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> str:
        return "never"

    with pytest.raises(FunctionIndexError) as raised:
        index_app(app)
    text = str(raised.value)
    assert "declared in Python but not in function.json: {'client'}" in text
    assert "declared in function.json but not in Python: {'durable'}" in text


def test_conflicting_routes_fail_indexing() -> None:
    app = func.FunctionApp()

    @app.route(route="same", methods=["GET"])
    def one(req: func.HttpRequest) -> str:
        return "1"

    @app.route(route="Same", methods=["GET", "POST"])
    def two(req: func.HttpRequest) -> str:
        return "2"

    with pytest.raises(FunctionIndexError, match="already used by one"):
        index_app(app)


def test_route_templates_match_like_the_host() -> None:
    template = compile_template("cancel-running-job/{instanceId}")
    assert template.match("cancel-running-job/abc") == {"instanceId": "abc"}
    assert template.match("Cancel-Running-Job/a%20b") == {"instanceId": "a b"}
    assert template.match("cancel-running-job") is None
    assert template.match("cancel-running-job/a/b") is None
    assert compile_template("f/{*rest}").match("f/a/b") == {"rest": "a/b"}
    assert compile_template("n/{id:int}").match("n/x") is None


def test_client_binding_is_what_the_sdk_expects() -> None:
    endpoints = DurableEndpoints("http://127.0.0.1:7071", "CancelRunningJob", "k3y")
    binding = json.loads(client_binding_json(endpoints))
    assert binding["taskHubName"] == "CancelRunningJob"
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/durabletask/"
    assert binding["baseUrl"] == "http://127.0.0.1:7071/runtime/webhooks/durabletask"
    assert binding["requiredQueryStringParameters"] == "code=k3y"
    assert binding["managementUrls"]["id"] == "INSTANCEID"
    assert binding["managementUrls"]["statusQueryGetUri"] == (
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCEID"
        "?taskHub=CancelRunningJob&connection=Storage&code=k3y"
    )
    assert binding["managementUrls"]["terminatePostUri"].endswith(
        "/instances/INSTANCEID/terminate?reason={text}&taskHub=CancelRunningJob"
        "&connection=Storage&code=k3y"
    )
    client = DurableOrchestrationClient(client_binding_json(endpoints))
    request = func.HttpRequest(
        "POST",
        "http://localhost:7071/api/cancel-running-job",
        headers={},
        params={},
        route_params={},
        body=b"",
    )
    payload = json.loads(client.create_check_status_response(request, "abc").get_body())
    # The SDK moves the URLs to the caller's origin and fills in the instance id.
    assert payload["statusQueryGetUri"] == (
        "http://localhost:7071/runtime/webhooks/durabletask/instances/abc"
        "?taskHub=CancelRunningJob&connection=Storage&code=k3y"
    )
