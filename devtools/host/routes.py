"""ASP.NET-style route templates, as the Functions host matches HTTP trigger routes.

Supported: literal segments (case-insensitive), ``{name}`` (one segment), ``{name?}``
(optional, last segment only), ``{name:constraint}`` (``int``, ``alpha``, ``guid``, ``bool``;
other constraints accept anything), ``{*name}`` (catch-all, last segment), and mixed segments
such as ``file.{ext}``. Parameter values are percent-decoded, as ``req.route_params`` shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?\}")
_CONSTRAINTS = {
    "int": r"-?[0-9]+",
    "long": r"-?[0-9]+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
}
_SEGMENT_VALUE = r"[^/]+"


class RouteTemplateError(ValueError):
    """A route template this matcher cannot read."""


@dataclass(frozen=True)
class RouteTemplate:
    """One compiled template; ``match`` returns the route parameters or None."""

    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    #: Sort key: more literal text first, so ``jobs/latest`` wins over ``jobs/{id}``.
    specificity: tuple[int, int]

    def match(self, path: str) -> dict[str, str] | None:
        """Match a raw (still percent-encoded) path without leading or trailing '/'."""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {
            name: unquote(value)
            for name, value in zip(self.names, found.groups(), strict=True)
            if value is not None
        }


def compile_template(template: str) -> RouteTemplate:
    """Compile ``template`` (without the route prefix)."""
    segments = template.strip("/").split("/") if template.strip("/") else []
    parts: list[str] = []
    names: list[str] = []
    literal_chars = 0
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        regex, optional, literal = _segment(segment, last, names, template)
        literal_chars += literal
        separator = "/" if position else ""
        parts.append(f"(?:{separator}{regex})?" if optional else f"{separator}{regex}")
    pattern = re.compile("".join(parts), re.IGNORECASE)
    return RouteTemplate(template, pattern, tuple(names), (literal_chars, -len(names)))


def _segment(segment: str, last: bool, names: list[str], template: str) -> tuple[str, bool, int]:
    regex: list[str] = []
    position = 0
    optional = False
    literal = 0
    for found in _PARAMETER.finditer(segment):
        text = segment[position : found.start()]
        regex.append(re.escape(text))
        literal += len(text)
        catch_all, name, constraint, question = found.groups()
        if (catch_all or question) and not last:
            raise RouteTemplateError(f"{template}: {found.group(0)} must be the last segment")
        if name in names:
            raise RouteTemplateError(f"{template}: parameter {name!r} appears twice")
        names.append(name)
        value = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), _SEGMENT_VALUE)
        regex.append(f"({value})")
        optional = bool(question or catch_all) and found.group(0) == segment
        position = found.end()
    tail = segment[position:]
    if "{" in tail or "}" in tail:
        raise RouteTemplateError(f"{template}: cannot read segment {segment!r}")
    regex.append(re.escape(tail))
    literal += len(tail)
    return "".join(regex), optional, literal
