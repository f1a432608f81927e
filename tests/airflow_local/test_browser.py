"""What a person sees is what the engine knows, in a real browser: Debian's headless Chromium driven
by Selenium through /usr/bin/chromedriver, against the folder's real local Airflow (``make airflow``),
using Airflow's own dialogs with their defaults. In file order:

1. Home shows no "Plugin Import Errors".
2. Admin -> Connections: the Test button of ``qimen_default`` and of ``shop_db``, clicked in the list
   as a person would (the 3.3.2 UI sends ``port: 0`` there), reports success for both.
3. The Backfill dialog of a paused ``wms_order_push``, every default kept ("Unpause on trigger"
   ticked), over two Beijing days while ``orders`` is not ``live``: the warehouse (the simulator)
   receives exactly the orders paid in the shop on those days. The scheduled run the unpause would
   start is shown to do nothing (see the test's docstring for how, with the folder's
   ``use_job_schedule = False``).
4. The operations page's counts (``data-count``) equal the store's: the view
   ``wms_v_needs_person`` (and ``attention.counts``) and ``wms_order_sync`` read independently. A
   return the shop withdrew after the warehouse was told (``returns_withdrawn``) and a return receipt
   beyond the announcement (``returns_receipts``), made through the store's API, as a person reads
   them; "Mark handled" takes the withdrawn return off the page and out of the view.
5. As ``operator``: "Mark handled" with a note, "Send again" for orders the warehouse refused for
   good (a real refusal, decided by a real run); as ``viewer``: read-only, controls disabled, an act
   posted with the viewer's token refused (403).
6. A failed run reaches a local DingTalk robot as a DingTalk markdown message naming the DAG and run.

Screenshots (and the DingTalk message received) go to pytest's tmp dir and .artifacts/screenshots/
(git-ignored). Tests 3 and the refusal of 5 need orders nobody sent yet: they run before anything
asks for ``demo_runs`` (the manual push of every order), which keeps them first in this file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from unittest import mock

import pytest
import requests
import sqlalchemy as sa

from local_airflow_helpers import ONE_AIRFLOW, ROOT, expected_dag_ids, shop_file

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--window-size=1440,1100", "--lang=en-US")
WAIT = 90
BEIJING = timezone(timedelta(hours=8))
NOT_ORDERS = ["items", "shipments", "inventory", "cancels"]  # `live` without the order flow
HANDLED_NOTE = "address fixed in the shop, sent by hand / 已在商城修正地址并手工发货"
RESEND_NOTE = "the warehouse serves that area now / 仓库已开通该地区"
REFUSAL_CODE = "AREA_NOT_SERVED"  # a code no passing-fault rule knows: refused for good


# -- fixtures ------------------------------------------------------------------------------------------


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
    for found in [*folder.glob("*.png"), *folder.glob("*.json")]:
        shutil.copy2(found, kept / found.name)


class BridgeSettings:
    """The ``wms_bridge_config`` Variable: changed through the API for a test, put back afterwards.

    The API shows the Variable with its secret (``callback_token``) masked, so what is written back is
    the JSON ``make airflow`` provisioned, made again from the same secrets file (and checked against
    what the API shows)."""

    def __init__(self, airflow) -> None:
        from wmsbridge_tools.localairflow import bridge_config

        self.airflow = airflow
        keys = json.loads((airflow.home / "local" / "secrets.json").read_text())
        with mock.patch.dict(os.environ, airflow.env, clear=True):
            self.provisioned = bridge_config(keys, simulated=True)
        shown = airflow.api("GET", "/api/v2/variables/wms_bridge_config").json()
        self.description = shown.get("description")
        unmasked = {k: v for k, v in json.loads(shown["value"]).items() if k != "callback_token"}
        assert unmasked == {k: v for k, v in json.loads(self.provisioned).items() if k != "callback_token"}

    def set(self, **changes) -> None:
        self._write(json.dumps({**json.loads(self.provisioned), **changes}))

    def restore(self) -> None:
        self._write(self.provisioned)

    def _write(self, value: str) -> None:
        answer = self.airflow.api("PATCH", "/api/v2/variables/wms_bridge_config", json={
            "key": "wms_bridge_config", "value": value, "description": self.description})
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def bridge_settings(local_airflow):
    settings = BridgeSettings(local_airflow)
    try:
        yield settings
    finally:
        settings.restore()  # the folder's later tests expect what make airflow provisioned


@pytest.fixture(scope="package")  # the scope of demo_runs: pytest sets up wider scopes first
def refused_orders(local_airflow) -> list[str]:
    """Orders the warehouse refused for good, decided by a real run: the simulator answers every
    deliveryorder.create with a failure code no passing-fault rule knows, while a manual push sends
    four orders nobody sent yet. The run fails (records newly waiting for a person), as it must.
    Their codes; none of them is at the warehouse. Needs orders nobody sent: set up before
    demo_runs (see ops_data)."""
    admin = simulator(local_airflow)
    with shop(local_airflow) as conn:
        candidates = [r[0] for r in conn.execute(sa.text(
            "SELECT order_no FROM shop_order WHERE status = 'paid' AND paid_at IS NOT NULL AND order_no NOT IN"
            " (SELECT delivery_order_code FROM wms_order_sync) ORDER BY paid_at, order_no LIMIT 4"))]
    assert candidates, "the demo shop has no paid order left that nobody sent"
    admin.set_faults(failure=1.0, failure_codes=[REFUSAL_CODE], methods=["deliveryorder.create"])
    try:
        run = local_airflow.run_dag("wms_order_push_manual", {"dry_run": False, "order_codes": candidates})
    finally:
        admin.replace_faults()  # no fault, as the simulator was started
    assert run["state"] == "failed", run  # a run fails for what it newly put in front of a person
    with shop(local_airflow) as conn:
        refused = sorted(r[0] for r in conn.execute(
            sa.text("SELECT delivery_order_code FROM wms_order_sync WHERE state = 'failed' AND"
                    " last_error_retryable = :no AND last_error_code = :code AND delivery_order_code IN :codes")
            .bindparams(sa.bindparam("codes", expanding=True)),
            {"no": False, "code": REFUSAL_CODE, "codes": candidates}))
    assert refused, f"none of {candidates} was refused by the warehouse"
    at_warehouse = {o["order_code"] for o in admin.orders()}
    assert not set(refused) & at_warehouse
    return refused


@pytest.fixture(scope="module")
def ops_data(refused_orders, demo_runs):
    """The operations page's data: refused orders (first: they need orders nobody sent yet; same
    scope as demo_runs, named before it, so set up before it), then the manual push of every other
    paid order (demo_runs). The refused orders' codes."""
    return refused_orders


@pytest.fixture(scope="module")
def returns_waiting(local_airflow, ops_data) -> dict[str, str]:
    """Two returns' waiting states, built through the store's own API as wms_returns builds them (the
    folder's Airflow has returns switched off, so no run makes them), on two orders the warehouse
    holds (``sent``):

    - ``withdrawn``: registered, claimed, sent (returnorder.create accepted), then withdrawn in the
      shop: ``mark_withdrawn(..., told=True)`` with the reason pipelines/returns.py writes, so it
      waits under ``returns_withdrawn``;
    - ``excess``: registered and sent for one unit; the warehouse's returnorder.confirm reports two
      good units: stored as the receiver stores it, the unit that fits applied (``mark_received``,
      under ``returns_to_refund``), the receipt settled ``needs_person`` with the reason the returns
      flow gives an excess (its own tally), so it waits under ``returns_receipts``.

    The return codes and the receipt's id."""
    from qimen.documents import build_document
    from qimen.inbound import parse_returnorder_confirm
    from wmsbridge.pipelines.returns import RETURNABLE, _Tally, withdrawn_reason
    from wmsbridge.receiver.reports import describe_return
    from wmsbridge.store import IntegrationStore
    from wmsbridge.store.base import RunRef
    from wmsbridge.store.exchange_log import Inbound
    from wmsbridge.transforms.returns import CONFIRM, received_note
    from wmsbridge_tools.localairflow import DEMO_OWNER_CODE, DEMO_WAREHOUSE_CODE

    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    store = IntegrationStore(engine)
    run = RunRef(f"manual__{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S}+00:00", "wms_returns")
    try:
        with engine.connect() as conn:
            picked = conn.execute(sa.text(
                "SELECT s.delivery_order_code, l.sku_id, l.sku_code FROM wms_order_sync s"
                " JOIN shop_order o ON o.order_no = s.delivery_order_code JOIN shop_order_line l ON l.order_id = o.id"
                " WHERE s.bridge_id = 'default' AND s.state = 'sent' AND s.cancel_requested_at IS NULL"
                " AND l.line_no = 1 ORDER BY s.delivery_order_code LIMIT 2")).all()
        assert len(picked) == 2 and all(store.orders.rows([p[0]])[p[0]]["state"] in RETURNABLE for p in picked)
        codes = {}
        for name, (order_code, sku_id, item_code) in zip(("withdrawn", "excess"), picked):
            code = codes[name] = f"TH{order_code}"
            assert store.returns.register([{
                "return_code": code, "shop_return_id": f"ui-{name}", "delivery_order_code": order_code,
                "reason": "七天无理由退货", "lines": [{"sku_id": sku_id, "item_code": item_code, "quantity": 1}]}],
                run_id=run) == 1
            assert store.returns.claim(code, run_id=run)
            store.returns.mark_sent(code, f"WMS-RT-{order_code}", run_id=run)

        # withdrawn in the shop after returnorder.create was accepted (pipelines/returns.py: withdraw)
        code = codes["withdrawn"]
        why = withdrawn_reason(code, "refused in the shop (status refused)", "returnorder.create accepted")
        assert store.returns.mark_withdrawn(code, "sent", why, told=True, run_id=run)

        # a receipt of two good units for a return of one (pipelines/returns.py: _apply)
        code, item_code = codes["excess"], picked[1][2]
        body = build_document(CONFIRM, {
            "returnOrder": {"returnOrderCode": code, "returnOrderId": f"WMS-RT-{picked[1][0]}",
                            "warehouseCode": DEMO_WAREHOUSE_CODE, "outBizCode": f"{code}-R1", "orderType": "THRK",
                            "logisticsCode": "YTO", "orderConfirmTime": datetime.now(timezone.utc), "confirmType": 0},
            "orderLines": [{"orderLineNo": "1", "ownerCode": DEMO_OWNER_CODE, "itemCode": item_code,
                            "inventoryType": "ZP", "planQty": 1, "actualQty": 2}]})
        confirm = parse_returnorder_confirm(body)
        stored = store.reports.receive(method=CONFIRM, key=f"{code}-R1", order_code=code,
                                       summary=describe_return(confirm), state="received", raw_body=body,
                                       inbound=Inbound(method=CONFIRM, url=None, body=body, answer="success",
                                                       http_status=200, outcome="success"))
        assert not stored.already_seen
        report_id = stored.inbox_id
        tally = _Tally({item_code: 1})
        taken, excess = tally.add(confirm)
        assert taken == {item_code: {"ZP": 1}} and excess == {item_code: {"ZP": 1}}, (taken, excess)
        assert store.returns.mark_received(code, tally.taken, final=True, run_id=run, note=received_note(
            tally.taken, {item_code: 1}, datetime.now(timezone.utc), final=True) + tally.excess_note())
        summary = (f"return {code}: the warehouse reports more than the return announced / 退货入库数量超过通知数量: "
                   + tally.excess_detail(excess) + "; the excess was not put into the shop's stock nor its after-sale "
                   "record; what fits the announcement was applied; check it with the warehouse, then mark it handled")
        assert store.reports.settle(report_id, "needs_person", summary=summary, run_id=run)
        return {**codes, "receipt": str(report_id)}
    finally:
        engine.dispose()


# -- helpers -------------------------------------------------------------------------------------------


def simulator(local_airflow):
    from wms_simulator import SimulatorAdmin

    return SimulatorAdmin(local_airflow.api("GET", "/api/v2/connections/qimen_default").json()["host"])


class shop:
    """``with shop(local_airflow) as conn``: the demo shop's SQLite file, where the store lives too."""

    def __init__(self, local_airflow) -> None:
        self.engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")

    def __enter__(self):
        self.conn = self.engine.connect()
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.close()
        self.engine.dispose()


def created_orders(admin) -> int:
    return admin.counters().get("deliveryorder.create", {}).get("received", 0)


def body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver, text: str, timeout: float = WAIT) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in body_text(d))


def login(driver, airflow, user: str = "admin") -> None:
    """Log in to Airflow's UI as ``user`` (whoever was logged in before is logged out first)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.default_content()
    driver.get(f"{airflow.base}/api/v2/version")  # same origin, no UI: forget the last user
    driver.delete_all_cookies()
    driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    driver.get(f"{airflow.base}/")
    name = WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.NAME, "username")))
    name.send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(airflow.password(user))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/auth/login" not in d.current_url)


def open_operations_page(driver, airflow) -> None:
    """The menu entry's route: the page inside Airflow's UI, in an iframe; the driver is left in it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.default_content()
    driver.get(f"{airflow.base}/plugin/wms-bridge")
    frame = WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.CSS_SELECTOR, "iframe[src*='wms-ops']"))
    driver.switch_to.frame(frame)
    wait_for_text(driver, "Waiting for a person / 待人工处理")


def back_in_frame(driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.default_content()
    driver.switch_to.frame(WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "iframe[src*='wms-ops']")))


def screenshot(driver, shots: Path, name: str, show=None, block: str = "start") -> None:
    """A screenshot of the browser window (Airflow's UI around the page's iframe); ``show``: an
    element of the current frame scrolled into view first. The driver is left in the top document."""
    if show is not None:
        driver.execute_script(f"arguments[0].scrollIntoView({{block: '{block}'}}); window.scrollBy(0, -20);", show)
        time.sleep(0.3)
    driver.switch_to.default_content()
    driver.save_screenshot(str(shots / name))


def click_trigger(driver) -> bool:
    """Click a DAG page's Trigger button; False while it is not there. React re-renders the page
    while it loads: a button found a moment ago may be gone."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        button = next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"), None)
        if button is None:
            return False
        button.click()
        return True
    except StaleElementReferenceException:
        return False


def page_counts(driver) -> dict[str, int]:
    """Every number of the page that carries data-category / data-count."""
    from selenium.webdriver.common.by import By

    return {e.get_attribute("data-category"): int(e.get_attribute("data-count"))
            for e in driver.find_elements(By.CSS_SELECTOR, "[data-category][data-count]")}


def subjects(driver, category: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [b.get_attribute("value") for b in
            driver.find_elements(By.CSS_SELECTOR, f"form[data-form='{category}'] input[name=subject]")]


def flash(driver, clicked) -> str:
    """What the page says after ``clicked`` posted its form: read from the NEW page (the one before
    may carry an earlier act's message), once the clicked button's page is gone."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(ec.staleness_of(clicked))

    def read(d):
        try:
            return d.find_element(By.ID, "flash").text or False
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    return WebDriverWait(driver, WAIT).until(read)


# -- 1. Home -------------------------------------------------------------------------------------------


def test_home_shows_no_plugin_import_errors(local_airflow, browser, shots):
    login(browser, local_airflow)
    browser.get(f"{local_airflow.base}/")
    wait_for_text(browser, "Dag Processor")  # the health badges: Home has loaded its data
    deadline = time.monotonic() + 5  # the badge comes with the page's later requests, if at all
    while time.monotonic() < deadline:
        assert "Plugin Import Error" not in body_text(browser), body_text(browser)
        time.sleep(0.5)
    body = body_text(browser)
    assert "Dag Import Error" not in body
    assert "WMS bridge / 仓库对接" in body  # our plugin's menu entry is there: the plugin loaded, once
    screenshot(browser, shots, "01-home.png")
    errors = local_airflow.api("GET", "/api/v2/plugins/importErrors").json()
    assert errors["total_entries"] == 0, errors


# -- 2. the Test button in the connection list ---------------------------------------------------------


def test_connection_test_buttons_succeed_in_the_list(local_airflow, browser, shots):
    """The list's Test button, as clicked: Airflow 3.3.2 builds that request from the list row (port
    0 for an empty port); both connections report "Test Connection Successful"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def test_button(driver, conn_id: str):
        for row in driver.find_elements(By.CSS_SELECTOR, "tr"):
            cells = row.find_elements(By.CSS_SELECTOR, "td[data-testid=table-cell-connection_id]")
            if cells and cells[0].text.strip() == conn_id:
                return row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
        return None

    def icon_color(driver, conn_id: str):
        try:
            return test_button(driver, conn_id).find_element(By.TAG_NAME, "svg").get_attribute("color")
        except StaleElementReferenceException:
            return None

    def toasts(driver) -> list:
        return driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast][data-part=root]")

    login(browser, local_airflow)
    browser.get(f"{local_airflow.base}/connections")
    WebDriverWait(browser, WAIT).until(lambda d: test_button(d, "shop_db") and test_button(d, "qimen_default"))
    for n, (conn_id, says) in enumerate((("qimen_default", "address, signature and customerId accepted"),
                                         ("shop_db", "Connection successfully tested")), start=2):
        WebDriverWait(browser, 30).until(lambda d: not toasts(d))  # the last one's toast is gone
        test_button(browser, conn_id).click()
        toast = WebDriverWait(browser, 60).until(lambda d: next(iter(toasts(d)), None))
        WebDriverWait(browser, 10).until(lambda d: "Test Connection" in toast.text)
        assert toast.get_attribute("data-type") == "success", toast.text
        assert "Test Connection Successful" in toast.text and says in toast.text, toast.text
        WebDriverWait(browser, 10).until(lambda d: icon_color(d, conn_id) == "green")
        screenshot(browser, shots, f"0{n}-connection-test-{conn_id}.png")


# -- 3. the Backfill dialog with its defaults ------------------------------------------------------------


def test_backfill_dialog_with_its_defaults_sends_only_the_chosen_days(local_airflow, browser, shots,
                                                                      bridge_settings):
    """The Backfill dialog of a paused wms_order_push, over two Beijing days, every other default kept
    ("Missing Runs", 1 active run, not backwards, "Unpause wms_order_push on trigger" ticked), while
    ``orders`` is not live: exactly the orders paid in the shop on those days reach the warehouse.

    The folder's Airflow runs wms_order_push daily at 16:00 UTC (conftest's WMS_ORDER_PUSH_CRON), so
    a data interval is one Beijing day; the dialog speaks UTC, so the two days are From D-1 16:00 To
    D 16:00.

    The dialog unpauses the DAG, and its schedule would start the next scheduled run, which pushes
    every paid order (not a window). The folder's Airflow runs with ``use_job_schedule = False``,
    which hides that run: the scheduler creates no scheduled run at all. So this test creates the very
    run the scheduler would create next, through the scheduler's own calls (scheduled_run.py), and
    shows the scheduler runs it and it does nothing (its task skipped: not live), and that every
    scheduled run of the DAG ended so."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    assert expected_dag_ids() <= local_airflow.wait_for_dags(expected_dag_ids())
    # the items at the warehouse (test_backfill_ui.py synced them already; unchanged ones cost a hash)
    assert local_airflow.run_dag("wms_item_sync_manual", {"dry_run": False})["state"] == "success"
    bridge_settings.set(live=NOT_ORDERS)
    local_airflow.api("PATCH", "/api/v2/dags/wms_order_push", json={"is_paused": True}).raise_for_status()

    # two Beijing days test_backfill_ui.py (today - 3 and - 2) did not send
    today = datetime.now(BEIJING).date()
    first = datetime.combine(today - timedelta(days=6), clock.min, BEIJING).astimezone(timezone.utc)
    second, end = first + timedelta(days=1), first + timedelta(days=2)
    naive = {k: t.strftime("%Y-%m-%d %H:%M:%S") for k, t in (("a", first), ("b", end))}  # the shop: naive UTC
    with shop(local_airflow) as conn:
        paid = conn.execute(sa.text("SELECT id, order_no, paid_at FROM shop_order WHERE status = 'paid'"
                                    " AND paid_at >= :a AND paid_at < :b"), naive).all()
        touched = conn.execute(sa.text("SELECT count(*) FROM wms_order_sync WHERE paid_at >= :a AND paid_at < :b"),
                               naive).scalar()
    days = {(datetime.fromisoformat(str(p)).replace(tzinfo=timezone.utc) >= second) for _i, _c, p in paid}
    assert days == {False, True}, "both Beijing days need paid orders"
    assert touched == 0, "nobody sent those days yet"
    admin = simulator(local_airflow)
    before, created_before = {o["order_code"] for o in admin.orders()}, created_orders(admin)

    # the dialog, as a person uses it
    def choose(dialog, label: str, moment: datetime) -> None:
        """The date-time picker: type the date, then the time over the one it filled in."""
        field = dialog.find_element(By.XPATH, f".//label[normalize-space()='{label}']/..")
        trigger = field.find_element(By.CSS_SELECTOR, "[data-testid=datetime-input]")
        trigger.click()
        popover = WebDriverWait(browser, 30).until(
            lambda d: d.find_element(By.ID, trigger.get_attribute("id").replace(":trigger", ":content")))
        WebDriverWait(browser, 30).until(lambda d: popover.is_displayed())
        assert "UTC" in popover.text  # the picker's timezone: the UI's default
        day = popover.find_element(By.CSS_SELECTOR, "input[placeholder='YYYY/MM/DD']")
        day.click()
        day.send_keys(moment.strftime("%Y/%m/%d"))
        hour = popover.find_element(By.CSS_SELECTOR, "input[placeholder='HH:mm']")
        hour.click()
        hour.send_keys(Keys.CONTROL, "a")
        hour.send_keys(moment.strftime("%H:%M"))
        hour.send_keys(Keys.ESCAPE)
        shown = f"{moment:%b %d, %Y %H:%M}"
        WebDriverWait(browser, 30).until(lambda d: trigger.text.strip() == shown)

    login(browser, local_airflow)
    browser.get(f"{local_airflow.base}/dags/wms_order_push")
    WebDriverWait(browser, WAIT).until(click_trigger)
    dialog = WebDriverWait(browser, WAIT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-scope=dialog][data-part=content]"))
    next(label for label in dialog.find_elements(By.CSS_SELECTOR, "label")
         if label.text.startswith("Backfill")).click()
    wait_for_text(browser, "Reprocess Behavior")
    choose(dialog, "From", first)
    choose(dialog, "To", second)
    WebDriverWait(browser, WAIT).until(lambda d: "2 runs will be triggered." in dialog.text)

    def ticked(text: str) -> str:
        box = next(b for b in dialog.find_elements(By.CSS_SELECTOR, "label[data-scope=checkbox]")
                   if b.text.strip() == text)
        return box.get_attribute("data-state")

    assert ticked("Unpause wms_order_push on trigger") == "checked"  # the default that unpauses
    assert ticked("Run Backwards") == "unchecked"
    assert dialog.find_element(By.CSS_SELECTOR, "input[type=radio][value=none]").is_selected()  # Missing Runs
    assert dialog.find_element(By.CSS_SELECTOR, "input[name=max_active_runs]").get_attribute("value") == "1"
    screenshot(browser, shots, "04-backfill-dialog.png")
    run_button = next(b for b in dialog.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Run Backfill")
    WebDriverWait(browser, 30).until(lambda d: run_button.is_enabled())
    run_button.click()
    wait_for_text(browser, "Backfill generated")

    # its two runs, one per Beijing day
    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    deadline, runs = time.monotonic() + 420, []
    while time.monotonic() < deadline:
        runs = [r for r in local_airflow.api("GET", "/api/v2/dags/wms_order_push/dagRuns",
                                             params={"run_type": "backfill", "limit": 100}).json()["dag_runs"]
                if moment(r["data_interval_start"]) in (first, second)]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert sorted((moment(r["data_interval_start"]), moment(r["data_interval_end"])) for r in runs) == [
        (first, second), (second, end)], runs
    assert all(r["state"] == "success" for r in runs), runs
    assert local_airflow.api("GET", "/api/v2/dags/wms_order_push").json()["is_paused"] is False, \
        "the dialog's default unpauses the DAG (that is why live, not the pause, must keep it safe)"

    # the warehouse received exactly the orders paid on those two days (those our checks let through)
    run_ids = {r["dag_run_id"] for r in runs}
    with shop(local_airflow) as conn:
        recorded = {r.shop_order_id: r for r in conn.execute(sa.text(
            "SELECT shop_order_id, delivery_order_code, state, run_id FROM wms_order_sync"))}
        unkeyed = {r[0] for r in conn.execute(sa.text(
            "SELECT shop_id FROM wms_unkeyed_record WHERE flow = 'orders' AND run_id IN :runs")
            .bindparams(sa.bindparam("runs", expanding=True)), {"runs": sorted(run_ids)})}
    sent = set()
    for shop_id, code, _paid in paid:
        row = recorded.get(str(shop_id))
        if row is None:
            assert str(shop_id) in unkeyed, f"shop order {shop_id} ({code}) was paid on those days and not read"
            continue
        assert row.run_id in run_ids and row.state in ("sent", "rejected"), row
        if row.state == "sent":
            sent.add(code)
    new = {o["order_code"] for o in admin.orders()} - before
    assert sent, "nothing of those two days reached the warehouse"
    assert new == sent, f"at the warehouse but not of those days: {sorted(new - sent)}; missing: {sorted(sent - new)}"
    assert created_orders(admin) - created_before == len(sent)  # each once, nothing else asked

    # the scheduled run the unpause would start: created as the scheduler creates it, run by it
    done = local_airflow.airflow_python(Path(__file__).with_name("scheduled_run.py"), "wms_order_push")
    scheduled = json.loads(done.stdout.split("SCHEDULED_RUN ", 1)[1].splitlines()[0])
    finished = local_airflow.wait_run("wms_order_push", scheduled["run_id"])
    assert finished["run_type"] == "scheduled" and finished["state"] == "success", finished
    every = local_airflow.api("GET", "/api/v2/dags/wms_order_push/dagRuns",
                              params={"run_type": "scheduled", "limit": 100}).json()["dag_runs"]
    assert scheduled["run_id"] in {r["dag_run_id"] for r in every}
    for run in every:
        tasks = local_airflow.api("GET", f"/api/v2/dags/wms_order_push/dagRuns/"
                                         f"{requests.utils.quote(run['dag_run_id'], safe='')}/taskInstances").json()
        assert {t["task_id"]: t["state"] for t in tasks["task_instances"]} == {"bridges": "success", "push": "skipped"}, run["dag_run_id"]
    assert {o["order_code"] for o in admin.orders()} - before == sent, "the scheduled run sent something"
    assert created_orders(admin) - created_before == len(sent)
    # the operations page says the latest run did nothing, though Airflow calls it a success
    flows = local_airflow.api("GET", "/wms-ops/").text
    row = flows[flows.index("data-flow='orders'"):]
    assert "skipped: did nothing" in row[:row.index("</tr>")], row[:2000]

    # the scheduler marks a backfill complete every 30 s: then the UI's "Backfill in progress" goes
    deadline, backfill = time.monotonic() + 120, {}
    while time.monotonic() < deadline and not backfill.get("completed_at"):
        backfill = next(b for b in local_airflow.api("GET", "/api/v2/backfills",
                                                     params={"dag_id": "wms_order_push"}).json()["backfills"]
                        if moment(b["from_date"]) == first)
        time.sleep(3)
    assert backfill["completed_at"], backfill
    assert (backfill["reprocess_behavior"], backfill["max_active_runs"], backfill["dag_run_conf"]) in (
        ("none", 1, None), ("none", 1, {})), backfill  # the dialog's defaults, as posted
    browser.get(f"{local_airflow.base}/dags/wms_order_push/runs")
    for run_id in (*run_ids, scheduled["run_id"]):
        wait_for_text(browser, run_id)
    screenshot(browser, shots, "05-backfill-runs.png")
    browser.get(f"{local_airflow.base}/dags/wms_order_push/runs/"
                f"{requests.utils.quote(scheduled['run_id'], safe='')}/tasks/push/mapped/0")  # its log: why it did nothing
    wait_for_text(browser, "not live")
    screenshot(browser, shots, "06-scheduled-run-skipped.png")
    bridge_settings.restore()


# -- 4. the operations page equals the store -------------------------------------------------------------


def store_counts(local_airflow) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """From the store itself: the view's counts per category, the order categories written out from
    wms_order_sync's own columns (not through attention.py), and the order states."""
    handled = "handled_at IS NULL"
    rules = {
        "orders_rejected": "state = 'rejected'",
        "orders_refused": "state = 'failed' AND (last_error_retryable = 0 OR last_error_retryable IS NULL)",
        "orders_exists_different": "state = 'exists_different'",
        "refunds_after_shipment": "((state = 'cancel_failed' AND last_error_code = 'REFUND_AFTER_SHIPMENT') OR"
                                  " (state IN ('partially_shipped', 'shipped') AND cancel_requested_at IS NOT NULL))",
        "cancels_refused": "state = 'cancel_failed' AND COALESCE(last_error_code, '') <> 'REFUND_AFTER_SHIPMENT'",
    }
    with shop(local_airflow) as conn:
        view = dict(conn.execute(sa.text("SELECT category, COUNT(*) FROM wms_v_needs_person GROUP BY category")).all())
        orders = {key: conn.execute(sa.text(f"SELECT COUNT(*) FROM wms_order_sync WHERE {rule} AND {handled}")).scalar()
                  for key, rule in rules.items()}
        states = dict(conn.execute(sa.text("SELECT state, COUNT(*) FROM wms_order_sync GROUP BY state")).all())
    return view, orders, states


def test_the_page_counts_equal_the_store(local_airflow, ops_data, returns_waiting, browser, shots):
    from selenium.webdriver.common.by import By

    from wmsbridge.store import attention

    login(browser, local_airflow)
    first = store_counts(local_airflow)
    open_operations_page(browser, local_airflow)
    shown = page_counts(browser)
    totals = re.search(r"All orders in the store / 全部订单: (.*)", body_text(browser)).group(1)
    view, orders, states = store_counts(local_airflow)
    assert (view, orders, states) == first, "the store changed while the page was read: nothing should run now"

    keys = [c.key for c in attention.CATEGORIES]
    assert {k: shown.get(k) for k in keys} == {k: view.get(k, 0) for k in keys}
    assert set(view) <= set(keys)
    assert shown["total"] == sum(view.values())
    assert {k: shown[k] for k in orders} == orders
    assert shown["orders_rejected"] and shown["orders_refused"] == len(ops_data)  # the comparison means something
    # the returns' waiting states (returns_waiting) are on the page too, and the rule's own counts agree
    assert shown["returns_withdrawn"] == 1 and shown["returns_to_refund"] == 1 and shown["returns_receipts"] == 1
    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    try:
        assert attention.counts(engine, bridge_id="default") == {k: view.get(k, 0) for k in keys}
    finally:
        engine.dispose()
    assert dict((k, int(v)) for k, v in (part.rsplit(" ", 1) for part in totals.split(", "))) == states
    assert "Read-only" not in body_text(browser)  # admin may act

    screenshot(browser, shots, "07-ops-counts.png", show=browser.find_element(By.ID, "waiting"))

    browser.get(f"{local_airflow.base}/wms-ops/")  # the page itself, whole, with the session cookie
    wait_for_text(browser, "Orders by state")
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1440, min(max(height + 100, 1100), 6000))
    browser.save_screenshot(str(shots / "ops-page.png"))
    browser.set_window_size(1440, 1100)


def test_a_withdrawn_return_and_an_excess_receipt_as_an_operator_sees_them(local_airflow, returns_waiting,
                                                                          browser, shots):
    """The returns' waiting states of returns_waiting, read as a person reads them: the category
    ``returns_withdrawn`` in the summary (both labels, its count the view's, failing its run, its
    runbook section) and its list (the return, its order, ``withdrawn``, the reason); the receipt beyond
    the announcement under ``returns_receipts`` (退货入库数量超过通知数量: flow Returns, failing its run,
    its runbook section; not among the orders' reports) and its return under ``returns_to_refund``.
    Then, as ``operator``, "Mark handled" on the withdrawn return takes it off the page and out of the
    view (its state unchanged, the act recorded)."""
    from selenium.webdriver.common.by import By

    from wmsbridge.store import attention

    withdrawn, excess, receipt = returns_waiting["withdrawn"], returns_waiting["excess"], returns_waiting["receipt"]
    cat = attention.category("returns_withdrawn")
    labels = f"{cat.label_en} / {cat.label_zh}"
    assert labels == "Returns the shop withdrew after the warehouse was told / 已通知仓库后商城撤销的退货"

    def view_count(category: str) -> int:
        with shop(local_airflow) as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM wms_v_needs_person WHERE category = :c"),
                                {"c": category}).scalar()

    def row_of(category: str, subject: str):
        form = browser.find_element(By.CSS_SELECTOR, f"form[data-form='{category}']")
        box = form.find_element(By.CSS_SELECTOR, f"input[name=subject][value='{subject}']")
        return box, box.find_element(By.XPATH, "./ancestor::tr[1]")

    login(browser, local_airflow, "operator")
    open_operations_page(browser, local_airflow)

    # the summary: the category's row, both labels, the view's count, runbook
    summary = browser.find_element(By.CSS_SELECTOR, "tr[data-category='returns_withdrawn']")
    cells = [c.text for c in summary.find_elements(By.TAG_NAME, "td")]
    assert cells[:4] == [labels, "1", "Returns / 退货", "yes / 是"], cells
    assert int(summary.get_attribute("data-count")) == view_count("returns_withdrawn") == 1
    assert summary.find_element(By.CSS_SELECTOR, "a[href='#returns_withdrawn']").text == labels
    assert summary.find_element(By.XPATH, ".//a[contains(@href, 'runbook#')]").get_attribute("href").endswith(
        "runbook#a-return-the-shop-withdrew")
    runbook = local_airflow.api("GET", "/wms-ops/runbook").text
    assert "<h2 id='a-return-the-shop-withdrew'>A return the shop withdrew</h2>" in runbook
    screenshot(browser, shots, "07b-returns-withdrawn-summary.png", show=summary, block="center")

    # its list: the return, its order, its state and why
    back_in_frame(browser)
    head = browser.find_element(By.ID, "returns_withdrawn")
    assert head.text.startswith(f"{labels} (1)"), head.text
    assert subjects(browser, "returns_withdrawn") == [withdrawn]
    _box, row = row_of("returns_withdrawn", withdrawn)
    text = row.text
    for shown in (withdrawn, withdrawn.removeprefix("TH"), "withdrawn", "已通知仓库后商城撤销",
                  "ask the warehouse to cancel return", "wms_returns"):
        assert shown in text, text
    assert [b.text for b in browser.find_elements(
        By.CSS_SELECTOR, "form[data-form='returns_withdrawn'] button[name=action]")] == ["Mark handled / 标记已处理"]
    screenshot(browser, shots, "07c-returns-withdrawn-list.png", show=head)

    # the receipt beyond the announcement, and the part that fits waiting for the refund
    back_in_frame(browser)
    receipts = attention.category("returns_receipts")
    receipt_labels = f"{receipts.label_en} / {receipts.label_zh}"
    assert receipt_labels == "Return receipts to check / 需核对的退货入库回传"
    summary = browser.find_element(By.CSS_SELECTOR, "tr[data-category='returns_receipts']")
    cells = [c.text for c in summary.find_elements(By.TAG_NAME, "td")]
    assert cells[:4] == [receipt_labels, "1", "Returns / 退货", "yes / 是"], cells
    assert int(summary.get_attribute("data-count")) == view_count("returns_receipts") == 1
    assert summary.find_element(By.XPATH, ".//a[contains(@href, 'runbook#')]").get_attribute("href").endswith(
        "runbook#a-return-receipt-to-check")
    assert "<h2 id='a-return-receipt-to-check'>A return receipt to check</h2>" in runbook
    assert receipt not in subjects(browser, "reports_for_person")  # not an order the warehouse reports
    assert browser.find_element(By.ID, "returns_receipts").text.startswith(f"{receipt_labels} (1)")
    assert subjects(browser, "returns_receipts") == [receipt]
    _box, row = row_of("returns_receipts", receipt)
    for shown in (excess, "needs_person", "退货入库数量超过通知数量", "2 received in all, 1 announced (1 more: good 1)",
                  "then mark it handled"):
        assert shown in row.text, row.text
    screenshot(browser, shots, "07d-return-receipt-excess.png", show=row, block="center")
    back_in_frame(browser)
    assert excess in subjects(browser, "returns_to_refund")
    _box, row = row_of("returns_to_refund", excess)
    assert "超出通知数量 more than announced" in row.text, row.text
    screenshot(browser, shots, "07e-return-to-refund-excess.png", show=row, block="center")

    # Mark handled on the withdrawn return: off the page, out of the view, its state kept
    back_in_frame(browser)
    note = "warehouse cancelled the return, will refuse the parcel / 仓库已取消退货单并拒收包裹"
    box, _row = row_of("returns_withdrawn", withdrawn)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    form = browser.find_element(By.CSS_SELECTOR, "form[data-form='returns_withdrawn']")
    form.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys(note)
    button = form.find_element(By.CSS_SELECTOR, "button[name=action][value=handled]")
    button.click()
    assert flash(browser, button) == "handled: 1 done"
    assert page_counts(browser)["returns_withdrawn"] == 0 == view_count("returns_withdrawn")
    assert subjects(browser, "returns_withdrawn") == [] and not browser.find_elements(By.ID, "returns_withdrawn")
    summary = browser.find_element(By.CSS_SELECTOR, "tr[data-category='returns_withdrawn']")
    assert summary.find_elements(By.CSS_SELECTOR, "a[href='#returns_withdrawn']") == []  # no list to link to
    screenshot(browser, shots, "07f-returns-withdrawn-handled.png", show=summary, block="center")
    back_in_frame(browser)
    newest = browser.find_element(By.XPATH, "//h2[@id='history']/following-sibling::table[1]").find_elements(
        By.CSS_SELECTOR, "tbody tr")[0].text
    for shown in ("operator", "Mark handled / 标记已处理", f"returns_withdrawn: {withdrawn}", note):
        assert shown in newest, newest
    with shop(local_airflow) as conn:
        row = conn.execute(sa.text("SELECT state, last_error_code, handled_at, handled_by FROM wms_return"
                                   " WHERE return_code = :c"), {"c": withdrawn}).one()
    assert (row.state, row.last_error_code, row.handled_by) == ("withdrawn", "WITHDRAWN_AFTER_SENT", "operator")
    assert row.handled_at is not None


# -- 5. acting on the page: operator, viewer -----------------------------------------------------------


def test_operator_marks_handled_and_sends_again(local_airflow, ops_data, browser, shots):
    from selenium.webdriver.common.by import By

    login(browser, local_airflow, "operator")
    open_operations_page(browser, local_airflow)
    assert "· operator ·" in body_text(browser) and "Read-only" not in body_text(browser)

    # "Mark handled" on one rejected order, with a note
    before = page_counts(browser)["orders_rejected"]
    form = browser.find_element(By.CSS_SELECTOR, "form[data-form='orders_rejected']")
    box = form.find_element(By.CSS_SELECTOR, "input[name=subject]")
    code = box.get_attribute("value")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    form.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys(HANDLED_NOTE)
    button = form.find_element(By.CSS_SELECTOR, "button[name=action][value=handled]")
    assert button.text == "Mark handled / 标记已处理"
    button.click()
    assert flash(browser, button) == "handled: 1 done"
    assert page_counts(browser)["orders_rejected"] == before - 1
    assert code not in subjects(browser, "orders_rejected")
    screenshot(browser, shots, "08-operator-marked-handled.png", show=browser.find_element(By.ID, "flash"))
    back_in_frame(browser)
    history = browser.find_element(By.XPATH, "//h2[@id='history']/following-sibling::table[1]")
    newest = history.find_elements(By.CSS_SELECTOR, "tbody tr")[0].text
    for text in ("operator", "Mark handled / 标记已处理", f"orders_rejected: {code}", HANDLED_NOTE):
        assert text in newest, newest
    screenshot(browser, shots, "09-operator-what-people-did.png", show=browser.find_element(By.ID, "history"))
    with shop(local_airflow) as conn:
        row = conn.execute(sa.text("SELECT state, handled_at, handled_by FROM wms_order_sync"
                                   " WHERE delivery_order_code = :c"), {"c": code}).one()
        acts = conn.execute(sa.text("SELECT actor, action, category, note FROM wms_person_action WHERE subject = :c"),
                            {"c": code}).all()
    assert row.state == "rejected" and row.handled_at is not None and row.handled_by == "operator", row
    assert [tuple(a) for a in acts] == [("operator", "handled", "orders_rejected", HANDLED_NOTE)]

    # "Send again" for the orders the warehouse refused for good
    back_in_frame(browser)
    refused = subjects(browser, "orders_refused")
    assert sorted(refused) == ops_data
    form = browser.find_element(By.CSS_SELECTOR, "form[data-form='orders_refused']")
    for box in form.find_elements(By.CSS_SELECTOR, "input[name=subject]"):
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.click()
    form.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys(RESEND_NOTE)
    button = form.find_element(By.CSS_SELECTOR, "button[name=action][value=send_again]")
    assert button.text == "Send again / 重新发送"
    button.click()
    said = flash(browser, button)
    started = re.fullmatch(rf"send_again: {len(refused)} done; started wms_order_push_manual run (\S+)", said)
    assert started, said  # (and not "the DAG is paused")
    screenshot(browser, shots, "10-operator-send-again.png", show=browser.find_element(By.ID, "flash"))
    run = local_airflow.wait_run("wms_order_push_manual", started.group(1))
    assert run["state"] == "success", run
    assert sorted(run["conf"]["order_codes"]) == sorted(refused) and run["conf"]["dry_run"] is False, run["conf"]
    assert run["triggering_user_name"] == "operator", run
    at_warehouse = {o["order_code"] for o in simulator(local_airflow).orders()}
    assert set(refused) <= at_warehouse
    with shop(local_airflow) as conn:
        states = dict(conn.execute(sa.text("SELECT delivery_order_code, state FROM wms_order_sync"
                                           " WHERE delivery_order_code IN :c")
                                   .bindparams(sa.bindparam("c", expanding=True)), {"c": refused}).all())
    assert states == {c: "sent" for c in refused}
    open_operations_page(browser, local_airflow)
    assert page_counts(browser)["orders_refused"] == 0
    history = browser.find_element(By.XPATH, "//h2[@id='history']/following-sibling::table[1]").text
    assert RESEND_NOTE in history and started.group(1) in history


def test_viewer_reads_but_may_not_act(local_airflow, ops_data, browser, shots):
    from selenium.webdriver.common.by import By

    login(browser, local_airflow, "viewer")
    open_operations_page(browser, local_airflow)
    body = body_text(browser)
    assert "· viewer ·" in body
    assert "Read-only: your Airflow role may not trigger the bridge's DAGs" in body
    controls = browser.find_elements(By.CSS_SELECTOR, "form[method=post] input[name=subject], "
                                                      "form[method=post] input[name=note], "
                                                      "form[method=post] button[name=action]")
    assert any(c.tag_name == "button" for c in controls)
    assert [c for c in controls if c.is_enabled()] == []
    screenshot(browser, shots, "11-viewer-read-only.png",
               show=browser.find_element(By.XPATH, "//p[starts-with(normalize-space(), 'Read-only')]"))
    back_in_frame(browser)
    screenshot(browser, shots, "12-viewer-actions-disabled.png", block="center",
               show=browser.find_element(By.CSS_SELECTOR, "form[data-form='orders_rejected'] button[name=action]"))

    # the same act posted with the viewer's token and the viewer's own form token: refused
    html = local_airflow.api("GET", "/wms-ops/", user="viewer").text
    csrf = re.search(r"name='csrf' value='([^']+)'", html).group(1)
    form = html[html.index("data-form='orders_rejected'"):]
    code = re.search(r"name='subject' value='([^']+)' disabled", form).group(1)
    answer = local_airflow.api("POST", "/wms-ops/act", user="viewer", allow_redirects=False, data={
        "action": "handled", "category": "orders_rejected", "subject": [code], "note": "viewer", "csrf": csrf})
    assert answer.status_code == 403, answer.text
    assert "viewer may not start runs" in answer.text
    with shop(local_airflow) as conn:
        row = conn.execute(sa.text("SELECT state, handled_at FROM wms_order_sync WHERE delivery_order_code = :c"),
                           {"c": code}).one()
    assert row.state == "rejected" and row.handled_at is None


def test_trigger_form_speaks_beijing_dates(local_airflow, demo_runs, browser, shots):
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, local_airflow)
    browser.get(f"{local_airflow.base}/dags/wms_order_push_manual")
    WebDriverWait(browser, WAIT).until(click_trigger)
    wait_for_text(browser, "Paid from (Beijing date) / 付款起始日（北京时间）")
    body = body_text(browser)
    for text in ("Dry run (preview) / 试运行（预览）", "Order codes / 订单号", "Paid to (Beijing date)",
                 "Beijing time (UTC+8)"):
        assert text in body, text
    screenshot(browser, shots, "trigger-form.png")


# -- 5b. two bridges in one deployment: the page's selector and totals, the manual run's bridge ----------


SHOP_B = "shop-b"


def test_two_bridges_one_page_each_with_their_totals(local_airflow, ops_data, bridge_settings, browser, shots):
    """A second bridge (another warehouse account on the same store) is configured through the
    Variable; its store rows share order codes with the default bridge's. The page shows the
    default bridge first, a selector and a totals table; choosing shop-b shows shop-b's counts,
    equal to the store's for that bridge alone. The manual push's form has the Bridge field."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from order_steps import answer, claim
    from wmsbridge.store import IntegrationStore, attention
    from wmsbridge.store.base import RunRef

    bridge_settings.set(bridges={"default": {}, SHOP_B: {
        "qimen_conn_id": "qimen_shop_b", "callback_customer_id": "SHOP-B-OWNER",
        "callback_token": secrets.token_urlsafe(24)}})
    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    b_store = IntegrationStore(engine, bridge_id=SHOP_B)
    with engine.connect() as conn:  # an order of the default bridge: the same code, another bridge's row
        shared_code = conn.execute(sa.text("SELECT MIN(delivery_order_code) FROM wms_order_sync"
                                           " WHERE bridge_id = 'default'")).scalar_one()
    run = RunRef("manual__2026-12-04T00:00:00+00:00", "wms_order_push_manual")
    try:
        for code in (shared_code, "B-ONLY-1"):
            b_store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code}], run_id=run)
            assert claim(b_store, code, run).owned
            answer(b_store, code, "failed", error_code="B01", error_message="货主不存在", retryable=False, run_id=run)
        expected = {"default": attention.counts(engine, bridge_id="default"),
                    SHOP_B: attention.counts(engine, bridge_id=SHOP_B)}
        assert expected[SHOP_B]["orders_refused"] == 2 and sum(expected["default"].values()) > 2

        login(browser, local_airflow)
        open_operations_page(browser, local_airflow)
        assert browser.find_element(By.CSS_SELECTOR, "[data-selected-bridge]").text == "default"
        shown = page_counts(browser)
        assert {k: shown[k] for k in attention.BY_KEY} == {k: expected["default"][k] for k in attention.BY_KEY}
        totals = {e.get_attribute("data-bridge"): int(e.get_attribute("data-waiting"))
                  for e in browser.find_elements(By.CSS_SELECTOR, "[data-bridge][data-waiting]")}
        assert totals == {b: sum(expected[b].values()) for b in expected}
        assert "Bridges / 各桥接" in body_text(browser)
        screenshot(browser, shots, "13-two-bridges-default.png", show=browser.find_element(By.ID, "bridges"),
                   block="center")

        back_in_frame(browser)
        browser.find_element(By.CSS_SELECTOR, f"a[data-bridge-link='{SHOP_B}']").click()
        wait_for_text(browser, "Waiting for a person / 待人工处理")
        assert browser.find_element(By.CSS_SELECTOR, "[data-selected-bridge]").text == SHOP_B
        shown = page_counts(browser)
        assert {k: shown[k] for k in attention.BY_KEY} == {k: expected[SHOP_B][k] for k in attention.BY_KEY}
        assert sorted(subjects(browser, "orders_refused")) == sorted([shared_code, "B-ONLY-1"])
        screenshot(browser, shots, "14-two-bridges-shop-b.png")

        browser.switch_to.default_content()
        browser.get(f"{local_airflow.base}/dags/wms_order_push_manual")
        WebDriverWait(browser, WAIT).until(click_trigger)
        wait_for_text(browser, "Bridge / 桥接")
        screenshot(browser, shots, "15-trigger-form-bridge.png",
                   show=next(e for e in browser.find_elements(By.XPATH, "//*[text()='Bridge / 桥接']")), block="center")
    finally:
        bridge_settings.restore()
        with engine.begin() as conn:  # the folder's later tests count the default bridge's store
            for table in sa.inspect(engine).get_table_names():
                if table.startswith("wms_") and "bridge_id" in {c["name"] for c in sa.inspect(engine).get_columns(table)}:
                    conn.execute(sa.text(f"DELETE FROM {table} WHERE bridge_id = :b"), {"b": SHOP_B})
        engine.dispose()


# -- 6. an alert, DingTalk-shaped, reaches a local robot -------------------------------------------------


def alert_robots():
    """tests/alerts/alert_robots.py (a local HTTP robot), loaded by path: that folder is not on
    sys.path when only this one runs."""
    name = "airflow_local_alert_robots"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "alerts" / "alert_robots.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # (its dataclasses look their module up there)
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_a_failed_run_reaches_a_dingtalk_robot(local_airflow, bridge_settings, shots):
    """A ``dingding`` connection (POST /api/v2/connections) pointing at a local robot, named by the
    Variable's ``alerts.dingtalk_conn_id``; wms_connection_check fails on a connection id that does not
    exist; its failure callback (in the DAG processor) sends the robot a DingTalk markdown message."""
    robot = alert_robots().Robot()
    conn_id, token = "wms_dingtalk_local", f"dt-{secrets.token_hex(12)}"
    try:
        answer = local_airflow.api("POST", "/api/v2/connections", json={
            "connection_id": conn_id, "conn_type": "dingding", "host": robot.url, "password": token,
            "description": "a local DingTalk robot (tests/airflow_local)"})
        assert answer.status_code == 201, answer.text
        bridge_settings.set(alerts={"dingtalk_conn_id": conn_id, "events": ["failed_run"]})
        run = local_airflow.run_dag("wms_connection_check", {"qimen_conn_id": "no_such_connection"})
        assert run["state"] == "failed", run
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(
                run["dag_run_id"] in json.dumps(m.body, ensure_ascii=False) for m in robot.received):
            time.sleep(1)
        mine = [m for m in robot.received if run["dag_run_id"] in json.dumps(m.body, ensure_ascii=False)]
        assert len(mine) == 1, robot.received
        message = mine[0]
        (shots / "dingtalk-message.json").write_text(json.dumps(
            {"path": message.path, "query": {k: ("***" if k == "access_token" else v) for k, v in message.query.items()},
             "content_type": message.content_type, "body": message.body}, ensure_ascii=False, indent=1))
        assert message.path == "/robot/send" and message.query == {"access_token": token}
        assert message.content_type.startswith("application/json")
        assert message.body["msgtype"] == "markdown"
        title, text = message.body["markdown"]["title"], message.body["markdown"]["text"]
        assert title == "【WMS】运行失败 / run failed: wms_connection_check"
        for line in ("DAG: wms_connection_check", f"运行 / run: {run['dag_run_id']}", "类型 / run type: 手动 manual",
                     "失败任务 / failed task: check", "原因 / reason: 任务失败 task_failure", "北京时间 / Beijing time: "):
            assert line in text, text
        assert f"{local_airflow.base}/dags/wms_connection_check/runs/" in text  # the link to the run
    finally:
        robot.close()
        local_airflow.api("DELETE", f"/api/v2/connections/{conn_id}")
        bridge_settings.restore()
