"""The app's HTTP API as the CLI uses it: one session, the function key in a header, and every
failure turned into a CliError whose message says what to fix (never showing the key)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

KEY_HEADER = "x-functions-key"
TIMEOUT_SECONDS = 70.0  # above the app's longest waitSeconds (60)
USAGE = 1  # exit status of a usage or connection error (section 14)


class CliError(Exception):
    """A usage, connection or refusal error: ``message`` tells the operator what to do."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status and JSON body (None when the body is not JSON)."""

    status: int
    body: Any


def app_base(url: str | None) -> str:
    """The app's origin from ``--app`` (``…/api`` and trailing slashes dropped); a function
    key is never sent in clear to anything but this machine."""
    if not url:
        raise CliError(
            "no app URL: pass --app URL or set QUANTUM_CANCEL_APP "
            "(locally http://localhost:7071, in Azure https://<app>.azurewebsites.net)"
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"--app must be an http(s) URL such as https://<app>.azurewebsites.net, not {url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise CliError(
            "--app uses plain http to another machine: the function key would travel in "
            "clear; use https"
        )
    path = parts.path.rstrip("/")
    if path.lower().endswith("/api"):
        path = path[:-4]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AppClient:
    """Calls ``{base}/api/…`` with the function key."""

    def __init__(self, base: str, key: str | None, session: requests.Session | None = None):
        """``base`` from :func:`app_base`; ``key`` may be None (local hosts need none)."""
        self.base = base
        self._session = session or requests.Session()
        if key:
            self._session.headers[KEY_HEADER] = key
        self._session.headers["User-Agent"] = "quantum-cancel"

    def url(self, route: str) -> str:
        """The absolute URL of ``route`` (relative to ``/api``)."""
        return f"{self.base}/api/{route}"

    def get(self, route_or_url: str, params: dict[str, Any] | None = None) -> Answer:
        """GET a route (or an absolute URL of this app, such as a nextLink or statusUrl)."""
        return self._call("GET", route_or_url, params=params)

    def post(self, route: str, body: Any = None, params: dict[str, Any] | None = None) -> Answer:
        """POST JSON to a route."""
        return self._call("POST", route, params=params, json=body)

    def _call(self, method: str, route_or_url: str, **kwargs: Any) -> Answer:
        url = self._own(route_or_url)
        try:
            response = self._session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.ConnectionError as exc:
            raise CliError(
                f"cannot reach the app at {self.base} ({_reason(exc)}). Is it running, and "
                "is --app (QUANTUM_CANCEL_APP) its URL? Locally: make serve"
            ) from None
        except requests.Timeout:
            raise CliError(
                f"the app at {self.base} did not answer within {TIMEOUT_SECONDS:g} s"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = Answer(response.status_code, body)
        _raise_for(answer, method, url)
        return answer

    def _own(self, route_or_url: str) -> str:
        if "://" not in route_or_url:
            return self.url(route_or_url)
        # Links come from the app's answers: the key goes to the app's own origin only.
        if not route_or_url.startswith(self.base + "/"):
            raise CliError(
                f"the app answered a link to another host ({urlsplit(route_or_url).netloc}); "
                "not followed"
            )
        return route_or_url


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "timed out",
        "No route to host",
    ):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _raise_for(answer: Answer, method: str, url: str) -> None:
    """Turn an error answer into a CliError (404 is left to the caller, who knows what was
    looked for; 409 too, which names what conflicts)."""
    status = answer.status
    if status < 400 or status in (404, 409):
        return
    if status in (401, 403):
        raise CliError(
            f"the app refused the function key (HTTP {status}): pass --key or set "
            "QUANTUM_CANCEL_KEY to a function key of the app (az functionapp function keys "
            "list, or the portal's App keys)"
        )
    raise CliError(
        f"the app answered HTTP {status} to {method} {urlsplit(url).path}: "
        f"{problem_text(answer.body)}"
    )


def problem_text(body: Any) -> str:
    """A problem document in one line: its detail and every invalid field with its reason."""
    if not isinstance(body, dict):
        return "no details"
    parts = [str(body.get("detail") or body.get("title") or "no details")]
    for item in body.get("invalid-params") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('name')}: {item.get('reason')}")
    return "; ".join(parts)
