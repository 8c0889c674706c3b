"""Jobs_List query handling: the status filter, orderby, top/skip and the nextLink."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from . import errors
from .errors import ApiError

_CLAUSE = re.compile(r"^\s*status\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_ORDER = re.compile(r"^\s*creationTime(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ListQuery:
    """A validated Jobs_List query."""

    statuses: frozenset[str] | None
    filter_text: str | None
    descending: bool
    orderby_text: str | None
    top: int | None
    skip: int


def parse_filter(text: str | None) -> frozenset[str] | None:
    """``status eq 'A' or status eq 'B'`` → {"A", "B"}; anything else is a 400."""
    if text is None:
        return None
    values: set[str] = set()
    for clause in _OR.split(text):
        found = _CLAUSE.match(clause)
        if found is None:
            raise ApiError(
                400,
                errors.INVALID_PARAMETER,
                "Unsupported filter expression. The simulator supports "
                "\"status eq 'Value'\" clauses joined with 'or'.",
                target="filter",
            )
        values.add(found.group(1))
    return frozenset(values)


def _integer(name: str, text: str | None, low: int) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"\d{1,9}", text) or int(text) < low:
        raise ApiError(
            400,
            errors.INVALID_PARAMETER,
            f"The query parameter '{name}' must be an integer >= {low}.",
            target=name,
        )
    return int(text)


def parse_query(params: dict[str, str]) -> ListQuery:
    """Validate filter/orderby/top/skip from the first value of each query parameter."""
    filter_text = params.get("filter")
    orderby_text = params.get("orderby")
    descending = False
    if orderby_text is not None:
        found = _ORDER.match(orderby_text)
        if found is None:
            raise ApiError(
                400,
                errors.INVALID_PARAMETER,
                "Unsupported orderby. The simulator supports 'creationTime asc' "
                "and 'creationTime desc'.",
                target="orderby",
            )
        descending = (found.group(1) or "asc").lower() == "desc"
    return ListQuery(
        parse_filter(filter_text),
        filter_text,
        descending,
        orderby_text,
        _integer("top", params.get("top"), 1),
        _integer("skip", params.get("skip"), 0) or 0,
    )


def next_link(
    base_url: str,
    raw_path: str,
    api_version: str,
    query: ListQuery,
    next_skip: int,
    remaining: int | None,
) -> str:
    """Absolute URL of the next page; the paging state travels in ``skip``/``top``."""
    params: list[tuple[str, str]] = [("api-version", api_version)]
    if query.filter_text is not None:
        params.append(("filter", query.filter_text))
    if query.orderby_text is not None:
        params.append(("orderby", query.orderby_text))
    params.append(("skip", str(next_skip)))
    if remaining is not None:
        params.append(("top", str(remaining)))
    return f"{base_url}{raw_path}?{urlencode(params)}"
