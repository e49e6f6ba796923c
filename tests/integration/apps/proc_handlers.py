"""Plain handlers run with ``run_in="process"``: importable, so a spawned child finds them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from conveyor import Job


def report(job: Job) -> dict[str, Any]:
    job.sync.progress(50, "half way")
    return {"pid": os.getpid(), "doubled": job.payload["n"] * 2}


def explode(job: Job) -> None:
    raise ValueError(f"bad input {job.payload['n']}")


def hang(job: Job) -> None:
    Path(job.payload["pid_file"]).write_text(str(os.getpid()))
    time.sleep(60)
