"""The SQLite store refuses, clearly, a file it could never use, and leaves it untouched."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import conveyor
from conveyor import (
    ConfigurationError,
    ConveyorError,
    IncompatibleStoreError,
    JobStatus,
    SchemaVersionError,
    create_queue,
)
from conveyor.stores.sqlite.schema import APPLICATION_ID, LATEST_VERSION


def url_of(path: Path | str) -> str:
    return f"sqlite:///{path}"


async def use(url: str) -> None:
    """Create a queue on ``url`` and touch the store once; always close it."""
    queue = create_queue(url=url)
    try:
        await queue.get_stats()
    finally:
        await queue.close()


async def make_conveyor_file(path: Path) -> str:
    queue = create_queue(url=url_of(path))
    try:
        return await queue.enqueue("job", {"kept": True})
    finally:
        await queue.close()


async def test_a_file_in_a_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(ConfigurationError, match="does not exist; create it first") as caught:
        await use(url_of(missing / "jobs.db"))
    assert str(missing) in str(caught.value)
    assert not (tmp_path / "no").exists()


async def test_a_folder_instead_of_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="it is a folder"):
        await use(url_of(tmp_path))


async def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    content = b"\xff\xd8\xff\xe0" + os.urandom(4092)
    path.write_bytes(content)
    with pytest.raises(IncompatibleStoreError, match="is not a SQLite database") as caught:
        await use(url_of(path))
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


async def test_another_applications_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.close()
    with pytest.raises(IncompatibleStoreError, match="database of another application") as caught:
        await use(url_of(path))
    assert str(path) in str(caught.value)
    conn = sqlite3.connect(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert tables == {"users"}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    finally:
        conn.close()


async def test_a_database_marked_by_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    with pytest.raises(IncompatibleStoreError, match="application_id 0x4d2"):
        await use(url_of(path))


async def test_a_schema_newer_than_this_conveyor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    await make_conveyor_file(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99, newer .* upgrade conveyor"):
        await use(url_of(path))
    assert issubclass(SchemaVersionError, IncompatibleStoreError)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    finally:
        conn.close()


async def test_a_conveyor_file_is_reopened_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    job_id = await make_conveyor_file(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    finally:
        conn.close()
    queue = create_queue(url=url_of(path))
    try:
        job = await queue.get_job(job_id)
        assert job is not None
        assert (job.status, job.payload) == (JobStatus.PENDING, {"kept": True})
    finally:
        await queue.close()


async def test_an_empty_file_becomes_a_conveyor_database(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    path.touch()
    await make_conveyor_file(path)
    assert path.read_bytes().startswith(b"SQLite format 3\x00")


SETPRIV = shutil.which("setpriv")
NOBODY = 65534
AS_NOBODY = """
import sys
from conveyor import ConfigurationError, create_queue
try:
    create_queue(url=sys.argv[1])
except ConfigurationError as exc:
    print("ConfigurationError:", exc)
else:
    print("no error")
"""


@pytest.mark.skipif(
    SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv to run as another user"
)
def test_a_folder_without_write_permission_is_a_configuration_error() -> None:
    # As root, os.access() says every folder is writable, so the check runs as user
    # nobody. pytest's tmp_path lives under a folder only root may enter (0700), which
    # nobody cannot reach at all; a root-owned 0755 folder in the system temp dir can be
    # reached but not written.
    # nobody may not be able to read this checkout (CI clones into a 0700 folder), so
    # the child imports a copy of the package and runs the base interpreter.
    with tempfile.TemporaryDirectory(prefix="conveyor-readonly-") as folder:
        os.chmod(folder, 0o755)
        shutil.copytree(Path(conveyor.__file__).parent, Path(folder) / "conveyor")
        database = Path(folder) / "jobs.db"
        result = subprocess.run(
            [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             os.path.realpath(sys.executable), "-c", AS_NOBODY, url_of(database)],
            capture_output=True, text=True, timeout=60, cwd=folder, check=False,
            env={"PYTHONPATH": folder, "PATH": os.environ.get("PATH", "")},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ConfigurationError:"), result.stdout + result.stderr
        assert f"no write permission in the folder {folder}" in result.stdout
        assert not database.exists()


def test_every_sqlite_error_is_a_conveyor_error() -> None:
    for error in (ConfigurationError, IncompatibleStoreError, SchemaVersionError):
        assert issubclass(error, ConveyorError)


async def test_stats_come_from_counts_the_triggers_keep(tmp_path: Path) -> None:
    from conveyor import JobStatus
    from conveyor.stores import Outcome

    path = tmp_path / "counts.db"
    queue = create_queue(url=f"sqlite:///{path}", name="c")
    ids = await queue.enqueue_many([("a", n) for n in range(5)])
    claimed = await queue.store.claim(["c"], 2, "w", 30.0)
    await queue.store.settle([Outcome(claimed[0].id, "w", 1, JobStatus.COMPLETED)])
    await queue.delete_job(ids[4])
    stats = await queue.get_stats()
    assert (stats.pending, stats.processing, stats.completed, stats.total) == (2, 1, 1, 4)
    await queue.close()
    with sqlite3.connect(path) as conn:  # the counts match the rows
        kept = dict(conn.execute("SELECT status, n FROM conveyor_counts WHERE queue = 'c'"))
        counted = dict(conn.execute("SELECT status, count(*) FROM conveyor_jobs GROUP BY status"))
    assert {k: v for k, v in kept.items() if v} == counted


async def test_a_file_of_an_older_schema_gets_its_counts_from_its_rows(tmp_path: Path) -> None:
    from conveyor.stores.sqlite.queries import COLUMNS
    from conveyor.stores.sqlite.schema import APPLICATION_ID, MIGRATIONS, statements

    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        for version in (1, 2, 3):
            for statement in statements(MIGRATIONS[version]):
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 3")
        row = ["old1", "c", "a", b"1", "failed", 1, 3, 1.0, 30.0, None, 1.0, 1.0, None, 1,
               *[None] * 9, 0]  # fmt: skip
        version_1_columns = COLUMNS.split(", headers")[0]  # headers came in version 5
        conn.execute(
            f"INSERT INTO conveyor_jobs ({version_1_columns}) VALUES ({', '.join('?' * 24)})", row
        )
    queue = create_queue(url=f"sqlite:///{path}", name="c")
    assert (await queue.get_stats()).failed == 1
    assert (await queue.get_job("old1")).headers == {}  # type: ignore[union-attr]
    await queue.close()


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def job_ids_in(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM conveyor_jobs ORDER BY id")]
    finally:
        conn.close()


async def test_a_deleted_file_is_made_anew_not_written_on_unseen(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the check, the open connection wrote on into the deleted file: enqueue
    # returned an id that no other process could ever find.
    path = tmp_path / "jobs.db"
    queue = create_queue(url=url_of(path))
    try:
        await queue.enqueue("job", {"n": 1})
        remove_database(path)
        job_id = await queue.enqueue("job", {"n": 2})
        assert job_ids_in(path) == [job_id]
        assert f"{path} was deleted or replaced" in caplog.text
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.payload == {"n": 2}
        assert (await queue.get_stats()).pending == 1
    finally:
        await queue.close()


async def test_a_file_replaced_by_another_process_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    producer = create_queue(url=url_of(path))
    ran: list[object] = []
    worker = create_queue(url=url_of(path))

    @worker.handler("job")
    async def job(job: conveyor.Job) -> None:
        ran.append(job.payload)

    try:
        await producer.enqueue("job", {"n": 1})
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        await worker.start()  # makes the new file first, as a worker process would
        job_id = await producer.enqueue("job", {"n": 2})
        assert job_ids_in(path) == [job_id]
        assert (await worker.wait(job_id, timeout=10)).status is JobStatus.COMPLETED
        assert ran == [{"n": 2}]
    finally:
        await worker.stop()
        await producer.close()


def test_the_migrate_command_says_when_it_created_the_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from conveyor.cli.main import cli

    path = tmp_path / "jobs.db"
    runner = CliRunner()
    first = runner.invoke(cli, ["migrate", url_of(path)])
    again = runner.invoke(cli, ["migrate", url_of(path)])
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert f"created {path}" in first.output
    assert "created" not in again.output
    assert "schema up to date" in again.output
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    finally:
        conn.close()
