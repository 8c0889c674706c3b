"""What the reliability suites saw, kept as raw records; the figures are computed from them.

A test never counts for the table. It hands over the independent records of what happened —
the simulator's request log and fault rules, the outbound guard's log, the decoy's hits, every
text the app and the host printed, the answers the test received, the exit status of a killed
host — and ``figures(records)`` computes every number of the table from those records, after
the runs, whatever they show. A test then checks its own records with the same function, so a
"must be 0" figure that is not 0 fails the test *and* shows in the table. The records of a
session go to the report file (tests/reliability/conftest.py); ``reliability_report`` prints
the table from them.

Record kinds (``Evidence.add(suite, kind, **data)``):

* ``run``: one orchestration run that really ran (``runtimeStatus``).
* ``requests``: simulator log entries and the jobs the run was allowed to touch.
* ``faults``: the simulator's fault rules with how often each applied; ``refused``: attempts
  refused at a closed port.
* ``texts``: every place a secret must not be (``secret``, ``places``: name → text).
* ``answers``: the HTTP answers the app's edge gave (status and content type per input).
* ``guard`` / ``decoy``: outbound connections refused, hits on the decoy server.
* ``crash``: an engine crash that happened, or a host kill with the run it held and the exit
  status of the process; then how that run ended (``runtimeStatus``, ``result``) and what an
  undisturbed run ends with (``expected``). A crash is survived when the run completed
  afterwards with the expected result.
* ``sends``: for requests that name one job (or one bulk selection): the instance ids the
  answers named (``named``) and the instances the store holds for it (``started``, read from
  the management API or the engine). A duplicate is an answer naming the run that an earlier
  request started: answers naming a started instance, beyond one per started instance.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FIGURES = (
    "scenarios",
    "faults_injected",
    "inputs_reaching_app",
    "crashes_survived",
    "duplicate_requests",
    "cancels_sent_again",
    "tokens_leaked",
    "disallowed_requests",
)
#: Figures that must be 0 for a run to pass.
MUST_BE_ZERO = ("tokens_leaked", "disallowed_requests")

# The only requests the app may ever send (PRODUCT.md section 1), written independently of
# the app's own checks.
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
INTENDED_PATH = re.compile(
    r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[A-Za-z][A-Za-z0-9\-_.]{0,89}"
    r"/providers/Microsoft\.Quantum/workspaces/[A-Za-z][A-Za-z0-9\-_]{1,49}"
    rf"/jobs/{GUID}(?::cancel)?"
)
INTENDED_QUERY = re.compile(r"api-version=\d{4}-\d{2}-\d{2}(?:-preview)?")
APP_OPERATIONS = frozenset({"Jobs_Get", "Jobs_Cancel"})
#: What a workspace-scale run may send besides: listings of the workspace (or a session).
LISTING_OPERATIONS = frozenset({"Jobs_List", "SessionsJobs_List", "Sessions_Close"})
INTENDED_LISTING = re.compile(
    r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[A-Za-z][A-Za-z0-9\-_.]{0,89}"
    r"/providers/Microsoft\.Quantum/workspaces/[A-Za-z][A-Za-z0-9\-_]{1,49}"
    rf"(?:/jobs|/sessions/{GUID}(?:/jobs|:close))"
)
_LISTING_QUERY = re.compile(r"api-version=[^&]+(?:&(?:filter|orderby|skip|top)=[^&]*)*")
_ACCEPTED = frozenset({200, 202, 204})


@dataclass
class Evidence:
    """Records of one session (or of one test, for a test that checks its own)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, suite: str, kind: str, **data: Any) -> dict[str, Any]:
        """Keep one record (JSON-ready data) and return it."""
        record = {"suite": suite, "kind": kind, **json.loads(json.dumps(data, default=str))}
        with self._lock:
            self.records.append(record)
        return record

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        """Keep records made elsewhere (a test's own list)."""
        with self._lock:
            self.records.extend(records)


def disallowed_entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The logged requests of a ``requests`` record that the app had no business sending:
    anything but Jobs_Get/Jobs_Cancel of an allowed job, and, when the record says
    ``listings``, the workspace's own listings (a workspace-scale run)."""
    jobs = {job.lower() for job in record["jobs"]}
    listings = bool(record.get("listings"))

    def intended(entry: dict[str, Any]) -> bool:
        if listings and entry["operation"] in LISTING_OPERATIONS:
            return bool(
                INTENDED_LISTING.fullmatch(entry["path"])
                and _LISTING_QUERY.fullmatch(entry["query"] or "")
            )
        return bool(
            INTENDED_PATH.fullmatch(entry["path"])
            and INTENDED_QUERY.fullmatch(entry["query"] or "")
            and entry["operation"] in APP_OPERATIONS
            and (entry["jobId"] or "").lower() in jobs
        )

    return [entry for entry in record["entries"] if not intended(entry)]


def cancels_sent_again(entries: list[dict[str, Any]]) -> int:
    """Cancels that reached a job after its first one did (answered 2xx, or carried out and
    their answer lost), counted per job from the simulator's log."""
    reached: Counter[str] = Counter()
    for entry in entries:
        if entry["operation"] != "Jobs_Cancel":
            continue
        fault = entry.get("fault") or {}
        if entry["status"] in _ACCEPTED or fault.get("after"):
            reached[(entry["jobId"] or "").lower()] += 1
    return sum(count - 1 for count in reached.values() if count > 1)


def leaks(record: dict[str, Any]) -> list[str]:
    """The places of a ``texts`` record whose text contains the secret."""
    secret = record["secret"]
    return [name for name, text in record["places"].items() if secret in text]


def reached_app(answer: dict[str, Any]) -> bool:
    """Whether an HTTP answer came from the app's function (not only from the host's edge):
    a start or status answer, a problem document, or an Event Grid delivery it acknowledged."""
    if answer["channel"] == "event":
        return bool(answer["status"] == 202)
    return answer["status"] in (200, 202) or "problem+json" in (answer["contentType"] or "")


def crashed(record: dict[str, Any]) -> bool:
    """An engine crash that happened, or a host SIGKILLed while it held a run in flight."""
    if record["level"] == "engine":
        return True
    return bool(record["heldRun"]) and record["exitStatus"] == -signal.SIGKILL


def survived(record: dict[str, Any]) -> bool:
    """A crash after which its run completed with the result an undisturbed run has."""
    return (
        crashed(record)
        and record.get("runtimeStatus") == "Completed"
        and record.get("result") is not None
        and record.get("result") == record.get("expected")
    )


def duplicates(record: dict[str, Any]) -> int:
    """Answers of a ``sends`` record that named a run an earlier request had started."""
    started = set(record["started"])
    answered = sum(instance in started for instance in record["named"])
    return max(0, answered - len(started))


def figures(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Every figure of the table, computed from the records alone."""
    totals = dict.fromkeys(FIGURES, 0)
    for record in records:
        kind = record["kind"]
        if kind == "run":
            totals["scenarios"] += 1
        elif kind == "requests":
            totals["disallowed_requests"] += len(disallowed_entries(record))
            totals["cancels_sent_again"] += cancels_sent_again(record["entries"])
        elif kind == "faults":
            totals["faults_injected"] += sum(int(rule["applied"]) for rule in record["rules"])
        elif kind == "refused":
            totals["faults_injected"] += len(record["attempts"])
        elif kind == "texts":
            totals["tokens_leaked"] += len(leaks(record))
        elif kind == "answers":
            totals["inputs_reaching_app"] += sum(reached_app(a) for a in record["answers"])
        elif kind in ("guard", "decoy"):
            totals["disallowed_requests"] += len(record["hits"])
        elif kind == "crash":
            totals["crashes_survived"] += survived(record)
        elif kind == "sends":
            totals["duplicate_requests"] += duplicates(record)
        else:
            raise ValueError(f"unknown record kind {kind!r}")
    return totals


def by_suite(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``figures`` per suite."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["suite"], []).append(record)
    return {suite: figures(items) for suite, items in grouped.items()}


def answer_of(channel: str, response: Any) -> dict[str, Any]:
    """The part of a ``requests.Response`` an ``answers`` record keeps."""
    return {
        "channel": channel,
        "status": response.status_code,
        "contentType": response.headers.get("Content-Type"),
    }
