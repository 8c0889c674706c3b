"""What checking a request needs from the app's settings, as protocols.

``workflow/`` stays pure: it never imports ``appsettings`` (which reads the environment).
The callers pass ``appsettings.Settings``, which has every attribute named here.
"""

from __future__ import annotations

from typing import Protocol


class RequestDefaults(Protocol):
    """The defaults and policies a single-job request is checked against."""

    @property
    def api_version(self) -> str: ...
    @property
    def endpoint(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def allow_loopback(self) -> bool: ...
    @property
    def poll_interval_seconds(self) -> float: ...
    @property
    def max_poll_interval_seconds(self) -> float: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def caller_token_key(self) -> bytes | None: ...


class BulkDefaults(RequestDefaults, Protocol):
    """What a workspace-scale request adds: the rate cap and the cancel concurrency."""

    @property
    def bulk_max_requests_per_second(self) -> float: ...
    @property
    def bulk_max_concurrency(self) -> int: ...
