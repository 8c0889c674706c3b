"""The pacer's rule for the next batch (orchestrators.pacing), from recorded answer moments.

The rule is pure: the moment a batch was scheduled and its results seen (the orchestration's
clock) and each answer's ``answeredAt`` (an activity host's clock) decide when the next batch
may go. Beside the cases, a simulated run of many batches, whose requests the "service" logs
at any moment between their send and their answer, holds the cap in every one-second window
of that log; the same run paced from the *first* answer of each batch does not.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bench.workspace_scale import busiest_second
from orchestrators import pacing
from orchestrators.pacing import BATCH_GAP, CLOCK_MARGIN, next_batch_at
from workflow.times import iso

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answers(*seconds: float) -> list[dict[str, Any]]:
    return [{"ok": True, "answeredAt": iso(at(s))} for s in seconds]


def test_the_next_batch_goes_a_second_after_the_last_answer() -> None:
    got = next_batch_at(at(0), at(0.5), answers(0.05, 0.30, 0.12))
    assert got == at(0.30) + CLOCK_MARGIN + BATCH_GAP
    # Sooner than a second after the orchestration saw the results, by their trip back.
    assert got < at(0.5) + BATCH_GAP


@pytest.mark.parametrize(
    ("batch", "why"),
    [
        ([{"ok": True}], "an answer without its moment"),
        ([{"ok": True, "answeredAt": "yesterday"}], "a moment that is not one"),
        (answers(-0.2, 0.1), "an answer before the batch was scheduled (a clock behind)"),
        (answers(0.1, 0.7), "an answer after the results were seen (a clock ahead)"),
        ([], "an empty batch"),
    ],
)
def test_the_seen_rule_applies_when_the_answers_cannot_tell(
    batch: list[dict[str, Any]], why: str
) -> None:
    assert next_batch_at(at(0), at(0.5), batch) == at(0.5) + BATCH_GAP, why


def test_no_scheduling_moment_means_the_seen_rule() -> None:
    assert next_batch_at(None, at(0.5), answers(0.1)) == at(0.5) + BATCH_GAP


def test_never_later_than_the_seen_rule() -> None:
    # The last answer came back within the margin of the orchestration seeing it.
    seen = at(0.3) + CLOCK_MARGIN / 2
    assert next_batch_at(at(0), seen, answers(0.1, 0.3)) == seen + BATCH_GAP


def test_the_pacer_keeps_its_rule_through_handover() -> None:
    pacer = pacing.Pacer(20)
    pacer.next_at = next_batch_at(at(0), at(0.5), answers(0.2))
    resumed = pacing.Pacer.resume(20, pacer.handover())
    assert resumed.next_at == at(0.2) + CLOCK_MARGIN + BATCH_GAP


Rule = Callable[[datetime | None, datetime, Sequence[Mapping[str, Any]]], datetime]


def first_answer_rule(
    scheduled: datetime | None, seen: datetime, batch: Sequence[Mapping[str, Any]]
) -> datetime:
    """A planted defect: pacing from the batch's first answer instead of its last."""
    first = min(datetime.fromisoformat(a["answeredAt"].replace("Z", "+00:00")) for a in batch)
    return min(seen + BATCH_GAP, first + CLOCK_MARGIN + BATCH_GAP)


def simulated_log(rule: Rule, batches: int = 150, cap: int = 20) -> list[dict[str, float]]:
    """The "service's" log of a run paced by ``rule``: each batch of ``cap`` requests goes out
    a little after its release (dispatch), each request takes 1-150 ms and is logged at any
    moment between its send and its answer, and the results reach the orchestration 5-60 ms
    after the last answer. Seeded, so every run of the test sees the same draws."""
    draw = random.Random(18)
    log: list[dict[str, float]] = []
    release = 0.0
    for _ in range(batches):
        batch = []
        for _ in range(cap):
            sent = release + draw.uniform(0.0, 0.03)
            answer = sent + draw.uniform(0.001, 0.15)
            log.append({"clock": draw.uniform(sent, answer)})
            batch.append({"answeredAt": iso(at(answer))})
        latest = max(datetime.fromisoformat(a["answeredAt"].replace("Z", "+00:00")) for a in batch)
        seen = latest + timedelta(seconds=draw.uniform(0.005, 0.06))
        next_at = rule(at(release), seen, batch)
        release = (max(next_at, seen) - T0).total_seconds()
    return log


def test_a_run_paced_from_the_last_answers_holds_the_cap_in_every_window() -> None:
    log = simulated_log(next_batch_at)
    assert len(log) == 150 * 20
    assert busiest_second(log, "clock") <= 20
    # And it is faster than pacing from the moment the results were seen, by their trip back.
    seen_log = simulated_log(lambda _scheduled, seen, _batch: seen + BATCH_GAP)
    assert busiest_second(seen_log, "clock") <= 20
    assert span(log) < span(seen_log) - 149 * 0.005


def span(log: list[dict[str, float]]) -> float:
    return max(e["clock"] for e in log) - min(e["clock"] for e in log)


def test_plant_pacing_from_the_first_answer_breaks_the_cap() -> None:
    assert busiest_second(simulated_log(first_answer_rule), "clock") > 20
