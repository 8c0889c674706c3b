"""Printing: Markdown tables (so a run can be pasted into the README) and target checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> str:
    """A Markdown table; columns in ``left`` (text) left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index in left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 2)) if i in left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def seconds(value: float | None) -> str:
    """A duration for a table cell."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.1f} s"
    return f"{value:.2f} s"


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``1.23x``, or ``-`` when either is missing or base is 0."""
    if value is None or base is None or base == 0:
        return "-"
    result = value / base
    return f"{result:.2f}x" if result < 10 else f"{result:.0f}x"


def label_t(cancel_seconds: float) -> str:
    """0 s, 10 s, 60 s, 10 min, 1 h."""
    if cancel_seconds >= 3600 and cancel_seconds % 3600 == 0:
        return f"{cancel_seconds / 3600:g} h"
    if cancel_seconds >= 120 and cancel_seconds % 60 == 0:
        return f"{cancel_seconds / 60:g} min"
    return f"{cancel_seconds:g} s"


@dataclass
class Checks:
    """Target checks: each PASS, FAIL or SKIPPED with the figures behind it."""

    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str) -> None:
        """Record one target."""
        self.lines.append(("PASS" if passed else "FAIL", name, detail))

    def skip(self, name: str, reason: str) -> None:
        """Record a target that could not be checked, and why."""
        self.lines.append(("SKIPPED", name, reason))

    @property
    def failed(self) -> bool:
        """True when any target failed."""
        return any(verdict == "FAIL" for verdict, _, _ in self.lines)

    def render(self) -> str:
        """One line per target."""
        return "\n".join(f"{verdict:7} {name}: {detail}" for verdict, name, detail in self.lines)
