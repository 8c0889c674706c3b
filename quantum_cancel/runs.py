"""Following a run until it ends: a status line for one job, a progress bar for a workspace.

Both poll the app's own status URL (``statusUrl``) about once a second. On a terminal rich
draws them live; elsewhere a plain line is printed whenever the progress changes; under
``--json`` nothing is shown until the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from quantum_cancel.api import AppClient, CliError
from quantum_cancel.output import Screen

POLL_SECONDS = 1.0
RUNNING = ("Pending", "Running")
#: The job outcomes that end a run well (exit status 0); timedOut and failed make it 2.
GOOD_OUTCOMES = ("cancelled", "alreadyTerminal", "finishedBeforeCancel")
BAD_OUTCOMES = ("timedOut", "failed")


def poll_until_finished(
    client: AppClient,
    status_url: str,
    on_progress: Callable[[dict[str, Any]], None],
    poll_seconds: float = POLL_SECONDS,
) -> dict[str, Any]:
    """GET ``status_url`` until the run is neither Pending nor Running; report each document."""
    while True:
        answer = client.get(status_url)
        if answer.status == 404 or not isinstance(answer.body, dict):
            raise CliError(f"the run at {status_url} is gone (HTTP {answer.status})")
        document: dict[str, Any] = answer.body
        on_progress(document)
        if document.get("runtimeStatus") not in RUNNING:
            return document
        time.sleep(poll_seconds)


def job_line(document: dict[str, Any]) -> str:
    """One job's progress in one line: phase, last status, polls, next poll."""
    progress = document.get("progress") or {}
    parts = [f"{document.get('runtimeStatus')}", f"phase {progress.get('phase', '-')}"]
    parts.append(f"last status {progress.get('lastStatus') or '-'}")
    parts.append(f"{progress.get('polls', 0)} polls")
    if progress.get("nextPollAt"):
        parts.append(f"next poll {progress['nextPollAt']}")
    if progress.get("retrying"):
        parts.append(f"retrying: {progress['retrying']}")
    return " · ".join(parts)


def follow_status(
    client: AppClient, screen: Screen, status_url: str, render: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    """Follow a run as one status line (``render`` of each document) to its end; return the
    final status document."""
    if screen.as_json:
        return poll_until_finished(client, status_url, lambda document: None)
    if not screen.live:
        return poll_until_finished(client, status_url, _on_change(screen, render))
    with screen.console.status("starting") as status:
        return poll_until_finished(
            client, status_url, lambda document: status.update(render(document))
        )


def bulk_line(document: dict[str, Any]) -> str:
    """A workspace run's counts in one line."""
    progress = document.get("progress") or {}
    return (
        f"{progress.get('phase', '-')}: matched {progress.get('matched', 0)}, cancel requested "
        f"{progress.get('cancelRequested', 0)}, confirmed {progress.get('confirmed', 0)}, "
        f"failed {progress.get('failed', 0)}"
    )


class _Rate(ProgressColumn):
    """Jobs finished per second since the run began (rich's own speed columns count bytes,
    and its sampled speed is empty when a whole page of jobs is confirmed at once)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed
        if not elapsed or not task.completed:
            return Text("- jobs/s")
        return Text(f"{task.completed / elapsed:.1f} jobs/s")


def follow_bulk(client: AppClient, screen: Screen, status_url: str) -> dict[str, Any]:
    """Follow a workspace run: a progress bar of matched / cancel requested / confirmed /
    failed with rate and time left; return the final status document."""
    if screen.as_json:
        return poll_until_finished(client, status_url, lambda document: None)
    if not screen.live:
        return poll_until_finished(client, status_url, _on_change(screen, bulk_line))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "requested {task.fields[requested]} · confirmed {task.fields[confirmed]} · "
            "failed {task.fields[failed]}"
        ),
        _Rate(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=screen.console) as bar:
        task = bar.add_task("listing", total=None, requested=0, confirmed=0, failed=0)

        def show(document: dict[str, Any]) -> None:
            progress = document.get("progress") or {}
            matched = progress.get("matched")
            done = progress.get("confirmed", 0) + progress.get("failed", 0)
            outcomes = (document.get("outputs") or {}).get("outcomes")
            if isinstance(outcomes, dict):
                # The run ended: every job has its outcome, timed-out ones included.
                done = sum(outcomes.values())
            bar.update(
                task,
                description=progress.get("phase", "listing"),
                total=matched or None,
                completed=done,
                requested=progress.get("cancelRequested", 0),
                confirmed=progress.get("confirmed", 0),
                failed=progress.get("failed", 0),
            )

        return poll_until_finished(client, status_url, show)


def _on_change(
    screen: Screen, render: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any]], None]:
    shown: list[str] = []

    def show(document: dict[str, Any]) -> None:
        line = render(document)
        if not shown or shown[-1] != line:
            shown.append(line)
            screen.say(line)

    return show
