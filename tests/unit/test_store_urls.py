"""Store URLs: schemes, masked passwords, CONVEYOR_URL and the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import ConfigurationError, create_queue
from conveyor.stores import mask_url
from conveyor.stores.memory import MemoryStore
from conveyor.stores.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://user:s3cret@host/db", "ftp://user:***@host/db"),
        ("mysql://root:s3cret@db.example:3306/jobs", "mysql://root:***@db.example:3306/jobs"),
        ("http://example.com/queue", "http://example.com/queue"),
    ],
)
def test_an_unknown_scheme_names_the_url_with_its_password_masked(url: str, shown: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown store URL scheme") as caught:
        create_queue(url=url)
    message = str(caught.value)
    assert shown in message
    assert "s3cret" not in message
    assert "memory://" in message  # says what is supported


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("rediss://user:s3cret@cache.example:6380/1", "rediss://user:***@cache.example:6380/1"),
        (
            "postgresql://app:s3cret@db.example:5432/jobs",
            "postgresql://app:***@db.example:5432/jobs",
        ),
        ("postgres://app:s3cret@db.example/jobs", "postgres://app:***@db.example/jobs"),
    ],
)
def test_stores_not_built_yet_are_a_configuration_error(url: str, shown: str) -> None:
    with pytest.raises(ConfigurationError, match="not available in this version") as caught:
        create_queue(url=url)
    assert shown in str(caught.value)
    assert "s3cret" not in str(caught.value)


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
