"""The Redis and PostgreSQL servers the tests use, each test in a namespace of its own.

``CONVEYOR_TEST_REDIS`` and ``CONVEYOR_TEST_POSTGRES`` name the servers (defaults: the
local ones on their standard ports). A test gets a URL with a fresh key prefix
(``?prefix=``) or schema (``?schema=``) and :func:`drop_namespace` removes everything
under it afterwards. When a server does not answer, a test that needs it is skipped
with how to start it, except when ``CI`` is set: there it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
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

        if options.get("cluster") == "true":
            from redis.cluster import RedisCluster as ClusterClient

            client: Any = ClusterClient.from_url(base)
        else:
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


class RedisCluster:
    """A Redis Cluster of three primaries (no replicas) in ``folder``, on free ports.

    Started from ``redis-server`` like the private servers of the outage tests, so it
    needs no setup; :attr:`url` names one node with ``?cluster=true``.
    """

    NODES = 3

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Each node also listens on its cluster bus port: its own port + 10000.
        self.ports = [self._node_port() for _ in range(self.NODES)]
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0?cluster=true"
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            message = "redis-server is not installed (apt-get install redis-server)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        for port in self.ports:
            node = self.folder / str(port)
            node.mkdir(parents=True, exist_ok=True)
            argv = [
                server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node),
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--save", "", "--appendonly", "no", "--logfile", str(node / "redis.log"),
            ]  # fmt: skip
            self._processes.append(subprocess.Popen(argv))
        for port in self.ports:
            _wait(lambda port=port: port_answers(port), f"cluster node on port {port}")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _wait(self._ready, "the cluster to agree on its slots")

    @staticmethod
    def _node_port() -> int:
        while True:
            port = free_port()
            if port < 55536 and not port_answers(port + 10000):
                return port

    def client(self, port: int) -> Any:
        """A plain redis-py client of one node."""
        import redis

        return redis.Redis(port=port)

    def _ready(self) -> bool:
        for port in self.ports:
            with self.client(port) as client:
                if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                    return False
        return True

    def stop(self) -> None:
        """Kill every node."""
        for process in self._processes:
            process.kill()
            process.wait(15)
        self._processes.clear()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    """True if something accepts TCP connections on loopback ``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _wait(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
