"""The figures in docs/reliability.md are written by a run of ``make reliability``, never by
hand: the writer puts the run's commit, date and every figure there, and a digest that a hand
edit breaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.reliability_report import END, START, main, section_intact

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
DOCUMENT = {
    "scale": "full",
    "exitstatus": 0,
    "run": {
        "commit": "0123456789ab",
        "uncommittedChanges": False,
        "startedAt": "2026-12-02 08:00 UTC",
        "wallSeconds": 341.5,
        "python": "3.13.1",
        "cores": 2,
    },
    "outcomes": {"load": {"passed": 1, "milliseconds": 15300}},
    "records": [
        {"suite": "load", "kind": "run", "runtimeStatus": "Completed"},
        {"suite": "load", "kind": "sends", "named": ["a", "a", "a"], "started": ["a"]},
    ],
}


def test_the_writer_puts_one_runs_facts_and_figures_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Title\n\nprose\n\n{START}\nold figures\n{END}\n\nafter\n")
    records = tmp_path / "last-full.json"
    records.write_text(json.dumps(DOCUMENT))
    assert main(["--write", str(doc), str(records)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose\n\n") and text.endswith("\n\nafter\n")
    assert "old figures" not in text
    assert "commit `0123456789ab`" in text and "started 2026-12-02 08:00 UTC" in text
    assert "5 min 42 s of wall time" in text
    assert "| load (devtools.host) | 1/1 | 1 | 0 | 0 | 0 | 2 | 0 | 0 | 0 | 15.3 |" in text
    assert section_intact(text)
    # A figure changed by hand no longer matches the digest the run wrote.
    assert not section_intact(
        text.replace("| 1/1 | 1 | 0 | 0 | 0 | 2 |", "| 1/1 | 1 | 0 | 0 | 0 | 3 |")
    )


def test_a_failed_run_is_written_too_and_says_so(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(f"{START}\n{END}\n")
    records = tmp_path / "last-full.json"
    records.write_text(json.dumps({**DOCUMENT, "exitstatus": 1}))
    assert main(["--write", str(doc), str(records)]) == 1
    assert "**This run did not pass:** pytest exit status 1." in doc.read_text()


def test_docs_reliability_holds_the_figures_a_full_run_wrote() -> None:
    text = DOC.read_text(encoding="utf-8")
    if "(not yet written by a run)" in text:
        pytest.fail("docs/reliability.md has no figures yet: run make reliability")
    assert section_intact(text), "docs/reliability.md's figures were edited by hand"
    assert "reliability run, scale full" in text
