"""wms_order_cancel against the simulator over HTTP, on SQLite, PostgreSQL and MariaDB shops:
refunds reach the warehouse as order.cancel once; a refund after shipment waits for a person;
passing faults are retried by a later run; a refund between extraction and send is never sent;
a cancel crossing a shipment confirmation ends in one state, whichever comes first."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, quick_retry_bridge, run_dag

from wmsbridge.pipelines.cancels import cancel_orders, cancel_window, refusal_kind
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT, REFUND_AFTER_SHIPMENT_ACTION
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import exchange_log, order_sync

from order_steps import ship

BACKENDS = ["sqlite", "postgresql", "mariadb"]
# profile -> (table, code column, status column, change-time column, refunded status, zone of naive times)
SHOP = {
    "reference": ("shop_order", "order_no", "status", "updated_at", "'refunded'", "UTC"),
    "litemall": ("litemall_order", "order_sn", "order_status", "update_time", "203", "Asia/Shanghai"),
}


def cancel_view(store) -> list[dict]:
    """The analysts' view of cancellations waiting for a person (wms_cancel_needs_person)."""
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.text("SELECT * FROM wms_cancel_needs_person ORDER BY updated_at"))]


def refund(shop, codes, at: datetime | None = None) -> None:
    """What the shop's own refund does to its order rows: status refunded, change time now."""
    table, code, status, changed, refunded, zone = SHOP[shop.profile]
    when = (at or datetime.now(timezone.utc)).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    stmt = sa.text(f"UPDATE {table} SET {status} = {refunded}, {changed} = :at WHERE {code} IN :codes") \
        .bindparams(sa.bindparam("codes", expanding=True))
    with shop.engine.begin() as conn:
        assert conn.execute(stmt, {"at": when, "codes": list(codes)}).rowcount == len(codes)


def cancel_requests(sim) -> int:
    return sim.admin.counters().get("order.cancel", {}).get("received", 0)


def logged_cancels(store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(exchange_log.c.business_key)
                                 .where(exchange_log.c.method == "order.cancel")).scalars())


@pytest.fixture
def pushed(make_shop, bridge_env, wms_simulator_factory):
    """``pushed(backend, profile)`` -> (shop, sim, store, codes the warehouse accepted)."""

    def make(backend: str, profile: str = "reference", **sim_options):
        shop = make_shop(backend, profile, orders=30, skus=6, bad_share=0.0)
        sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, **sim_options)
        store = bridge_env(shop, sim)
        assert sync_items(bridge("items")).undelivered == 0
        assert push_orders(bridge("push")).undelivered == 0
        sent = sorted(c for c, r in order_sync_rows(store).items() if r["state"] == "sent")
        assert len(sent) >= 6
        return shop, sim, store, sent

    return make


@pytest.mark.parametrize("profile", ["reference", "litemall"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_refunded_orders_are_cancelled_once(backend, profile, pushed):
    shop, sim, store, sent = pushed(backend, profile)
    chosen = sent[:3]
    refund(shop, chosen)

    dry = cancel_orders(bridge("dry"), dry_run=True)  # shows what would be cancelled, does nothing
    assert sorted(dry.would_send) == chosen and dry.sent == 3
    assert cancel_requests(sim) == 0 and {order_sync_rows(store)[c]["state"] for c in chosen} == {"sent"}

    report = cancel_orders(bridge("cancel-1"))
    assert report.sent == 3 and report.problems == 0, report.summary()
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in chosen} == {"cancelled"}
    assert all(rows[c]["cancelled_at"] and rows[c]["cancel_requested_at"] for c in chosen)
    assert {rows[c]["state"] for c in set(sent) - set(chosen)} == {"sent"}
    for code in chosen:
        at_warehouse = sim.admin.order(code)
        assert at_warehouse["status"] == "CANCELED"
        assert "退款" in at_warehouse["cancel_reason"]
    bodies = [r["body"] for r in sim.admin.requests(method="order.cancel")]
    assert len(bodies) == 3
    for code in chosen:  # orderCode, the warehouse's orderId, warehouse, owner, JYCK
        body = next(b for b in bodies if f"<orderCode>{code}</orderCode>" in b)
        for part in (f"<orderId>{rows[code]['wms_order_id']}</orderId>", f"<warehouseCode>{WAREHOUSE}<",
                     f"<ownerCode>{OWNER}<", "<orderType>JYCK<"):
            assert part in body
    assert sorted(logged_cancels(store)) == chosen

    again = cancel_orders(bridge("cancel-2"))  # a second run sends nothing
    assert again.sent == 0 and again.problems == 0
    assert cancel_requests(sim) == 3 and sorted(logged_cancels(store)) == chosen


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refund_after_shipment_waits_for_a_person_and_is_not_retried(backend, pushed):
    shop, sim, store, sent = pushed(backend)
    code = sent[0]
    sim.admin.ship([code], hold=True)  # the parcel left; its confirmation has not been processed
    refund(shop, [code])

    report = cancel_orders(bridge("cancel-1"))
    assert report.needs_person == 1 and report.sent == 0
    assert REFUND_AFTER_SHIPMENT_ACTION in report.samples["needs_person"][0]
    row = order_sync_rows(store)[code]
    assert row["state"] == "cancel_failed" and row["last_error_code"] == REFUND_AFTER_SHIPMENT
    assert "order-shipped" in row["last_error_message"] and row["last_error_retryable"] is False
    view = cancel_view(store)
    assert [(v["delivery_order_code"], v["action"]) for v in view] == [(code, REFUND_AFTER_SHIPMENT_ACTION)]
    assert view[0]["cancel_requested_beijing"] is not None and view[0]["cancel_requested_at"] is not None

    requests = cancel_requests(sim)
    again = cancel_orders(bridge("cancel-2"))
    assert again.needs_person == 0 and again.sent == 0  # counted once, never sent again by itself
    assert cancel_requests(sim) == requests == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_passing_failure_is_retried_by_a_later_run(backend, pushed):
    shop, sim, store, sent = pushed(backend)
    chosen = sent[:2]
    refund(shop, chosen)
    sim.admin.set_faults(failure=1.0, failure_codes=["SYSTEM_BUSY"], methods=["order.cancel"], seed=1)

    first = cancel_orders(quick_retry_bridge("cancel-1", max_retries=1))
    assert first.retry_waiting == 2 and first.sent == 0 and first.needs_person == 0
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in chosen} == {"cancel_requested"}
    assert {rows[c]["last_error_code"] for c in chosen} == {"SYSTEM_BUSY"}
    assert all(rows[c]["last_error_retryable"] for c in chosen)

    sim.admin.set_faults(failure=0.0)
    # a later run finds them in the store, whatever its window
    later = cancel_orders(bridge("cancel-2"), changed_from_utc=datetime.now(timezone.utc) + timedelta(hours=1))
    assert later.sent == 2 and later.problems == 0
    assert {order_sync_rows(store)[c]["state"] for c in chosen} == {"cancelled"}
    assert {sim.admin.order(c)["status"] for c in chosen} == {"CANCELED"}


class RefundAfterExtraction:
    """The shop's reader, with a refund landing right after the first chunk of paid orders was
    read and before the push sends it (the real reader; the refund is a real shop UPDATE)."""

    def __init__(self, reader, shop, how_many: int) -> None:
        self.reader, self.shop, self.how_many = reader, shop, how_many
        self.refunded: list[str] = []

    def __getattr__(self, name):
        return getattr(self.reader, name)

    def iter_paid_orders(self, *args, **kwargs):
        for orders, lines in self.reader.iter_paid_orders(*args, **kwargs):
            if not self.refunded:
                self.refunded = sorted(orders["order_code"])[: self.how_many]
                refund(self.shop, self.refunded)
            yield orders, lines


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refund_between_extraction_and_send_is_never_sent(backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=30, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    assert sync_items(bridge("items")).undelivered == 0
    push = bridge("push")
    push.reader = RefundAfterExtraction(push.reader, shop, how_many=2)

    report = push_orders(push)
    refunded = push.reader.refunded
    assert len(refunded) == 2 and report.undelivered == 0
    at_warehouse = {o["order_code"] for o in sim.admin.orders()}
    assert at_warehouse and not at_warehouse & set(refunded)
    created = {r["body"] for r in sim.admin.requests(method="deliveryorder.create")}
    assert not any(f"<deliveryOrderCode>{c}<" in b for c in refunded for b in created)
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in refunded} == {"cancelled"}  # withdrawn: never reached the warehouse

    cancel = cancel_orders(bridge("cancel-1"))
    assert cancel.sent == 0 and cancel.problems == 0 and cancel_requests(sim) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cancel_crossing_a_confirmation_ends_in_one_state_whichever_comes_first(backend, pushed):
    shop, sim, store, sent = pushed(backend)
    first_confirm, first_cancel, in_flight = sent[:3]
    shipped = {s["order_code"]: s for s in sim.admin.ship([first_confirm, first_cancel, in_flight],
                                                          hold=True)["shipments"]}

    def confirm(code):  # what the confirmation receiver does once it processes the callback
        s = shipped[code]
        ship(store, code, carrier_code=s["logistics_code"], tracking_numbers=s["express_codes"])

    # 1. the confirmation is processed first, then the shop refunds: no request, cancel_failed
    confirm(first_confirm)
    refund(shop, [first_confirm])
    report = cancel_orders(bridge("cancel-1"), order_codes=[first_confirm], sweep=False)
    assert report.needs_person == 1 and cancel_requests(sim) == 0

    # 2. the refund's cancel goes first (refused: shipped), the confirmation is processed after
    refund(shop, [first_cancel])
    assert cancel_orders(bridge("cancel-2"), order_codes=[first_cancel], sweep=False).needs_person == 1
    assert order_sync_rows(store)[first_cancel]["state"] == "cancel_failed"
    confirm(first_cancel)
    assert {v["delivery_order_code"] for v in cancel_view(store)} >= {first_cancel}  # seen meanwhile

    # 3. the confirmation is processed while order.cancel is in flight
    refund(shop, [in_flight])
    sim.admin.set_faults(latency_ms=1500, methods=["order.cancel"])
    done = {}
    worker = threading.Thread(target=lambda: done.setdefault(
        "report", cancel_orders(bridge("cancel-3"), order_codes=[in_flight], sweep=False)))
    worker.start()
    while order_sync_rows(store)[in_flight]["state"] != "cancel_requested" and worker.is_alive():
        worker.join(0.01)
    confirm(in_flight)  # cancel_requested -> shipped, the request still at the warehouse
    worker.join()
    sim.admin.set_faults(latency_ms=0)
    assert done["report"].needs_person == 1

    # a scheduled run settles whatever is left; every order ends the same, tracking numbers kept
    cancel_orders(bridge("cancel-4"))
    rows = order_sync_rows(store)
    for code in (first_confirm, first_cancel, in_flight):
        assert rows[code]["state"] == "cancel_failed", code
        assert rows[code]["last_error_code"] == REFUND_AFTER_SHIPMENT
        assert rows[code]["tracking_numbers"] == ",".join(shipped[code]["express_codes"])
    view = {v["delivery_order_code"]: v for v in cancel_view(store)}
    assert set(view) == {first_confirm, first_cancel, in_flight}
    assert {v["action"] for v in view.values()} == {REFUND_AFTER_SHIPMENT_ACTION}
    assert cancel_orders(bridge("cancel-5")).problems == 0  # and stays so


def test_the_dag_dry_runs_then_cancels_and_fails_on_a_refund_after_shipment(pushed):
    shop, sim, store, sent = pushed("sqlite")
    refund(shop, sent[:2])

    assert run_dag("wms_order_cancel_manual", dry_run=True).state == "success"
    assert cancel_requests(sim) == 0
    assert {order_sync_rows(store)[c]["state"] for c in sent[:2]} == {"sent"}

    assert run_dag("wms_order_cancel").state == "success"
    assert {sim.admin.order(c)["status"] for c in sent[:2]} == {"CANCELED"}

    sim.admin.ship([sent[2]], hold=True)
    refund(shop, [sent[2]])
    assert run_dag("wms_order_cancel").state == "failed"  # waits for a person, named in the log
    assert order_sync_rows(store)[sent[2]]["state"] == "cancel_failed"


def test_backfill_runs_look_only_at_their_interval():
    start, end = datetime(2026, 11, 27, tzinfo=timezone.utc), datetime(2026, 11, 27, 6, tzinfo=timezone.utc)
    backfill = cancel_window("backfill", {}, start, end)
    assert (backfill.changed_from_utc, backfill.changed_to_utc, backfill.sweep) == (start, end, False)
    scheduled = cancel_window("scheduled", {}, start, end, last_success=end)
    assert scheduled.changed_from_utc == end - timedelta(hours=1) and scheduled.sweep
    assert cancel_window("manual", {}).changed_from_utc is None
    by_code = cancel_window("manual", {"order_codes": [" A1 ", ""]})
    assert by_code.order_codes == ("A1",) and not by_code.sweep


@pytest.mark.parametrize("code, message, kind", [
    ("order-shipped", "order X is DELIVERED and cannot be canceled", "shipped"),
    ("B001", "订单已发货，不能取消", "shipped"),
    ("order-canceled", "", "cancelled"),
    ("X", "单据已取消", "cancelled"),
    ("order-not-found", "orderCode: order X is not known", "not_found"),
    ("E1", "订单不存在", "not_found"),
    ("invalid-warehouse", "warehouseCode: 9 is not this warehouse", None),
    ("E2", "单据已存在", None),
])
def test_cancel_refusals_are_read_leniently(code, message, kind):
    assert refusal_kind(code, message) == kind


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_backfill_window_ignores_refunds_outside_it(backend, pushed):
    shop, sim, store, sent = pushed(backend)
    long_ago = datetime(2026, 11, 1, 3, tzinfo=timezone.utc)
    refund(shop, sent[:1], at=long_ago)
    refund(shop, sent[1:2])  # now
    window = cancel_window("backfill", {}, long_ago - timedelta(hours=1), long_ago + timedelta(hours=1))
    report = cancel_orders(bridge("backfill-1"), changed_from_utc=window.changed_from_utc,
                           changed_to_utc=window.changed_to_utc, sweep=window.sweep)
    assert report.sent == 1 and sim.admin.order(sent[0])["status"] == "CANCELED"
    assert sim.admin.order(sent[1])["status"] == "ACCEPT"
    repeat = cancel_orders(bridge("backfill-1"), changed_from_utc=window.changed_from_utc,
                           changed_to_utc=window.changed_to_utc, sweep=window.sweep)
    assert repeat.sent == 0 and cancel_requests(sim) == 1  # repeating a backfill is harmless


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_order_a_dead_push_left_sending_is_cancelled_whether_or_not_it_arrived(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=20, skus=5, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    assert sync_items(bridge("items")).undelivered == 0
    arrived, lost = sorted(paid_order_codes(shop))[:2]
    sim.admin.set_faults(drop_after=1.0, methods=["deliveryorder.create"])  # created, answer lost
    push_orders(quick_retry_bridge("push-1", max_retries=0), order_codes=[arrived])
    sim.admin.set_faults(drop_after=0.0, fail_5xx=1.0)  # never reaches the warehouse
    push_orders(quick_retry_bridge("push-2", max_retries=0), order_codes=[lost])
    sim.admin.set_faults(fail_5xx=0.0)
    assert [o["order_code"] for o in sim.admin.orders()] == [arrived]
    # a push claimed both and died mid-request: its lease ran out two hours ago
    due = IntegrationStore(store.engine, clock=lambda: datetime.now(timezone.utc) + timedelta(hours=2))
    assert all(claim.owned for claim in due.orders.claim_many([arrived, lost], "dead-run").values())
    with store.engine.begin() as conn:
        conn.execute(sa.update(order_sync).where(order_sync.c.delivery_order_code.in_([arrived, lost]))
                     .values(lease_expires_at=datetime.now(timezone.utc) - timedelta(hours=2)))
    refund(shop, [arrived, lost])

    # found by the sweep alone (the run's own window is empty)
    report = cancel_orders(bridge("cancel-1"), changed_from_utc=datetime.now(timezone.utc) + timedelta(hours=1))
    assert report.sent == 2 and report.problems == 0, report.summary()
    rows = order_sync_rows(store)
    assert rows[arrived]["state"] == rows[lost]["state"] == "cancelled"
    assert sim.admin.order(arrived)["status"] == "CANCELED"
    answers = {r["code"] for r in sim.admin.requests(method="order.cancel")}
    assert "order-not-found" in answers  # the lost one: the warehouse never had it, nothing to cancel


def test_a_second_run_finds_the_cancel_already_requested_by_the_first(pushed):
    """Two cancel runs at once (found by make chaos): the second read the order as `sent`, the first
    moved it to `cancel_requested` before the second could. The second leaves it to the first
    (held) instead of failing the run; the cancel goes out once."""
    from wmsbridge.pipelines.cancels import _CancelRun
    from wmsbridge.pipelines.report import RunReport

    shop, sim, store, sent = pushed("sqlite")
    code = sent[0]
    refund(shop, [code])
    stale = order_sync_rows(store)[code]  # what the second run read
    store.orders.request_cancel(code, run_id="first")
    second = bridge("second")
    report = RunReport(flow="cancels")
    assert _CancelRun(second, report).prepare(code, stale, "refunded") is None
    assert report.counts["held"] == 1
    assert cancel_orders(bridge("sweep")).sent == 1 and cancel_requests(sim) == 1
    assert order_sync_rows(store)[code]["state"] == "cancelled"
