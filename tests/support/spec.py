"""Load the official data-plane OpenAPI documents and validate traffic against them.

Reusable beyond the simulator: ``find_operation`` maps a concrete request to its spec
operation (and path parameters); ``validate_request`` checks what a client builds;
``validate_response`` checks what a server answers. ``x-ms-enum`` with modelAsString is an
open enum (any string passes) and ``format`` is not enforced.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema

from devtools.simulator.versions import lookup

#: The repository's facts-only copy of the official documents (see specs/README.md).
SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def spec_document_version(api_version: str) -> str:
    """The spec document version that governs ``api_version`` (itself when it has one)."""
    version = lookup(api_version)
    if version is not None:
        return version.spec
    if (SPECS_DIR / f"azure-quantum-data-plane-{api_version}.json").exists():
        return api_version
    raise KeyError(f"no spec document governs api-version {api_version!r}")


@functools.cache
def load_spec(api_version: str) -> dict[str, Any]:
    """The governing spec document for ``api_version`` (parsed JSON, cached)."""
    path = SPECS_DIR / f"azure-quantum-data-plane-{spec_document_version(api_version)}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"spec document not found: {path} (see specs/README.md to refresh the copies)"
        )
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


@dataclass(frozen=True)
class OperationMatch:
    """A spec operation matched by a concrete request."""

    operation_id: str
    method: str
    template: str
    operation: dict[str, Any]
    path_params: dict[str, str]


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{"):
            pattern += f"(?P<{piece[1:-1]}>[^/]+?)"
        else:
            pattern += re.escape(piece)
    return re.compile(f"^{pattern}$", re.IGNORECASE)


def find_operation(spec: dict[str, Any], method: str, path: str) -> OperationMatch | None:
    """The operation ``method path`` selects in ``spec`` (path without query, may be encoded).

    Path parameters come back percent-decoded. When several templates match (``{jobId}``
    and ``{jobId}:cancel``), the one with more literal text wins.
    """
    raw_segments = path.split("?")[0].split("/")
    decoded = "/".join(unquote(segment).replace("/", "\x00") for segment in raw_segments)
    candidates = []
    for template, item in spec["paths"].items():
        found = _template_regex(template).match(decoded)
        operation = item.get(method.lower())
        if found and operation is not None:
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            params = {name: value.replace("\x00", "/") for name, value in found.groupdict().items()}
            candidates.append(
                (
                    literal,
                    OperationMatch(
                        operation["operationId"], method.upper(), template, operation, params
                    ),
                )
            )
    if not candidates:
        return None
    return max(candidates, key=lambda pair: pair[0])[1]


def operation_by_id(spec: dict[str, Any], operation_id: str) -> tuple[str, str, dict[str, Any]]:
    """``(method, template, operation)`` for an operationId; KeyError when absent."""
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return method.upper(), template, operation
    raise KeyError(operation_id)


def declared_statuses(api_version: str, operation_id: str) -> set[str]:
    """The response keys the spec declares for an operation (e.g. {"200", "default"})."""
    _, _, operation = operation_by_id(load_spec(api_version), operation_id)
    return set(operation["responses"])


def _open_enums(node: Any) -> Any:
    if isinstance(node, dict):
        result = {key: _open_enums(value) for key, value in node.items()}
        if result.get("x-ms-enum", {}).get("modelAsString") and "enum" in result:
            del result["enum"]  # modelAsString: unknown values are allowed
        return result
    if isinstance(node, list):
        return [_open_enums(item) for item in node]
    return node


@functools.cache
def _definitions(api_version: str) -> dict[str, Any]:
    spec = load_spec(api_version)
    prepared: dict[str, Any] = _open_enums(copy.deepcopy(spec.get("definitions", {})))
    return prepared


def schema_errors(api_version: str, schema: dict[str, Any], value: Any) -> list[str]:
    """Messages for every way ``value`` breaks ``schema`` (refs into the spec's definitions)."""
    root = dict(_open_enums(copy.deepcopy(schema)))
    root["definitions"] = _definitions(api_version)
    validator = jsonschema.Draft4Validator(root)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(value)
    ]


def definition_errors(api_version: str, name: str, value: Any) -> list[str]:
    """Messages for ``value`` against ``#/definitions/name`` of the governing document."""
    return schema_errors(api_version, {"$ref": f"#/definitions/{name}"}, value)


def validate_response(
    api_version: str,
    operation_id: str,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """Assert that an answer is one the spec allows for ``operation_id``.

    ``status`` must be declared (or covered by ``default`` when it is an error); a body is
    checked against the declared schema; a response without schema must be empty; on an
    error answer the ``x-ms-error-code`` header (when ``headers`` is given) must equal the
    body's code.
    """
    _, _, operation = operation_by_id(load_spec(api_version), operation_id)
    responses = operation["responses"]
    key = str(status)
    if key not in responses:
        assert status >= 400 and "default" in responses, (
            f"{operation_id} ({api_version}) does not declare status {status}; "
            f"declared: {sorted(responses)}"
        )
        key = "default"
    declared = responses[key]
    schema = declared.get("schema")
    if schema is None:
        assert body in (None, b"", ""), f"{operation_id} {status} must have no body"
        return
    problems = schema_errors(api_version, schema, body)
    assert not problems, f"{operation_id} {status} ({api_version}) breaks the spec: {problems}"
    if key == "default" and headers is not None:
        lowered = {name.lower(): value for name, value in headers.items()}
        assert lowered.get("x-ms-error-code") == body["error"]["code"], (
            "x-ms-error-code header must carry the error code"
        )


def validate_request(
    api_version: str, method: str, path: str, query: dict[str, str], body: Any = None
) -> OperationMatch:
    """Assert that a request is one the spec defines; returns the matched operation.

    Checks the route, path parameters (pattern and length), required query parameters
    (``api-version``) and, when the operation takes one, the JSON body schema.
    """
    spec = load_spec(api_version)
    match = find_operation(spec, method, path)
    assert match is not None, f"{method} {path} is not an operation of {api_version}"
    problems: list[str] = []
    for parameter in match.operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = spec["parameters"][parameter["$ref"].split("/")[-1]]
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            value = match.path_params.get(name, "")
            if "pattern" in parameter and not re.search(parameter["pattern"], value):
                problems.append(f"path parameter {name}={value!r} breaks {parameter['pattern']}")
            if not parameter.get("minLength", 0) <= len(value) <= parameter.get("maxLength", 10**9):
                problems.append(f"path parameter {name} has a bad length")
        elif where == "query" and parameter.get("required") and not query.get(name):
            problems.append(f"required query parameter {name} is missing")
        elif where == "body" and parameter.get("required"):
            problems.extend(schema_errors(api_version, parameter["schema"], body))
    assert not problems, f"{match.operation_id} request breaks the spec: {problems}"
    return match
