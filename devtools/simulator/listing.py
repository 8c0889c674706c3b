"""Jobs_List and SessionsJobs_List queries: the filter grammar, orderby, top/skip and nextLink.

``top`` sizes a page, as the official SDK uses it (it sends ``top=100`` and follows
``nextLink`` for the rest): a page holds at most ``top`` jobs and at most the simulator's page
size, and ``nextLink`` (which keeps ``top`` and moves ``skip``) follows while jobs remain.

The filter grammar is the one the live service accepts from the official ``azure-quantum`` SDK
(3.x, ``Workspace._create_filter``): comparisons ``Field eq 'value'`` for State, ProviderId,
Target, JobType and ItemType, ``startswith(Name, 'prefix')``, ``CreationTime ge|le <date>``;
values of one field joined with ``or`` in parentheses, fields joined with ``and``. The
simulator parses it fully (``and`` binds tighter than ``or``, parentheses nest), so any other
nesting of the same pieces works too. Field names are case-insensitive (``status`` is read as
``State``); a date is midnight UTC of that day, a date-time is taken as given. Anything else is
a 400 ``InvalidParameter`` naming ``filter``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from . import errors
from .errors import ApiError

#: Filter and orderby fields → the JobDetails property they read.
FIELDS = {
    "state": "status",
    "status": "status",
    "providerid": "providerId",
    "target": "target",
    "jobtype": "jobType",
    "itemtype": "itemType",
    "name": "name",
    "creationtime": "creationTime",
}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+Z?)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),]))"
)
_ORDER = re.compile(r"^\s*([A-Za-z]+)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)

Predicate = Callable[[dict[str, Any]], bool]


def _bad_filter(reason: str) -> ApiError:
    return ApiError(
        400,
        errors.INVALID_PARAMETER,
        f"The filter expression is not valid: {reason}. Supported: Field eq 'value' "
        "(State, ProviderId, Target, JobType, ItemType), startswith(Name, 'prefix'), "
        "CreationTime ge|le YYYY-MM-DD, joined with and/or and parentheses.",
        target="filter",
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise _bad_filter(f"unexpected text at character {position + 1}")
            kind = found.lastgroup or ""
            self.tokens.append((kind, found.group(kind)))
            position = found.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _bad_filter("the expression ends too soon")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.index += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        kind, value = self.take()
        if kind != "punct" or value != punct:
            raise _bad_filter(f"expected '{punct}'")

    def parse(self) -> Predicate:
        predicate = self.either()
        if self.peek() is not None:
            raise _bad_filter(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def either(self) -> Predicate:
        parts = [self.both()]
        while self.keyword("or"):
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else (lambda job: any(p(job) for p in parts))

    def both(self) -> Predicate:
        parts = [self.atom()]
        while self.keyword("and"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda job: all(p(job) for p in parts))

    def atom(self) -> Predicate:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.either()
            self.expect(")")
            return inner
        if self.keyword("startswith"):
            self.expect("(")
            field = self.field()
            self.expect(",")
            prefix = self.string()
            self.expect(")")
            if field != "name":
                raise _bad_filter("startswith is supported on Name only")
            return lambda job: str(job.get("name") or "").startswith(prefix)
        field = self.field()
        operator = self.take()
        if operator[0] != "word" or operator[1].lower() not in ("eq", "ge", "le"):
            raise _bad_filter("expected eq, ge or le")
        op = operator[1].lower()
        prop = FIELDS[field]
        if field == "creationtime":
            if op == "eq":
                raise _bad_filter("CreationTime takes ge or le")
            moment = self.moment()
            if op == "ge":
                return lambda job: _created(job) >= moment
            return lambda job: _created(job) <= moment
        if op != "eq" or field == "name":
            raise _bad_filter("Name takes startswith" if field == "name" else f"{field} takes eq")
        value = self.string()
        return lambda job: job.get(prop) == value

    def field(self) -> str:
        kind, value = self.take()
        if kind != "word" or value.lower() not in FIELDS:
            raise _bad_filter(f"unknown field {value!r}")
        return value.lower()

    def string(self) -> str:
        kind, value = self.take()
        if kind != "string":
            raise _bad_filter("expected a quoted value")
        return value[1:-1].replace("''", "'")

    def moment(self) -> datetime:
        kind, value = self.take()
        if kind != "date":
            raise _bad_filter("CreationTime takes a date such as 2026-11-30")
        return _parse_moment(value)


def _parse_moment(text: str) -> datetime:
    if "T" not in text:
        text += "T00:00:00"
    return datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=timezone.utc)


def _created(job: dict[str, Any]) -> datetime:
    return _parse_moment(str(job["creationTime"]))


def parse_filter(text: str | None) -> Predicate | None:
    """The predicate a filter expression stands for (None: no filter); 400 when invalid."""
    if text is None:
        return None
    if not text.strip():
        raise _bad_filter("it is empty")
    return _Parser(text).parse()


@dataclass(frozen=True)
class ListQuery:
    """A validated list query."""

    predicate: Predicate | None
    filter_text: str | None
    order_field: str
    descending: bool
    orderby_text: str | None
    top: int | None
    skip: int

    def select(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The matching jobs in order, from ``skip`` on (``top`` sizes the pages)."""
        chosen = [job for job in jobs if self.predicate is None or self.predicate(job)]
        # Creation order breaks ties, so pages are stable when the sort key repeats.
        chosen.sort(key=lambda job: str(job.get(self.order_field) or ""), reverse=self.descending)
        return chosen[self.skip :]


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
    field, descending = "creationTime", False
    if orderby_text is not None:
        found = _ORDER.match(orderby_text)
        if found is None or found.group(1).lower() not in FIELDS:
            raise ApiError(
                400,
                errors.INVALID_PARAMETER,
                "Unsupported orderby: use one of Name, ItemType, JobType, ProviderId, Target, "
                "State, CreationTime, with asc or desc.",
                target="orderby",
            )
        field = FIELDS[found.group(1).lower()]
        descending = (found.group(2) or "asc").lower() == "desc"
    return ListQuery(
        parse_filter(filter_text),
        filter_text,
        field,
        descending,
        orderby_text,
        _integer("top", params.get("top"), 1),
        _integer("skip", params.get("skip"), 0) or 0,
    )


def next_link(
    base_url: str, raw_path: str, api_version: str, query: ListQuery, next_skip: int
) -> str:
    """Absolute URL of the next page; the paging state travels in ``skip`` (``top`` kept)."""
    params: list[tuple[str, str]] = [("api-version", api_version)]
    if query.filter_text is not None:
        params.append(("filter", query.filter_text))
    if query.orderby_text is not None:
        params.append(("orderby", query.orderby_text))
    params.append(("skip", str(next_skip)))
    if query.top is not None:
        params.append(("top", str(query.top)))
    return f"{base_url}{raw_path}?{urlencode(params)}"
