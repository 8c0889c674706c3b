"""Print the table of a reliability run, computed from the records its tests kept.

``python -m tests.support.reliability_report [PATH]`` reads the JSON that
tests/reliability/conftest.py writes at the end of a session (default: the path that
``RELIABILITY_REPORT`` or ``RELIABILITY_SCALE`` selects), computes every figure from the
records (tests/support/evidence.py) and prints one row per suite and a total. It exits 1 when
the file is missing, a test failed, or a "must be 0" figure (tokens leaked, disallowed
requests) is not 0, so ``make reliability`` fails loudly too.
"""

from __future__ import annotations

import json
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


def main(argv: list[str]) -> int:
    """Print the table; non-zero when the run failed or found a leak or a stray request."""
    path = Path(argv[0]) if argv else report_path()
    if not path.is_file():
        print(f"no reliability records at {path}: run the suites first", file=sys.stderr)
        return 1
    document = json.loads(path.read_text(encoding="utf-8"))
    print(markdown(document))
    found = problems(document)
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
