"""``on_monitor_alert``: Azure Monitor alerts in the common alert schema start workspace-scale
cancels, as PRODUCT.md section 5.1 says.

The samples in samples/alerts/ are written from Microsoft's "Common alert schema" and "Sample
alert payloads" pages (a metric alert fired and resolved, a Cost Management budget alert). The
function is called two ways: in this process through ``function_app.app`` (its answers), with a
real Durable client bound to a devtools.host; and over HTTP through that host, whose runs cancel
jobs in the simulator (what the alert starts, once).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import requests
from azure.durable_functions.models.utils import http_utils

import function_app
from appsettings import MONITOR_ALERT_ACTIONS, SettingsError, load_settings
from devtools.durable import app_functions
from devtools.host.client_binding import DurableEndpoints, client_binding_json
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from tests.support.host import HostProcess, module_host, wait_for
from triggers.monitor_alerts import alert_instance_id
from workflow.alert_schema import read_alert
from workflow.inputs import InvalidInput

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "alerts"
TIMEOUT = 15
QUICK = {"before": [["Executing", {}]], "after": [["Cancelled", {}]]}
WORKSPACE = {
    "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
    "resourceGroupName": DEFAULT_RESOURCE_GROUP,
    "workspaceName": DEFAULT_WORKSPACE,
}
# The metric sample's rule takes its workspace from alertTargetIDs; the budget's names it.
ACTIONS = {
    "quantum-spend-spike": {"filter": {"target": ["ionq.qpu.aria-1"]}},
    "quantum-workspace-budget": {"workspace": WORKSPACE, "filter": {}, "maxJobs": 50},
    "dry-look": {"workspace": WORKSPACE, "filter": {"target": ["ionq.qpu.aria-1"]}, "dryRun": True},
}


def sample(name: str, **essentials: Any) -> dict[str, Any]:
    """A sample alert, moved into the simulator's workspace, with ``essentials`` changed."""
    text = (
        (SAMPLES / f"{name}.json")
        .read_text(encoding="utf-8")
        .replace("11111111-2222-3333-4444-555555555555", DEFAULT_SUBSCRIPTION_ID)
        .replace("rg-quantum", DEFAULT_RESOURCE_GROUP.lower())
        .replace("ws-quantum", DEFAULT_WORKSPACE.lower())
    )
    alert: dict[str, Any] = json.loads(text)
    alert["data"]["essentials"].update(essentials)
    return alert


# --- the schema, read from the samples -------------------------------------------------------


def test_the_samples_read_as_microsofts_pages_describe_them() -> None:
    fired = read_alert(sample("metric-alert-fired"))
    assert (fired.rule, fired.condition, fired.service) == (
        "quantum-spend-spike",
        "Fired",
        "Platform",
    )
    assert fired.targets[0].endswith(f"/workspaces/{DEFAULT_WORKSPACE.lower()}")
    assert fired.fired.isoformat() == "2026-11-30T03:12:45.123456+00:00"  # 7 digits → 6
    assert read_alert(sample("metric-alert-resolved")).condition == "Resolved"
    budget = read_alert(sample("budget-alert"))
    # The budget variant: no rule, condition or target; the budget's name is the rule.
    assert (budget.rule, budget.condition, budget.targets) == (
        "quantum-workspace-budget",
        "Fired",
        (),
    )
    assert budget.alert_id.endswith("/alerts/quantum-workspace-budget-actual-100")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda a: a.update(schemaId="AIP Budget Notification"), "schemaId"),
        (lambda a: a["data"].pop("essentials"), "data.essentials"),
        (lambda a: a["data"]["essentials"].update(alertId=""), "data.essentials.alertId"),
        (lambda a: a["data"]["essentials"].update(alertRule=None), "data.essentials.alertRule"),
        (
            lambda a: a["data"]["essentials"].update(monitorCondition="Maybe"),
            "data.essentials.monitorCondition",
        ),
        (
            lambda a: a["data"]["essentials"].update(alertTargetIDs="/subscriptions/x"),
            "data.essentials.alertTargetIDs",
        ),
        (
            lambda a: a["data"]["essentials"].update(firedDateTime="yesterday"),
            "data.essentials.firedDateTime",
        ),
    ],
)
def test_every_field_the_app_reads_is_checked(
    change: Callable[[dict[str, Any]], Any], named: str
) -> None:
    alert = sample("metric-alert-fired")
    change(alert)
    with pytest.raises(InvalidInput) as refused:
        read_alert(alert)
    assert named in {p.name for p in refused.value.problems}


def test_a_budget_alert_without_its_budget_name_is_refused() -> None:
    alert = sample("budget-alert")
    del alert["data"]["alertContext"]["AlertData"]["BudgetName"]
    with pytest.raises(InvalidInput) as refused:
        read_alert(alert)
    assert [p.name for p in refused.value.problems] == ["data.alertContext.AlertData.BudgetName"]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{not json", "must be a JSON object"),
        ('["a"]', "must be a JSON object"),
        ('{"r": 3}', '["r"] must be a JSON object'),
        ('{" ": {}}', "an alert rule name must be 1-260 characters"),
    ],
)
def test_a_bad_monitor_alert_actions_setting_names_itself(value: str, words: str) -> None:
    with pytest.raises(SettingsError) as bad:
        load_settings({MONITOR_ALERT_ACTIONS: value})
    assert MONITOR_ALERT_ACTIONS in str(bad.value) and words in str(bad.value)


def test_the_same_alert_always_names_the_same_run() -> None:
    first = alert_instance_id("/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a")
    assert first == alert_instance_id(
        "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a"
    )
    assert first != alert_instance_id(
        "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/b"
    )
    # The bulk routes serve it: GET /api/cancel-jobs/{id} accepts only their own id form.
    from triggers.bulk_api import BULK_INSTANCE_ID

    assert BULK_INSTANCE_ID.fullmatch(first)


# --- a host whose runs cancel jobs in the simulator --------------------------------------------


@pytest.fixture(scope="module")
def alert_host(
    _simulator_session: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    env = {MONITOR_ALERT_ACTIONS: json.dumps(ACTIONS), "BULK_MAX_REQUESTS_PER_SECOND": "50"}
    yield from module_host(_simulator_session.url, tmp_path_factory, "alert-host", env)



def post(host: HostProcess, alert: object) -> requests.Response:
    return requests.post(f"{host.url}/api/monitor-alerts", json=alert, timeout=TIMEOUT)


def finished(host: HostProcess, instance_id: str) -> dict[str, Any]:
    def document() -> dict[str, Any] | None:
        found: dict[str, Any] = requests.get(
            f"{host.url}/api/cancel-jobs/{instance_id}", timeout=TIMEOUT
        ).json()
        return found if found.get("runtimeStatus") not in ("Pending", "Running") else None

    result: dict[str, Any] = wait_for(document, timeout=90, interval=0.3, message="alert run")
    return result


def test_a_fired_metric_alert_cancels_the_rules_jobs_once(
    alert_host: HostProcess, sim: SimulatorServer
) -> None:
    aimed = [sim.seed_job(lifecycle=QUICK, details={"target": "ionq.qpu.aria-1"}) for _ in range(3)]
    spared = sim.seed_job(lifecycle=QUICK, details={"target": "rigetti.sim.qvm"})
    alert = sample("metric-alert-fired", alertId=f"/alerts/{aimed[0]}")
    answers = [post(alert_host, alert) for _ in range(2)]  # the action group delivers it twice
    assert [a.status_code for a in answers] == [202, 202], answers[0].text
    instance_id = answers[0].json()["id"]
    assert answers[1].json()["id"] == instance_id == alert_instance_id(f"/alerts/{aimed[0]}")
    document = finished(alert_host, instance_id)
    assert document["runtimeStatus"] == "Completed", document
    outputs = document["outputs"]
    # The workspace came from alertTargetIDs (lower-cased there, as Azure Monitor writes it).
    assert outputs["workspace"]["workspaceName"].lower() == DEFAULT_WORKSPACE.lower()
    assert outputs["matched"] == 3 and outputs["outcomes"]["cancelled"] == 3
    # A third delivery after the run ended still finds it: it was created after the firing.
    late = post(alert_host, alert)
    assert late.status_code == 202 and late.json()["id"] == instance_id
    # statusUrl is the workspace-scale run's own status route, and it answers.
    status_url = late.json()["statusUrl"]
    assert status_url == f"{alert_host.url}/api/cancel-jobs/{instance_id}"
    assert requests.get(status_url, timeout=TIMEOUT).json()["outputs"] == outputs
    cancels = [e["jobId"] for e in sim.requests() if e["operation"] == "Jobs_Cancel"]
    assert sorted(cancels) == sorted(aimed) and spared not in cancels
    # The run carries the alert's trigger; the app's identity signed every request in.
    status = requests.get(
        f"{alert_host.url}/runtime/webhooks/durabletask/instances/{instance_id}", timeout=TIMEOUT
    ).json()
    assert status["input"]["trigger"] == "monitorAlert"
    assert "sealedToken" not in status["input"]
    assert all(e["authPresent"] for e in sim.requests())


def test_a_budget_alert_runs_its_rules_action(
    alert_host: HostProcess, sim: SimulatorServer
) -> None:
    jobs = [sim.seed_job(lifecycle=QUICK, details={"target": "ionq.simulator"}) for _ in range(2)]
    answer = post(alert_host, sample("budget-alert", alertId=f"/budget/{jobs[0]}"))
    assert answer.status_code == 202, answer.text
    document = finished(alert_host, answer.json()["id"])
    assert document["outputs"]["matched"] == 2 and document["outputs"]["outcomes"]["cancelled"] == 2


def test_a_dry_run_action_lists_and_cancels_nothing(
    alert_host: HostProcess, sim: SimulatorServer
) -> None:
    sim.seed_job(lifecycle=QUICK, details={"target": "ionq.qpu.aria-1"})
    alert = sample("metric-alert-fired", alertRule="dry-look", alertId="/alerts/dry-look-1")
    answer = post(alert_host, alert)
    assert answer.status_code == 202, answer.text
    document = finished(alert_host, answer.json()["id"])
    assert document["outputs"]["dryRun"] is True and document["outputs"]["matched"] == 1
    assert [e for e in sim.requests() if e["operation"] == "Jobs_Cancel"] == []


def test_resolved_and_unknown_rules_are_acknowledged_and_start_nothing(
    alert_host: HostProcess, sim: SimulatorServer
) -> None:
    sim.seed_job(lifecycle=QUICK, details={"target": "ionq.qpu.aria-1"})
    forged = "/alerts/resolved-1\nFORGED monitor alert line"
    resolved = post(alert_host, sample("metric-alert-resolved", alertId=forged))
    assert resolved.status_code == 200 and resolved.json()["started"] is False
    unknown = post(
        alert_host, sample("metric-alert-fired", alertRule="cpu-high", alertId="/alerts/cpu-1")
    )
    assert unknown.status_code == 200
    assert (
        unknown.json()["reason"] == "alert rule 'cpu-high' has no action in MONITOR_ALERT_ACTIONS"
    )
    wait_for(
        lambda: (
            "alert rule 'cpu-high' has no action in MONITOR_ALERT_ACTIONS" in alert_host.log_text()
        ),
        timeout=10,
        message="the log line naming the setting",
    )
    assert sim.requests() == []
    # Alert text is logged with repr: a line break in it cannot start a log line of its own.
    assert "\nFORGED" not in alert_host.log_text() and "\\nFORGED" in alert_host.log_text()
    for alert_id in (forged, "/alerts/cpu-1"):
        run = requests.get(
            f"{alert_host.url}/api/cancel-jobs/{alert_instance_id(alert_id)}", timeout=TIMEOUT
        )
        assert run.status_code == 404


def test_a_body_that_is_not_the_schema_is_a_400_naming_what_is_wrong(
    alert_host: HostProcess, sim: SimulatorServer
) -> None:
    broken = sample("metric-alert-fired", monitorCondition=None, firedDateTime="soon")
    answer = post(alert_host, broken)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert {p["name"] for p in answer.json()["invalid-params"]} == {
        "data.essentials.monitorCondition",
        "data.essentials.firedDateTime",
    }
    not_json = requests.post(f"{alert_host.url}/api/monitor-alerts", data=b"{", timeout=TIMEOUT)
    assert not_json.status_code == 400
    assert sim.requests() == []


# --- in this process, through function_app.app ---------------------------------------------------


@pytest.fixture
def on_monitor_alert(
    alert_host: HostProcess, monkeypatch: pytest.MonkeyPatch, sim: SimulatorServer
) -> Callable[[object], func.HttpResponse]:
    """Call the registered function as the worker does, its Durable client bound to the host."""
    [function] = [
        f for f in app_functions(function_app.app) if f.get_function_name() == "on_monitor_alert"
    ]
    user_function = function.get_user_function()
    binding = client_binding_json(DurableEndpoints(alert_host.url, "CancelRunningJob", "key"))
    monkeypatch.setenv(MONITOR_ALERT_ACTIONS, json.dumps(ACTIONS))
    monkeypatch.setenv("QUANTUM_ENDPOINT", sim.url)
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")

    def call(alert: object) -> func.HttpResponse:
        request = func.HttpRequest(
            "POST",
            f"{alert_host.url}/api/monitor-alerts",
            headers={"Content-Type": "application/json"},
            params={},
            route_params={},
            body=json.dumps(alert).encode(),
        )
        return asyncio.run(invoke(request))

    async def invoke(request: func.HttpRequest) -> func.HttpResponse:
        try:
            answer: func.HttpResponse = await user_function(req=request, client=binding)
            return answer
        finally:
            # The SDK shares one aiohttp session per process, bound to the loop that made it;
            # each call here has its own loop (the worker has one for its life).
            await http_utils._close_session()

    return call


def test_an_action_that_cannot_be_used_is_a_500_naming_the_setting(
    on_monitor_alert: Callable[[object], func.HttpResponse],
    monkeypatch: pytest.MonkeyPatch,
    sim: SimulatorServer,
) -> None:
    actions = {
        "quantum-spend-spike": {"filter": {"status": ["Succeeded"]}},
        "no-workspace": {"filter": {}},
        "two": {"workspace": WORKSPACE, "filter": {}, "sessionId": str(uuid.uuid4())},
        "none": {"workspace": WORKSPACE},
        "token": {"workspace": WORKSPACE, "filter": {}, "authToken": "t"},
        "odd-workspace": {"workspace": "ws", "filter": {}},
    }
    monkeypatch.setenv(MONITOR_ALERT_ACTIONS, json.dumps(actions))

    def detail(rule: str) -> str:
        alert = sample("metric-alert-fired", alertRule=rule, alertId=f"/alerts/{rule}")
        answer = on_monitor_alert(alert)
        assert answer.status_code == 500
        assert answer.headers["Content-Type"] == "application/problem+json"
        text: str = json.loads(answer.get_body())["detail"]
        assert text.startswith(f'MONITOR_ALERT_ACTIONS["{rule}"]'), text
        return text

    assert ".filter.status may name only non-final statuses" in detail("quantum-spend-spike")
    assert ".selector give exactly one of jobIds, filter or sessionId" in detail("two")
    assert ".selector is required" in detail("none")
    assert "unknown fields (authToken)" in detail("token")
    assert ".workspace must be an object of" in detail("odd-workspace")
    # A rule without a workspace, on an alert about something that is not a Quantum workspace.
    elsewhere = sample(
        "metric-alert-fired",
        alertRule="no-workspace",
        alertTargetIDs=[
            "/subscriptions/x/resourcegroups/y/providers/microsoft.compute/virtualmachines/z"
        ],
    )
    answer = on_monitor_alert(elsewhere)
    assert answer.status_code == 500
    assert "names no workspace" in json.loads(answer.get_body())["detail"]
    monkeypatch.setenv(MONITOR_ALERT_ACTIONS, "{")
    assert on_monitor_alert(sample("metric-alert-fired")).status_code == 500
    assert sim.requests() == []


def test_a_workspace_target_with_bad_coordinates_is_the_alerts_fault(
    on_monitor_alert: Callable[[object], func.HttpResponse], sim: SimulatorServer
) -> None:
    alert = sample(
        "metric-alert-fired",
        alertTargetIDs=[
            "/subscriptions/not-a-guid/resourcegroups/rg/providers/microsoft.quantum/workspaces/ws"
        ],
    )
    answer = on_monitor_alert(alert)
    assert answer.status_code == 400
    names = [p["name"] for p in json.loads(answer.get_body())["invalid-params"]]
    assert names == ["data.essentials.alertTargetIDs (subscriptionId)"]
    assert sim.requests() == []


def test_through_the_app_a_fired_alert_starts_its_run_and_a_repeat_finds_it(
    on_monitor_alert: Callable[[object], func.HttpResponse],
    alert_host: HostProcess,
    sim: SimulatorServer,
) -> None:
    job = sim.seed_job(lifecycle=QUICK, details={"target": "ionq.qpu.aria-1"})
    alert = sample("metric-alert-fired", alertId=f"/alerts/in-process-{job}")
    first = on_monitor_alert(alert)
    assert first.status_code == 202
    payload = json.loads(first.get_body())
    assert payload["id"] == alert_instance_id(f"/alerts/in-process-{job}")
    assert json.loads(on_monitor_alert(alert).get_body())["id"] == payload["id"]
    document = finished(alert_host, payload["id"])
    assert document["outputs"]["outcomes"]["cancelled"] == 1
    assert [e["jobId"] for e in sim.requests() if e["operation"] == "Jobs_Cancel"] == [job]
