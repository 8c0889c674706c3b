"""The reliability suites: fault matrix, crashes, hostile input, secrets and load.

Every test here is marked ``reliability``. ``make test`` runs them at the bounded scale; ``make
reliability`` runs them with ``RELIABILITY_SCALE=full`` and prints the table of figures
computed from the records the tests kept in ``tests.support.reliability.EVIDENCE`` (written to
JSON at session end).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.reliability import (
    OUTCOMES,
    RUN,
    DecoyServer,
    OutboundGuard,
    SuiteRecords,
    session_document,
    write_report,
)

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (the project runs with --strict-markers)."""
    config.addinivalue_line(
        "markers", "reliability: reliability suites (RELIABILITY_SCALE=full for full sizes)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


def _suite_of(nodeid: str) -> str:
    # tests/reliability/test_reliability_faults.py::... -> faults
    name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return name.removeprefix("test_reliability_").removesuffix(".py")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test's outcome under its suite, for the report table."""
    if "tests/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        OUTCOMES.add(_suite_of(report.nodeid), report.outcome, report.duration)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note when the session began, and on which commit."""
    RUN.begin()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the figures of this session (only when a reliability test ran)."""
    document = session_document()
    if document["outcomes"]:
        document["exitstatus"] = int(exitstatus)
        write_report(document)


@pytest.fixture
def records(request: pytest.FixtureRequest) -> SuiteRecords:
    """This test's records, kept under its suite."""
    return SuiteRecords(_suite_of(request.node.nodeid))


@pytest.fixture
def decoy(records: SuiteRecords) -> Iterator[DecoyServer]:
    """A 127.0.0.1 server that must never be reached; its hits are recorded at the end."""
    server = DecoyServer().start()
    try:
        yield server
    finally:
        server.stop()
        records.add("decoy", hits=server.hits)


@pytest.fixture
def guard(simulator: object, records: SuiteRecords) -> Iterator[OutboundGuard]:
    """The outbound guard, allowing only the ``simulator`` fixture's port; what it refused is
    recorded at the end."""
    with OutboundGuard({simulator.port}) as active:  # type: ignore[attr-defined]
        yield active
    records.add("guard", hits=active.disallowed)
