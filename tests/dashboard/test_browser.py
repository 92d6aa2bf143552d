"""The dashboard in a real browser: `riskai dashboard` serving, Debian's Chromium (headless) reading it.

Screenshots go to ``$CI_ARTIFACTS/dashboard`` when set, else ``tests/artifacts/dashboard`` (git-ignored).
Under CI=true a missing Chromium or chromedriver fails the test: `.ci/run` installs them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.conftest import POST_TAG, PREDICTIONS
from tests.dashboard.server import free_port, wait_healthy
from tests.repo_copies import REPO_ROOT

CHROMIUM = os.environ.get("RISKAI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RISKAI_CHROMEDRIVER", "/usr/bin/chromedriver")
RENDER_TIMEOUT_S = 90


def artifacts_dir() -> Path:
    base = Path(os.environ["CI_ARTIFACTS"]) if os.environ.get("CI_ARTIFACTS") else REPO_ROOT / "tests" / "artifacts"
    path = base / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() or shutil.which(p))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        reason = f"browser test needs {', '.join(missing)} (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def served_app(warehouse_url, release_repo):
    """`riskai dashboard` on a free port, stopped (its own process group) afterwards."""
    _require_browser()
    port = free_port()
    log = open(release_repo.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "riskai.operations", "-C", str(release_repo), "dashboard", "--headless",
         "--address", "127.0.0.1", "--port", str(port), "--database-url", warehouse_url],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, RENDER_TIMEOUT_S, lambda: (log.flush(), (release_repo.parent / "streamlit.log").read_text())[1])
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1800"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait_for(driver, predicate, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, RENDER_TIMEOUT_S, poll_frequency=0.5).until(lambda d: predicate(d))
    except Exception as error:  # TimeoutException: say what never appeared
        raise AssertionError(f"{what} did not appear within {RENDER_TIMEOUT_S} s") from error


# Text each page shows only once its script has run to the end.
LAST_ON_PAGE = {"Today": "Source freshness", "History": "Spearman correlation", "Models": "Releases side by side",
                "Data": "Coverage per table"}


def _rendered(page: str):
    """The page's last element is drawn, nothing is stale (left from the previous page) or spinning,
    and every chart has drawn its marks."""
    from selenium.webdriver.common.by import By

    def done(driver) -> bool:
        if LAST_ON_PAGE[page] not in driver.find_element(By.TAG_NAME, "body").text:
            return False
        if driver.find_elements(By.CSS_SELECTOR, '[data-stale="true"], [data-testid="stSpinner"]'):
            return False
        charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')
        return all(c.find_elements(By.CSS_SELECTOR, "canvas, svg") for c in charts)
    return done


def test_dashboard_renders_in_chromium(served_app):
    from selenium.webdriver.common.by import By

    expected_score = f"{[r for r in PREDICTIONS if r['symbol'] == 'BTCUSDT'][-1]['risk_score']:.1f}"
    shots = artifacts_dir()
    driver = _browser()
    try:
        driver.get(served_app)
        _wait_for(driver, lambda d: any(e.text == expected_score for e in
                                        d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')),
                  f"today's BTCUSDT risk score {expected_score}")
        _wait_for(driver, _rendered("Today"), "the rendered Today page")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "Today" in text and "BTCUSDT" in text and "Source freshness" in text and POST_TAG in text
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        driver.save_screenshot(str(shots / "today.png"))

        for page in ("History", "Models", "Data"):
            label = driver.find_element(By.XPATH, f'//section[@data-testid="stSidebar"]//label[.//p[text()="{page}"]]')
            label.click()
            _wait_for(driver, lambda d, p=page: any(h.text == p for h in
                                                    d.find_elements(By.CSS_SELECTOR, '[data-testid="stHeading"] h2')),
                      f"the {page} heading")
            _wait_for(driver, _rendered(page), f"the rendered {page} page")
            assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), page
            driver.save_screenshot(str(shots / f"{page.lower()}.png"))
    finally:
        driver.quit()
    assert (shots / "today.png").stat().st_size > 10_000
