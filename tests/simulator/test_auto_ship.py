"""A warehouse that ships on its own: accepted orders ship after a delay and their confirmations are
posted to a real receiver over HTTP (the simulator's recording one, and the bridge's own); failed
posts are retried; the command line does it all."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import throwaway_database
from qimen.signing import verify_sign
from receivers import CUSTOMER, TOKEN, ThreadedReceiver
from wms_simulator import SimulatorAdmin, SimulatorAdminError
from wms_simulator.auto_ship import MAX_DELIVERIES
from wms_simulator.callback_receiver import CallbackReceiver

from wmsbridge.config import BridgeConfig
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import shipment_inbox, shipment_package

from .helpers import call, cancel_document, item_document, order_document

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not reached within {timeout} s")


def dead_url() -> str:
    """A loopback URL nobody listens on: every post to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/qimen/callback"


def confirmations_answered(sim, count: int) -> list[dict]:
    """The simulator's confirmations once ``count`` of them have their HTTP 200 recorded (a receiver
    has the callback before the simulator has the answer)."""
    def answered():
        rows = sim.admin.confirmations()
        return rows if sum(c["last_http_status"] == 200 for c in rows) == count else None

    return wait_until(answered, what=f"{count} answers recorded")


def add_items(session, sim, *codes: str) -> None:
    for code in codes:
        assert call(session, sim, "singleitem.synchronize", item_document(code)).success


def stock(sim) -> dict[str, tuple[int, int]]:
    return {r["item_code"]: (r["quantity"], r["lock_quantity"]) for r in sim.admin.stock() if r["inventory_type"] == "ZP"}


def test_accepted_orders_ship_on_their_own_after_the_delay(wms_simulator_factory, callback_receiver, session):
    sim = wms_simulator_factory(auto_ship_after_s=1.0, callback_url=callback_receiver.url, confirm_shape="juxing",
                                starting_stock=10)
    add_items(session, sim, "A", "B", "C")
    accepted_at = time.monotonic()
    for code, lines in (("AS1", [("A", 2), ("B", 1)]), ("AS2", [("C", 1)])):
        assert call(session, sim, "deliveryorder.create", order_document(code, lines)).success
    assert {o["status"] for o in sim.admin.orders()} == {"ACCEPT"} and callback_receiver.received == []

    received = callback_receiver.wait_for(2, timeout=15)
    assert time.monotonic() - accepted_at >= 1.0, "shipped before the delay was over"
    assert all(r.sign_valid and verify_sign(r.params, r.body, sim.secret) for r in received)
    assert {r.params["method"] for r in received} == {"deliveryorder.confirm"}
    # Juxing's shape: no XML declaration, every element, Java-style times
    assert all(not r.body.startswith("<?xml") and "<invoices>" in r.body for r in received)
    assert all(re.search(r"<orderConfirmTime>[0-9: -]+\.0</orderConfirmTime>", r.body) for r in received)
    confirms = {c.deliveryOrderCode: c for c in callback_receiver.confirms()}
    assert set(confirms) == {"AS1", "AS2"} and {c.status for c in confirms.values()} == {"DELIVERED"}
    assert {(line.itemCode, line.actualQty) for line in confirms["AS1"].orderLines} == {("A", 2), ("B", 1)}

    assert {o["status"] for o in sim.admin.orders()} == {"DELIVERED"}
    answered = confirmations_answered(sim, 2)
    assert [(c["deliveries"], c["last_error"]) for c in answered] == [(1, None)] * 2
    assert stock(sim) == {"A": (8, 0), "B": (9, 0), "C": (9, 0)}, "shipping took the goods off the shelves"
    time.sleep(1.5)
    assert len(callback_receiver.received) == 2, "each order ships once"


def test_a_few_orders_go_in_two_parcels_the_same_ones_for_the_same_seed(wms_simulator_factory, session):
    two_line = [f"AS{i:03d}" for i in range(30)]
    one_line = [f"AT{i:03d}" for i in range(10)]

    def two_parcel_orders(seed: int) -> set[str]:
        with CallbackReceiver(secret="sim-secret") as receiver:
            sim = wms_simulator_factory(auto_ship_after_s=0.2, callback_url=receiver.url, faults={"seed": seed})
            add_items(session, sim, "A", "B")
            for code in two_line:
                assert call(session, sim, "deliveryorder.create", order_document(code, [("A", 1), ("B", 1)])).success
            for code in one_line:
                assert call(session, sim, "deliveryorder.create", order_document(code, [("A", 3)])).success
            receiver.wait_for(40, timeout=30)
            confirms = {c.deliveryOrderCode: c for c in receiver.confirms()}
        assert set(confirms) == set(two_line + one_line)
        for code, confirm in confirms.items():
            assert len(confirm.packages) in (1, 2)
            assert sorted(i.itemCode for p in confirm.packages for i in p.items) == (["A"] if code in one_line
                                                                                      else ["A", "B"])
            assert len({p.expressCode for p in confirm.packages}) == len(confirm.packages)
        return {code for code, confirm in confirms.items() if len(confirm.packages) == 2}

    first = two_parcel_orders(11)
    assert first and first <= set(two_line), "one-line orders always fill one parcel"
    assert len(first) <= len(two_line) // 3, "a few, not most"
    assert two_parcel_orders(11) == first, "the same seed ships the same orders in two parcels"
    assert two_parcel_orders(1) != first


def test_a_failed_post_is_retried_then_given_up(wms_simulator_factory, callback_receiver, session):
    sim = wms_simulator_factory(auto_ship_after_s=0.0, redeliver_after_s=0.2, callback_url=dead_url())
    add_items(session, sim, "A")
    assert call(session, sim, "deliveryorder.create", order_document("RT1", [("A", 1)])).success
    wait_until(lambda: [c for c in sim.admin.confirmations() if c["deliveries"] == 2], what="a second post")
    [failed] = sim.admin.confirmations()
    assert failed["last_http_status"] is None and "Connection" in failed["last_error"]

    sim.admin.set_config(callback_url=callback_receiver.url)  # the receiver is back
    [arrived] = callback_receiver.wait_for(1)
    assert arrived.confirm().deliveryOrderCode == "RT1"
    [done] = confirmations_answered(sim, 1)
    assert (done["deliveries"], done["last_error"]) == (3, None)

    sim.admin.set_config(callback_url=dead_url(), redeliver_after_s=0.05)
    assert call(session, sim, "deliveryorder.create", order_document("RT2", [("A", 1)])).success
    wait_until(lambda: [c for c in sim.admin.confirmations() if c["deliveries"] == MAX_DELIVERIES],
               what=f"{MAX_DELIVERIES} posts")
    time.sleep(0.5)
    assert {c["order_code"]: c["deliveries"] for c in sim.admin.confirmations()} == {"RT1": 3, "RT2": MAX_DELIVERIES}


def test_cancelled_and_held_back_orders_are_left_alone(wms_simulator_factory, callback_receiver, session):
    sim = wms_simulator_factory(auto_ship_after_s=0.5, callback_url=callback_receiver.url)
    add_items(session, sim, "A")
    for code in ("CX1", "CX2"):
        assert call(session, sim, "deliveryorder.create", order_document(code, [("A", 1)])).success
    assert call(session, sim, "order.cancel", cancel_document("CX1")).success
    [arrived] = callback_receiver.wait_for(1)
    assert arrived.confirm().deliveryOrderCode == "CX2"
    time.sleep(1.0)
    assert len(callback_receiver.received) == 1
    assert {o["order_code"]: o["status"] for o in sim.admin.orders()} == {"CX1": "CANCELED", "CX2": "DELIVERED"}

    sim.admin.set_config(auto_ship_after_s=None)  # switched off at run time: orders wait again
    assert call(session, sim, "deliveryorder.create", order_document("CX3", [("A", 1)])).success
    time.sleep(1.0)
    assert sim.admin.order("CX3")["status"] == "ACCEPT" and len(callback_receiver.received) == 1


def test_settings_that_mean_nothing_are_refused(wms_simulator_factory):
    sim = wms_simulator_factory()
    for bad in ({"auto_ship_after_s": -1}, {"two_parcel_share": 1.5}, {"starting_stock": -2}):
        with pytest.raises(SimulatorAdminError) as refused:
            sim.admin.set_config(**bad)
        assert refused.value.status == 400, bad
    assert sim.admin.config()["auto_ship_after_s"] is None


@pytest.fixture
def bridge_receiver(tmp_path, monkeypatch):
    """The bridge's own receiver (the real composition) on a real socket, its store on SQLite."""
    with throwaway_database("sqlite", tmp_path, prefix="autoship") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": url.render_as_string(hide_password=False)}}))
        settings = BridgeConfig.from_mapping({"callback_token": TOKEN, "callback_customer_id": CUSTOMER})
        with ThreadedReceiver(create_app(receiver=build_receiver(settings))) as running:
            yield running, engine
        engine.dispose()


def test_juxing_shaped_confirmations_are_stored_by_the_bridge_receiver(wms_simulator_factory, bridge_receiver,
                                                                       session):
    receiver, engine = bridge_receiver
    sim = wms_simulator_factory(customer_id=CUSTOMER, auto_ship_after_s=0.2, confirm_shape="juxing",
                                callback_url=receiver.url(), faults={"seed": 11})
    add_items(session, sim, "A", "B")
    codes = [f"AS{i:03d}" for i in range(12)]
    for code in codes:
        assert call(session, sim, "deliveryorder.create", order_document(code, [("A", 1), ("B", 2)])).success

    def stored():
        with engine.connect() as conn:
            return conn.execute(sa.select(shipment_inbox.c.delivery_order_code)).scalars().all()

    wait_until(lambda: len(stored()) == len(codes), what="every confirmation stored")
    assert sorted(stored()) == codes
    shipped = {c["order_code"]: c["express_codes"] for c in sim.admin.confirmations()}
    confirmations_answered(sim, len(codes))
    with engine.connect() as conn:
        packages = conn.execute(sa.select(shipment_package.c.express_code, shipment_package.c.item_code)).all()
    assert {code for code, _ in packages} == {n for numbers in shipped.values() for n in numbers}
    assert any(len(numbers) == 2 for numbers in shipped.values()), "seed 11 ships AS004 and AS010 in two parcels"


def start_cli(*args: str):
    process = subprocess.Popen([sys.executable, "-m", "wms_simulator", "--port", "0", *args], cwd=ROOT,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    announced = []
    for line in process.stderr:
        announced.append(line)
        if "starting stock:" in line:
            return process, "".join(announced)
    process.kill()
    raise AssertionError("the simulator did not start:\n" + "".join(announced))


def test_the_command_line_ships_and_stocks_on_its_own(tmp_path, session):
    stock_file = tmp_path / "stock.json"
    stock_file.write_text(json.dumps({"A": 7}), encoding="utf-8")
    with CallbackReceiver(secret="s3cret") as receiver:
        process, announced = start_cli(
            "--secret", "s3cret", "--customer-id", "C001", "--confirm-shape", "juxing",
            "--auto-ship-after", "0.5", "--callback-url", receiver.url + "?token=not-for-the-log",
            "--starting-stock-file", str(stock_file), "--starting-stock", "2")
        try:
            base_url = re.search(r"ready: (\S+)", announced).group(1)
            assert f"auto-ship: every accepted order 0.5 s after accepting it, confirmations (juxing) to " \
                   f"{receiver.url}\n" in announced
            assert "not-for-the-log" not in announced
            assert "starting stock: 1 items listed, 2 units for any other" in announced

            class Sim:  # what helpers.call needs of a simulator
                app_key, secret, customer_id = "cli-app", "s3cret", "C001"

                @staticmethod
                def url(path: str) -> str:
                    return base_url.split("/api/")[0] + path

            Sim.base_url = base_url
            add_items(session, Sim, "A", "B")
            assert call(session, Sim, "deliveryorder.create", order_document("CL1", [("A", 1), ("B", 1)])).success
            [arrived] = receiver.wait_for(1, timeout=15)
            signed = {k: v for k, v in arrived.params.items() if k != "token"}  # the token came with the URL
            assert verify_sign(signed, arrived.body, "s3cret") and arrived.params["customerId"] == "C001"
            assert arrived.confirm().deliveryOrderCode == "CL1"
            levels = {r["item_code"]: r["quantity"] for r in SimulatorAdmin(base_url).stock()}
            assert levels == {"A": 6, "B": 1}
        finally:
            process.terminate()
            process.communicate(timeout=20)
    assert process.returncode == 0
