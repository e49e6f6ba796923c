"""The REST API from another process: job lookups (latency) and enqueues (rate).

    .venv/bin/python bench/http_bench.py                 # SQLite in a temp folder
    .venv/bin/python bench/http_bench.py --url redis://127.0.0.1:6379/14 --seconds 5

Starts ``conveyor serve`` on a free port (no workers: the API alone), then from this
process with httpx: ``--lookups`` GET /api/jobs/{id} one after the other (p50, p99), and
for ``--seconds`` POST /api/jobs from ``--concurrency`` async clients (requests/s).
Targets ([http] issue): lookup p50 < 5 ms, >= 1,000 enqueues/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

APP = """
import os
from conveyor import create_queue
queue = create_queue(url=os.environ["CONVEYOR_URL"], name="http-bench")
queue.register("noop", lambda job: None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(base: str, args: argparse.Namespace) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.post("/api/jobs", json={"name": "noop", "payload": {"n": 0}})
        job_id = answer.json()["id"]
        for _ in range(50):  # warm up
            await client.get(f"/api/jobs/{job_id}")
        lookups = []
        for _ in range(args.lookups):
            began = time.perf_counter()
            assert (await client.get(f"/api/jobs/{job_id}")).status_code == 200
            lookups.append((time.perf_counter() - began) * 1000)
    # httpx costs about a millisecond of client CPU a request, more than the server
    # spends: the enqueue load comes from plain keep-alive connections instead.
    port = int(base.rsplit(":", 1)[1])
    body = json.dumps({"name": "noop", "payload": {"n": 1}}).encode()
    request = (
        b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    done = 0
    deadline = time.perf_counter() + args.seconds

    async def producer() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 202"), head
            length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            done += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(args.concurrency)))
    rate = done / (time.perf_counter() - began)
    lookups.sort()
    return {
        "lookup_p50_ms": statistics.median(lookups),
        "lookup_p99_ms": lookups[int(len(lookups) * 0.99) - 1],
        "enqueue_per_s": rate,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="store URL (default: a SQLite file in a temp folder)")
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="http-bench-") as folder:
        Path(folder, "benchapp.py").write_text(APP)
        url = args.url or f"sqlite:///{folder}/bench.db"
        port = free_port()
        env = dict(os.environ, CONVEYOR_URL=url, PYTHONPATH=folder)
        server = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "serve", "benchapp:queue", "--port", str(port),
             "--log-level", "warning"],
            env=env, cwd=folder,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/api/stats", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            figures = asyncio.run(measure(base, args))
        finally:
            server.terminate()
            server.wait(10)
    for name, value in figures.items():
        print(f"{name:<16} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
