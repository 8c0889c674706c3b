"""``python -m devtools.host`` as a subprocess for the concurrency benchmark.

Started through ``devtools.launch`` on a free port with its own state directory and the
simulator as its Azure Quantum endpoint; its memory is read from /proc.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from devtools.launch import LaunchError, ServerProcess

#: Settings from a developer's shell that would change what is measured.
ISOLATED = ("QUANTUM_ENDPOINT", "QUANTUM_LOCATION", "QUANTUM_API_VERSION")
START_TIMEOUT_SECONDS = 60.0

BenchHost = ServerProcess
HostError = LaunchError


def start_bench_host(state_dir: Path, quantum_endpoint: str) -> BenchHost:
    """Start a host whose app talks to ``quantum_endpoint``; wait until it listens.

    It logs at WARNING: its per-request INFO lines would make the benchmark measure the log
    file (in Azure, logs go to Application Insights off the hot path).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
    env.update(
        PYTHONUNBUFFERED="1",
        QUANTUM_ENDPOINT=quantum_endpoint,
        QUANTUM_ALLOW_LOOPBACK="true",
    )
    args = ["devtools.host", "--port", "0", "--state-dir", str(state_dir)]
    args += ["--log-level", "WARNING"]
    return ServerProcess.start(
        args, env=env, log_path=state_dir / "host.log", timeout=START_TIMEOUT_SECONDS
    )


def wait_seconds(seconds: float) -> None:
    """Sleep (a named helper so the real-time waits of part 3 are easy to find)."""
    time.sleep(seconds)
