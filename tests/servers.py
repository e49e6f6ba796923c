"""The Redis and PostgreSQL servers the tests use, each test in a namespace of its own.

``CONVEYOR_TEST_REDIS`` and ``CONVEYOR_TEST_POSTGRES`` name the servers (defaults: the
local ones on their standard ports). A test gets a URL with a fresh key prefix
(``?prefix=``) or schema (``?schema=``) and :func:`drop_namespace` removes everything
under it afterwards. When a server does not answer, a test that needs it is skipped
with how to start it, except when ``CI`` is set: there it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest

REDIS = os.environ.get("CONVEYOR_TEST_REDIS", "redis://127.0.0.1:6379/15")
POSTGRES = os.environ.get("CONVEYOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

HOW_TO_START = {
    "redis": "start it with: redis-server --daemonize yes --port 6379 --save ''",
    "postgresql": "start it with: pg_ctlcluster <version> main start (or set"
    " CONVEYOR_TEST_POSTGRES to a server's URL)",
}

_answers: dict[str, bool] = {}


def answers(url: str) -> bool:
    """True if something accepts TCP connections at ``url``'s host and port (cached)."""
    if url not in _answers:
        parts = urlsplit(url)
        default_port = 6379 if parts.scheme.startswith("redis") else 5432
        try:
            with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2
            ):
                _answers[url] = True
        except OSError:
            _answers[url] = False
    return _answers[url]


def require(url: str) -> None:
    """Skip (or, under CI, fail) the calling test when ``url``'s server does not answer."""
    if answers(url):
        return
    scheme = urlsplit(url).scheme.rstrip("s")
    message = f"no server at {url}; {HOW_TO_START.get(scheme, '')}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def namespaced(url: str) -> str:
    """``url`` with a fresh key prefix (Redis) or schema (PostgreSQL) of its own."""
    token = uuid.uuid4().hex[:10]
    separator = "&" if "?" in url else "?"
    if url.startswith("redis"):
        return f"{url}{separator}prefix=test-{token}"
    return f"{url}{separator}schema=test_{token}"


def drop_namespace(url: str) -> None:
    """Delete every key under the URL's prefix, or drop its schema."""
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    base = parts._replace(query="").geturl()
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(base)
        try:
            prefix = options["prefix"]
            keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
            keys += list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()
        return
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{options["schema"]}" CASCADE')


@contextmanager
def namespace_on(server: str) -> Iterator[str]:
    """Require ``server``, give a URL in a namespace of its own, drop it afterwards."""
    require(server)
    url = namespaced(server)
    try:
        yield url
    finally:
        drop_namespace(url)
