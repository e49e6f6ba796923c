"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver):
a job moving from pending to completed without a reload, the retry button, and a job
whose name is markup shown as text."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import Server

from conveyor import Job, Queue, create_queue
from conveyor.http import conveyor_app

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
XSS_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def browser(tmp_path: Path) -> Any:
    if CHROMIUM is None or CHROMEDRIVER is None:
        message = (
            "needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium tries Google's hosts, which this
    # machine's closed network refuses.
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", f"--user-data-dir={tmp_path / 'chromium'}"]  # fmt: skip
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Any, httpx.Client, Queue, threading.Event]]:
    queue = create_queue(url=f"sqlite:///{tmp_path / 'ui.db'}", name="ui", workers=2)
    gate = threading.Event()
    attempts: dict[str, int] = {}

    @queue.handler("gated")
    def gated(job: Job) -> str:
        gate.wait(20)
        return "through"

    @queue.handler("flaky", max_retries=0)
    def flaky(job: Job) -> str:
        attempts[job.id] = attempts.get(job.id, 0) + 1
        if attempts[job.id] == 1:
            raise RuntimeError("first attempt fails")
        return "second attempt works"

    queue.register(XSS_NAME, lambda job: None)
    driver = browser(tmp_path)
    try:
        with (
            Server(conveyor_app(queue), queue) as server,
            httpx.Client(base_url=server.base, headers={"X-Conveyor-Request": "1"}) as api,
        ):
            driver.get(f"{server.base}/")
            yield driver, api, queue, gate
            gate.set()
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Any, timeout: float = 10) -> Any:
    """Poll ``condition``; the page re-renders on every event, so elements go stale."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, 0.05, ignored_exceptions=ignored).until(condition)


def count_of(driver: Any, status: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, f".count.{status} b").text)


def test_a_job_moves_from_pending_to_completed_live(site: Any) -> None:
    driver, api, _queue, gate = site
    wait_until(driver, lambda d: count_of(d, "completed") == "0")
    driver.execute_script("window.notReloaded = true")
    wait_until(driver, lambda d: d.execute_script(
        "return document.getElementById('live').classList.contains('on')"))  # fmt: skip
    job_id = api.post("/api/jobs", json={"name": "gated"}).json()["id"]
    wait_until(driver, lambda d: count_of(d, "processing") == "1")
    gate.set()
    wait_until(driver, lambda d: count_of(d, "completed") == "1")
    wait_until(driver, lambda d: count_of(d, "processing") == "0")
    assert driver.execute_script("return window.notReloaded") is True
    wait_until(driver, lambda d: job_id in d.find_element("id", "recent").text)
    rows = "#worker-rows tr"
    wait_until(driver, lambda d: f":{os.getpid()}" in d.find_element("css selector", rows).text)


def test_a_failed_job_is_retried_with_the_button(site: Any) -> None:
    from selenium.webdriver.common.by import By

    driver, api, _queue, _gate = site
    job_id = api.post("/api/jobs", json={"name": "flaky"}).json()["id"]
    deadline_status = lambda: api.get(f"/api/jobs/{job_id}").json()["status"]  # noqa: E731
    wait_until(driver, lambda d: deadline_status() == "failed")
    driver.get(driver.current_url.split("#")[0] + f"#/job/{job_id}")
    wait_until(driver, lambda d: d.find_element(By.ID, "job-status").text == "failed")
    assert "first attempt fails" in driver.find_element(By.ID, "job-error").text
    wait_until(driver, lambda d: d.find_element(By.ID, "job-retry").click() or True)
    wait_until(driver, lambda d: d.find_element(By.ID, "job-status").text == "completed")
    wait_until(driver, lambda d: "second attempt works" in d.find_element(By.ID, "job-result").text)


def test_markup_in_a_job_name_is_shown_as_text(site: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver, api, _queue, _gate = site
    # Delayed, so that it is listed (as scheduled) rather than run at once.
    job_id = api.post("/api/jobs", json={"name": XSS_NAME, "delay": 3600}).json()["id"]
    driver.get(driver.current_url.split("#")[0] + "#/jobs/scheduled")
    row = wait_until(
        driver, lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}']")
    )
    cells = row.find_elements(By.TAG_NAME, "td")
    assert cells[1].text == XSS_NAME
    assert row.find_elements(By.TAG_NAME, "script") == []
    assert row.find_elements(By.TAG_NAME, "img") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    driver.get(driver.current_url.split("#")[0] + f"#/job/{job_id}")
    wait_until(driver, lambda d: XSS_NAME in d.find_element(By.ID, "job-title").text)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
