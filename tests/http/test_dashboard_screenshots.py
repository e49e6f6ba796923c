"""The dashboard's screenshots in docs/guides/dashboard.md, taken from a real run.

One test serves the dashboard over a SQLite file of its own with a worker running,
makes real jobs reach every status (completed, failed with a traceback, retrying,
scheduled, cancelled, processing with progress, pending) and a few recurring schedules,
checks what each view shows, and saves each view as ``docs/images/dashboard-<view>.png``
on every run. The viewport is fixed (1280x800; the failed job's page 1280x1120, to show
its whole traceback), scroll bars hidden, times in UTC and British English, so that the
images stay current and comparable from run to run.

One change is made to the page before its picture is taken: in a traceback, the folders
of this machine (the checkout, the Python installation) are shortened to ``…``, so that
no image carries the paths of the machine that took it.
"""

from __future__ import annotations

import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from http_support import Server
from shop import make_shop
from test_dashboard import browser, count_of, wait_until

import conveyor
from conveyor.http import conveyor_app

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
WIDTH, HEIGHT = 1280, 800
JOB_HEIGHT = 1120
"""The failed job's page is pictured taller, so that its whole traceback shows."""
STATUSES = ("pending", "scheduled", "processing", "completed", "failed", "cancelled")
NOTHING = "\N{EN DASH}"  # what the page shows for a time or value that is not there
REASONS = ("insufficient funds", "expired card", "do not honour")


def test_every_view_of_the_dashboard_is_pictured(tmp_path: Path) -> None:
    gate = threading.Event()
    driver = browser(tmp_path)
    try:
        # The viewport, time zone and language are fixed, so that every run draws the
        # same page at the same size and shows its times the same way.
        viewport(driver, HEIGHT)
        driver.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": True})
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
        driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "en-GB"})
        with tempfile.TemporaryDirectory(prefix="conveyor-screens-") as folder:
            queue = make_shop(f"sqlite:///{Path(folder) / 'shop.db'}", gate)
            try:
                with (
                    Server(conveyor_app(queue), queue) as server,
                    httpx.Client(
                        base_url=server.base, headers={"X-Conveyor-Request": "1"}
                    ) as api,  # fmt: skip
                ):
                    driver.get(f"{server.base}/")
                    picture_every_view(driver, api)
                    gate.set()
            finally:
                gate.set()
        assert not Path(folder).exists()
    finally:
        driver.quit()


def picture_every_view(driver: Any, api: httpx.Client) -> None:
    wait_until(driver, lambda d: d.execute_script(
        "return document.getElementById('live').classList.contains('on')"))  # fmt: skip
    failed = run_a_busy_stretch(api)
    wait_until(driver, lambda d: schedule(api, "ping-upstream")["last_run"] is not None)
    assert api.post("/api/schedules/ping-upstream/pause").json() == {"count": 1}

    retrying = [enqueue(api, "sync-inventory", {"warehouse": w}) for w in ("north", "south")]
    wait_until(driver, lambda d: all(job(api, i)["status"] == "scheduled" for i in retrying))
    letters = [enqueue(api, "send-newsletter", {"issue": n}, delay=3600) for n in (48, 49, 50)]
    assert api.post(f"/api/jobs/{letters[-1]}/cancel").json()["status"] == "cancelled"
    reports = [enqueue(api, "generate-report", {"month": m}) for m in ("2026-10", "2026-11")]
    wait_until(driver, lambda d: all(job(api, i)["progress_percent"] == 60 for i in reports))
    for n in range(5):  # both slots are busy: these wait
        enqueue(api, "send-email", {"to": f"late{n}@example.com", "template": "receipt"})

    stats = picture_overview(driver, api, failed)
    picture_failed_jobs(driver, failed, stats)
    picture_failed_job(driver, failed[0])
    picture_running_job(driver, reports[0])
    picture_schedules(driver)


def run_a_busy_stretch(api: httpx.Client) -> list[str]:
    """Enqueue emails and payments in waves, one a second, for the throughput chart."""
    failed = []
    email = 0
    for wave in range(8):
        started = time.monotonic()
        for _ in range(6 + (wave * 5) % 9):
            email += 1
            enqueue(api, "send-email", {"to": f"user{email}@example.com", "template": "welcome"})
        if wave % 3 != 2:
            order = 1040 + len(failed)
            payment = {"order": order, "card": "4242", "reason": REASONS[len(failed) % 3]}
            failed.append(enqueue(api, "charge-card", payment))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    deadline = time.monotonic() + 20
    while api.get("/api/stats").json()["completed"] < email:
        assert time.monotonic() < deadline, "the emails did not all complete"
        time.sleep(0.1)
    assert all(job(api, i)["status"] == "failed" for i in failed)
    return failed


def picture_overview(driver: Any, api: httpx.Client, failed: list[str]) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    show(driver, "#/")
    stats: dict[str, int] = {}

    def counts_match(d: Any) -> bool:
        stats.update(api.get("/api/stats").json())
        return all(count_of(d, status) == str(stats[status]) for status in STATUSES)

    wait_until(driver, counts_match, timeout=15)
    assert stats["failed"] == len(failed)
    assert stats["processing"] == 2
    assert stats["cancelled"] == 1
    assert stats["scheduled"] == 4  # two newsletters, two inventory syncs waiting to retry
    assert stats["pending"] >= 5
    # The worker's row shows both slots busy once its next beat (every 5 s) is read.
    rows = "#worker-rows tr"
    wait_until(driver, lambda d: "2 / 2" in d.find_element(By.CSS_SELECTOR, rows).text, 15)
    bars = driver.execute_script(
        "return [...document.querySelectorAll('#chart rect')]"
        ".filter(r => Number(r.getAttribute('height')) > 0).map(r => r.getAttribute('fill'))"
    )
    assert "#4cc38a" in bars  # completed jobs per second
    assert "#ef5b5b" in bars  # failed jobs per second
    assert driver.find_element(By.ID, "queue-name").text == "default"
    assert "job:added" in driver.find_element(By.ID, "recent").text
    save(driver, "overview")
    return stats


def picture_failed_jobs(driver: Any, failed: list[str], stats: dict[str, int]) -> None:
    from selenium.webdriver.common.by import By

    show(driver, "#/jobs/failed")

    def listed(d: Any) -> list[str]:
        rows = d.find_elements(By.CSS_SELECTOR, "#job-rows tr")
        return [row.get_attribute("data-job-id") for row in rows]

    wait_until(driver, lambda d: listed(d) == failed)
    for row in driver.find_elements(By.CSS_SELECTOR, "#job-rows tr"):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1:4] == ["charge-card", "failed", "1"]
        assert cells[5].startswith("CardDeclinedError: card ending 4242 declined: ")
    active = driver.find_element(By.CSS_SELECTOR, "#status-tabs button.active").text
    assert active == "failed"
    assert driver.find_element(By.ID, "page").text == f"1{NOTHING}{stats['failed']}"
    save(driver, "jobs")


def picture_failed_job(driver: Any, job_id: str) -> None:
    from selenium.webdriver.common.by import By

    show(driver, f"#/job/{job_id}")
    wait_until(driver, lambda d: d.find_element(By.ID, "job-status").text == "failed")
    assert driver.find_element(By.ID, "job-title").text == f"charge-card · {job_id}"
    error = driver.find_element(By.ID, "job-error").text
    assert error.startswith("Traceback (most recent call last):")
    assert "in charge_card" in error
    assert error.rstrip().endswith(
        "CardDeclinedError: card ending 4242 declined: insufficient funds"
    )
    assert '"order": 1040' in driver.find_element(By.ID, "job-payload").text
    assert driver.find_element(By.ID, "job-result").text == NOTHING
    texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#job-fields > *")]
    fields = dict(zip(texts[::2], texts[1::2], strict=True))
    assert fields["attempts"] == "1 of 1"
    assert fields["status"] == "failed"
    save(driver, "job", height=JOB_HEIGHT, shorten=True)


def picture_running_job(driver: Any, job_id: str) -> None:
    from selenium.webdriver.common.by import By

    show(driver, f"#/job/{job_id}")
    wait_until(driver, lambda d: d.find_element(By.ID, "job-status").text == "processing")
    assert driver.find_element(By.ID, "job-title").text == f"generate-report · {job_id}"
    message = driver.find_element(By.ID, "job-progress-message").text
    assert message == "rendering page 3 of 5"
    width = driver.execute_script("return document.getElementById('job-progress-bar').style.width")
    assert width == "60%"
    assert driver.find_element(By.ID, "job-result").text == NOTHING
    save(driver, "job-progress")


def picture_schedules(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    show(driver, "#/schedules")
    wait_until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#schedule-rows tr")) == 3)
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#schedule-rows tr"):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        rows[cells[0]] = cells
    assert rows["backup-database"][2:4] == ["0 3 * * *", "Europe/Paris"]
    assert rows["backup-database"][5:8] == [NOTHING, "active", "Pause"]
    assert rows["weekly-report"][2:4] == ["0 8 * * 1", "America/New_York"]
    assert rows["ping-upstream"][2] == "every 2s"
    assert rows["ping-upstream"][5] != NOTHING  # it ran before it was paused
    assert rows["ping-upstream"][6:8] == ["paused", "Resume"]
    save(driver, "schedules")


# -- helpers ---------------------------------------------------------------------------


def enqueue(api: httpx.Client, name: str, payload: Any, **options: Any) -> str:
    answer = api.post("/api/jobs", json={"name": name, "payload": payload, **options})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
    return found


def schedule(api: httpx.Client, key: str) -> dict[str, Any]:
    return next(s for s in api.get("/api/schedules").json() if s["key"] == key)


def show(driver: Any, fragment: str) -> None:
    """Go to a view of the page without reloading it (the chart's data lives in it)."""
    driver.execute_script("location.hash = arguments[0]", fragment)


def shorten_paths(driver: Any) -> None:
    """Replace this machine's folders in the traceback shown with ``…``."""
    package = Path(conveyor.__file__).resolve().parents[1]  # src/, or site-packages
    folders = {str(REPO), str(package), sys.prefix, sys.base_prefix, sys.exec_prefix}
    driver.execute_script(
        "const pre = document.getElementById('job-error');"
        "for (const folder of arguments[0])"
        "  pre.textContent = pre.textContent.split(folder).join('…');",
        sorted(folders, key=len, reverse=True),
    )


def paths_are_short(driver: Any) -> bool:
    """Say whether every file the traceback shown names starts with ``…``."""
    text = driver.find_element("id", "job-error").text
    return 'File "…' in text and 'File "/' not in text


def viewport(driver: Any, height: int) -> None:
    """Make the page's viewport WIDTH x ``height`` pixels, whatever the window's size."""
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def save(driver: Any, view: str, *, height: int = HEIGHT, shorten: bool = False) -> None:
    """Save the viewport as docs/images/dashboard-<view>.png; check its size.

    With ``shorten``, the traceback's folders are shortened just before the picture,
    and the picture is taken again if the page re-rendered (putting them back) meanwhile.
    """
    viewport(driver, height)
    time.sleep(0.3)  # the page re-renders 250 ms after an event: let it settle
    for _ in range(5):
        if shorten:
            shorten_paths(driver)
        png = driver.get_screenshot_as_png()
        if not shorten or paths_are_short(driver):
            break
    else:
        raise AssertionError(f"the {view} view kept changing while it was pictured")
    viewport(driver, HEIGHT)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (WIDTH, height)
    IMAGES.mkdir(exist_ok=True)
    (IMAGES / f"dashboard-{view}.png").write_bytes(png)
