"""The azd template (azure.yaml, infra/), read offline with pycep, a Bicep parser in Python.

These are the promises of README "Deploy to Azure": every setting the app reads is set by the
template or has a documented default; every role assignment uses a documented built-in role
definition ID; no secret is written into an app setting; the parameters file names only
parameters main.bicep declares; the Python worker is told to load the app's azure-functions
below Python 3.13; and the package leaves the infrastructure out. And the Azure facts the
template depends on, each checked against Microsoft's documentation or source (README "Deploy to
Azure" names the pages): no slower queue polling than Flex Consumption's default, the GA
scheduler API, no preview extension bundle, the exporter's Entra authentication, the topic's
publisher roles, and alerts that arrive (both alert type lists subscribed, the budget's webhook).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Azure built-in role definition IDs (Azure RBAC built-in roles reference), the same in every
# tenant; README "Deploy to Azure" lists them.
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Quantum Workspace Data Contributor": "c1410b24-3e69-4857-8f86-4d0a2e603250",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Durable Task Data Contributor": "0ad04412-c4d5-4796-b79c-f76d14c8d402",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}
SECRET_MARKERS = ("AccountKey=", "SharedAccessSignature", "SharedAccessKey", "InstrumentationKey=")


@cache
def template(name: str) -> dict[str, Any]:
    """A parsed .bicep file of infra/ (``main`` or ``modules/x``)."""
    parsed: dict[str, Any] = BicepParser().parse(file_path=INFRA / f"{name}.bicep")
    return parsed


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def walk(node: Any) -> Iterator[Any]:
    """Every value inside a parsed template."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def app_settings() -> dict[str, Any]:
    """Every app setting function.bicep can write: name → parsed value (conditional ones too)."""
    variables = template("modules/function")["variables"]
    settings: dict[str, Any] = {}
    for name in [n for n in variables if n.endswith("Settings")]:
        value = variables[name]["value"]
        if isinstance(value, dict) and "operator" in value:
            value = value["operator"]["operands"]["true_value"]
        settings.update({entry["name"]: entry["value"] for entry in value})
    return settings


def settings_read_by_the_app() -> list[str]:
    """The setting names appsettings.py declares (``NAME = "NAME"`` constants)."""
    tree = ast.parse((ROOT / "appsettings.py").read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            [target] = node.targets
            if isinstance(target, ast.Name) and target.id == node.value.value:
                names.append(target.id)
    return names


def documented_defaults() -> dict[str, str]:
    """README's settings table: setting → default column."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| setting | default | meaning |") :].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for name in re.findall(r"`([A-Z_]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def name_of(path: Path) -> str:
    return str(path.relative_to(INFRA).with_suffix(""))


@pytest.mark.parametrize("path", bicep_files(), ids=name_of)
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = template(name_of(path))
    assert parsed.get("resources") or parsed.get("modules"), path


def test_every_setting_the_app_reads_is_set_or_has_a_documented_default() -> None:
    written = app_settings()
    documented = documented_defaults()
    missing = [
        name
        for name in settings_read_by_the_app()
        if name not in written and documented.get(name, "—") in ("", "—")
    ]
    assert settings_read_by_the_app() and missing == []
    assert "QUANTUM_ALLOW_LOOPBACK" not in written  # never in Azure


def test_every_role_assignment_uses_a_documented_built_in_role() -> None:
    known = set(BUILT_IN_ROLES.values())
    used: set[str] = set()
    for path in bicep_files():
        name = name_of(path)
        parsed = template(name)
        guids = {v for v in walk(parsed) if isinstance(v, str) and GUID.fullmatch(v)}
        assert guids <= known, (name, guids - known)
        used |= guids
        for resource_name, resource in parsed.get("resources", {}).items():
            if resource["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            config = resource["config"].get("config", resource["config"])
            definition = config["properties"]["roleDefinitionId"]["function"]
            assert definition["type"] == "subscription_resource_id", resource_name
            reference = definition["parameters"]["resource_name_1"]
            values = _role_ids(parsed, reference)
            assert values and values <= known, (name, resource_name, reference)
    # Every role of PRODUCT.md section 10 is granted somewhere.
    assert {
        BUILT_IN_ROLES[role]
        for role in (
            "Storage Blob Data Owner",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
            "Monitoring Metrics Publisher",
            "Quantum Workspace Data Contributor",
            "Durable Task Data Contributor",
            "Key Vault Secrets User",
        )
    } <= used


def _role_ids(parsed: dict[str, Any], reference: Any) -> set[str]:
    variables = parsed.get("variables", {})
    if isinstance(reference, str):  # a variable holding one role id
        value = variables[reference]["value"]
        return {value} if isinstance(value, str) else set()
    accessor = reference["operator"]["operands"]  # role.value, looping over a variable
    loop_variable = next(
        r["config"]["loop_type"]["detail"]["object_name"]
        for r in parsed["resources"].values()
        if r["config"].get("loop_type", {})
        and r["config"]["loop_type"]["detail"]["item_name"] == accessor["operand_1"]
    )
    return set(variables[loop_variable]["value"].values())


def test_no_secret_is_written_into_an_app_setting() -> None:
    settings = app_settings()
    for name, value in settings.items():
        text = json.dumps(value)
        assert not any(marker in text for marker in SECRET_MARKERS), name
        assert "list_keys" not in text and "listKeys" not in text, name
    assert "APPINSIGHTS_INSTRUMENTATIONKEY" not in settings
    assert "AzureWebJobsStorage" not in settings  # identity-based __accountName instead
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["CALLER_TOKEN_KEY"].startswith("@Microsoft.KeyVault(SecretUri=")
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    every = [v for p in bicep_files() for v in walk(template(name_of(p)))]
    assert not any(isinstance(v, dict) and v.get("type") == "list_keys" for v in every)


def test_the_services_are_identity_only() -> None:
    storage = template("modules/storage")["resources"]["account"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False and storage["allowBlobPublicAccess"] is False
    insights = template("modules/monitoring")["resources"]["insights"]["config"]["properties"]
    assert insights["DisableLocalAuth"] is True
    vault = template("modules/keyvault")["resources"]["vault"]["config"]["properties"]
    assert vault["enableRbacAuthorization"] is True
    topic = template("modules/topic")["resources"]["topic"]["config"]["properties"]
    assert topic["disableLocalAuth"] is True
    function = template("modules/function")["resources"]
    assert function["plan"]["config"]["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    site = function["app"]["config"]
    assert site["kind"] == "functionapp,linux" and site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    auth = config["deployment"]["storage"]["authentication"]
    assert auth["type"] == "UserAssignedIdentity"
    for policy in ("ftp", "scm"):
        assert function[policy]["config"]["properties"]["allow"] is False


def test_the_worker_loads_the_apps_azure_functions_below_python_3_13() -> None:
    variables = template("modules/function")["variables"]
    condition = variables["isolationSettings"]["value"]["operator"]["operands"]
    assert condition["condition"] == "isolateWorker"
    assert condition["true_value"] == [{"name": "PYTHON_ISOLATE_WORKER_DEPENDENCIES", "value": "1"}]
    rule = variables["isolateWorker"]["value"]["operator"]
    assert rule["type"] == "less_than" and rule["operands"]["operand_2"] == 13
    minor = rule["operands"]["operand_1"]["function"]["parameters"]["value_to_convert"]
    assert minor["function"]["type"] == "split" and minor["function"]["index"] == 1
    allowed = template("main")["parameters"]["pythonVersion"]["decorators"]
    versions = next(d["argument"] for d in allowed if d["type"] == "allowed")
    assert all(int(v.split(".")[1]) < 13 for v in versions)  # so every one gets the setting


def test_the_parameters_file_names_only_declared_parameters() -> None:
    declared = template("main")["parameters"]
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    mapped = document["parameters"]
    assert set(mapped) <= set(declared)
    for name, variable in (
        ("environmentName", "AZURE_ENV_NAME"),
        ("location", "AZURE_LOCATION"),
        ("principalId", "AZURE_PRINCIPAL_ID"),
        ("quantumWorkspaceId", "QUANTUM_WORKSPACE_ID"),
    ):
        assert mapped[name]["value"] == f"${{{variable}}}"
    # Every parameter without a default is mapped.
    required = {n for n, p in declared.items() if p.get("default") is None}
    assert required <= set(mapped), required - set(mapped)


def test_the_quantum_endpoint_comes_from_the_workspace() -> None:
    workspace = template("modules/quantum-workspace")
    assert workspace["resources"]["workspace"]["existing"] is True
    output = workspace["outputs"]["endpointUri"]["value"]["operator"]["operands"]
    assert output["operand_1"] == "workspace"
    assert output["operand_2"]["operator"]["operands"] == {
        "operand_1": "properties",
        "operand_2": "endpointUri",
    }
    main = template("main")
    assert main["modules"]["workspaceRole"]["config"]["scope"]["function"]["type"] == (
        "resource_group"
    )


def test_the_package_leaves_the_infrastructure_out() -> None:
    ignored = set((ROOT / ".funcignore").read_text(encoding="utf-8").split())
    assert {"infra", "azure.yaml", "docs", "specs", "devtools", "tests", "bench"} <= ignored
    azure = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert "language: python" in azure and "host: function" in azure


# The Azure facts of README "Deploy to Azure" → "Facts checked, and where".


def test_flex_consumption_keeps_the_extensions_one_second_queue_polling() -> None:
    # AzureStorageOptions.MaxQueuePollingInterval (azure-functions-durable-extension): 1 s when
    # WEBSITE_SKU=FlexConsumption, 30 s elsewhere. Any host.json value would only slow Flex down.
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    provider = host["extensions"]["durableTask"].get("storageProvider", {})
    assert "maxQueuePollingInterval" not in provider
    assert not any("maxqueuepollinginterval" in name.lower() for name in app_settings())


def test_the_scheduler_uses_the_ga_api_and_a_defined_sku() -> None:
    scheduler = template("modules/scheduler")
    resources = scheduler["resources"]
    for name in ("scheduler", "hub"):
        version = resources[name]["api_version"]
        assert "preview" not in version and version >= "2025-11-01", (name, version)
    allowed = next(
        d["argument"]
        for d in scheduler["parameters"]["sku"]["decorators"]
        if d["type"] == "allowed"
    )
    assert sorted(allowed) == ["Consumption", "Dedicated"]  # the 2025-11-01 SkuName values
    sku = resources["scheduler"]["config"]["properties"]["sku"]["operator"]["operands"]
    assert sku["false_value"] == {"name": "sku"} and sku["true_value"]["capacity"] == 1


def test_no_preview_extension_bundle_anywhere() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",  # resolves to 4.32+, which carries the scheduler provider
    }
    assert not any("extensionbundle" in name.lower() for name in app_settings())
    every = json.dumps([template(name_of(p)) for p in bicep_files()])
    assert "ExtensionBundle.Preview" not in every


def test_the_worker_authenticates_its_telemetry_with_the_app_identity() -> None:
    settings = app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    # The exporter reads the variable from 1.0.0b36; the distro requires that from 1.6.11.
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    floor = re.search(r"^azure-monitor-opentelemetry>=([\d.]+),", pins, re.MULTILINE)
    assert floor and tuple(map(int, floor.group(1).split("."))) >= (1, 6, 11)
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["telemetryMode"] == "OpenTelemetry"


def test_every_alert_publisher_may_send_to_the_topic() -> None:
    topic = template("modules/topic")["resources"]
    sender = BUILT_IN_ROLES["EventGrid Data Sender"]
    assert template("modules/topic")["variables"]["eventGridDataSender"]["value"] == sender
    app = topic["appSends"]["config"]["properties"]
    assert (
        app["principalId"] == "identityPrincipalId" and app["principalType"] == "ServicePrincipal"
    )
    publishers = topic["publishersSend"]["config"]
    loop = publishers["loop_type"]["detail"]
    assert loop["array_name"]["function"]["parameters"]["input_string"] == "publisherPrincipalIds"
    assert (
        publishers["config"]["properties"]["roleDefinitionId"]["function"]["parameters"][
            "resource_name_1"
        ]
        == "eventGridDataSender"
    )
    main = template("main")
    assert main["parameters"]["alertPublisherPrincipalIds"]["default"] == ""
    mapped = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    assert mapped["parameters"]["alertPublisherPrincipalIds"]["value"] == (
        "${ALERT_PUBLISHER_PRINCIPAL_IDS}"
    )
    # The app publishes its outcome events to the same topic, found from the template.
    endpoint = template("modules/app")["modules"]["function"]["config"]["params"][
        "eventsTopicEndpoint"
    ]["operator"]["operands"]
    assert endpoint["condition"] == "enableJobAlerts"
    assert "EVENTS_TOPIC_ENDPOINT" in app_settings()


def _run_hook(tmp_path: Path, env: dict[str, str]) -> list[list[str]]:
    """Run infra/hooks/postdeploy.sh with an ``az`` that records its arguments (one JSON line
    per call) and answers the two look-ups the budget wiring makes."""
    fake = tmp_path / "bin" / "az"
    fake.parent.mkdir()
    log = tmp_path / "az.log"
    fake.write_text(
        "#!/bin/sh\n"
        f"python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {log}\n"
        'case "$*" in *defaultHostName*) echo app.example.net ;; *"keys list"*) echo k3y ;; esac\n',
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    environ = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "AZURE_RESOURCE_GROUP": "rg-app",
        "AZURE_FUNCTION_APP_NAME": "func-cancel",
        "QUANTUM_WORKSPACE_ID": "/subscriptions/0000/resourceGroups/rg-ws/providers/"
        "Microsoft.Quantum/workspaces/ws",
        **env,
    }
    done = subprocess.run(
        ["sh", str(INFRA / "hooks" / "postdeploy.sh")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [json.loads(line) for line in lines]


def _parameter(call: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in call if a.startswith(f"{name}="))


@pytest.mark.skipif(shutil.which("python3") is None, reason="the hooks use python3")
def test_the_subscription_delivers_job_and_workspace_alert_types(tmp_path: Path) -> None:
    [call] = _run_hook(
        tmp_path,
        {
            "ENABLE_JOB_ALERTS": "true",
            "JOB_ALERTS_TOPIC_ID": "/subscriptions/0000/resourceGroups/rg-app/providers/"
            "Microsoft.EventGrid/topics/evgt-job-alerts-x",
            "JOB_ALERT_EVENT_TYPES": "Quantum.Job.CostAlert, Quantum.Job.CancelRequested",
            "WORKSPACE_ALERT_EVENT_TYPES": "Quantum.Workspace.CostAlert,",
        },
    )
    assert call[:3] == ["deployment", "group", "create"]
    assert call[call.index("--template-file") + 1].endswith("modules/alert-subscription.bicep")
    assert json.loads(_parameter(call, "eventTypes")) == [
        "Quantum.Job.CostAlert",
        "Quantum.Job.CancelRequested",
        "Quantum.Workspace.CostAlert",
    ]
    assert _parameter(call, "topicName") == "evgt-job-alerts-x"
    filtered = template("modules/alert-subscription")["resources"]["subscription"]["config"]
    assert filtered["properties"]["filter"] == {"includedEventTypes": "eventTypes"}


def test_nothing_is_wired_unless_asked(tmp_path: Path) -> None:
    assert _run_hook(tmp_path, {}) == []


def test_the_budget_alert_calls_the_monitor_alert_route(tmp_path: Path) -> None:
    calls = _run_hook(tmp_path, {"BUDGET_AMOUNT": "250", "BUDGET_NAME": "qpu-spend"})
    deploy = calls[-1]
    assert deploy[deploy.index("--resource-group") + 1] == "rg-ws"  # the workspace's group
    assert deploy[deploy.index("--subscription") + 1] == "0000"
    assert deploy[deploy.index("--template-file") + 1].endswith("modules/budget-alert.bicep")
    assert _parameter(deploy, "webhookUri") == (
        "https://app.example.net/api/monitor-alerts?code=k3y"
    )
    assert _parameter(deploy, "budgetName") == "qpu-spend" and _parameter(deploy, "amount") == "250"
    assert re.fullmatch(r"\d{4}-\d{2}-01", _parameter(deploy, "startDate"))
    keys = next(c for c in calls if "keys" in c)
    assert keys[keys.index("--function-name") + 1] == "on_monitor_alert"
    budget = template("modules/budget-alert")
    assert "secure" in [d["type"] for d in budget["parameters"]["webhookUri"]["decorators"]]
    [receiver] = budget["resources"]["actionGroup"]["config"]["properties"]["webhookReceivers"]
    assert receiver["useCommonAlertSchema"] is True and receiver["serviceUri"] == "webhookUri"
    notification = budget["resources"]["budget"]["config"]["properties"]["notifications"]["actual"]
    assert notification["contactGroups"] == [
        {
            "operator": {
                "type": "property_accessor",
                "operands": {"operand_1": "actionGroup", "operand_2": "id"},
            }
        }
    ]
    # Without MONITOR_ALERT_ACTIONS, the budget's own action names the workspace by rule name.
    action = template("main")["variables"]["budgetAction"]["value"]
    assert list(action) == ["'${budgetName}'"]


def test_the_hooks_run_on_windows_too() -> None:
    azure = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    for hook in ("preprovision", "postdeploy"):
        assert f"run: ./infra/hooks/{hook}.sh" in azure
        assert f"run: ./infra/hooks/{hook}.ps1" in azure
        assert (INFRA / "hooks" / f"{hook}.ps1").is_file()
    assert azure.count("shell: pwsh") == 2
