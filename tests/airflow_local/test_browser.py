"""A real browser: Debian's headless Chromium driven by Selenium through /usr/bin/chromedriver. It logs
in to the local Airflow, opens the "WMS bridge" page from the menu route and the manual push's trigger
form, and keeps screenshots (pytest's tmp dir, copied to .artifacts/, git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from local_airflow_helpers import ONE_AIRFLOW, ROOT

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--window-size=1440,1100", "--lang=en-US")
WAIT = 90


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Chromium is not installed: make browser (apt-get install chromium chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    kept = ROOT / ".artifacts" / "screenshots"
    kept.mkdir(parents=True, exist_ok=True)
    for png in folder.glob("*.png"):
        shutil.copy2(png, kept / png.name)


def wait_for_text(driver, text: str, timeout: float = WAIT) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element("tag name", "body").text)


def login(driver, airflow) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{airflow.base}/")
    user = WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.NAME, "username")))
    user.send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(airflow.password("admin"))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/auth/login" not in d.current_url)


def test_operations_page_in_the_airflow_ui(local_airflow, demo_runs, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, local_airflow)
    browser.get(f"{local_airflow.base}/plugin/wms-bridge")  # the menu entry's route: our page in an iframe
    frame = WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.CSS_SELECTOR, "iframe[src*='wms-ops']"))
    browser.switch_to.frame(frame)
    wait_for_text(browser, "Rejected orders / 被拒订单")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Waiting for a person / 待人工处理" in body and "(today / 今天)" in body
    browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "ops-in-airflow.png"))

    browser.get(f"{local_airflow.base}/wms-ops/")  # the page itself, whole, with the session cookie
    wait_for_text(browser, "Orders by state")
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1440, min(max(height + 100, 1100), 6000))
    browser.save_screenshot(str(shots / "ops-page.png"))
    browser.set_window_size(1440, 1100)


def test_trigger_form_speaks_beijing_dates(local_airflow, demo_runs, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import StaleElementReferenceException

    def click_trigger(driver) -> bool:
        """React re-renders the page while it loads: a button found a moment ago may be gone."""
        try:
            button = next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"), None)
            if button is None:
                return False
            button.click()
            return True
        except StaleElementReferenceException:
            return False

    browser.get(f"{local_airflow.base}/dags/wms_order_push_manual")
    WebDriverWait(browser, WAIT).until(click_trigger)
    wait_for_text(browser, "Paid from (Beijing date) / 付款起始日（北京时间）")
    body = browser.find_element(By.TAG_NAME, "body").text
    for text in ("Dry run (preview) / 试运行（预览）", "Order codes / 订单号", "Paid to (Beijing date)",
                 "Beijing time (UTC+8)"):
        assert text in body, text
    browser.save_screenshot(str(shots / "trigger-form.png"))
