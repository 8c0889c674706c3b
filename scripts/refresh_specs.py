"""Make the repository's facts-only copy of the Azure Quantum data-plane OpenAPI documents.

    python scripts/refresh_specs.py SOURCE_DIR [TARGET_DIR]

SOURCE_DIR holds ``azure-quantum-data-plane-<api-version>.json`` files as published in
Azure/azure-rest-api-specs (``specification/quantum/data-plane/``). Each one is written to
TARGET_DIR (default: ``specs/`` of this repository) with its facts only: paths, verbs,
parameters, schemas, enums, patterns and the ``x-ms-*`` facts stay; prose goes (every
``description``, ``summary`` and ``title`` whose value is text, and ``x-ms-examples``).
A schema property that happens to be called ``description`` is a fact and stays.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PROSE_FIELDS = frozenset({"description", "summary", "title"})
DROPPED_FIELDS = frozenset({"x-ms-examples"})
PATTERN = "azure-quantum-data-plane-*.json"
DEFAULT_TARGET = Path(__file__).resolve().parents[1] / "specs"


def facts_only(node: Any) -> Any:
    """``node`` without prose: text-valued prose fields and examples removed, recursively."""
    if isinstance(node, dict):
        return {
            key: facts_only(value)
            for key, value in node.items()
            if key not in DROPPED_FIELDS and not (key in PROSE_FIELDS and isinstance(value, str))
        }
    if isinstance(node, list):
        return [facts_only(item) for item in node]
    return node


def refresh(source: Path, target: Path) -> list[Path]:
    """Write the facts-only copy of every document in ``source``; returns the files written."""
    documents = sorted(source.glob(PATTERN))
    if not documents:
        raise SystemExit(f"no {PATTERN} in {source}")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in documents:
        document = json.loads(path.read_text(encoding="utf-8"))
        out = target / path.name
        out.write_text(json.dumps(facts_only(document), indent=1) + "\n", encoding="utf-8")
        written.append(out)
    return written


def main(argv: list[str]) -> int:
    """Command line: SOURCE_DIR [TARGET_DIR]."""
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    target = Path(argv[1]) if len(argv) == 2 else DEFAULT_TARGET
    for out in refresh(Path(argv[0]), target):
        print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
