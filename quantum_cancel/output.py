"""Where the CLI's output goes: tables and lines for people, one JSON document for scripts.

With ``--json`` standard output holds exactly one JSON document and nothing else (no
progress); otherwise rich draws tables, and live progress only when standard output is a
terminal (rich writes no escape codes to a pipe or a file).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

PLAIN_WIDTH = 200


class Screen:
    """The CLI's output, for one command."""

    def __init__(self, as_json: bool, console: Console | None = None) -> None:
        """``as_json``: print one JSON document at the end, and nothing else to stdout."""
        self.as_json = as_json
        self.console = console or Console(highlight=False)
        if not self.console.is_terminal:
            # A pipe or a file has no width to fit: keep ids and times on one line.
            self.console.width = PLAIN_WIDTH
        self.errors = Console(stderr=True, highlight=False)

    @property
    def live(self) -> bool:
        """Whether progress is drawn (a terminal, and not --json)."""
        return not self.as_json and self.console.is_terminal

    def say(self, text: str) -> None:
        """A line for people (on stderr under --json, so stdout stays one document)."""
        (self.errors if self.as_json else self.console).print(text, markup=False, soft_wrap=True)

    def json(self, document: Any) -> None:
        """The command's machine-readable result."""
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()

    def table(
        self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """A table of ``rows`` under ``columns`` (never under --json)."""
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    def csv(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Rows as CSV with a header line."""
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])
        sys.stdout.flush()


def columns_of(rows: Sequence[dict[str, Any]], preferred: Sequence[str]) -> list[str]:
    """``preferred`` columns present in ``rows``, then any others in first-seen order."""
    seen: list[str] = []
    for row in rows:
        for name in row:
            if name not in seen:
                seen.append(name)
    return [name for name in preferred if name in seen] + [n for n in seen if n not in preferred]


def cell(value: Any) -> Any:
    """A JSON value as one table or CSV cell."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value
