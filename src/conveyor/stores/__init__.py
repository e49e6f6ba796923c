"""Stores: where jobs live. :func:`store_from_url` picks one by the URL's scheme."""

from __future__ import annotations

import asyncio
import importlib
import os
from urllib.parse import urlsplit

from ..clock import Clock
from ..errors import ConfigurationError
from .base import Coordination, EventChannel, JobStore, Store
from .records import Capabilities, JobRecord, Outcome, Renewal
from .signals import ChangeSignal
from .urls import mask_url, url_flag

__all__ = [
    "Capabilities",
    "ChangeSignal",
    "Coordination",
    "EventChannel",
    "JobRecord",
    "JobStore",
    "Outcome",
    "Renewal",
    "Store",
    "mask_url",
    "migrate_store",
    "store_from_url",
    "url_flag",
]

_SCHEMES = "memory://, sqlite:///path.db, redis://host:port/db, postgresql://user@host/db"


def store_from_url(url: str, clock: Clock | None = None) -> Store:
    """Create (but do not open) the store that ``url`` names."""
    if not isinstance(url, str):
        raise ConfigurationError(f"store URL must be a string, got {url!r}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url, clock)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(url, clock)
    if scheme in ("redis", "rediss"):
        _need_extra("redis", "redis", url)
        _need_extra("hiredis", "redis", url)
        from .redis import RedisStore

        return RedisStore(url, clock)
    if scheme in ("postgresql", "postgres"):
        _need_extra("psycopg", "postgres", url)
        from .postgres import PostgresStore

        return PostgresStore(url, clock)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r} in {mask_url(url)!r}; supported: {_SCHEMES}"
    )


def migrate_store(url: str) -> list[str]:
    """Create or upgrade the schema of the store at ``url``; say what was done, a line each.

    PostgreSQL applies its pending migrations (``applied 0002_name``, one line each);
    the other stores migrate when opened, so this opens and closes one (a new SQLite
    file: ``created <path>``).
    """
    if urlsplit(url).scheme.lower() in ("postgresql", "postgres"):
        _need_extra("psycopg", "postgres", url)
        from .postgres import migrate

        return [f"applied {m.version:04d}_{m.name}" for m in migrate(url)]
    store = store_from_url(url)
    path = getattr(store, "path", None)
    created = path is not None and not os.path.exists(path)
    asyncio.run(_open_and_close(store))
    return [f"created {path}"] if created else []


async def _open_and_close(store: Store) -> None:
    await store.open()
    await store.close()


def _need_extra(module: str, extra: str, url: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f"{mask_url(url)} needs the {module} package: pip install 'conveyor[{extra}]'"
        ) from None
