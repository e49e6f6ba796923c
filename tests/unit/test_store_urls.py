"""Store URLs: schemes, masked passwords, CONVEYOR_URL and the embedded default."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conveyor import BackendUnavailableError, ConfigurationError, create_queue
from conveyor.stores import mask_url
from conveyor.stores.memory import MemoryStore
from conveyor.stores.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("postgresql://app:s3cret@127.0.0.1:1/jobs", "postgresql://app:***@127.0.0.1:1/jobs"),
        ("postgres://app:s3cret@127.0.0.1:1/jobs", "postgres://app:***@127.0.0.1:1/jobs"),
    ],
)
async def test_an_unreachable_server_is_backend_unavailable_with_the_password_masked(
    url: str, shown: str
) -> None:
    queue = create_queue(url=url)
    assert queue.url == shown
    with pytest.raises(BackendUnavailableError) as caught:
        await queue.get_stats()
    assert shown in str(caught.value)
    assert "s3cret" not in str(caught.value)
    await queue.close()


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("redis://localhost/0", "redis", "redis"),
        ("redis://localhost/0", "hiredis", "redis"),
        ("postgresql://localhost/db", "psycopg", "postgres"),
    ],
)
def test_a_missing_driver_names_the_extra_to_install(
    url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes ``import module`` fail
    with pytest.raises(ConfigurationError, match=re.escape(f"pip install 'conveyor[{extra}]'")):
        create_queue(url=url)


@pytest.mark.parametrize("url", ["conveyor.db", "data/jobs.db", "://nothing"])
def test_a_url_without_a_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown store URL scheme ''"):
        create_queue(url=url)


def test_a_url_that_is_not_a_string_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="must be a string"):
        create_queue(url=Path("jobs.db"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/jobs.db", "has a host part"),
        ("sqlite:///:memory:", "names no file"),
        ("sqlite://", "names no file"),
        ("sqlite:///jobs.db?durability=sometimes", "durability must be 'full' or 'normal'"),
        ("sqlite:///jobs.db?busy_timeout=-1", "busy_timeout must be a positive number"),
        ("sqlite:///jobs.db?busy_timeout=soon", "busy_timeout must be a positive number"),
        ("sqlite:///jobs.db?jounral=wal", "unknown SQLite URL option"),
    ],
)
def test_bad_sqlite_urls_are_configuration_errors(
    url: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=message):
        create_queue(url=url)


def test_mask_url_leaves_urls_without_a_password_alone() -> None:
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert mask_url("postgresql://app@db/jobs") == "postgresql://app@db/jobs"
    assert mask_url("postgresql://app:p%40ss@db/jobs") == "postgresql://app:***@db/jobs"


async def test_conveyor_url_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVEYOR_URL", "memory://")
    queue = create_queue()
    assert queue.url == "memory://"
    assert isinstance(queue.store, MemoryStore)
    await queue.close()

    explicit = create_queue(url=f"sqlite:///{tmp_path / 'explicit.db'}")  # beats the variable
    assert isinstance(explicit.store, SQLiteStore)
    await explicit.close()
    assert list(tmp_path.iterdir()) == []  # nothing opened until first use


async def test_the_default_is_an_sqlite_file_in_the_working_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CONVEYOR_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    queue = create_queue()
    assert queue.url == "sqlite:///conveyor.db"
    assert isinstance(queue.store, SQLiteStore)
    assert not (tmp_path / "conveyor.db").exists()  # nothing opened until first use
    try:
        job_id = await queue.enqueue("job", {"x": 1})
    finally:
        await queue.close()
    assert (tmp_path / "conveyor.db").is_file()

    again = create_queue()
    try:
        job = await again.get_job(job_id)  # the same file, read back
        assert job is not None
        assert job.payload == {"x": 1}
    finally:
        await again.close()


async def test_an_empty_conveyor_url_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONVEYOR_URL", "")
    monkeypatch.chdir(tmp_path)
    queue = create_queue()
    assert queue.url == "sqlite:///conveyor.db"
    await queue.close()
