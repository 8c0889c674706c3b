"""What each command does, over the app's HTTP API (quantum_cancel.api)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from quantum_cancel.api import USAGE, AppClient, CliError, problem_text
from quantum_cancel.output import Screen, cell, columns_of
from quantum_cancel.runs import (
    BAD_OUTCOMES,
    GOOD_OUTCOMES,
    RUNNING,
    bulk_line,
    follow_bulk,
    follow_status,
    job_line,
)

OK, FAILED = 0, 2
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
JOB_RUN = re.compile(rf"cancel-{GUID.pattern}-[0-9a-f]{{16}}")
BULK_RUN = re.compile(r"cancel-jobs-[0-9a-f]{32}")
RESULTS_PAGE = 100
SHOWN_ROWS = 20
RESULT_COLUMNS = (
    "jobId",
    "outcome",
    "finalStatus",
    "cancellationTime",
    "error",
    "name",
    "status",
    "target",
    "providerId",
    "creationTime",
)


def run(args: argparse.Namespace, client: AppClient, screen: Screen, workspace: str | None) -> int:
    """Dispatch ``args.command``; returns the exit status."""
    command = (
        args.command if args.command != "guardrails" else f"guardrails {args.guardrails_command}"
    )
    handlers: dict[str, Callable[[], int]] = {
        "job": lambda: cancel_job(client, screen, parse_workspace(workspace), args.job_id),
        "jobs": lambda: cancel_jobs(args, client, screen, parse_workspace(workspace)),
        "status": lambda: show_status(client, screen, args.id, workspace),
        "results": lambda: show_results(client, screen, args.id, workspace, args.format),
        "list": lambda: list_runs(client, screen, args.running, args.top),
        "guardrails show": lambda: show_guardrails(client, screen),
        "guardrails sweep": lambda: sweep_guardrails(client, screen, args.dry_run),
    }
    return handlers[command]()


def parse_workspace(text: str | None) -> dict[str, str]:
    """``SUB/RG/WS`` as the app's three workspace fields (the app checks their patterns)."""
    example = "11111111-2222-3333-4444-555555555555/rg-quantum/ws-quantum"
    if not text:
        raise CliError(
            "no workspace: pass --workspace SUB/RG/WS or set QUANTUM_CANCEL_WORKSPACE "
            f"(e.g. {example})"
        )
    parts = text.strip().strip("/").split("/")
    if len(parts) != 3 or not all(part.strip() for part in parts):
        raise CliError(
            "--workspace must be SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE_NAME, three parts "
            f"separated by '/' (e.g. {example}); got {len(parts)} part(s)"
        )
    return dict(zip(("subscriptionId", "resourceGroupName", "workspaceName"), parts, strict=True))


# -- one job -----------------------------------------------------------------------------


def cancel_job(client: AppClient, screen: Screen, workspace: dict[str, str], job_id: str) -> int:
    """``job JOB_ID``: start (or find) the job's run and follow it to its end."""
    started = client.post("cancel-running-job", {**workspace, "jobId": job_id}).body
    screen.say(f"run {started['id']} for job {job_id}")
    final = follow_status(client, screen, status_url_of(started), job_line)
    if screen.as_json:
        screen.json(final)
        return exit_status(final)
    outputs = final.get("outputs") or {}
    if final.get("runtimeStatus") == "Completed":
        screen.say(
            f"job {job_id}: {outputs.get('outcome')} (final status {outputs.get('finalStatus')}, "
            f"cancellation time {outputs.get('cancellationTime') or '-'})"
        )
        screen.table(None, ("output", "value"), ((k, cell(v)) for k, v in outputs.items()))
    else:
        screen.say(
            f"job {job_id}: the run ended {final.get('runtimeStatus')}: {final.get('error')}"
        )
    return exit_status(final)


# -- a workspace -------------------------------------------------------------------------


def selector_of(args: argparse.Namespace) -> dict[str, Any]:
    """The request's one selector: a filter from the filter options, ``jobIds`` or ``sessionId``."""
    filter_fields = {
        "target": args.target,
        "providerId": args.provider,
        "status": args.status,
        "namePrefix": args.name_prefix,
    }
    chosen = {name: value for name, value in filter_fields.items() if value}
    selectors = [bool(chosen), args.ids is not None, args.session is not None]
    if sum(selectors) != 1:
        raise CliError(
            "name the jobs with exactly one of: filter options (--target, --provider, "
            "--status, --name-prefix, which combine), --ids FILE, or --session ID"
        )
    if chosen:
        return {"filter": chosen}
    if args.session is not None:
        return {"sessionId": args.session}
    return {"jobIds": read_ids(args.ids)}


def read_ids(path: str) -> list[str]:
    """Job ids from a file (or stdin for '-'): one per line, blank lines and # comments skipped."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"cannot read --ids {path}: {exc.strerror}") from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    ids = [found for found in ids if found]
    if not ids:
        raise CliError(f"--ids {path} holds no job id (one GUID per line)")
    return ids


def cancel_jobs(
    args: argparse.Namespace, client: AppClient, screen: Screen, workspace: dict[str, str]
) -> int:
    """``jobs``: a dry run, its table, a question (unless --yes), then the run with a bar."""
    request: dict[str, Any] = {**workspace, **selector_of(args)}
    if args.max_jobs is not None:
        request["maxJobs"] = args.max_jobs
    dry = start_bulk(client, screen, {**request, "dryRun": True}, live_bar=False)
    report: dict[str, Any] = {"dryRun": dry, "run": None}
    if dry.get("runtimeStatus") != "Completed":
        return _finish(
            screen,
            report,
            f"the dry run ended {dry.get('runtimeStatus')}: {dry.get('error')}",
            FAILED,
        )
    found = dry.get("outputs") or {}
    matched = int(found.get("matched", 0))
    if not screen.as_json:
        show_dry_run(screen, dry)
    if found.get("outcome") == "tooManyJobs":
        return _finish(
            screen,
            report,
            f"{matched} jobs match, more than maxJobs: nothing would be cancelled. "
            f"Narrow the selector or pass --max-jobs {matched}.",
            FAILED,
        )
    if args.dry_run:
        return _finish(screen, report, f"dry run: {matched} jobs match; nothing was cancelled", OK)
    if matched == 0:
        return _finish(screen, report, "no job matches: nothing to cancel", OK)
    if not args.yes and not confirm(
        f"Cancel these {matched} jobs? The app lists them again as it starts. [y/N] "
    ):
        return _finish(screen, report, "nothing was cancelled", OK)
    final = start_bulk(client, screen, {**request, "dryRun": False}, live_bar=True)
    report["run"] = final
    if not screen.as_json:
        show_bulk_summary(screen, final)
    return _finish(screen, report, None, exit_status(final))


def start_bulk(
    client: AppClient, screen: Screen, request: dict[str, Any], live_bar: bool
) -> dict[str, Any]:
    """POST /api/cancel-jobs and follow the run to its end."""
    started = client.post("cancel-jobs", request).body
    kind = "dry run" if request["dryRun"] else "run"
    screen.say(f"{kind} {started['id']}")
    if live_bar:
        return follow_bulk(client, screen, status_url_of(started))
    return follow_status(client, screen, status_url_of(started), bulk_line)


def status_url_of(started: dict[str, Any]) -> str:
    """The app's own status URL from a 202 answer (never the system-key check-status URL)."""
    url = started.get("statusUrl")
    if not isinstance(url, str):
        raise CliError(
            "the app's answer carries no statusUrl: the app is older than this CLI; "
            "deploy the current version"
        )
    return url


def confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin; anything but yes (EOF included) is no."""
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def show_dry_run(screen: Screen, document: dict[str, Any]) -> None:
    outputs = document.get("outputs") or {}
    jobs = outputs.get("jobs") or []
    columns = ("jobId", "name", "status", "target", "providerId", "creationTime")
    rows = [[job.get(name) for name in columns] for job in jobs[:SHOWN_ROWS]]
    screen.table(f"{outputs.get('matched', 0)} jobs match", columns, rows)
    if len(jobs) > SHOWN_ROWS or outputs.get("matched", 0) > len(rows):
        screen.say(
            f"… and {outputs.get('matched', 0) - len(rows)} more "
            f"(quantum-cancel results {document.get('instanceId')})"
        )


def show_bulk_summary(screen: Screen, document: dict[str, Any]) -> None:
    outputs = document.get("outputs") or {}
    if document.get("runtimeStatus") != "Completed":
        screen.say(f"the run ended {document.get('runtimeStatus')}: {document.get('error')}")
        return
    outcomes = outputs.get("outcomes") or {}
    screen.table(f"{outputs.get('matched', 0)} jobs", ("outcome", "jobs"), sorted(outcomes.items()))
    bad = [job for job in outputs.get("jobs") or [] if job.get("outcome") in BAD_OUTCOMES]
    if bad:
        columns = ("jobId", "outcome", "finalStatus", "error")
        screen.table(
            "jobs that did not end well",
            columns,
            [[cell(j.get(c)) for c in columns] for j in bad[:SHOWN_ROWS]],
        )
    screen.say(f"every result: quantum-cancel results {document.get('instanceId')} --format csv")


def _finish(screen: Screen, report: dict[str, Any], message: str | None, status: int) -> int:
    if screen.as_json:
        screen.json(report)
    elif message:
        screen.say(message)
    return status


# -- reading runs ------------------------------------------------------------------------


def status_route(client: AppClient, run_id: str, workspace: str | None) -> str:
    """The app URL of a run's status document: by instance id, or by job id in a workspace."""
    if BULK_RUN.fullmatch(run_id):
        return client.url(f"cancel-jobs/{run_id}")
    if JOB_RUN.fullmatch(run_id):
        return client.url(f"cancel-running-job/{run_id}")
    if GUID.fullmatch(run_id):
        found = client.get("cancel-running-job", {**parse_workspace(workspace), "jobId": run_id})
        if found.status == 404:
            raise CliError(
                f"no cancellation of job {run_id} in this workspace "
                f"(quantum-cancel job {run_id} starts one)"
            )
        return str(found.body["statusUrl"])
    raise CliError(
        f"{run_id!r} is neither a run's instance id (see quantum-cancel list) nor a job id"
    )


def fetch_document(client: AppClient, run_id: str, workspace: str | None) -> dict[str, Any]:
    answer = client.get(status_route(client, run_id, workspace))
    if answer.status == 404:
        raise CliError(f"the app has no run {run_id} (quantum-cancel list shows its runs)")
    document: dict[str, Any] = answer.body
    return document


def show_status(client: AppClient, screen: Screen, run_id: str, workspace: str | None) -> int:
    """``status ID``: where a run is, or how it ended."""
    document = fetch_document(client, run_id, workspace)
    if screen.as_json:
        screen.json(document)
        return exit_status(document)
    workspace_run = BULK_RUN.fullmatch(document.get("instanceId", "")) is not None
    screen.say(f"run {document.get('instanceId')}")
    screen.say((bulk_line if workspace_run else job_line)(document))
    outputs = document.get("outputs")
    if isinstance(outputs, dict):
        shown = {k: v for k, v in outputs.items() if k != "jobs"}
        screen.table(None, ("output", "value"), ((k, cell(v)) for k, v in shown.items()))
    if document.get("error"):
        screen.say(f"error: {document['error']}")
    return exit_status(document)


def show_results(
    client: AppClient, screen: Screen, run_id: str, workspace: str | None, form: str
) -> int:
    """``results ID``: every job's result, as a table, JSON or CSV."""
    if BULK_RUN.fullmatch(run_id):
        rows = bulk_results(client, run_id)
    else:
        outputs = fetch_document(client, run_id, workspace).get("outputs")
        rows = [outputs] if isinstance(outputs, dict) else []
    columns = columns_of(rows, RESULT_COLUMNS)
    if screen.as_json or form == "json":
        screen.json({"value": rows})
    elif form == "csv":
        screen.csv(columns, ([cell(row.get(c)) for c in columns] for row in rows))
    else:
        screen.table(
            f"{len(rows)} jobs", columns, ([cell(row.get(c)) for c in columns] for row in rows)
        )
    return FAILED if any(row.get("outcome") in BAD_OUTCOMES for row in rows) else OK


def bulk_results(client: AppClient, run_id: str) -> list[dict[str, Any]]:
    """Every page of GET /api/cancel-jobs/{id}/jobs, following nextLink."""
    rows: list[dict[str, Any]] = []
    answer = client.get(f"cancel-jobs/{run_id}/jobs", {"top": RESULTS_PAGE})
    while True:
        if answer.status == 404:
            raise CliError(
                f"the app has no workspace run {run_id} (quantum-cancel list shows its runs)"
            )
        rows.extend(answer.body.get("value", []))
        link = answer.body.get("nextLink")
        if not link:
            return rows
        answer = client.get(link)


def list_runs(client: AppClient, screen: Screen, running: bool, top: int) -> int:
    """``list``: the app's runs, newest first."""
    params = {"status": "running" if running else "all", "top": top}
    runs = client.get("cancellations", params).body.get("value", [])
    if screen.as_json:
        screen.json({"value": runs})
        return OK
    columns = ("created", "kind", "job or workspace", "runtime", "phase", "outcome", "instance id")
    rows = [
        [
            run.get("createdTime"),
            run.get("kind"),
            run.get("jobId") or run.get("workspace"),
            run.get("runtimeStatus"),
            (run.get("progress") or {}).get("phase"),
            run.get("outcome") or _counts(run.get("outcomes")),
            run.get("instanceId"),
        ]
        for run in runs
    ]
    screen.table(f"{len(rows)} {'running ' if running else ''}runs", columns, rows)
    return OK


def _counts(outcomes: Any) -> str | None:
    if not isinstance(outcomes, dict):
        return None
    return ", ".join(f"{name} {count}" for name, count in outcomes.items() if count) or "none"


def exit_status(document: dict[str, Any]) -> int:
    """0 while running or when every job ended well; 2 when the run or a job failed or timed
    out (or a workspace run matched too many jobs to act)."""
    runtime = document.get("runtimeStatus")
    if runtime in RUNNING:
        return OK
    if runtime != "Completed":
        return FAILED
    outputs = document.get("outputs") or {}
    if outputs.get("outcome") == "tooManyJobs":
        return FAILED
    outcomes = outputs.get("outcomes")
    if isinstance(outcomes, dict):
        return FAILED if any(outcomes.get(name) for name in BAD_OUTCOMES) else OK
    outcome = outputs.get("outcome")
    return OK if outcome in GOOD_OUTCOMES or outcome is None else FAILED


# -- guardrails --------------------------------------------------------------------------


def show_guardrails(client: AppClient, screen: Screen) -> int:
    """``guardrails show``: GET /api/guardrails (policy as loaded, problems, last sweep)."""
    answer = client.get("guardrails")
    if answer.status == 404:
        raise CliError("the app has no GET /api/guardrails: is it a version without guardrails?")
    document: dict[str, Any] = answer.body
    if screen.as_json:
        screen.json(document)
        return OK
    enabled = "enabled" if document.get("enabled") else "off (GUARDRAIL_POLICY is not set)"
    screen.say(f"guardrails {enabled}")
    problems = document.get("problems") or []
    for problem in problems:
        screen.say(f"problem: {problem if isinstance(problem, str) else json.dumps(problem)}")
    policy = document.get("policy") or {}
    rules = policy.get("rules") or []
    if rules:
        _rules_table(screen, rules)
    if document.get("lastSweep") is not None:
        screen.say(f"last sweep: {json.dumps(document['lastSweep'])}")
    return OK


def _rules_table(screen: Screen, rules: Sequence[Mapping[str, Any]]) -> None:
    columns = ("name", "action", "when", "filter", "maxJobsPerSweep")
    screen.table("rules", columns, [[cell(rule.get(c)) for c in columns] for rule in rules])


def check_guardrails(screen: Screen, path: str) -> int:
    """``guardrails check FILE``: the policy check the app applies to GUARDRAIL_POLICY, run
    here on a file; 0 when the app would enforce it, 1 with every problem otherwise."""
    # Imported here: only this command needs the app's own modules (the others speak HTTP).
    from workflow.guardrail_policy import read_policy_file

    checked = read_policy_file(path)
    if screen.as_json:
        document = {"ok": checked.ok, "problems": checked.problem_list()}
        screen.json({**document, "policy": checked.policy})
        return OK if checked.ok else USAGE
    if checked.policy is not None:
        rules = checked.policy["rules"]
        workspaces = len(checked.policy["workspaces"])
        screen.say(f"{path}: valid, {len(rules)} rule(s) over {workspaces} workspace(s)")
        _rules_table(screen, rules)
        return OK
    screen.say(f"{path}: {len(checked.problems)} problem(s); the app would not enforce it")
    for problem in checked.problems:
        screen.say(f"  {problem.name}: {problem.reason}")
    return USAGE


def sweep_guardrails(client: AppClient, screen: Screen, dry_run: bool) -> int:
    """``guardrails sweep [--dry-run]``: POST /api/guardrails/sweep and follow it."""
    params = {"dryRun": "true"} if dry_run else None
    answer = client.post("guardrails/sweep", params=params)
    if answer.status == 404:
        raise CliError(
            "the app has no POST /api/guardrails/sweep: is it a version without guardrails?"
        )
    if answer.status == 409:
        raise CliError(f"no sweep started: {problem_text(answer.body)} (fix GUARDRAIL_POLICY)")
    document: dict[str, Any] = answer.body
    if answer.status == 202:
        document = follow_status(client, screen, status_url_of(document), _sweep_line)
    if screen.as_json:
        screen.json(document)
    else:
        screen.say(_sweep_line(document))
        outputs = document.get("outputs")
        if isinstance(outputs, dict):
            screen.say(json.dumps(outputs, indent=2))
    return OK if document.get("runtimeStatus") == "Completed" else FAILED


def _sweep_line(document: dict[str, Any]) -> str:
    progress = json.dumps(document.get("progress"))
    return f"sweep {document.get('instanceId')}: {document.get('runtimeStatus')} {progress}"
