"""``python -m devtools.host`` as a subprocess, with its memory read from /proc.

Started on a free port with its own state directory and the simulator as its Azure Quantum
endpoint; stopped with SIGTERM (SIGKILL only if it does not exit in time). Only the process
started here is ever signalled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"host listening on (http://127\.0\.0\.1:\d+)")
#: Settings from a developer's shell that would change what is measured.
ISOLATED = ("QUANTUM_ENDPOINT", "QUANTUM_LOCATION", "QUANTUM_API_VERSION")
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


class HostError(RuntimeError):
    """The host did not start, or died; the message carries the end of its log."""


class BenchHost:
    """One host subprocess."""

    def __init__(self, process: subprocess.Popen[str], url: str, log_path: Path) -> None:
        """Use :meth:`start`."""
        self.process = process
        self.url = url
        self.log_path = log_path

    @classmethod
    def start(cls, state_dir: Path, quantum_endpoint: str) -> BenchHost:
        """Start a host whose app talks to ``quantum_endpoint``; wait until it listens.

        It logs at WARNING: its per-request INFO lines would make the benchmark measure
        the log file (in Azure, logs go to Application Insights off the hot path).
        """
        state_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
        env.update(
            PYTHONUNBUFFERED="1",
            QUANTUM_ENDPOINT=quantum_endpoint,
            QUANTUM_ALLOW_LOOPBACK="true",
        )
        log_path = state_dir / "host.log"
        with open(log_path, "w", encoding="utf-8") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "devtools.host",
                    "--port",
                    "0",
                    "--app-dir",
                    str(PROJECT_ROOT),
                    "--state-dir",
                    str(state_dir),
                    "--log-level",
                    "WARNING",
                ],
                cwd=str(PROJECT_ROOT),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
            )
        url = _wait_ready(process)
        if url is None:
            _terminate(process)
            raise HostError(f"devtools.host did not start:\n{_tail(log_path)}")
        return cls(process, url, log_path)

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak so far) of the host process, in KiB."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0])
        return values

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log_tail(self) -> str:
        """The end of the host's log."""
        return _tail(self.log_path)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after a timeout; returns the exit code."""
        return _terminate(self.process)


def _wait_ready(process: subprocess.Popen[str]) -> str | None:
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = READY.search(line)
            if match:
                found.append(match.group(1))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_SECONDS)
    return found[0] if found else None


def _terminate(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)
    if process.stdout is not None:
        process.stdout.close()
    return int(process.returncode)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_seconds(seconds: float) -> None:
    """Sleep (a named helper so the real-time waits of part 3 are easy to find)."""
    time.sleep(seconds)
