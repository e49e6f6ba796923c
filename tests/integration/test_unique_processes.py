"""Unique keys across processes: two producer processes, request threads each, enqueue
the same key a thousand times each on one shared store, and one job exists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from it_support import APPS, Processes

from conveyor import Queue

pytestmark = pytest.mark.slow

EACH = 1000


@pytest.fixture
def db_url(shared_store_url: str) -> str:
    """Each test runs on each shared store: a SQLite file, Redis, PostgreSQL."""
    return shared_store_url


def test_two_processes_enqueuing_one_key_a_thousand_times_each_make_one_job(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    producers = [
        procs.spawn(
            f"producer{n}",
            [sys.executable, str(APPS / "producer.py"), str(EACH), "4", str(tmp_path / f"{n}.txt")],
            IT_KEY="nightly-report",
        )
        for n in range(2)
    ]
    for producer in producers:
        assert producer.wait(60) == 0, producer.log()
    ids = [line for n in range(2) for line in (tmp_path / f"{n}.txt").read_text().split()]
    assert len(ids) == 2 * EACH
    assert len(set(ids)) == 1
    assert queue.sync.get_stats().total == 1
