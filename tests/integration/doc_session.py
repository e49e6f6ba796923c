"""Run the inline ``python`` blocks of one Markdown page, in order, like notebook cells.

Used by ``test_doc_samples.py``: ``python doc_session.py BLOCKS.json`` where the file
holds ``{"page": path, "blocks": [[first_line, source], ...]}``. Every block is compiled
with the page's path and its own line numbers, so a traceback points into the page.
All blocks share one namespace. A block that uses ``await`` at its top level runs on
one event loop that lives, in a thread of its own, as long as the page (a queue started
in one block keeps running in the next); any other block runs on the main thread, where
``asyncio.run()`` and ``queue.sync`` work as in a script. The exit status is 0 once
every block ran, 1 at the first one that raised (its traceback on stderr).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import sys
import threading
import traceback
from typing import Any


class LoopThread:
    """An event loop running in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, coroutine: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="page-loop", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        spec = json.load(file)
    page = spec["page"]
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = LoopThread()
    for first_line, source in spec["blocks"]:
        code = compile(
            "\n" * (first_line - 1) + source,
            page,
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        try:
            result = eval(code, namespace)  # the page's own sample
            if inspect.iscoroutine(result):
                loop.run(result)
        except BaseException:
            traceback.print_exc()
            print(f"the block at {page}:{first_line} failed", file=sys.stderr)
            return 1
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
