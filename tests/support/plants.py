"""Defects planted on purpose, to prove that the tests meant to catch them do.

Each plant is a realistic mistake, applied by patching the app's modules (never by editing
them): ``apply(name, patch)`` takes ``monkeypatch.setattr`` in a test, or plain ``setattr`` in
a host started with the plant (tests/support/plant_site/sitecustomize.py applies the plant
named in ``QUANTUM_TEST_PLANT`` to every Python process that has that folder on its path, so a
pytest run in a subprocess and the hosts it starts carry the same defect).

* ``sealing-bypassed``: the caller's token is stored in clear where a sealed one belongs (and
  the activity takes it back as it is), so runs still work while the token sits in every
  Durable input.
* ``instance-suffix``: the starters start each run under the derived id plus a random suffix,
  while they still answer with the derived id.
* ``alert-trigger-lost``: an alert's run forgets that an alert started it, so its
  cancellation is counted under ``http``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PLANT_VARIABLE = "QUANTUM_TEST_PLANT"
SITE_DIR = Path(__file__).resolve().parent / "plant_site"
#: What a "sealed" token looks like when sealing is bypassed.
CLEAR = "clear."

Patch = Callable[[Any, str, Any], None]


def _bypass_sealing(patch: Patch) -> None:
    import activities.connection
    import workflow.bulk_inputs
    import workflow.inputs

    real_open = activities.connection.open_sealed

    def in_clear(token: str, key: bytes, run_id: str) -> str:
        return CLEAR + token

    def open_either(sealed: str, keys: tuple[bytes, ...], run_id: str) -> str:
        if sealed.startswith(CLEAR):
            return sealed[len(CLEAR) :]
        return real_open(sealed, keys, run_id)

    patch(workflow.inputs, "seal", in_clear)
    patch(workflow.bulk_inputs, "seal", in_clear)
    patch(activities.connection, "open_sealed", open_either)


def _suffix_instance_ids(patch: Patch) -> None:
    import azure.durable_functions as df

    real_start = df.DurableOrchestrationClient.start_new

    async def start_new(
        self: Any,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> str:
        suffixed = f"{instance_id}-{uuid.uuid4().hex[:8]}" if instance_id else instance_id
        started: str = await real_start(
            self, orchestration_function_name, suffixed, client_input, *args, **kwargs
        )
        return started

    patch(df.DurableOrchestrationClient, "start_new", start_new)


def _lose_alert_trigger(patch: Patch) -> None:
    import triggers.job_alerts

    real_decide = triggers.job_alerts.decide

    def decide(*args: Any, **kwargs: Any) -> Any:
        decision = real_decide(*args, **kwargs)
        if decision.request is not None:
            decision.request.pop("trigger", None)
        return decision

    patch(triggers.job_alerts, "decide", decide)


PLANTS: dict[str, Callable[[Patch], None]] = {
    "sealing-bypassed": _bypass_sealing,
    "instance-suffix": _suffix_instance_ids,
    "alert-trigger-lost": _lose_alert_trigger,
}


def apply(name: str, patch: Patch = setattr) -> None:
    """Plant the defect ``name`` (KeyError for an unknown one)."""
    PLANTS[name](patch)


def environment(name: str) -> dict[str, str]:
    """Variables that plant ``name`` in a Python subprocess and every host it starts."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        PLANT_VARIABLE: name,
        "PYTHONPATH": os.pathsep.join(p for p in (str(SITE_DIR), path) if p),
    }
