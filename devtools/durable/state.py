"""Persistent state of one orchestration instance, and its pending work."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .history import Event


class RuntimeStatus(str, Enum):
    """runtimeStatus values as the Durable HTTP API spells them."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Completed, Failed or Terminated: the 'NonRunningStates' of host.json."""
        return self in (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED)


@dataclass
class ActivityWorkItem:
    """An activity that was scheduled (TaskScheduled committed) and has no result yet."""

    execution_id: str
    task_id: int
    name: str
    input: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "execution_id": self.execution_id,
            "task_id": self.task_id,
            "name": self.name,
            "input": self.input,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivityWorkItem:
        """Inverse of to_json."""
        return cls(data["execution_id"], int(data["task_id"]), data["name"], data["input"])


@dataclass
class TimerWorkItem:
    """A durable timer (TimerCreated committed) that has not fired yet."""

    execution_id: str
    timer_id: int
    fire_at: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "execution_id": self.execution_id,
            "timer_id": self.timer_id,
            "fire_at": self.fire_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TimerWorkItem:
        """Inverse of to_json."""
        return cls(data["execution_id"], int(data["timer_id"]), data["fire_at"])


@dataclass
class SubOrchestrationWorkItem:
    """A sub-orchestration an episode started (SubOrchestrationInstanceCreated committed)."""

    execution_id: str
    task_id: int
    name: str
    instance_id: str
    input: str | None


@dataclass
class InstanceState:
    """Everything the store keeps about one instance (current execution only)."""

    instance_id: str
    name: str
    status: RuntimeStatus
    #: The input as the Python client serialised it (JSON text), None for no input.
    input_json: str | None
    created_time: str
    last_updated_time: str
    execution_id: str
    #: How many times this instance continued as new.
    generation: int = 0
    output: Any = None
    custom_status: Any = None
    #: Committed events of the current execution (dropped on continue-as-new).
    history: list[Event] = field(default_factory=list)
    #: Delivered events waiting for the next episode (the control queue).
    inbox: list[Event] = field(default_factory=list)
    activities: list[ActivityWorkItem] = field(default_factory=list)
    timers: list[TimerWorkItem] = field(default_factory=list)
    completed_time: str | None = None
    #: For a sub-orchestration: the parent's instance and execution ids and the task id its
    #: completion answers (survives continue-as-new, as in DTFx).
    parent: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for a store."""
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "status": self.status.value,
            "input_json": self.input_json,
            "created_time": self.created_time,
            "last_updated_time": self.last_updated_time,
            "execution_id": self.execution_id,
            "generation": self.generation,
            "output": self.output,
            "custom_status": self.custom_status,
            "history": self.history,
            "inbox": self.inbox,
            "activities": [a.to_json() for a in self.activities],
            "timers": [t.to_json() for t in self.timers],
            "completed_time": self.completed_time,
            "parent": self.parent,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceState:
        """Inverse of to_json."""
        return cls(
            instance_id=data["instance_id"],
            name=data["name"],
            status=RuntimeStatus(data["status"]),
            input_json=data.get("input_json"),
            created_time=data["created_time"],
            last_updated_time=data["last_updated_time"],
            execution_id=data["execution_id"],
            generation=int(data.get("generation", 0)),
            output=data.get("output"),
            custom_status=data.get("custom_status"),
            history=list(data.get("history", [])),
            inbox=list(data.get("inbox", [])),
            activities=[ActivityWorkItem.from_json(a) for a in data.get("activities", [])],
            timers=[TimerWorkItem.from_json(t) for t in data.get("timers", [])],
            completed_time=data.get("completed_time"),
            parent=data.get("parent"),
        )
