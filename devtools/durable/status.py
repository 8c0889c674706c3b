"""The management view of an instance (what the Durable HTTP status API reports)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import history as h
from .history import Event
from .state import InstanceState, RuntimeStatus


def _http_time(moment: datetime) -> str:
    # The status API writes whole seconds: "2018-02-28T05:18:49Z".
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class OrchestrationStatus:
    """Snapshot of one instance; ``to_json`` gives the HTTP API field names."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    #: The orchestration input as a Python value (None when hidden or absent).
    input: Any
    custom_status: Any
    output: Any
    created_time: datetime
    last_updated_time: datetime
    #: Committed events of the current execution when asked for (show_history).
    history: list[Event] | None = None
    #: How many times the instance continued as new.
    generation: int = 0

    @classmethod
    def from_state(
        cls, state: InstanceState, *, show_history: bool = False, show_input: bool = True
    ) -> OrchestrationStatus:
        """Build the view of ``state``."""
        value: Any = None
        if show_input and state.input_json is not None:
            value = json.loads(state.input_json)
        return cls(
            instance_id=state.instance_id,
            name=state.name,
            runtime_status=state.status,
            input=value,
            custom_status=state.custom_status,
            output=state.output,
            created_time=h.parse_timestamp(state.created_time),
            last_updated_time=h.parse_timestamp(state.last_updated_time),
            history=[dict(e) for e in state.history] if show_history else None,
            generation=state.generation,
        )

    def to_json(self) -> dict[str, Any]:
        """camelCase dict as GET /runtime/webhooks/durabletask/instances/{id} returns.

        Note: for instances started by the Python client, Azure returns ``input`` as
        the JSON *text* the client double-encoded; this view returns the decoded value.
        """
        body: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": _http_time(self.created_time),
            "lastUpdatedTime": _http_time(self.last_updated_time),
        }
        if self.history is not None:
            body["historyEvents"] = self.history
        return body
