"""The pacer's slots (orchestrators.pacing), from recorded answer moments.

The rules are pure: the moment a batch was scheduled and its results seen (the orchestration's
clock) and each answer's ``answeredAt`` (an activity host's clock) decide when each slot of the
cap is free, when the next batch is released and which ``notBefore`` its requests carry.
Beside the cases, simulated runs of many batches, whose requests the "service" logs at any
moment between their send and their answer, on hosts whose clocks disagree by less than the
margin: paced by the slots they hold the cap in every one-second window of that log and take
less time than the older rule; with activities that ignore ``notBefore`` they break it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bench.workspace_scale import busiest_second
from orchestrators.pacing import BATCH_GAP, CLOCK_MARGIN, MAX_HOLD, Pacer, free_from
from workflow.times import iso

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
CAP = 20


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answers(*seconds: float) -> list[dict[str, Any]]:
    return [{"ok": True, "answeredAt": iso(at(s))} for s in seconds]


@dataclass
class Clock:
    """What the pacer reads of an orchestration context."""

    current_utc_datetime: datetime


def test_a_slot_is_free_a_second_after_its_answer() -> None:
    freed = free_from(at(0), at(0.5), answers(0.05, 0.30))
    assert freed == [at(0.05) + CLOCK_MARGIN + BATCH_GAP, at(0.30) + CLOCK_MARGIN + BATCH_GAP]
    # Never later than a second after the results were seen.
    assert free_from(at(0), at(0.305), answers(0.30)) == [at(0.305) + BATCH_GAP]


@pytest.mark.parametrize(
    ("batch", "why"),
    [
        ([{"ok": True}], "an answer without its moment"),
        ([{"ok": True, "answeredAt": "yesterday"}], "a moment that is not one"),
        ([*answers(0.1), {"ok": True}], "one answer of two without its moment"),
        (answers(-0.2, 0.1), "an answer before the batch was scheduled (a clock behind)"),
        (answers(0.1, 0.7), "an answer after the results were seen (a clock ahead)"),
        ([], "an empty batch"),
    ],
)
def test_the_older_rule_applies_when_the_answers_cannot_tell(
    batch: list[dict[str, Any]], why: str
) -> None:
    assert free_from(at(0), at(0.5), batch) is None, why
    pacer = Pacer(CAP, slots=[at(1.2)])
    pacer.sent(Clock(at(0.5)), batch, scheduled=at(0))  # type: ignore[arg-type]
    assert pacer.slots == [] and pacer.ready_at() == at(1.5), why
    assert pacer.not_before(0, at(1.5)) is None


def test_a_batch_takes_free_slots_first_then_the_earliest() -> None:
    pacer = Pacer(3)
    pacer.sent(Clock(at(0.5)), answers(0.1, 0.3), scheduled=at(0))  # type: ignore[arg-type]
    one, three = at(0.1) + CLOCK_MARGIN + BATCH_GAP, at(0.3) + CLOCK_MARGIN + BATCH_GAP
    assert pacer.slots == [one, three]
    # The free slot could go at once; the batch is held until MAX_HOLD before its last slot,
    # and the requests on listed slots wait for them.
    released = pacer.ready_at()
    assert released == three - MAX_HOLD
    assert [pacer.not_before(i, released) for i in range(3)] == [None, iso(one), iso(three)]
    # The batch used the free slot and the first listed one; the third keeps its moment.
    pacer.sent(Clock(at(1.5)), answers(1.25, 1.3), scheduled=released)  # type: ignore[arg-type]
    assert pacer.slots == sorted(
        [three, at(1.25) + CLOCK_MARGIN + BATCH_GAP, at(1.3) + CLOCK_MARGIN + BATCH_GAP]
    )


def test_a_batch_is_held_at_most_max_hold_before_its_last_slot() -> None:
    pacer = Pacer(2, slots=[at(1.0), at(2.0)])
    assert pacer.ready_at() == at(2.0) - MAX_HOLD
    pacer.hold_until(at(3.0))  # a Retry-After holds everything
    assert pacer.ready_at() == at(3.0)
    assert pacer.not_before(1, at(3.0)) is None


def test_the_slots_travel_through_handover() -> None:
    pacer = Pacer(CAP, next_at=at(0.4), slots=[at(1.1), at(1.2)])
    resumed = Pacer.resume(CAP, pacer.handover(), pacer.handover_slots())
    assert resumed == pacer


def simulated_log(
    *, moments: bool = True, obey: bool = True, batches: int = 150
) -> list[dict[str, float]]:
    """The "service's" log of a run paced by a Pacer. Each batch of CAP requests is released
    when the pacer says (and not before the last results were seen); its requests start 0-40
    ms later, one after the other, on hosts whose clocks are off by up to 9 ms either way;
    each waits for its ``notBefore`` on its own clock (unless ``obey`` is off), takes 1-150
    ms, and is logged at any moment between its send and its answer; the results reach the
    orchestration 2-60 ms after the last answer. ``moments`` off: answers carry none (the
    older rule). Seeded, so every run of the test sees the same draws."""
    draw = random.Random(18)
    pacer = Pacer(CAP)
    log: list[dict[str, float]] = []
    release = at(0)
    for _ in range(batches):
        batch = []
        last_answer = release
        for index in range(CAP):
            offset = timedelta(seconds=draw.uniform(-0.009, 0.009))
            start = release + timedelta(seconds=index * 0.002 + draw.uniform(0.0, 0.01))
            turn = pacer.not_before(index, release)
            sent = start
            if turn is not None and obey:
                sent = max(start, datetime.fromisoformat(turn) - offset)
            answer = sent + timedelta(seconds=draw.uniform(0.001, 0.15))
            logged = sent + (answer - sent) * draw.random()
            log.append({"clock": (logged - T0).total_seconds()})
            batch.append({"answeredAt": iso(answer + offset)} if moments else {})
            last_answer = max(last_answer, answer)
        seen = last_answer + timedelta(seconds=draw.uniform(0.002, 0.06))
        pacer.sent(Clock(seen), batch, scheduled=release)  # type: ignore[arg-type]
        release = max(pacer.ready_at() or seen, seen)
    return log


def span(log: list[dict[str, float]]) -> float:
    return max(e["clock"] for e in log) - min(e["clock"] for e in log)


def test_a_run_paced_by_slots_holds_the_cap_in_every_window() -> None:
    log = simulated_log()
    assert len(log) == 150 * CAP
    assert busiest_second(log, "clock") <= CAP
    # ... and is faster than the older rule (a second after the results were seen).
    older = simulated_log(moments=False)
    assert busiest_second(older, "clock") <= CAP
    assert span(log) < span(older) - 149 * 0.05


def test_plant_activities_that_ignore_not_before_break_the_cap() -> None:
    assert busiest_second(simulated_log(obey=False), "clock") > CAP
