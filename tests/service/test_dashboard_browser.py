"""End to end in headless Chromium: a study submitted over the API appears on the dashboard,
its Pareto points are drawn, and hovering one shows that trial's number and parameters.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them where
missing); skipped, loudly, only where they are not installed.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import zdt_spec
from tests.service.conftest import Server, ThreadServer, settings_for, wait_state

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        pytest.skip(
            "BROWSER TEST SKIPPED: Debian's chromium and chromium-driver are not installed "
            "(apt-get install -y chromium chromium-driver; `make test` tries it)"
        )
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1000",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait(fn, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        out = fn()
        if out:
            return out
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {fn}")
        time.sleep(0.2)


def test_dashboard_draws_the_front_and_hover_shows_parameters(browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with ThreadServer(settings_for(f"sqlite:///{tmp_path}/nas.db")) as s, s.client() as c:
        assert c.post("/studies", json=zdt_spec("browser-zdt", trials=25)).status_code == 201
        wait_state(c, "browser-zdt", {"complete"})
        front = {t["number"]: t for t in c.get("/studies/browser-zdt/pareto").json()}
        _check_page(browser, s, front, ActionChains, By)


def _check_page(driver, s: Server, front: dict, ActionChains, By) -> None:
    driver.get(s.url + "/#study=browser-zdt")
    rows = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#studies tbody tr[data-study='browser-zdt']"))
    assert "complete" in rows[0].text and "25 / 25" in rows[0].text
    traces = _wait(
        lambda: [
            t
            for t in driver.find_elements(By.CSS_SELECTOR, "#pareto .scatterlayer .trace")
            if t.find_elements(By.CSS_SELECTOR, ".point")
        ]
    )
    points = [len(t.find_elements(By.CSS_SELECTOR, ".point")) for t in traces]
    assert sum(points) == 25 and points[-1] == len(front)  # every trial drawn, the front as its own trace
    assert driver.find_elements(By.CSS_SELECTOR, "#hv .scatterlayer .trace")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 25

    point = traces[-1].find_elements(By.CSS_SELECTOR, ".point")[0]
    ActionChains(driver).move_to_element(point).perform()
    text = _wait(
        lambda: " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "#pareto .hoverlayer .hovertext"))
    )
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    number = int(re.search(r"trial #(\d+)", text).group(1))
    assert number in front, text
    for name, value in front[number]["params"].items():
        assert f"{name}={_js_number(value)}" in text, (name, value, text)


def _js_number(v: float) -> str:
    """The dashboard's ``Number(v.toPrecision(5)).toString()`` for values in (1e-6, 1e21)."""
    out = repr(float(f"{v:.5g}"))
    return out[:-2] if out.endswith(".0") else out
