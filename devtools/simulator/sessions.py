"""Sessions (2025-12-01-preview specs and later): a group of jobs that a close stops growing.

Not thread-safe by itself: the simulator holds its one lock around every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .jobs import JobKey, job_key


@dataclass
class Session:
    """One session: its user fields and whether it was closed."""

    key: JobKey
    session_id: str
    details: dict[str, Any]
    created_at: float
    closed: bool = False
    close_requests: int = 0

    def render(self, creation_time: str, status: str) -> dict[str, Any]:
        """SessionDetails (``status`` is derived from the session's jobs by the caller)."""
        body: dict[str, Any] = {
            "id": self.session_id,
            "name": self.details.get("name", f"session-{self.session_id[:8]}"),
            "providerId": self.details.get("providerId", "quantinuum"),
            "target": self.details.get("target", "quantinuum.sim.h2-1e"),
            "itemType": "Session",
            "jobFailurePolicy": self.details.get("jobFailurePolicy", "Abort"),
            "creationTime": creation_time,
            "status": status,
        }
        return body


@dataclass
class SessionStore:
    """Sessions by (subscription, resource group, workspace, session id)."""

    sessions: dict[JobKey, Session] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget every session."""
        self.sessions.clear()

    def get(self, subscription: str, group: str, workspace: str, session_id: str) -> Session | None:
        """The session, or None."""
        return self.sessions.get(job_key(subscription, group, workspace, session_id))

    def put(self, session: Session) -> None:
        """Add or replace a session."""
        self.sessions[session.key] = session
