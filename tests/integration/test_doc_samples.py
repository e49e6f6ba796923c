"""Every code sample of README.md and docs/ runs here, so that none can rot.

The scheme, for whoever writes a page:

- A ``python`` block written in a page is run. The blocks of one page run in the
  page's order, in one fresh Python process, sharing one namespace like the cells of a
  notebook (``doc_session.py``): a later block may use what an earlier one defined. A
  block may ``await`` at its top level; such blocks run on one event loop that lives as
  long as the page, so a queue started in one block keeps running in the next. Other
  blocks run on the main thread, as a script would (``asyncio.run``, ``queue.sync``).
  The process starts in a fresh temporary folder with ``CONVEYOR_URL`` naming a SQLite
  file there; the pages in ``SERVER_PAGES`` get a PostgreSQL or Redis URL in a
  namespace of their own instead (dropped afterwards). A page fails when a block
  raises or the page takes longer than ``PAGE_TIMEOUT``.
- A ``python`` block that only includes files (pymdownx.snippets' block form: a line
  ``--8<--``, the file's path, a line ``--8<--``) shows a file kept under
  ``docs/samples/``. Each entry of
  ``docs/samples/`` (a file or a folder) has a test below, named in ``SAMPLE_TESTS``,
  that runs it the way its page says: a program, a worker process, a web app through
  its test client, a pytest run. Every sample file must be included by a
  page (``__init__.py`` files aside), and every include must name a sample file.
- ``sh``, ``bash`` and ``console`` blocks are not run (they install packages, start
  servers, run for ever), but every ``conveyor ...`` command line in them (also
  ``python -m conveyor ...``) must parse with the real click command: the subcommand,
  its options and arguments. Every ``conveyor[extra]`` named must be an extra of
  ``pyproject.toml``.
- ``yaml`` and ``json`` blocks must parse. The systemd unit, Dockerfile and Kubernetes
  Deployment of the deploying guide are checked: the command they run parses, and
  each gives the worker longer to stop than its ``--grace``.
- Blocks in the languages of ``NOT_RUN`` are not run, for the reason given there. A
  block in any other language fails ``test_every_block_is_checked``.
"""

from __future__ import annotations

import configparser
import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
import yaml
from fastapi.testclient import TestClient
from it_support import ROOT, Child, Processes, run_cli, wait_for

from conveyor.cli.main import cli
from servers import POSTGRES, REDIS, namespace_on

HERE = Path(__file__).resolve().parent
SAMPLES = ROOT / "docs" / "samples"
PAGE_TIMEOUT = 60

NOT_RUN = {
    "": "a drawing or a folder layout, not code",
    "text": "what a program prints, not code",
    "ini": "a systemd unit: checked by test_deploying_guide_gives_workers_time_to_stop",
    "dockerfile": "a Dockerfile: checked by test_deploying_guide_gives_workers_time_to_stop",
    "http": "an HTTP exchange, shown as it goes over the wire",
}
SHELL = {"sh", "bash", "console", "shell"}
PARSED = {"yaml", "json"}

SERVER_PAGES = {
    "docs/guides/transactional.md": POSTGRES,
}


# -- finding the blocks ------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str  # repo-relative path
    line: int  # the first line of its content, 1-based
    language: str
    info: str  # the rest of the fence's info string (title="...", ...)
    source: str

    @property
    def includes(self) -> list[str]:
        """The files a snippets-only block includes (empty for a written block).

        The block form of pymdownx.snippets: ``--8<--``, one path a line, ``--8<--``
        (ruff's formatter leaves it alone: it is not Python).
        """
        lines = [line.strip() for line in self.source.splitlines() if line.strip()]
        if len(lines) >= 3 and lines[0] == lines[-1] == "--8<--":
            return lines[1:-1]
        return []


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)(?P<info>.*)$")


def blocks_of(path: Path) -> list[Block]:
    """The fenced code blocks of the Markdown file ``path``."""
    page = path.relative_to(ROOT).as_posix()
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        index += 1
        start = index + 1
        closing = re.compile(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        while index < len(lines) and not closing.fullmatch(lines[index]):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        index += 1
        found.append(
            Block(page, start, opening["lang"].lower(), opening["info"].strip(), "\n".join(body))
        )
    return found


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks_of(path)]


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- inline python: one session per page --------------------------------------------------


def pages_with_python() -> list[Path]:
    return [
        path
        for path in pages()
        if any(b.language == "python" and not b.includes for b in blocks_of(path))
    ]


@pytest.fixture
def page_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    server = SERVER_PAGES.get(request.node.callspec.params["page"].relative_to(ROOT).as_posix())
    if server is None:
        yield f"sqlite:///{tmp_path / 'conveyor.db'}"
        return
    with namespace_on(server) as url:
        yield url


@pytest.mark.parametrize("page", pages_with_python(), ids=page_id)
def test_page_python_blocks_run(page: Path, tmp_path: Path, page_url: str) -> None:
    blocks = [b for b in blocks_of(page) if b.language == "python" and not b.includes]
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps({"page": str(page), "blocks": [[b.line, b.source] for b in blocks]}))
    folder = tmp_path / "cwd"
    folder.mkdir()
    processes = Processes(tmp_path, page_url)
    env = processes.env(DATABASE_URL=POSTGRES)
    result = subprocess.run(
        [sys.executable, str(HERE / "doc_session.py"), str(spec)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- every block is checked ----------------------------------------------------------------


def test_every_block_is_checked() -> None:
    known = {"python", *SHELL, *PARSED, *NOT_RUN}
    unknown = [f"{b.page}:{b.line} ({b.language})" for b in all_blocks() if b.language not in known]
    assert not unknown, f"blocks in a language this module neither runs nor lists: {unknown}"


def test_every_block_found_is_closed() -> None:
    # A fence left open would swallow the rest of its page unseen.
    for path in pages():
        text = path.read_text(encoding="utf-8")
        fences = [line for line in text.splitlines() if FENCE.match(line)]
        assert len(fences) % 2 == 0, f"{page_id(path)}: an odd number of fences"


# -- shell blocks: conveyor command lines parse ---------------------------------------------


def command_lines(block: Block) -> Iterator[list[str]]:
    """Each simple command of a shell block, as argv (comments, prompts, `\\` joined)."""
    text = re.sub(r"\\\n", " ", block.source)
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in words:
            if word in ("&&", "||", ";", "|"):
                if command:
                    yield command
                command = []
            else:
                command.append(word)
        if command:
            yield command


def conveyor_argv(argv: list[str]) -> list[str] | None:
    """The arguments after ``conveyor`` if ``argv`` runs the conveyor command, else None."""
    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):  # VAR=value conveyor ...
        argv = argv[1:]
    if not argv:
        return None
    program = argv[0].rsplit("/", 1)[-1]
    if program == "conveyor":
        return argv[1:]
    if re.fullmatch(r"python3?(\.\d+)?", program) and argv[1:3] == ["-m", "conveyor"]:
        return argv[3:]
    return None


def parse_conveyor(args: list[str]) -> None:
    """Parse ``conveyor ARGS`` with the real click command, without running it.

    Files that options read (``--from-file rows.jsonl``) are made, empty, in the
    current folder first, since click checks that they exist.
    """
    command: click.Command = cli
    context = click.Context(cli, info_name="conveyor")
    while isinstance(command, click.Group):
        assert args, "a command group with no command"
        name, *args = args
        sub = command.get_command(context, name)
        assert sub is not None, f"no command {name!r} in {context.command_path!r}"
        command = sub
        context = click.Context(sub, info_name=name, parent=context)
    reads_file = {
        opt
        for param in command.params
        if isinstance(param.type, click.File | click.Path)
        for opt in param.opts
    }
    for option, value in itertools.pairwise(args):
        if option in reads_file:
            Path(value).touch()
    command.make_context(context.info_name, list(args), parent=context.parent)


def conveyor_commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in all_blocks():
        if block.language in SHELL:
            for argv in command_lines(block):
                args = conveyor_argv(argv)
                if args is not None:
                    found.append((f"{block.page}:{block.line}", args))
    return found


@pytest.mark.parametrize(("where", "args"), conveyor_commands(), ids=lambda v: str(v)[:80])
def test_conveyor_command_lines_parse(
    where: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVEYOR_URL", f"sqlite:///{tmp_path / 'conveyor.db'}")
    if "--help" in args or "-h" in args or "--version" in args or "-V" in args:
        return
    try:
        parse_conveyor(args)
    except click.ClickException as exc:
        pytest.fail(f"{where}: conveyor {shlex.join(args)}: {exc.format_message()}")
    except click.exceptions.Exit:
        pass


def test_extras_named_in_the_docs_exist() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    for path in pages():
        for match in re.finditer(r"conveyor\[([\w,-]+)\]", path.read_text(encoding="utf-8")):
            for extra in match[1].split(","):
                assert extra in extras, f"{page_id(path)}: no extra {extra!r} in pyproject.toml"


def test_readme_links_name_files_of_the_repository() -> None:
    # mkdocs checks the links between pages of the site; the README's are checked here.
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        assert (ROOT / path).exists(), f"README.md links to {target}: no such file"


def test_yaml_and_json_blocks_parse() -> None:
    for block in all_blocks():
        if block.language == "yaml":
            list(yaml.safe_load_all(block.source))
        elif block.language == "json":
            json.loads(block.source)


# -- included sample files -------------------------------------------------------------------


def included_files() -> dict[str, list[str]]:
    """Each included file, with the blocks that include it."""
    found: dict[str, list[str]] = {}
    for block in all_blocks():
        for name in block.includes:
            found.setdefault(name, []).append(f"{block.page}:{block.line}")
    return found


def test_includes_name_sample_files() -> None:
    for name, where in included_files().items():
        assert name.startswith("docs/samples/"), f"{where}: include {name} outside docs/samples/"
        assert (ROOT / name).is_file(), f"{where}: no file {name}"


def test_every_sample_file_is_shown_and_tested() -> None:
    shown = set(included_files())
    for path in sorted(SAMPLES.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        name = path.relative_to(ROOT).as_posix()
        assert name in shown, f"{name} is included by no page"
    entries = {p.name for p in SAMPLES.iterdir() if p.name != "__pycache__"}
    assert entries == set(SAMPLE_TESTS), "each entry of docs/samples/ has one test"
    for names in SAMPLE_TESTS.values():
        for test_name in names:
            assert callable(globals()[test_name]), test_name


SAMPLE_TESTS: dict[str, tuple[str, ...]] = {
    "hard_timeout.py": ("test_hard_timeout_sample_kills_the_hanging_attempt",),
    "fastapi_app.py": ("test_fastapi_sample_answers_202_and_the_job_completes",),
    "flask_app.py": ("test_flask_sample_with_a_worker_process",),
    "django_site": ("test_django_sample_with_a_worker_process",),
    "testing": ("test_testing_samples_pass_under_pytest",),
    "tutorial": (
        "test_first_job_tutorial_step_by_step",
        "test_many_machines_tutorial_on_a_server",
    ),
}


def worker_argv(target: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "conveyor", "worker", target, *args]


def run_python(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def import_sample(name: str, path: Path) -> ModuleType:
    """A fresh import of a sample file (its queue made from today's CONVEYOR_URL)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def poll_status(get: Callable[[str], Any], location: str) -> dict[str, Any]:
    """GET ``location`` until the job it describes has finished; return its body."""

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = get(location)
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    return wait_for(finished, 15, f"{location} to finish", interval=0.05)


def test_hard_timeout_sample_kills_the_hanging_attempt(procs: Processes, tmp_path: Path) -> None:
    began = time.monotonic()
    out = run_python([str(SAMPLES / "hard_timeout.py")], procs.env(), tmp_path).stdout
    assert "cat.png completed resized cat.png" in out, out
    assert re.search(r"huge\.tiff failed JobTimeoutError: job \w+ timed out after 2 s", out), out
    assert time.monotonic() - began < 20  # the 60 s sleep was cut short


def test_fastapi_sample_answers_202_and_the_job_completes(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("CONVEYOR_URL", db_url)
    module = import_sample("fastapi_sample", SAMPLES / "fastapi_app.py")
    with TestClient(module.app) as client:  # the lifespan starts and stops the workers
        answer = client.post("/thumbnails", json={"image": "cat.png"})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert answer.headers["location"] == f"/jobs/{job_id}"
        body = poll_status(lambda url: client.get(url).json(), answer.headers["location"])
        assert body == {
            "id": job_id,
            "status": "completed",
            "progress": 100,
            "result": {"thumbnail": "thumbs/cat.png"},
            "error": None,
        }
        assert client.get("/jobs/nope").status_code == 404
        assert client.get("/conveyor/api/stats").json()["completed"] == 1  # the mounted API
    assert not module.queue.is_running


def test_flask_sample_with_a_worker_process(
    procs: Processes, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("CONVEYOR_URL", db_url)
    module = import_sample("flask_sample", SAMPLES / "flask_app.py")
    worker = procs.spawn("worker", worker_argv("flask_app:queue"), cwd=SAMPLES)
    worker.wait_log(f"worker {worker.pid} serving")
    client = module.app.test_client()
    try:
        answer = client.post("/thumbnails", json={"image": "dog.png"})
        assert answer.status_code == 202
        job_id = answer.get_json()["id"]
        assert answer.headers["Location"] == f"/jobs/{job_id}"
        body = poll_status(lambda url: client.get(url).get_json(), answer.headers["Location"])
        assert body["status"] == "completed", body
        assert body["result"] == {"thumbnail": "thumbs/dog.png"}
        assert client.get("/jobs/nope").status_code == 404
    finally:
        module.queue.sync.close()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log()


DJANGO_CLIENT = """
import json, sys, time
import django
django.setup()
from django.test import Client
from shop.jobs import queue

client = Client()
try:
    answer = client.post("/orders", data={"email": "ada@example.com"},
                         content_type="application/json")
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["id"]
    assert answer["Location"] == f"/jobs/{job_id}"
    deadline = time.monotonic() + 15
    while True:
        body = client.get(answer["Location"]).json()
        if body["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body == {"id": job_id, "status": "completed",
                    "result": "confirmation sent to ada@example.com", "error": None}, body
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/orders").status_code == 405
finally:
    queue.sync.close()
print("django sample ok")
"""
"""The Django sample's client side: in a process of its own, since Django's settings are
made once per process (the backend's tests in this one configure others)."""


def test_django_sample_with_a_worker_process(procs: Processes, db_url: str) -> None:
    site = SAMPLES / "django_site"
    env = procs.env(CONVEYOR_URL=db_url, DJANGO_SETTINGS_MODULE="mysite.settings")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    worker = procs.spawn("worker", worker_argv("mysite.worker:queue"), cwd=site)
    worker.wait_log(f"worker {worker.pid} serving")
    out = run_python(["-c", DJANGO_CLIENT], env, site).stdout
    assert "django sample ok" in out
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log()


def test_testing_samples_pass_under_pytest(procs: Processes, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLES / "testing", project, ignore=shutil.ignore_patterns("__pycache__"))
    real_store = tmp_path / "real.db"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_default_fixture_loop_scope=function"],
        env=procs.env(CONVEYOR_URL=f"sqlite:///{real_store}"),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout
    assert not real_store.exists()  # nothing reached the real store


def tutorial_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tutorial"
    shutil.copytree(SAMPLES / "tutorial", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_first_job_tutorial_step_by_step(tmp_path: Path) -> None:
    folder = tutorial_folder(tmp_path)
    env = Processes(tmp_path, "unused").env(PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    del env["CONVEYOR_URL"]  # the tutorial's default: conveyor.db in the current folder

    # 3. one process
    out = run_python(["main.py"], env, folder).stdout
    assert out == "completed {'sent_to': 'ada@example.com'}\n", out
    assert (folder / "conveyor.db").exists()

    # 4. a worker process of its own
    worker = Child("worker", worker_argv("tasks:queue"), env, folder, tmp_path / "worker.log")
    try:
        worker.wait_log(f"worker {worker.pid} serving default with 4 job(s) at once")
        out = run_python(["enqueue.py", "grace@example.com", "alan@example.com"], env, folder)
        lines = out.stdout.splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == [
            "completed {'sent_to': 'grace@example.com'}",
            "completed {'sent_to': 'alan@example.com'}",
        ], out.stdout

        # 5. look at the jobs
        def cli_ok(*args: str) -> str:
            result = run_cli(*args, env=env, cwd=folder)
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        assert "completed" in cli_ok("stats", "tasks:queue")
        first, second = (line.split()[0] for line in lines)
        listed = cli_ok("jobs", "list", "tasks:queue", "--status", "completed")
        assert first in listed
        assert second in listed
        assert "grace@example.com" in cli_ok("jobs", "show", "tasks:queue", first)

        # 6. a job that fails, retried three times
        broken = cli_ok("enqueue", "tasks:queue", "--name", "send-welcome", "--payload", "{}")

        def failed() -> dict[str, Any] | None:
            listed = cli_ok("jobs", "list", "tasks:queue", "--status", "failed", "--json")
            jobs = [json.loads(line) for line in listed.splitlines()]
            return next((job for job in jobs if job["id"] == broken.strip()), None)

        job = wait_for(failed, 20, "the broken job to fail for good", interval=0.2)
        assert (job["attempts"], job["error"]) == (4, "KeyError: 'email'")

        # 7. stop the worker
        worker.signal(signal.SIGINT)
        assert worker.wait(15) == 0, worker.log()
    finally:
        if worker.alive():
            worker.popen.kill()
            worker.popen.wait(10)


@pytest.mark.parametrize("server", [REDIS, POSTGRES], ids=["redis", "postgres"])
def test_many_machines_tutorial_on_a_server(server: str, tmp_path: Path) -> None:
    folder = tutorial_folder(tmp_path)
    with namespace_on(server) as url:
        processes = Processes(tmp_path, url)
        try:
            argv = worker_argv("tasks:queue", "--concurrency", "20")
            workers = [processes.spawn(name, argv, cwd=folder) for name in ("one", "two")]
            for worker in workers:
                worker.wait_log(f"worker {worker.pid} serving")
            emails = [f"user{n}@example.com" for n in range(6)]
            out = run_python(["follow.py", *emails], processes.env(), folder).stdout
            lines = out.splitlines()
            assert sum(line.endswith(" started") for line in lines) == 6, out
            for email in emails:
                assert any(line.endswith(f"completed: {{'sent_to': '{email}'}}") for line in lines)
            out = run_python(["enqueue.py", "ada@example.com"], processes.env(), folder).stdout
            assert out.endswith("completed {'sent_to': 'ada@example.com'}\n"), out
            for worker in workers:
                worker.signal(signal.SIGTERM)
            for worker in workers:
                assert worker.wait(15) == 0, worker.log()
        finally:
            processes.cleanup()


# -- the deploying guide -----------------------------------------------------------------


def grace_of(args: list[str]) -> float:
    """The ``--grace`` a ``conveyor worker`` command line gives (default 30 s)."""
    assert args[0] == "worker", args
    parse_conveyor(args)
    return float(args[args.index("--grace") + 1]) if "--grace" in args else 30.0


def test_deploying_guide_gives_workers_time_to_stop() -> None:
    blocks = blocks_of(ROOT / "docs" / "guides" / "deploying.md")
    by_language: dict[str, list[Block]] = {}
    for block in blocks:
        by_language.setdefault(block.language, []).append(block)

    [unit_block] = by_language["ini"]
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_block.source)
    service = unit["Service"]
    start = conveyor_argv(shlex.split(service["ExecStart"]))
    assert start is not None
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert float(service["TimeoutStopSec"]) > grace_of(start)

    [dockerfile] = by_language["dockerfile"]
    [cmd_line] = [line for line in dockerfile.source.splitlines() if line.startswith("CMD ")]
    cmd = conveyor_argv(json.loads(cmd_line.removeprefix("CMD ")))  # the exec form: a list
    assert cmd is not None
    docker_grace = grace_of(cmd)
    runs = [
        argv
        for block in by_language["sh"]
        for argv in command_lines(block)
        if argv[:2] == ["docker", "run"]
    ]
    assert runs
    for argv in runs:
        assert float(argv[argv.index("--stop-timeout") + 1]) > docker_grace

    [manifest] = by_language["yaml"]
    deployment = yaml.safe_load(manifest.source)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    command = conveyor_argv(container["command"])
    assert command is not None
    assert pod["terminationGracePeriodSeconds"] > grace_of(command)
