"""Print the table of a reliability run, computed from the records its tests kept.

``python -m tests.support.reliability_report [PATH]`` reads the JSON that
tests/reliability/conftest.py writes at the end of a session (default: the path that
``RELIABILITY_REPORT`` or ``RELIABILITY_SCALE`` selects), computes every figure from the
records (tests/support/evidence.py) and prints one row per suite and a total. It exits 1 when
the file is missing, a test failed, or a "must be 0" figure (tokens leaked, disallowed
requests) is not 0, so ``make reliability`` fails loudly too.

``--write DOC`` also replaces the figures section of DOC (docs/reliability.md, between its two
markers) with the run's commit, date, wall time and table, whatever the run's outcome, so that
the published figures are always those of one run. The section ends with a digest of itself:
``section_intact`` tells whether it is still as the run wrote it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from tests.support.evidence import FIGURES, MUST_BE_ZERO, by_suite
from tests.support.reliability import report_path

SUITES = {
    "faults": "fault matrix",
    "crashes": "crashes (engine + SIGKILL)",
    "input": "hostile input + SSRF",
    "secrets": "secrets",
    "load": "load (devtools.host)",
}
TITLES = {
    "scenarios": "runs",
    "faults_injected": "faults applied",
    "inputs_reaching_app": "inputs that reached the app",
    "crashes_survived": "crashes survived",
    "duplicate_requests": "duplicate requests",
    "cancels_sent_again": "cancels sent again",
    "tokens_leaked": "tokens leaked",
    "disallowed_requests": "disallowed requests",
}
COLUMNS = (("tests", "tests"), *((name, TITLES[name]) for name in FIGURES), ("seconds", "seconds"))


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per suite (known suites first), then the total."""
    computed = by_suite(document.get("records", []))
    outcomes: dict[str, dict[str, int]] = document.get("outcomes", {})
    names = [s for s in SUITES if s in outcomes] + sorted(set(outcomes) - set(SUITES))
    table = []
    for name in names:
        row: dict[str, Any] = {"suite": SUITES.get(name, name)}
        row.update({k: computed.get(name, {}).get(k, 0) for k in FIGURES})
        result = outcomes[name]
        row["passed"] = result.get("passed", 0)
        row["ran"] = sum(result.get(k, 0) for k in ("passed", "failed", "skipped"))
        row["tests"] = f"{row['passed']}/{row['ran']}"
        row["failed"] = result.get("failed", 0)
        row["seconds"] = round(result.get("milliseconds", 0) / 1000, 1)
        table.append(row)
    total: dict[str, Any] = {"suite": "total"}
    for key in (*FIGURES, "passed", "ran", "failed", "seconds"):
        total[key] = round(sum(r[key] for r in table), 1)
    total["tests"] = f"{total['passed']}/{total['ran']}"
    return [*table, total]


def markdown(document: dict[str, Any]) -> str:
    """The table as Markdown (it reads fine in a terminal too)."""
    lines = [
        f"reliability run, scale {document.get('scale', '?')}, pytest exit status "
        f"{document.get('exitstatus', '?')}, {len(document.get('records', []))} records",
        "",
        "| suite | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for row in rows(document):
        lines.append(f"| {row['suite']} | " + " | ".join(str(row[k]) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def problems(document: dict[str, Any]) -> list[str]:
    """Why the run does not pass: failed tests and "must be 0" figures that are not 0."""
    total = rows(document)[-1]
    found = [f"{total['failed']} test(s) failed"] if total["failed"] else []
    found += [f"{TITLES[name]}: {total[name]}" for name in MUST_BE_ZERO if total[name]]
    if document.get("exitstatus", 1) != 0:
        found.append(f"pytest exit status {document.get('exitstatus')}")
    return found


START = "<!-- figures: written by make reliability from its own run; do not edit by hand -->"
END = "<!-- end of figures -->"
_DIGEST = re.compile(r"<!-- sha256 ([0-9a-f]{64}) -->")


def section(document: dict[str, Any]) -> str:
    """The figures section of docs/reliability.md for this run, digest included."""
    run = document.get("run", {})
    changed = " (with uncommitted changes)" if run.get("uncommittedChanges") else ""
    wall = run.get("wallSeconds")
    minutes = (
        f"{int(wall // 60)} min {round(wall % 60)} s" if isinstance(wall, (int, float)) else "?"
    )
    lines = [
        f"Produced by `make reliability` on commit `{run.get('commit', '?')}`{changed}, "
        f"started {run.get('startedAt', '?')}, Python {run.get('python', '?')} on "
        f"{run.get('cores', '?')} cores, {minutes} of wall time. Every figure was computed by "
        "`python -m tests.support.reliability_report` from the records of that run.",
        "",
        markdown(document),
    ]
    found = problems(document)
    if found:
        lines += ["", "**This run did not pass:** " + "; ".join(found) + "."]
    body = "\n".join(lines)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"{START}\n{body}\n<!-- sha256 {digest} -->\n{END}"


def _between(text: str) -> tuple[int, int]:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no figures section ({START!r} ... {END!r})")
    return start, end + len(END)


def write_section(doc: Path, document: dict[str, Any]) -> None:
    """Replace the figures section of ``doc`` with this run's."""
    text = doc.read_text(encoding="utf-8")
    start, end = _between(text)
    doc.write_text(text[:start] + section(document) + text[end:], encoding="utf-8")


def section_intact(text: str) -> bool:
    """Whether the figures section of ``text`` is as a run wrote it (its digest holds)."""
    start, end = _between(text)
    inner = text[start + len(START) + 1 : end - len(END) - 1]
    body, _, tail = inner.rpartition("\n")
    match = _DIGEST.fullmatch(tail)
    return bool(match) and hashlib.sha256(body.encode("utf-8")).hexdigest() == match.group(1)


def main(argv: list[str]) -> int:
    """Print the table (and write DOC's figures with ``--write DOC``); non-zero when the run
    failed or found a leak or a stray request."""
    doc: Path | None = None
    if argv[:1] == ["--write"] and len(argv) >= 2:
        doc, argv = Path(argv[1]), argv[2:]
    path = Path(argv[0]) if argv else report_path()
    if not path.is_file():
        print(f"no reliability records at {path}: run the suites first", file=sys.stderr)
        return 1
    document = json.loads(path.read_text(encoding="utf-8"))
    print(markdown(document))
    if doc is not None:
        write_section(doc, document)
        print(f"wrote the figures of this run to {doc}")
    found = problems(document)
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
