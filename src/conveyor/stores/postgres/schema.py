"""Versioned migrations of conveyor's PostgreSQL schema.

Each ``migrations/NNNN_what.sql`` file is one version, applied in order, in one
transaction, with ``search_path`` set to conveyor's schema (so everything it creates
lands there). ``<schema>.migrations`` records the versions applied. A transaction-level
advisory lock keyed on the schema's name makes concurrent openers take turns: the first
migrates, the others find the work done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import psycopg
from psycopg import sql

from ...errors import IncompatibleStoreError, SchemaVersionError
from ._url import Settings, parse_url

Connection = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: the SQL that brings the previous version to it."""

    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Return every migration this conveyor knows, oldest first."""
    found = []
    for entry in files(__package__).joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def latest_version() -> int:
    """Return the schema version this conveyor writes."""
    return migrations()[-1].version


_VERSION = "SELECT coalesce(max(version), 0) FROM {}.migrations"
_CREATE_LOG = """
CREATE TABLE IF NOT EXISTS {}.migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def current_version(conn: Connection, schema: str) -> int:
    """Return the version of ``schema`` (0 when conveyor never migrated it)."""
    table = f"{sql.Identifier(schema).as_string()}.migrations"
    found = conn.execute("SELECT to_regclass(%s)", (table,))
    row = found.fetchone()
    if row is None or row[0] is None:
        return 0
    version = conn.execute(sql.SQL(_VERSION).format(sql.Identifier(schema))).fetchone()
    return int(version[0]) if version else 0


def check_and_migrate(conn: Connection, schema: str, *, allowed: bool) -> list[Migration]:
    """Bring ``schema`` to the latest version (unless not ``allowed``); return what ran.

    ``conn`` must be in autocommit mode. Raises :class:`SchemaVersionError` for a schema
    newer than this conveyor, and :class:`IncompatibleStoreError` for an older one when
    migrating is not allowed.
    """
    version = current_version(conn, schema)
    _check(version, schema, allowed)
    if version == latest_version():
        return []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"conveyor:{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(_CREATE_LOG).format(sql.Identifier(schema)))
        version = current_version(conn, schema)  # another opener may have migrated meanwhile
        _check(version, schema, allowed)
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        applied = [m for m in migrations() if m.version > version]
        for migration in applied:
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return applied


def migrate(url: str) -> list[Migration]:
    """Create or upgrade the schema that ``url`` names; return the migrations applied.

    For deployments that open stores with ``?migrate=false``: run this (or ``conveyor
    migrate URL``) once per release, before the new code starts.

    >>> migrate("postgresql://app@db/jobs?schema=conveyor")  # doctest: +SKIP
    [Migration(version=1, name='jobs', sql=...)]
    """
    settings = parse_url(url)
    with connect(settings) as conn:
        return check_and_migrate(conn, settings.schema, allowed=True)


def connect(settings: Settings, **options: Any) -> Connection:
    """Open a blocking autocommit connection, or raise :class:`BackendUnavailableError`."""
    try:
        return psycopg.connect(settings.conninfo, autocommit=True, **options)
    except psycopg.Error as exc:
        raise settings.unavailable(exc, "is unreachable") from None


def _check(version: int, schema: str, allowed: bool) -> None:
    latest = latest_version()
    if version > latest:
        raise SchemaVersionError(
            f"PostgreSQL schema {schema!r} has conveyor schema version {version}, newer than"
            f" this conveyor knows ({latest}); upgrade conveyor to use it"
        )
    if version < latest and not allowed:
        raise IncompatibleStoreError(
            f"PostgreSQL schema {schema!r} is at conveyor schema version {version}, this"
            f" conveyor needs {latest}, and the URL says migrate=false; run"
            " `conveyor migrate URL` first"
        )
