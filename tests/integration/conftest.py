"""Fixtures for integration tests: real processes on real SQLite files in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from it_support import Processes

from conveyor import Queue, create_queue
from servers import POSTGRES, REDIS, namespace_on


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite URL for a fresh file in the test's folder (absolute path)."""
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store processes share: a SQLite file, or a namespace on Redis or PostgreSQL.

    A module runs its tests on each by defining ``db_url`` as this.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with namespace_on(REDIS if request.param == "redis" else POSTGRES) as url:
        yield url


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """The folder ``hold`` jobs write their marker files to."""
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


@pytest.fixture
def procs(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> Iterator[Processes]:
    """Start child processes; every one still running is SIGKILLed at teardown."""
    processes = Processes(tmp_path, db_url)
    try:
        yield processes
    finally:
        processes.cleanup()
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            processes.dump_logs()


@pytest.fixture
def queue(db_url: str) -> Iterator[Queue]:
    """A producer-only queue (no handlers) in the test process, on the test's file."""
    q = create_queue(url=db_url)
    try:
        yield q
    finally:
        q.sync.close()
