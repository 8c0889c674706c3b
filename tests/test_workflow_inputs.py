"""Checking workflow inputs: every bad field named, defaults filled, token never echoed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from appsettings import Settings, SettingsError, load_settings
from dataplane.sealing import TokenNotOpened, open_sealed, seal
from workflow.inputs import InvalidInput, checked_cancel_input, instance_id_for

SUB = "0f0e0d0c-0b0a-0908-0706-050403020100"
JOB = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
TOKEN = "fake-token-for-tests.NOT-A-SECRET"


KEY = base64.b64encode(bytes(range(32))).decode()
OLD_KEY = base64.b64encode(bytes(range(32, 64))).decode()


def settings(**env: str) -> Settings:
    return load_settings({"QUANTUM_LOCATION": "westus", "CALLER_TOKEN_KEY": KEY, **env})


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subscriptionId": SUB,
        "resourceGroupName": "rg",
        "workspaceName": "ws",
        "jobId": JOB,
    }
    base.update(changes)
    return base


def problems_of(raw: object, env: Settings | None = None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        checked_cancel_input(raw, env or settings())
    return {p.name: p.reason for p in caught.value.problems}


def test_minimal_request_gets_every_default() -> None:
    request = checked_cancel_input(body(), settings())
    assert request == {
        "subscriptionId": SUB,
        "resourceGroupName": "rg",
        "workspaceName": "ws",
        "jobId": JOB,
        "apiVersion": "2026-01-15-preview",
        "endpoint": "https://westus.quantum.azure.com",
        "options": {
            "pollIntervalSeconds": 5.0,
            "maxPollIntervalSeconds": 30.0,
            "timeoutSeconds": 1800.0,
        },
        "trigger": "http",
    }


def test_full_request() -> None:
    request = checked_cancel_input(
        body(
            apiVersion="2024-10-01-preview",
            authToken=TOKEN,
            endpoint="https://eastus.quantum.azure.com",
            options={"pollIntervalSeconds": 2, "maxPollIntervalSeconds": 8, "timeoutSeconds": 60},
        ),
        settings(),
    )
    # The token never enters the orchestration input in clear: it is sealed for this run.
    assert "authToken" not in request and TOKEN not in json.dumps(request)
    keys = settings().caller_token_keys
    assert open_sealed(request["sealedToken"], keys, instance_id_for(request)) == TOKEN
    assert request["endpoint"] == "https://eastus.quantum.azure.com"
    assert request["options"] == {
        "pollIntervalSeconds": 2.0,
        "maxPollIntervalSeconds": 8.0,
        "timeoutSeconds": 60.0,
    }


def test_every_bad_field_is_listed_and_no_value_is_echoed() -> None:
    raw = body(
        subscriptionId="nope",
        resourceGroupName="../x",
        workspaceName=7,
        apiVersion="2025-01-01-preview",
        authToken="Bearer " + TOKEN,
        endpoint="https://evil.example",
        options={"pollIntervalSeconds": 0, "timeoutSeconds": "long", "extra": 1},
        jobID=JOB,
    )
    del raw["jobId"]
    found = problems_of(raw)
    assert set(found) == {
        "subscriptionId",
        "resourceGroupName",
        "workspaceName",
        "jobId",
        "jobID",
        "apiVersion",
        "authToken",
        "endpoint",
        "options.pollIntervalSeconds",
        "options.timeoutSeconds",
        "options.extra",
    }
    assert found["jobId"] == "is required"
    text = repr(found)
    assert TOKEN not in text and "evil.example" not in text and "../x" not in text


@pytest.mark.parametrize("raw", [[], "text", 3, None, True])
def test_body_must_be_an_object(raw: object) -> None:
    assert problems_of(raw) == {"body": "must be a JSON object"}


@pytest.mark.parametrize(
    "options",
    [
        {"pollIntervalSeconds": True},
        {"pollIntervalSeconds": float("nan")},
        {"timeoutSeconds": float("inf")},
        {"timeoutSeconds": 10**9},
        {"timeoutSeconds": 10**400},
        {"maxPollIntervalSeconds": 2, "pollIntervalSeconds": 5},
    ],
)
def test_options_out_of_range(options: dict[str, Any]) -> None:
    assert any(name.startswith("options.") for name in problems_of(body(options=options)))


def test_options_must_be_an_object() -> None:
    assert problems_of(body(options=[1])) == {"options": "must be a JSON object"}


def test_endpoint_and_location_together_are_ambiguous() -> None:
    found = problems_of(body(endpoint="https://a.quantum.azure.com", location="westus"))
    assert "not both" in found["endpoint"]


def test_loopback_needs_the_setting() -> None:
    assert "endpoint" in problems_of(body(endpoint="http://127.0.0.1:8090"))
    allowed = checked_cancel_input(
        body(endpoint="http://127.0.0.1:8090"), settings(QUANTUM_ALLOW_LOOPBACK="true")
    )
    assert allowed["endpoint"] == "http://127.0.0.1:8090"


def test_missing_endpoint_everywhere() -> None:
    found = problems_of(body(), load_settings({}))
    assert "no endpoint" in found["endpoint"]


def test_instance_id_is_stable_and_case_insensitive() -> None:
    first = instance_id_for(checked_cancel_input(body(), settings()))
    again = instance_id_for(
        checked_cancel_input(
            body(
                subscriptionId=SUB.upper(),
                resourceGroupName="RG",
                workspaceName="WS",
                jobId=JOB.upper(),
            ),
            settings(),
        )
    )
    other = instance_id_for(checked_cancel_input(body(workspaceName="ws2"), settings()))
    assert first == again != other
    assert first.startswith(f"cancel-{JOB}-")
    assert len(first) <= 100 and all(c not in first for c in "/\\#?")


def test_unknown_field_names_are_repeated_only_when_they_look_like_names() -> None:
    found = problems_of(body(jobID=1, **{TOKEN: 1, "x" * 40: 1}))
    assert set(found) == {"jobID", "(unnamed field)"}
    found = problems_of(body(options={TOKEN: 1}))
    assert set(found) == {"options.(unnamed field)"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANCEL_POLL_INTERVAL_SECONDS", "0.01"),
        ("CANCEL_MAX_POLL_INTERVAL_SECONDS", "3601"),
        ("CANCEL_TIMEOUT_SECONDS", "1e9"),
        ("CANCEL_TIMEOUT_SECONDS", "nan"),
        ("CANCEL_TIMEOUT_SECONDS", "soon"),
        ("QUANTUM_HTTP_READ_TIMEOUT_SECONDS", "inf"),
        ("QUANTUM_ALLOW_LOOPBACK", "maybe-secret-value"),
    ],
)
def test_settings_have_the_limits_of_the_options(name: str, value: str) -> None:
    # The same bounds as the request options, and the error names the setting, never its value.
    with pytest.raises(SettingsError) as refused:
        load_settings({name: value})
    assert name in str(refused.value)
    assert value not in str(refused.value)


def test_settings_at_the_limits_are_accepted() -> None:
    settings = load_settings(
        {"CANCEL_POLL_INTERVAL_SECONDS": "1", "CANCEL_TIMEOUT_SECONDS": str(14 * 24 * 3600)}
    )
    assert settings.poll_interval_seconds == 1.0


def test_a_token_without_the_key_is_refused_naming_the_setting() -> None:
    no_key = load_settings({"QUANTUM_LOCATION": "westus"})
    found = problems_of(body(authToken=TOKEN), no_key)
    assert list(found) == ["authToken"] and "CALLER_TOKEN_KEY" in found["authToken"]
    assert TOKEN not in found["authToken"]
    # Without a token the app's identity is used, key or no key.
    assert "sealedToken" not in checked_cancel_input(body(), no_key)


@pytest.mark.parametrize("key", ["abc", "not base64 at all!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_a_settings_error(key: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"CALLER_TOKEN_KEY": key})
    assert "CALLER_TOKEN_KEY" in str(refused.value) and key not in str(refused.value)
    with pytest.raises(SettingsError, match="CALLER_TOKEN_KEY_PREVIOUS"):
        load_settings({"CALLER_TOKEN_KEY": KEY, "CALLER_TOKEN_KEY_PREVIOUS": key})


def test_a_sealed_token_opens_only_in_its_own_run_and_survives_a_rotation() -> None:
    old = settings(CALLER_TOKEN_KEY=OLD_KEY)
    assert old.caller_token_key is not None
    sealed = seal(TOKEN, old.caller_token_key, "cancel-run-a")
    assert TOKEN not in sealed
    # Rotation: the new key seals, the previous one still opens what it sealed.
    rotated = settings(CALLER_TOKEN_KEY_PREVIOUS=OLD_KEY)
    assert open_sealed(sealed, rotated.caller_token_keys, "cancel-run-a") == TOKEN
    with pytest.raises(TokenNotOpened):
        open_sealed(sealed, settings().caller_token_keys, "cancel-run-a")  # old key gone
    with pytest.raises(TokenNotOpened):
        open_sealed(sealed, rotated.caller_token_keys, "cancel-run-b")  # copied to another run
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(TokenNotOpened):
        open_sealed(tampered, rotated.caller_token_keys, "cancel-run-a")
    assert "caller_token" not in repr(rotated) and OLD_KEY not in repr(rotated)
