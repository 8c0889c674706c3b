"""Print the table of the last reliability run from the figures its tests recorded.

``python -m tests.support.reliability_report [PATH]`` reads the JSON that
tests/reliability/conftest.py writes at the end of a session (default: the path that
``RELIABILITY_REPORT`` or ``RELIABILITY_SCALE`` selects) and prints one row per suite and a
total. It exits 1 when the file is missing, a test failed, or a token leaked or a disallowed
request was seen, so ``make reliability`` fails loudly too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.support.reliability import FIGURES, report_path

SUITES = {
    "faults": "fault matrix",
    "crashes": "crashes (engine + SIGKILL)",
    "input": "hostile input + SSRF",
    "secrets": "secrets",
    "load": "load (devtools.host)",
}
COLUMNS = (
    ("tests", "tests"),
    ("scenarios", "scenarios run"),
    ("faults_injected", "faults injected"),
    ("inputs_tried", "inputs tried"),
    ("crashes_survived", "crashes survived"),
    ("duplicate_requests", "duplicate requests"),
    ("extra_cancels_accepted", "extra cancels accepted"),
    ("repeated_cancels_harmless", "cancels repeated after a lost answer"),
    ("tokens_leaked", "tokens leaked"),
    ("disallowed_requests", "disallowed requests"),
    ("seconds", "seconds"),
)


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per suite (known suites first), then the total."""
    figures: dict[str, dict[str, int]] = document.get("figures", {})
    outcomes: dict[str, dict[str, int]] = document.get("outcomes", {})
    names = [s for s in SUITES if s in outcomes] + sorted(set(outcomes) - set(SUITES))
    table = []
    for name in names:
        row: dict[str, Any] = {"suite": SUITES.get(name, name)}
        row.update({k: figures.get(name, {}).get(k, 0) for k in FIGURES})
        result = outcomes[name]
        ran = sum(result.get(k, 0) for k in ("passed", "failed", "skipped"))
        row["tests"] = f"{result.get('passed', 0)}/{ran}"
        row["failed"] = result.get("failed", 0)
        row["seconds"] = round(result.get("milliseconds", 0) / 1000, 1)
        table.append(row)
    total: dict[str, Any] = {"suite": "total"}
    for key, _ in COLUMNS:
        if key == "tests":
            passed = sum(int(r["tests"].split("/")[0]) for r in table)
            run = sum(int(r["tests"].split("/")[1]) for r in table)
            total[key] = f"{passed}/{run}"
        else:
            total[key] = round(sum(r[key] for r in table), 1)
    total["failed"] = sum(r["failed"] for r in table)
    return [*table, total]


def markdown(document: dict[str, Any]) -> str:
    """The table as Markdown (it reads fine in a terminal too)."""
    lines = [
        f"reliability run, scale {document.get('scale', '?')}, pytest exit status "
        f"{document.get('exitstatus', '?')}",
        "",
        "| suite | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for row in rows(document):
        lines.append(f"| {row['suite']} | " + " | ".join(str(row[k]) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the table; non-zero when the run failed or found a leak or a stray request."""
    path = Path(argv[0]) if argv else report_path()
    if not path.is_file():
        print(f"no reliability figures at {path}: run the suites first", file=sys.stderr)
        return 1
    document = json.loads(path.read_text(encoding="utf-8"))
    print(markdown(document))
    total = rows(document)[-1]
    bad = total["failed"] or total["tokens_leaked"] or total["disallowed_requests"]
    return 1 if bad or document.get("exitstatus", 1) != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
