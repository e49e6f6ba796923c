"""The SQLite schema and its migrations, and the checks made when a file is opened.

``PRAGMA application_id`` marks a file as conveyor's; ``PRAGMA user_version`` is the
schema version. Migrations run in one ``BEGIN IMMEDIATE`` transaction, so several
processes opening a new file at once migrate it exactly once.
"""

from __future__ import annotations

import sqlite3

from ...errors import IncompatibleStoreError, SchemaVersionError

APPLICATION_ID = 0x436E7679  # "Cnvy"

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE conveyor_jobs (
        id               TEXT PRIMARY KEY,
        queue            TEXT NOT NULL,
        name             TEXT NOT NULL,
        payload          BLOB NOT NULL,
        status           TEXT NOT NULL,
        priority         INTEGER NOT NULL,
        max_retries      INTEGER NOT NULL,
        retry_delay      REAL NOT NULL,
        timeout          REAL,
        backoff          TEXT,
        created_at       REAL NOT NULL,
        run_at           REAL NOT NULL,
        scheduled_at     REAL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        started_at       REAL,
        completed_at     REAL,
        worker_id        TEXT,
        lease_expires_at REAL,
        result           BLOB,
        error            TEXT,
        traceback        TEXT,
        progress         REAL,
        progress_message TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    -- the next jobs to claim: the first rows of this index, nothing else is read
    CREATE INDEX conveyor_jobs_ready ON conveyor_jobs (queue, priority DESC, run_at, id)
        WHERE status = 'pending';
    -- delayed jobs and retries, by the time they become ready
    CREATE INDEX conveyor_jobs_delayed ON conveyor_jobs (queue, run_at)
        WHERE status = 'scheduled';
    -- running jobs, by lease deadline, for recovery of dead workers' jobs
    CREATE INDEX conveyor_jobs_leases ON conveyor_jobs (lease_expires_at)
        WHERE status = 'processing';
    -- listing and counting per status
    CREATE INDEX conveyor_jobs_status ON conveyor_jobs (queue, status, id);
    """,
    2: """
    -- recurring schedules: one row each, where it stands (ticks in epoch milliseconds)
    CREATE TABLE conveyor_schedules (
        queue       TEXT NOT NULL,
        key         TEXT NOT NULL,
        spec        TEXT NOT NULL,
        last_tick   INTEGER NOT NULL,
        next_tick   INTEGER,
        seen_at     REAL NOT NULL,
        last_job_id TEXT,
        paused      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (queue, key)
    ) WITHOUT ROWID;
    """,
    3: """
    -- the workers alive: each one's JSON info, until its last beat expires
    CREATE TABLE conveyor_workers (
        worker_id  TEXT PRIMARY KEY,
        info       TEXT NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    4: """
    -- jobs per queue and status, kept by triggers: stats read a few rows, never the jobs
    CREATE TABLE conveyor_counts (
        queue  TEXT NOT NULL,
        status TEXT NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (queue, status)
    ) WITHOUT ROWID;
    INSERT INTO conveyor_counts (queue, status, n)
        SELECT queue, status, count(*) FROM conveyor_jobs GROUP BY queue, status;
    CREATE TRIGGER conveyor_count_insert AFTER INSERT ON conveyor_jobs BEGIN
        INSERT INTO conveyor_counts (queue, status, n) VALUES (new.queue, new.status, 1)
            ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER conveyor_count_delete AFTER DELETE ON conveyor_jobs BEGIN
        UPDATE conveyor_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status;
    END;
    CREATE TRIGGER conveyor_count_update AFTER UPDATE OF status ON conveyor_jobs
    WHEN old.status != new.status BEGIN
        UPDATE conveyor_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status;
        INSERT INTO conveyor_counts (queue, status, n) VALUES (new.queue, new.status, 1)
            ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
    END;
    """,
    5: """
    -- message headers (the trace context of the enqueue, with tracing on)
    ALTER TABLE conveyor_jobs ADD COLUMN headers TEXT;
    """,
    6: """
    -- unique jobs: the key a job holds in its queue, and until when once it finished
    ALTER TABLE conveyor_jobs ADD COLUMN unique_key TEXT;
    ALTER TABLE conveyor_jobs ADD COLUMN unique_until REAL;
    CREATE INDEX conveyor_jobs_keys ON conveyor_jobs (queue, unique_key)
        WHERE unique_key IS NOT NULL;
    """,
    7: """
    -- new jobs are counted by the store's insert statements, a batch at a time
    DROP TRIGGER conveyor_count_insert;
    """,
    8: """
    -- concurrency slots (handlers' concurrency=N): holders of a bucket, until when
    CREATE TABLE conveyor_slots (
        bucket     TEXT NOT NULL,
        holder     TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (bucket, holder)
    ) WITHOUT ROWID;
    """,
    9: """
    -- rate limits (handlers' rate_limit=): when each bucket's next start is due
    CREATE TABLE conveyor_rates (
        bucket TEXT PRIMARY KEY,
        due    REAL NOT NULL
    ) WITHOUT ROWID;
    """,
}
LATEST_VERSION = max(MIGRATIONS)


def check_and_migrate(conn: sqlite3.Connection, path: str) -> None:
    """Make sure ``conn`` holds a conveyor database of the latest schema."""
    app_id, version = _identity(conn)
    _check_identity(conn, path, app_id, version)
    if version == LATEST_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id, version = _identity(conn)
        _check_identity(conn, path, app_id, version)
        for target in range(version + 1, LATEST_VERSION + 1):
            for statement in statements(MIGRATIONS[target]):
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    """Split a migration into statements (a trigger's body holds semicolons of its own)."""
    found: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                found.append(current)
            current = ""
    if current.strip():
        found.append(current)
    return found


def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return int(app_id), int(version)


def _check_identity(conn: sqlite3.Connection, path: str, app_id: int, version: int) -> None:
    if app_id == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise IncompatibleStoreError(
                f"{path} is a SQLite database of another application (it has tables but is"
                " not marked as conveyor's); give conveyor a file of its own"
            )
    elif app_id != APPLICATION_ID:
        raise IncompatibleStoreError(
            f"{path} is a SQLite database of another application (application_id"
            f" {app_id:#x}); give conveyor a file of its own"
        )
    if version > LATEST_VERSION:
        raise SchemaVersionError(
            f"{path} has conveyor schema version {version}, newer than this conveyor knows"
            f" ({LATEST_VERSION}); upgrade conveyor to use it"
        )
