"""Shared machinery of the reliability suites (tests/reliability/).

* ``SCALE`` / ``sizes()``: how big each suite runs. ``make test`` runs the bounded sizes;
  ``make reliability`` sets ``RELIABILITY_SCALE=full``.
* ``EVIDENCE``: the raw records the suites keep (request logs, fault rules, printed texts,
  answers, kills; see tests/support/evidence.py). ``tests/reliability/conftest.py`` writes them
  to a JSON file at the end of the session; ``tests/support/reliability_report.py`` computes
  and prints the table from that file, so no figure is counted or typed by a test.
* ``OutboundGuard``: refuses, before any packet leaves, every connection or name lookup of
  this process that is not to an allowed 127.0.0.1 port, and records it.
* ``DecoyServer``: a 127.0.0.1 server that records any request, for the places a token must
  never go (redirect targets, look-alike endpoints served locally).
* ``LogCapture``: every log record of every logger, formatted with its traceback.
* ``JournalStore``: an engine store that keeps every state it was ever given (every
  generation of every instance, sub-orchestrations included), for the secrets search.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import platform
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from devtools.durable import InMemoryStore
from tests.support.evidence import Evidence, figures

SCALE_VARIABLE = "RELIABILITY_SCALE"
REPORT_VARIABLE = "RELIABILITY_REPORT"
SCALE = "full" if os.environ.get(SCALE_VARIABLE, "").strip().lower() == "full" else "bounded"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT = PROJECT_ROOT / ".pytest_cache" / "reliability" / f"last-{SCALE}.json"


@dataclass(frozen=True)
class Sizes:
    """How many examples, runs and jobs each suite uses at one scale."""

    http_examples: int
    event_examples: int
    inprocess_examples: int
    engine_crash_runs: int
    host_kill_runs: int
    load_jobs: int
    bulk_kill_jobs: int
    load_duplicate_every: int


_SIZES = {
    "bounded": Sizes(
        http_examples=60,
        event_examples=60,
        inprocess_examples=150,
        engine_crash_runs=40,
        host_kill_runs=2,
        load_jobs=24,
        bulk_kill_jobs=150,
        load_duplicate_every=3,
    ),
    "full": Sizes(
        http_examples=600,
        event_examples=600,
        inprocess_examples=2000,
        engine_crash_runs=500,
        host_kill_runs=12,
        load_jobs=200,
        bulk_kill_jobs=1000,
        load_duplicate_every=3,
    ),
}


def sizes() -> Sizes:
    """The sizes of the scale this session runs at."""
    return _SIZES[SCALE]


# -- what the session saw -------------------------------------------------------------------
#: Every record of this session; the figures are computed from them (tests/support/evidence.py).
EVIDENCE = Evidence()


@dataclass
class Outcomes:
    """Each test's outcome and duration per suite, as pytest reported them."""

    suites: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, suite: str, outcome: str, seconds: float) -> None:
        """Count one test's outcome and its duration under ``suite``."""
        with self._lock:
            entry = self.suites.setdefault(
                suite, {"passed": 0, "failed": 0, "skipped": 0, "milliseconds": 0}
            )
            entry[outcome] = entry.get(outcome, 0) + 1
            entry["milliseconds"] += round(seconds * 1000)


OUTCOMES = Outcomes()


class SuiteRecords:
    """The records one test keeps: each goes into ``evidence`` (the session's by default) the
    moment it is made, before the test checks anything, so a failing check still shows up."""

    def __init__(self, suite: str, evidence: Evidence | None = None) -> None:
        """Records of ``suite``."""
        self.suite = suite
        self.evidence = EVIDENCE if evidence is None else evidence
        self.mine: list[dict[str, Any]] = []

    def add(self, kind: str, **data: Any) -> dict[str, Any]:
        """Keep one record (see tests/support/evidence.py for the kinds)."""
        record = self.evidence.add(self.suite, kind, **data)
        self.mine.append(record)
        return record

    def figures(self) -> dict[str, int]:
        """The figures of this test's records alone, computed as the table computes them."""
        return figures(self.mine)


@dataclass
class RunInfo:
    """Where and when the session ran: the commit (and whether the tree had changes beside
    it), the start, the wall time, the interpreter and the cores."""

    commit: str = "unknown"
    changed: bool = False
    started_at: str = ""
    _began: float = 0.0

    def begin(self) -> None:
        """Read the commit and start the clock."""
        self._began = time.monotonic()
        self.started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
        self.changed = bool(_git("status", "--porcelain", "--untracked-files=no"))

    def describe(self) -> dict[str, Any]:
        """The JSON-ready facts of the run, so far."""
        return {
            "commit": self.commit,
            "uncommittedChanges": self.changed,
            "startedAt": self.started_at,
            "wallSeconds": round(time.monotonic() - self._began, 1) if self._began else None,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
        }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


RUN = RunInfo()


def session_document() -> dict[str, Any]:
    """What the report file holds: the scale, the run's facts, every test outcome and every
    record."""
    return {
        "scale": SCALE,
        "run": RUN.describe(),
        "outcomes": OUTCOMES.suites,
        "records": EVIDENCE.records,
    }


def report_path() -> Path:
    """Where the session's figures go: $RELIABILITY_REPORT, else under .pytest_cache."""
    raw = os.environ.get(REPORT_VARIABLE, "").strip()
    return Path(raw) if raw else DEFAULT_REPORT


def write_report(document: dict[str, Any]) -> Path:
    """Write the figures; returns the path written."""
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


# -- where this process may connect ---------------------------------------------------------
class DisallowedConnection(ConnectionRefusedError):
    """Raised instead of connecting: the guard refused a destination."""


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class OutboundGuard:
    """Wraps socket connects and name lookups of this process while active.

    Anything but 127.0.0.1 on an allowed port is refused *before* the connect or lookup
    happens (so no packet leaves the machine) and recorded in ``disallowed``; allowed
    destinations are recorded in ``allowed``.
    """

    def __init__(self, allowed_ports: set[int] | None = None) -> None:
        """Allow 127.0.0.1 on ``allowed_ports`` (more can be added to the set later)."""
        self.allowed_ports: set[int] = set(allowed_ports or ())
        self.allowed: list[tuple[str, int]] = []
        self.disallowed: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def _check(self, host: Any, port: Any) -> None:
        target = (str(host), port)
        ok = str(host) in _LOOPBACK_NAMES and isinstance(port, int) and port in self.allowed_ports
        with self._lock:
            (self.allowed if ok else self.disallowed).append(target)
        if not ok:
            raise DisallowedConnection(f"outbound guard refused {host}:{port}")

    def __enter__(self) -> OutboundGuard:
        """Install the wrappers."""
        guard = self
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo

        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                guard._check(address[0], address[1])
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                guard._check(address[0], address[1])
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            # A lookup of a foreign name is already a step towards sending a token there.
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and str(name) not in _LOOPBACK_NAMES:
                with guard._lock:
                    guard.disallowed.append((str(name), port))
                raise socket.gaierror(socket.EAI_NONAME, f"outbound guard refused {name}")
            return real_getaddrinfo(host, port, *args, **kwargs)

        self._saved = {
            "connect": real_connect,
            "connect_ex": real_connect_ex,
            "getaddrinfo": real_getaddrinfo,
        }
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo
        return self

    def __exit__(self, *exc: object) -> None:
        """Put the real functions back."""
        socket.socket.connect = self._saved["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = self._saved["connect_ex"]  # type: ignore[method-assign]
        socket.getaddrinfo = self._saved["getaddrinfo"]


# -- a server that must never be reached ---------------------------------------------------
class DecoyServer:
    """Records every request it gets (method, path, whether a token came); answers 200.

    ``answer(path)`` may supply the JSON answer (the local identity endpoint uses it).
    """

    def __init__(self, answer: Any = None) -> None:
        """Bind 127.0.0.1 on a free port; ``start()`` serves."""
        hits: list[dict[str, Any]] = []
        self.hits = hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                hits.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "authorization": bool(self.headers.get("Authorization")),
                    }
                )
                body = json.dumps(answer(self.path) if answer else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _record

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DecoyServer:
        """Serve on a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


# -- every log record ------------------------------------------------------------------------
#: What every LogRecord has; anything else on a record came in as ``extra`` fields.
_STANDARD_RECORD_FIELDS = frozenset(
    [*vars(logging.LogRecord("x", 0, "", 0, "", (), None)), "message", "asctime"]
)


class LogCapture(logging.Handler):
    """Collects every record of every logger (root handler at level 0), fully formatted."""

    def __init__(self) -> None:
        """An empty capture; install with ``with LogCapture() as logs:``."""
        super().__init__(level=0)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._root_level = logging.WARNING

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted record, traceback and raw args included."""
        try:
            text = self.format(record)
        except Exception as exc:  # a broken record must still be inspected, not lost
            text = f"unformattable record {record.msg!r} {record.args!r}: {exc}"
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_FIELDS}
        self.lines.append(f"{text} | args={record.args!r} | extra={extra!r}")

    def __enter__(self) -> LogCapture:
        """Attach to the root logger and let every level through."""
        root = logging.getLogger()
        self._root_level = root.level
        root.addHandler(self)
        root.setLevel(0)
        return self

    def __exit__(self, *exc: object) -> None:
        """Detach."""
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._root_level)

    def text(self) -> str:
        """Everything captured, one record per line."""
        return "\n".join(self.lines)


# -- every state the engine ever stored ------------------------------------------------------
class JournalStore(InMemoryStore):
    """An in-memory store that also keeps, in order, every state saved into it: every
    generation of every instance (a continue-as-new replaces the stored input and history, so
    the last state alone hides what earlier generations held)."""

    def __init__(self) -> None:
        """An empty store and journal."""
        super().__init__()
        self.journal: list[str] = []

    def save(self, instance_id: str, data: dict[str, Any]) -> None:
        """Save, and keep the state in the journal."""
        super().save(instance_id, data)
        self.journal.append(json.dumps(data))

    def generations(self) -> dict[str, int]:
        """How many generations each instance went through, from the journal."""
        seen: dict[str, set[str]] = {}
        for text in self.journal:
            state = json.loads(text)
            seen.setdefault(state["instance_id"], set()).add(state["execution_id"])
        return {instance_id: len(ids) for instance_id, ids in seen.items()}
