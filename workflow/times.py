"""Moments as the app writes them: ISO 8601 UTC with a ``Z``, in every output and document."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime) -> str:
    """``moment`` in UTC as ``2026-11-26T03:12:09Z`` (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`iso`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
