"""Doorbells: processes sharing a SQLite file wake each other's watchers at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from conveyor.job import JobStatus
from conveyor.stores.records import JobRecord
from conveyor.stores.sqlite import SQLiteStore
from conveyor.stores.sqlite import _wake as wake


def test_a_ring_reaches_every_doorbell_but_the_own_ones(tmp_path: Path) -> None:
    folder = str(tmp_path / "db-wake")
    mine, theirs = wake.Doorbell.bind(folder), wake.Doorbell.bind(folder)
    assert mine is not None
    assert theirs is not None
    ringer = wake.Ringer(folder)
    ringer.own.add(mine.path)
    try:
        ringer.ring()
        assert theirs.wait(1.0)
        assert not theirs.wait(0.01)  # one ring is read once
        assert not mine.wait(0.01)
    finally:
        ringer.close()
        mine.close()
        theirs.close()
    assert not os.path.exists(folder)  # the last doorbell closed takes the folder along


def test_a_doorbell_bound_after_a_listing_is_rung_at_once(tmp_path: Path) -> None:
    folder = str(tmp_path / "db-wake")
    first = wake.Doorbell.bind(folder)
    assert first is not None
    ringer = wake.Ringer(folder)
    ringer.ring()  # lists the folder: one doorbell
    time.sleep(0.02)  # past the clock tick of that listing (coarse on some kernels)
    late = wake.Doorbell.bind(folder)
    assert late is not None
    try:
        ringer.ring()  # well within LIST_EVERY of the listing: the folder's time moved
        assert late.wait(0.05)
    finally:
        ringer.close()
        first.close()
        late.close()


def test_the_doorbell_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / "db-wake"
    folder.mkdir()
    dead = folder / "1-deadbeef"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(str(dead))
    left.close()  # the file stays, as after a SIGKILL
    ringer = wake.Ringer(str(folder))
    try:
        ringer.ring()
    finally:
        ringer.close()
    assert not dead.exists()


def test_no_doorbell_where_the_socket_path_would_be_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    assert wake.Doorbell.bind(str(deep)) is None


def test_a_ringer_with_no_folder_does_nothing(tmp_path: Path) -> None:
    ringer = wake.Ringer(str(tmp_path / "missing-wake"))
    ringer.ring()
    ringer.close()


def _record(job_id: str) -> JobRecord:
    now = time.time()
    return JobRecord(job_id, "q", "job", b"null", JobStatus.PENDING, 1, 3, 1.0, 30.0, None,
                     now, now)  # fmt: skip


async def test_a_commit_wakes_a_store_waiting_on_the_same_file_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.stores.sqlite import _file as watching

    monkeypatch.setattr(watching, "_WATCH_WITH_DOORBELL", 30.0)  # only a ring is quick
    url = f"sqlite:///{tmp_path / 'x.db'}"
    waiting, writing = SQLiteStore(url), SQLiteStore(url)  # as two processes would
    try:
        await waiting.open()
        await writing.open()
        waiter = asyncio.create_task(waiting.changes.wait(20.0))
        await asyncio.sleep(0.3)  # the watcher binds its doorbell; the ringer lists it
        await asyncio.sleep(wake.LIST_EVERY)
        assert len(os.listdir(tmp_path / "x.db-wake")) == 1  # the waiting store's doorbell
        began = time.monotonic()
        await writing.enqueue([_record("a")])
        await asyncio.wait_for(waiter, 5.0)
        assert time.monotonic() - began < 2.0
    finally:
        await writing.close()
        await waiting.close()
    # The last store out removes the folder; under load its watcher thread may take a
    # moment after close() returns (seen once in CI on a loaded machine).
    for _ in range(40):
        if not (tmp_path / "x.db-wake").exists():
            break
        await asyncio.sleep(0.05)
    assert not (tmp_path / "x.db-wake").exists()


async def test_a_commit_before_the_watchers_first_look_still_wakes_the_waiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.db"
    store = SQLiteStore(f"sqlite:///{path}")
    bind = wake.Doorbell.bind

    def commit_then_bind(folder: str) -> wake.Doorbell | None:
        # Another process's commit, between the waiter's look and the watcher's start.
        with contextlib.closing(sqlite3.connect(path)) as other:
            other.execute("PRAGMA user_version = 7")
        return bind(folder)

    monkeypatch.setattr(wake.Doorbell, "bind", commit_then_bind)
    try:
        await store.open()
        began = time.monotonic()
        await store.changes.wait(5.0, since=store.changes.generation)
        assert time.monotonic() - began < 1.0
    finally:
        await store.close()
