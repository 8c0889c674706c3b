"""Where a bearer token may go: the endpoint policy of the app.

A token is only ever sent to ``https://<name>.quantum.azure.com`` (the regional host, v2 hosts
included), on the default port, with no user info, path, query or fragment. Plain-http loopback
(the local simulator) is allowed only when the operator turned QUANTUM_ALLOW_LOOPBACK on. The
checks run on the text before any connection is opened, and reject anything unusual rather than
trying to interpret it, because URL parsers disagree on odd input.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from .errors import EndpointNotAllowed

QUANTUM_HOST_SUFFIX = ".quantum.azure.com"
_ALLOWED_CHARS = re.compile(r"[A-Za-z0-9:/.\-\[\]]+")
_QUANTUM_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+quantum\.azure\.com")
_LOCATION = re.compile(r"[a-z][a-z0-9]{1,39}(?:-v2)?")
_LOOPBACK_NAMES = frozenset({"localhost"})


def location_problem(location: object) -> str | None:
    """Say why ``location`` is not an Azure region name, or None when it is one."""
    if not isinstance(location, str):
        return "must be a string such as westus"
    if not _LOCATION.fullmatch(location.lower()):
        return "must be an Azure region name such as westus or eastus2 (optionally with -v2)"
    return None


def endpoint_for_location(location: str) -> str:
    """Return ``https://{location}.quantum.azure.com`` for a valid region name."""
    problem = location_problem(location)
    if problem:
        raise EndpointNotAllowed("endpoint", f"location {problem}")
    return f"https://{location.lower()}{QUANTUM_HOST_SUFFIX}"


def endpoint_problem(endpoint: object, allow_loopback: bool) -> str | None:
    """Say why a token must not be sent to ``endpoint``, or None when it may be."""
    if not isinstance(endpoint, str):
        return "must be a string such as https://westus.quantum.azure.com"
    if len(endpoint) > 300 or not _ALLOWED_CHARS.fullmatch(endpoint):
        return "must be a plain URL such as https://westus.quantum.azure.com"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    host = (parts.hostname or "").lower()
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        return "must be the service's origin only, with no path, query or user info"
    if _is_loopback(host):
        if not allow_loopback:
            return "is a loopback address, allowed only when QUANTUM_ALLOW_LOOPBACK is true"
        if parts.scheme not in ("http", "https"):
            return "must use http or https"
        return None
    if parts.scheme != "https":
        return "must use https"
    if port not in (None, 443):
        return "must use the default https port"
    if not _QUANTUM_HOST.fullmatch(host):
        return f"must be an Azure Quantum host (https://<region>{QUANTUM_HOST_SUFFIX})"
    return None


def checked_endpoint(endpoint: str, allow_loopback: bool) -> str:
    """Return ``endpoint`` as a normalised origin, or raise EndpointNotAllowed."""
    problem = endpoint_problem(endpoint, allow_loopback)
    if problem:
        raise EndpointNotAllowed("endpoint", f"endpoint {problem}")
    parts = urlsplit(endpoint)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def resolve_endpoint(
    endpoint: str | None,
    location: str | None,
    default_endpoint: str | None,
    default_location: str | None,
    allow_loopback: bool,
) -> str:
    """Pick the endpoint: the caller's endpoint or location, else the settings' ones.

    Whatever is picked goes through the same policy, so a misconfigured setting cannot send a
    token elsewhere either.
    """
    if endpoint and location:
        raise EndpointNotAllowed("endpoint", "give either endpoint or location, not both")
    if endpoint:
        return checked_endpoint(endpoint, allow_loopback)
    if location:
        return endpoint_for_location(location)
    if default_endpoint:
        return checked_endpoint(default_endpoint, allow_loopback)
    if default_location:
        return endpoint_for_location(default_location)
    raise EndpointNotAllowed(
        "endpoint", "no endpoint: pass endpoint or location, or set QUANTUM_ENDPOINT"
    )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
