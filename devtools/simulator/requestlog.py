"""The request log: what reached the data plane and what it was answered.

It never holds the Authorization header or any token: only whether one was present.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass
class LoggedRequest:
    """One data-plane request."""

    seq: int
    method: str
    path: str
    """The path as received, still percent-encoded, without the query."""
    query: str
    """The raw query string."""
    api_version: str | None
    operation: str | None
    job_id: str | None
    status: int | None
    """The status answered; None when a fault dropped or reset the connection."""
    fault: dict[str, Any] | None
    time: str
    monotonic: float
    client_request_id: str | None
    request_id: str
    auth_present: bool
    clock: float
    """The simulator clock's reading (manual in tests), so tests can check spacing."""

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON view."""
        raw = asdict(self)
        return {
            "seq": raw["seq"],
            "method": raw["method"],
            "path": raw["path"],
            "query": raw["query"],
            "apiVersion": raw["api_version"],
            "operation": raw["operation"],
            "jobId": raw["job_id"],
            "status": raw["status"],
            "fault": raw["fault"],
            "time": raw["time"],
            "monotonic": raw["monotonic"],
            "clientRequestId": raw["client_request_id"],
            "requestId": raw["request_id"],
            "authPresent": raw["auth_present"],
            "clock": raw["clock"],
        }


class RequestLog:
    """Append-only list of requests, readable and clearable by tests."""

    def __init__(self) -> None:
        """An empty log."""
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self._seq = 0

    def record(self, **fields: Any) -> LoggedRequest:
        """Append an entry; time and sequence number are filled in here."""
        with self._lock:
            self._seq += 1
            entry = LoggedRequest(
                seq=self._seq,
                time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                monotonic=time.monotonic(),
                **fields,
            )
            self._entries.append(entry)
            return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry as JSON-ready dicts, oldest first."""
        with self._lock:
            return [entry.to_json() for entry in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
