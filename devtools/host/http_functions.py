"""The app's HTTP functions under ``/{routePrefix}/{route}``.

Requests are converted with azure.functions' own HttpRequestConverter (from the same
``http`` Datum the worker builds) and responses with HttpResponseConverter, so headers,
mimetype and charset come back exactly as the worker would send them to the host. A route
that matches with a method the function does not accept is a 404, as in the Functions host.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.http import HttpRequestConverter, HttpResponseConverter

from .client_binding import DurableEndpoints, client_arguments
from .invoker import FunctionInvoker
from .messages import Request, Response, problem_response, text_response
from .metadata import HTTP_TRIGGER, FunctionIndex, FunctionInfo
from .routes import RouteTemplate, compile_template

log = logging.getLogger(__name__)
#: Where a caller puts a function key, or in the ``code`` query parameter (the Functions host's
#: AuthenticationLevelHandler: FunctionsKeyHeaderName, FunctionsKeyQueryParamName).
KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class _Route:
    function: FunctionInfo
    template: RouteTemplate


class HttpFunctions:
    """Routes ``/{prefix}/…`` requests to the app's HTTP-triggered functions."""

    def __init__(
        self,
        index: FunctionIndex,
        invoker: FunctionInvoker,
        endpoints: DurableEndpoints,
        route_prefix: str,
        function_key: str | None = None,
    ) -> None:
        """Compile every HTTP trigger's route (most specific first). With ``function_key``,
        FUNCTION-level routes answer 401 to a request without it, as in Azure (``func start``
        checks no key: the default)."""
        self._function_key = function_key
        self._invoker = invoker
        self._endpoints = endpoints
        self._prefix = route_prefix.strip("/")
        routes = []
        for function in index.by_trigger(HTTP_TRIGGER):
            assert function.http is not None
            routes.append(_Route(function, compile_template(function.http.route)))
        self._routes = sorted(routes, key=lambda r: r.template.specificity, reverse=True)

    @property
    def prefix_path(self) -> str:
        """``/api`` (the route prefix as a path)."""
        return f"/{self._prefix}" if self._prefix else ""

    def owns(self, path: str) -> bool:
        """True when ``path`` is under the route prefix."""
        if not self._prefix:
            return True
        return path.lower() == f"/{self._prefix}".lower() or path.lower().startswith(
            f"/{self._prefix}/".lower()
        )

    def handle(self, request: Request) -> Response:
        """Invoke the matching function, or answer 404."""
        relative = request.path.strip("/")[len(self._prefix) :].strip("/")
        methods: set[str] = set()
        for route in self._routes:
            params = route.template.match(relative)
            if params is None:
                continue
            assert route.function.http is not None
            if request.method.upper() not in route.function.http.methods:
                methods.update(route.function.http.methods)
                continue  # the host's router treats a method mismatch as no match
            if not self._key_accepted(route.function, request):
                return Response(401)  # Azure's answer to a missing or wrong key: no body
            return self._invoke(route.function, request, params)
        # Still a 404, as the Functions host answers, but one that says what went wrong.
        shown = f"{request.method.upper()} {request.path}"
        if methods:
            detail = f"{shown}: this route answers {', '.join(sorted(methods))} only"
        else:
            detail = f"{shown}: no function of the app has this route"
        return problem_response(404, "Not Found", detail)

    def _key_accepted(self, function: FunctionInfo, request: Request) -> bool:
        assert function.http is not None
        if self._function_key is None or function.http.auth_level == "anonymous":
            return True
        offered = request.header(KEY_HEADER) or request.query_param("code") or ""
        return hmac.compare_digest(offered.encode(), self._function_key.encode())

    def _invoke(self, function: FunctionInfo, request: Request, params: dict[str, str]) -> Response:
        http_request = to_http_request(request, params)
        arguments: dict[str, Any] = {function.trigger.name: http_request}
        arguments.update(client_arguments(self._endpoints, function))
        try:
            result = self._invoker.invoke(function, arguments)
        except Exception:
            # The host answers 500 without details; the traceback goes to the log only.
            log.exception("function %s failed", function.name)
            return text_response(500)
        return from_function_result(result)


def to_http_request(request: Request, route_params: dict[str, str]) -> func.HttpRequest:
    """Build the func.HttpRequest the worker would pass (via HttpRequestConverter)."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    datum = meta.Datum(
        type="http",
        value={
            "method": meta.Datum(type="string", value=request.method.upper()),
            "url": meta.Datum(type="string", value=request.url),
            "headers": {k: meta.Datum(type="string", value=v) for k, v in headers.items()},
            "query": {
                k: meta.Datum(type="string", value=v) for k, v in request.query_params().items()
            },
            "params": {k: meta.Datum(type="string", value=v) for k, v in route_params.items()},
            "body": meta.Datum(type="bytes", value=request.body),
        },
    )
    decoded: func.HttpRequest = HttpRequestConverter.decode(datum, trigger_metadata=None)
    return decoded


def from_function_result(result: Any) -> Response:
    """Convert a function's return value to the HTTP response the host sends."""
    if result is None:
        # No output binding value: the host answers without content.
        return Response(204)
    encoded = HttpResponseConverter.encode(result, expected_type=None)
    if encoded.type == "string":
        return text_response(200, str(encoded.value))
    value = encoded.value
    status = int(value["status_code"].value)
    headers = [(name, str(datum.value)) for name, datum in value["headers"].items()]
    for cookie in value.get("cookies") or []:
        for morsel in cookie.values():
            headers.append(("Set-Cookie", morsel.OutputString()))
    body = value["body"].value
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Response(status, headers, bytes(body or b""))
