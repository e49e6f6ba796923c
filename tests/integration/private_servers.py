"""Redis and PostgreSQL servers of a test's own, in its ``tmp_path``, to stop and restart.

Outage tests stop the store server mid-run. They never touch the shared servers other
tests use: each starts a private one on a free loopback port, with its data in the
test's folder (Redis with an append-only file fsynced on every write, so a restart
keeps the jobs, as a production Redis for a job queue must be configured).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
import redis
from it_support import wait_for

from servers import free_port, port_answers


class PrivateRedis:
    """``redis-server`` on a free port with AOF persistence in ``folder``.

    With ``tls``, it serves TLS only (``rediss://``) with a self-signed certificate for
    127.0.0.1, made by ``openssl`` in ``folder``: :attr:`cert`, to trust it. ``options``
    are more server options (``("--replicaof", "127.0.0.1", "1")``, say). ``DEBUG`` is
    enabled for local clients (``DEBUG POPULATE`` fills it).
    """

    def __init__(self, folder: Path, *, tls: bool = False, options: Sequence[str] = ()) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.options = tuple(options)
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"
        self.cert = self.folder / "cert.pem"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        listen = ["--port", str(self.port)]
        if self.tls:
            key = self.folder / "key.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-keyout", str(key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True, capture_output=True,
            )  # fmt: skip
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
                      "--tls-cert-file", str(self.cert), "--tls-key-file", str(key)]  # fmt: skip
        argv = [
            shutil.which("redis-server") or "redis-server",
            *listen, "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--logfile", str(self.folder / "redis.log"), "--enable-debug-command", "local",
            *self.options,
        ]  # fmt: skip
        self._process = subprocess.Popen(argv)
        wait_for(lambda: port_answers(self.port), 15, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Shut the server down (SIGTERM: it flushes its append-only file and exits)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(15)
            self._process = None

    def crash(self) -> None:
        """Kill the server (SIGKILL): what it acknowledged is in its fsynced append-only file."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(15)
            self._process = None

    def client(self) -> redis.Redis:
        """A plain client of the server's database 0 (close it after use)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30)

    def fill(self, keys: int) -> None:
        """Add ``keys`` filler keys of 100 bytes (no job's) and write them to the append-only
        file, so that the next start spends a while loading them (about a second a million).
        """
        with self.client() as client:
            client.execute_command("DEBUG", "POPULATE", keys, "filler", 100)
            client.bgrewriteaof()
            wait_for(
                lambda: not client.info("persistence")["aof_rewrite_in_progress"]
                and not client.info("persistence")["aof_rewrite_scheduled"],
                60, "the append-only file's rewrite",
            )  # fmt: skip

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(15)
            self._process = None


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name) or name


class PrivatePostgres:
    """A PostgreSQL cluster of its own (``initdb``) in a temporary folder, on a free port.

    PostgreSQL refuses to run as root: as root, the server runs as the ``postgres``
    user (``setpriv``), which owns the folder. The folder is made in the system's temp
    folder (pytest's own is private to root) and removed on exit.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="conveyor-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self._as_owner = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]

    def _run(self, name: str, *args: str) -> None:
        subprocess.run(
            [*self._as_owner, _postgres_bin(name), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=self.folder,
        )

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "postgres.log"), "-w", *args, action)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash (recovery from WAL on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart``: stop as :meth:`stop` does, start again (recovering from WAL)."""
        self._pg_ctl("restart", "-m", mode)

    def sql(self, statement: str) -> None:
        """Run one statement as the superuser, outside any transaction."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement.encode())

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def pause(seconds: float) -> None:
    """Let an outage last ``seconds`` (the one place an outage test sleeps on purpose)."""
    time.sleep(seconds)
