"""The workspace-scale cancel (``cancel_jobs``) through the real replay engine, in virtual time.

Every run goes over real HTTP to the simulator (service paging at 100, its filter grammar) with
the stand-in's payload and custom-status caps on, and is held to the simulator's request log:
which jobs got a cancel, how many requests went out, and how many in any one second.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from appsettings import load_settings
from dataplane.versions import CancelRequest
from devtools.durable.errors import SimulatedCrash
from devtools.simulator import SimulatorServer
from orchestrators import bulk_pages, cancel_jobs
from orchestrators.pacing import Pacer
from tests.support.bulk_checks import assert_confirmed_by_reads, assert_no_delete, assert_rate_cap
from tests.support.evidence import cancels_sent_again
from tests.support.orchestration import Harness, Run
from tests.support.telemetry import Capture, moved, telemetry_capture
from workflow.bulk_inputs import checked_bulk_input
from workflow.inputs import InvalidInput
from workflow.instance_ids import bulk_instance_id, page_instance_id
from workflow.shapes import JobResult

TARGET = "ionq.simulator"
# Reaches Cancelled a minute after its cancel, as the benchmark's jobs do (by time: a listing
# is no Jobs_Get, so reads-based phases would never move on).
MINUTE_CANCEL = {
    "before": [["Executing", {}]],
    "after": [
        ["CancellationRequested", {"seconds": 1}],
        ["Cancelling", {"seconds": 59}],
        ["Cancelled", {}],
    ],
}
FAST = {"pollIntervalSeconds": 5, "maxPollIntervalSeconds": 30, "timeoutSeconds": 600}
#: An api-version where the verb matters: DELETE there is Jobs_Delete (PRODUCT.md section 1).
NEW_API = "2026-08-01-preview"
WORKSPACE = {
    "subscriptionId": "11111111-2222-3333-4444-555555555555",
    "resourceGroupName": "rg-quantum",
    "workspaceName": "ws-quantum",
}


@pytest.fixture
def bulk(harness: Harness) -> Harness:
    harness.simulator.set_options(pageSize=100)
    return harness


def seed(
    sim: SimulatorServer, count: int, lifecycle: Any = MINUTE_CANCEL, **details: Any
) -> list[str]:
    fields = {"target": TARGET, "providerId": "ionq", **details}
    return [sim.seed_job(lifecycle=lifecycle, details=fields) for _ in range(count)]


def bulk_request(harness: Harness, body: dict[str, Any]) -> Any:
    return checked_bulk_input(
        {
            **WORKSPACE,
            "endpoint": harness.simulator.url,
            "authToken": harness.token,
            "options": FAST,
            **body,
        },
        load_settings(),
    )


def run_bulk(harness: Harness, body: dict[str, Any], **run: Any) -> Run:
    request = bulk_request(harness, body)
    return harness.run_orchestration("cancel_jobs", bulk_instance_id(request), request, **run)


def progress_over_time(harness: Harness, body: dict[str, Any]) -> tuple[Run, list[dict[str, Any]]]:
    """The run, and its progress as the store holds it after every step of the engine."""
    seen: list[dict[str, Any]] = []
    request = bulk_request(harness, body)
    instance_id = bulk_instance_id(request)
    engine = harness.engine()

    def look(_kind: str, _instance: str) -> None:
        status = engine.get_status(instance_id)
        if status is not None and status.custom_status and status.custom_status not in seen[-1:]:
            seen.append(dict(status.custom_status))

    run = harness.run_orchestration("cancel_jobs", instance_id, request, engine, hook=look)
    return run, seen


def cancels(run: Run) -> Counter[str]:
    return Counter(e["jobId"] for e in run.calls("Jobs_Cancel"))


def test_a_filter_cancels_and_confirms_every_running_job_on_the_target(bulk: Harness) -> None:
    sim = bulk.simulator
    running = seed(sim, 230)
    bystanders = seed(sim, 15, target="quantinuum.sim.h2-1e", providerId="quantinuum")
    finished = seed(sim, 12, lifecycle="already-succeeded")
    run = run_bulk(
        bulk,
        {
            "filter": {"target": [TARGET]},
            "apiVersion": NEW_API,
            "options": {**FAST, "maxRequestsPerSecond": 20},
        },
    )
    outputs = run.outputs
    assert outputs["matched"] == 230
    assert outputs["outcomes"] == {
        "cancelled": 230,
        "alreadyTerminal": 0,
        "finishedBeforeCancel": 0,
        "timedOut": 0,
        "failed": 0,
    }
    # Exactly one cancel per running job, none for anything else, never a DELETE.
    assert cancels(run) == Counter({job: 1 for job in running})
    assert not set(cancels(run)) & set(bystanders + finished)
    assert_no_delete(run.calls(), sim, running)
    # Each job was read (its page listed, or the job itself) after it reached Cancelled.
    assert_confirmed_by_reads(run.calls(), sim, running)
    # The rate cap holds in every second of the simulator's log.
    assert_rate_cap(run.calls(), 20)
    # Confirmation by listing: far fewer requests than a Jobs_Get per job per poll.
    assert len(run.calls()) <= 1.2 * 230
    assert outputs["requests"] == len(run.calls())
    # Payloads stay small: more than 500 jobs would list only the interesting ones.
    assert len(outputs["jobs"]) == 230 and all(j["outcome"] == "cancelled" for j in outputs["jobs"])
    assert len(json.dumps(run.status.custom_status)) < 1000


def test_a_dry_run_lists_and_cancels_nothing_and_its_progress_says_so(bulk: Harness) -> None:
    sim = bulk.simulator
    running = seed(sim, 30)
    run, seen = progress_over_time(bulk, {"filter": {"target": [TARGET]}, "dryRun": True})
    outputs = run.outputs
    # True at every moment: nothing is ever shown as requested, and the run ends "done".
    assert seen and all(p["cancelRequested"] == 0 for p in seen), seen
    assert run.status.custom_status == {
        "phase": "done",
        "matched": 30,
        "cancelRequested": 0,
        "confirmed": 0,
        "pending": 0,
        "failed": 0,
        "pages": 1,
    }
    assert outputs["dryRun"] is True and outputs["matched"] == 30
    assert run.calls("Jobs_Cancel") == []
    assert {j["jobId"] for j in outputs["jobs"]} == set(running)
    assert set(outputs["jobs"][0]) == {
        "jobId",
        "name",
        "status",
        "target",
        "providerId",
        "creationTime",
    }


@pytest.mark.parametrize("max_jobs", [5, 15, 20])
def test_more_jobs_than_max_jobs_cancels_nothing_and_reports_the_exact_count(
    bulk: Harness, max_jobs: int
) -> None:
    bulk.simulator.set_options(pageSize=10)  # the count follows nextLink, ten at a time
    seed(bulk.simulator, 40)
    run, seen = progress_over_time(bulk, {"filter": {}, "maxJobs": max_jobs})
    assert run.outputs["outcome"] == "tooManyJobs" and run.outputs["matched"] == 40
    assert run.calls("Jobs_Cancel") == []
    assert all(p["cancelRequested"] == 0 for p in seen)
    final = run.status.custom_status
    assert final["phase"] == "done" and final["matched"] == 40 and final["pending"] == 0


TWO_MINUTE_CANCEL = {
    "before": [["Executing", {}]],
    "after": [
        ["CancellationRequested", {"seconds": 1}],
        ["Cancelling", {"seconds": 119}],
        ["Cancelled", {}],
    ],
}


def test_progress_is_true_at_several_moments_of_a_run(bulk: Harness) -> None:
    sim = bulk.simulator
    for _ in range(75):  # every page holds jobs that end a minute apart
        seed(sim, 1)
        seed(sim, 1, lifecycle=TWO_MINUTE_CANCEL)
    run, seen = progress_over_time(bulk, {"filter": {"target": [TARGET]}, "maxJobs": 150})
    assert run.outputs["outcomes"]["cancelled"] == 150
    rank = ["listing", "cancelling", "confirming", "done"]
    phases = [rank.index(p["phase"]) for p in seen]
    assert phases == sorted(phases) and phases[-1] == 3 and {1, 2} <= set(phases), phases
    # confirmed moves job by job as reads show them final, never backwards, never past
    # what was requested; pending + confirmed + failed is the matched count once counted.
    confirmed = [p["confirmed"] for p in seen]
    assert confirmed == sorted(confirmed) and confirmed[-1] == 150
    # Not only when a whole page (100, then 50 jobs) is final: after each read.
    assert set(confirmed) - {0, 50, 100, 150}, sorted(set(confirmed))
    for p in seen:
        assert p["confirmed"] <= p["cancelRequested"] <= 150
        if p["phase"] in ("cancelling", "confirming"):
            assert p["matched"] == 150 and p["pending"] + p["confirmed"] + p["failed"] == 150
    assert seen[-1]["pending"] == 0 and seen[-1]["cancelRequested"] == 150


CANCELLING_ALREADY = {
    "before": [["Cancelling", {"seconds": 20}], ["Cancelled", {}]],
    "after": [["Cancelled", {}]],
}


def test_job_ids_follow_the_seeds_branch_for_every_kind_of_job(bulk: Harness) -> None:
    sim = bulk.simulator
    [running] = seed(sim, 1)
    [failed] = seed(sim, 1, lifecycle="already-failed")
    [succeeded] = seed(sim, 1, lifecycle="already-succeeded")
    [cancelling] = seed(sim, 1, lifecycle=CANCELLING_ALREADY)
    [race] = seed(sim, 1, lifecycle={"before": [["Executing", {}]], "after": [["Succeeded", {}]]})
    [stuck] = seed(sim, 1, lifecycle="stuck-cancelling")
    missing = "0a1b2c3d-0000-4000-8000-0000000b0404"
    ids = [running, failed, succeeded, cancelling, race, stuck, missing, running.upper()]
    run = run_bulk(
        bulk, {"jobIds": ids, "apiVersion": NEW_API, "options": {**FAST, "timeoutSeconds": 120}}
    )
    by_job = {j["jobId"]: j for j in run.outputs["jobs"]}
    assert by_job[running]["outcome"] == "cancelled"
    for done, status in ((failed, "Failed"), (succeeded, "Succeeded")):
        assert by_job[done]["outcome"] == "alreadyTerminal", by_job[done]
        assert by_job[done]["finalStatus"] == status
    assert by_job[cancelling]["outcome"] == "cancelled"
    assert by_job[race]["outcome"] == "finishedBeforeCancel"
    assert by_job[stuck]["outcome"] == "timedOut" and by_job[stuck]["finalStatus"] == "Cancelling"
    assert by_job[missing]["outcome"] == "failed" and "HTTP 404" in by_job[missing]["error"]
    assert run.outputs["matched"] == 7
    # A cancel only for the jobs that were running: none for a final job, none for a job
    # already cancelling, none for a job that does not exist; one each, never a DELETE.
    assert cancels(run) == Counter({running: 1, race: 1, stuck: 1})
    assert_no_delete(run.calls(), sim, [running, race, stuck, cancelling])
    assert run.status.runtime_status.value == "Completed"  # one job's failure is not the run's


def test_many_named_jobs_learn_their_statuses_from_the_listing(bulk: Harness) -> None:
    # 250 named jobs among 300 running ones: the workspace's listing of unfinished jobs tells
    # their statuses (3 requests, not 250 reads), and their pages are confirmed by listing the
    # span of creation times they were made in.
    sim = bulk.simulator
    jobs = []
    for _ in range(300):  # made one after the other, as jobs are
        jobs += seed(sim, 1)
        sim.clock.advance(0.5)
    named = jobs[:250]
    run = run_bulk(bulk, {"jobIds": named, "maxJobs": 250, "apiVersion": NEW_API})
    assert run.outputs["outcomes"]["cancelled"] == 250
    assert cancels(run) == Counter({job: 1 for job in named})
    assert run.calls("Jobs_Get") == []
    requests = len(run.calls())
    assert requests <= 1.1 * 250, Counter(e["operation"] for e in run.calls())
    assert_rate_cap(run.calls(), 20)


def test_a_window_without_selected_jobs_is_still_recorded_for_the_results_route(
    bulk: Harness,
) -> None:
    # The listing leaves the status out: its first window holds 100 executing jobs, none of
    # them selected. Its empty page is recorded anyway, so the results route, which reads the
    # pages in order, reaches the waiting jobs of the next one.
    sim = bulk.simulator
    seed(sim, 100)
    waiting = seed(sim, 5, lifecycle={"before": [["Waiting", {}]], "after": [["Cancelled", {}]]})
    run = run_bulk(bulk, {"filter": {"target": [TARGET], "status": ["Waiting"]}})
    assert run.outputs["outcomes"]["cancelled"] == 5 and set(cancels(run)) == set(waiting)
    pages = [run.engine.get_status(page_instance_id(run.instance_id, n)) for n in range(2)]
    assert [len(p.output["results"]) for p in pages if p is not None] == [0, 5]


def test_a_session_is_closed_then_its_jobs_cancelled(bulk: Harness) -> None:
    sim = bulk.simulator
    session = sim.seed_session()
    inside = seed(sim, 5, sessionId=session)
    outside = seed(sim, 3)
    run = run_bulk(bulk, {"sessionId": session})
    assert sim.session_state(session)["closed"] is True
    assert run.calls()[0]["operation"] == "Sessions_Close"
    assert set(cancels(run)) == set(inside) and not set(cancels(run)) & set(outside)
    assert run.outputs["outcomes"]["cancelled"] == 5


def test_a_throttled_cancel_pauses_the_whole_run(bulk: Harness) -> None:
    sim = bulk.simulator
    seed(sim, 250)
    sim.add_fault({"operation": "Jobs_Cancel", "count": 1, "httpStatus": 429, "retryAfter": 40})
    run = run_bulk(bulk, {"filter": {"target": [TARGET]}})
    throttled = next(c for c in run.calls("Jobs_Cancel") if c["status"] == 429)
    # Nothing at all goes out for 40 s after the tick that drew the 429: not the other
    # cancels, not the listing of the next page, not a confirming read of an earlier one.
    tick_end = max(c["clock"] for c in run.calls() if c["clock"] - throttled["clock"] < 1)
    later = [c["clock"] for c in run.calls() if c["clock"] > tick_end]
    assert later and min(later) - throttled["clock"] >= 40
    assert run.outputs["outcomes"]["cancelled"] == 250


@pytest.mark.parametrize(
    ("api_version", "verb"), [("2024-10-01-preview", "DELETE"), ("2026-01-15-preview", "POST")]
)
def test_each_api_version_cancels_with_its_own_verb(
    bulk: Harness, api_version: str, verb: str
) -> None:
    jobs = seed(bulk.simulator, 3)
    run = run_bulk(bulk, {"jobIds": jobs, "apiVersion": api_version})
    assert {c["method"] for c in run.calls("Jobs_Cancel")} == {verb}
    assert all(not bulk.simulator.job_state(j)["deleted"] for j in jobs)
    assert run.outputs["outcomes"]["cancelled"] == 3


def test_crashes_resume_with_every_job_confirmed_and_only_lost_cancels_repeated(
    bulk: Harness,
) -> None:
    # The engine is stopped dead at random checkpoints; a new one resumes from the store. The
    # only cancels sent twice may be those in flight at a crash (sent, their result not yet
    # committed): counted in the store right after each crash, they bound the repeats the
    # simulator's log shows.
    sim = bulk.simulator
    chooser = random.Random(20261201)
    for round_number in range(3):
        sim.reset()
        sim.set_options(pageSize=100)
        jobs = seed(sim, 120)
        fresh = Harness(sim, bulk.token)
        request = checked_bulk_input(
            {
                "subscriptionId": "11111111-2222-3333-4444-555555555555",
                "resourceGroupName": "rg-quantum",
                "workspaceName": "ws-quantum",
                "endpoint": sim.url,
                "authToken": bulk.token,
                "filter": {"target": [TARGET]},
                "options": FAST,
            },
            load_settings(),
        )
        instance_id = bulk_instance_id(request)
        fresh.engine().start_new("cancel_jobs", instance_id, request)
        in_flight = crashes = 0
        for crash_at in sorted(chooser.sample(range(5, 200), k=3)):
            try:
                fresh.engine(crash_at).run_until_idle()
            except SimulatedCrash:
                crashes += 1
                in_flight += sum(
                    item["name"] == "cancel_job"
                    for key in fresh.store.list_ids()
                    for item in (fresh.store.load(key) or {}).get("activities", [])
                )
        survivor = fresh.engine()
        survivor.run_until_idle()
        status = survivor.get_status(instance_id)
        where = f"round {round_number}: {crashes} crashes, {in_flight} cancels in flight"
        assert status is not None and status.runtime_status.value == "Completed", where
        assert status.output["outcomes"]["cancelled"] == 120, (where, status.output)
        assert crashes >= 1, where
        assert cancels_sent_again(sim.requests()) <= in_flight, where
        assert set(cancels(Run(survivor, instance_id, sim))) == set(jobs), where


def test_a_small_rate_cap_runs_fewer_pages_at_once_and_still_holds(bulk: Harness) -> None:
    seed(bulk.simulator, 250)
    run = run_bulk(
        bulk,
        {"filter": {"target": [TARGET]}, "options": {**FAST, "maxRequestsPerSecond": 2}},
    )
    assert run.outputs["outcomes"]["cancelled"] == 250
    assert_rate_cap(run.calls(), 2)


def test_pages_overlap_so_the_run_takes_about_requests_over_rate_plus_one_cancellation(
    bulk: Harness,
) -> None:
    # 600 jobs that each take a minute to cancel, at 20 requests a second: cancelling page by
    # page and waiting for each would take six minutes of service time; overlapping pages
    # take the time of the requests plus one cancellation (the bound, at small N).
    sim = bulk.simulator
    seed(sim, 600)
    began = sim.clock.now()
    run = run_bulk(
        bulk,
        {
            "filter": {"target": [TARGET]},
            "maxJobs": 600,
            "options": {**FAST, "maxRequestsPerSecond": 20},
        },
    )
    took = sim.clock.now() - began
    requests = len(run.calls())
    assert run.outputs["outcomes"]["cancelled"] == 600
    assert requests <= 1.2 * 600
    assert took <= 1.25 * (requests / 20 + 60), (took, requests)
    assert_rate_cap(run.calls(), 20)
    # From the first cancel to the last, every batch but the first is full: none waits for a
    # listing (600 cancels need at least 30 batches, so an empty check cannot pass).
    sent = [e["clock"] for e in run.calls("Jobs_Cancel")]
    ticks = Counter(e["clock"] for e in run.calls() if sent[0] <= e["clock"] <= sent[-1])
    assert len(ticks) >= 30 and max(ticks.values()) <= 20
    assert sorted(ticks.values())[1:] == [20] * (len(ticks) - 1), sorted(ticks.values())


def test_a_service_that_pages_below_top_is_followed_by_its_next_links(bulk: Harness) -> None:
    sim = bulk.simulator
    sim.set_options(pageSize=30)
    running = seed(sim, 130)
    run = run_bulk(bulk, {"filter": {"target": [TARGET]}})
    assert run.outputs["matched"] == 130
    assert run.outputs["outcomes"]["cancelled"] == 130
    assert cancels(run) == Counter({job: 1 for job in running})
    # The count followed nextLink one page at a time (the probe came back short).
    lists = run.calls("Jobs_List")
    assert any("skiptoken" in e["query"].lower() or "skip=30" in e["query"] for e in lists)


def test_a_job_deleted_while_it_is_confirmed_fails_alone(bulk: Harness) -> None:
    sim = bulk.simulator
    jobs = seed(sim, 3)
    gone = jobs[0]
    sim.add_fault({"operation": "Jobs_Get", "jobId": gone, "httpStatus": 404})
    run = run_bulk(bulk, {"jobIds": jobs})
    by_job = {j["jobId"]: j for j in run.outputs["jobs"]}
    assert by_job[gone]["outcome"] == "failed" and "HTTP 404" in by_job[gone]["error"]
    assert [by_job[j]["outcome"] for j in jobs[1:]] == ["cancelled", "cancelled"]
    assert len(run.calls("Jobs_Get")) < 20  # read once when it failed, not until the deadline


def test_a_count_the_service_refuses_fails_the_run_and_cancels_nothing(bulk: Harness) -> None:
    sim = bulk.simulator
    seed(sim, 5)
    sim.add_fault({"operation": "Jobs_List", "count": 1, "httpStatus": 503})
    sim.add_fault({"operation": "Jobs_List", "count": 1, "httpStatus": 403})
    request = checked_bulk_input(
        {
            "subscriptionId": "11111111-2222-3333-4444-555555555555",
            "resourceGroupName": "rg-quantum",
            "workspaceName": "ws-quantum",
            "endpoint": sim.url,
            "authToken": bulk.token,
            "filter": {"target": [TARGET]},
        },
        load_settings(),
    )
    run = bulk.run_orchestration("cancel_jobs", bulk_instance_id(request), request)
    status = run.status
    assert status.runtime_status.value == "Failed"
    assert "Jobs_List failed with HTTP 403" in str(status.output)
    assert [c["status"] for c in run.calls()] == [503, 403]  # the 503 retried once, then 403
    assert run.calls("Jobs_Cancel") == []
    assert bulk.token not in str(status.output)
    # It ends as a failed single run does: the error is the message alone, not the
    # execution's actions (activity inputs and their sealed token), and the last progress.
    error = str(status.output)
    assert "sealedToken" not in error and "list_jobs_page" not in error, error
    assert len(error) < 600, error
    assert status.custom_status["phase"] == "listing"


def test_a_dry_run_of_named_jobs_reads_their_statuses_and_changes_nothing(bulk: Harness) -> None:
    sim = bulk.simulator
    jobs = seed(sim, 130)
    [done] = seed(sim, 1, lifecycle="already-succeeded")
    missing = "0a1b2c3d-0000-4000-8000-0000000b0404"
    run = run_bulk(bulk, {"jobIds": [*jobs, done, missing], "dryRun": True})
    assert {c["operation"] for c in run.calls()} <= {"Jobs_List", "Jobs_Get"}
    outputs = run.outputs
    assert outputs["matched"] == 132 and outputs["dryRun"] is True
    by_job = {j["jobId"]: j for j in outputs["jobs"]}
    assert [j["jobId"] for j in outputs["jobs"]] == [*jobs, done, missing]
    assert all(by_job[j]["status"] == "Executing" for j in jobs)
    assert by_job[done]["status"] == "Succeeded"
    assert by_job[missing]["status"] is None and "HTTP 404" in by_job[missing]["error"]
    assert all("outcome" not in j for j in outputs["jobs"])
    assert all(sim.job_state(j)["status"] == "Executing" for j in jobs)
    assert run.status.custom_status["cancelRequested"] == 0


def test_a_status_the_api_version_does_not_list_is_refused_naming_the_valid_ones() -> None:
    base = {**WORKSPACE, "endpoint": "https://westus.quantum.azure.com"}
    with pytest.raises(InvalidInput) as refused:
        checked_bulk_input({**base, "filter": {"status": ["Runing"]}}, load_settings())
    [problem] = refused.value.problems
    assert problem.name == "filter.status" and "Executing" in problem.reason
    assert "Runing" not in problem.reason  # no value is echoed
    # Cancelling is listed by the 2026 documents, not by 2024-10-01-preview.
    old = {**base, "apiVersion": "2024-10-01-preview", "filter": {"status": ["Cancelling"]}}
    with pytest.raises(InvalidInput) as refused_old:
        checked_bulk_input(old, load_settings())
    assert "Waiting, Executing" in refused_old.value.problems[0].reason
    new = checked_bulk_input({**base, "filter": {"status": ["Cancelling"]}}, load_settings())
    assert new["selector"]["filter"]["status"] == ["Cancelling"]
    default = checked_bulk_input(
        {**base, "apiVersion": "2024-10-01-preview", "filter": {}}, load_settings()
    )
    assert default["selector"]["filter"]["status"] == ["Waiting", "Executing"]


# -- planted defects: each check above fails when the defect it guards against is planted ----
def test_plant_confirmation_skipped_fails_the_confirming_reads_check(
    bulk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defect: an accepted cancel is reported cancelled at once, with no confirming read.
    # The outcomes still look right; the check the main, crash and end-to-end tests share
    # (every job read after the simulator says it ended) is what catches it.
    real = bulk_pages.cancel_answered

    def confirmation_skipped(page: Any, job_id: str, answer: Any, now: Any, options: Any) -> Any:
        wait = real(page, job_id, answer, now, options)
        if answer["ok"]:
            page.pending.pop(job_id, None)
            page.results[job_id] = JobResult(
                jobId=job_id, outcome="cancelled", finalStatus="Cancelled", cancellationTime=None
            )
        return wait

    monkeypatch.setattr(bulk_pages, "cancel_answered", confirmation_skipped)
    sim = bulk.simulator
    running = seed(sim, 150)
    run = run_bulk(bulk, {"filter": {"target": [TARGET]}, "maxJobs": 150})
    assert run.outputs["outcomes"]["cancelled"] == 150  # the outputs alone do not show it
    with pytest.raises(AssertionError, match="never read after they ended"):
        assert_confirmed_by_reads(run.calls(), sim, running)


def test_plant_no_pacing_fails_the_rate_cap_check(
    bulk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defect: the rate cap is gone (a sent batch no longer holds the next one back a
    # second), so the batches that are due together land in the same second.
    monkeypatch.setattr(Pacer, "sent", lambda *_args, **_kwargs: None)
    seed(bulk.simulator, 60)
    run = run_bulk(
        bulk, {"filter": {"target": [TARGET]}, "options": {**FAST, "maxRequestsPerSecond": 2}}
    )
    assert run.outputs["outcomes"]["cancelled"] == 60
    with pytest.raises(AssertionError, match="requests in one second"):
        assert_rate_cap(run.calls(), 2)


def test_plant_delete_for_a_new_api_version_fails_the_no_delete_check(
    bulk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defect: the client cancels with DELETE whatever the api-version (Jobs_Delete there).
    monkeypatch.setattr(
        "dataplane.client.cancel_request", lambda _version: CancelRequest("DELETE", "")
    )
    jobs = seed(bulk.simulator, 3)
    run = run_bulk(bulk, {"jobIds": jobs, "apiVersion": NEW_API})
    assert run.status.runtime_status.value == "Completed"
    with pytest.raises(AssertionError, match="DELETE"):
        assert_no_delete(run.calls(), bulk.simulator, jobs)


def bulk_outcomes_counted(capture: Capture, before: Any) -> dict[str, float]:
    """The cancellations metric's moves for trigger "bulk", by outcome."""
    moved_by = moved(before, capture.totals("cancel_running_job.cancellations"))
    return {
        dict(key)["outcome"]: value for key, value in moved_by.items() if ("trigger", "bulk") in key
    }


def test_each_job_of_a_bulk_run_is_counted_in_the_cancellations_metric(bulk: Harness) -> None:
    capture = telemetry_capture()
    before = capture.totals("cancel_running_job.cancellations")
    sim = bulk.simulator
    jobs = seed(sim, 4)
    [done] = seed(sim, 1, lifecycle="already-failed")
    run = run_bulk(bulk, {"jobIds": [*jobs, done]})
    assert run.outputs["outcomes"]["cancelled"] == 4
    assert bulk_outcomes_counted(capture, before) == {"cancelled": 4, "alreadyTerminal": 1}


def test_plant_no_bulk_metric_fails_the_metric_check(
    bulk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cancel_jobs, "record_outcome", lambda *_args: None)
    capture = telemetry_capture()
    before = capture.totals("cancel_running_job.cancellations")
    jobs = seed(bulk.simulator, 4)
    run = run_bulk(bulk, {"jobIds": jobs})
    assert run.outputs["outcomes"]["cancelled"] == 4
    with pytest.raises(AssertionError):
        assert bulk_outcomes_counted(capture, before) == {"cancelled": 4}
