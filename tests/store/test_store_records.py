"""Items, exchange log, shipment inbox, inventory snapshots and stock write-back records."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from wmsbridge.store.schema import exchange_log, inventory_snapshot, shipment_package, stock_writeback
from wmsbridge.store.scrub import scrub_text, scrub_url

from confirm_steps import receive, settle, stored

SIGN = "935F3ED8AF103570E868DD262E4BD36C"
SECRET = "s3cr3t-AppSecret"
BEIJING = timezone(timedelta(hours=8))


def test_items_sync_fail_and_reject(store, clock):
    store.items.record_synced("A", content_hash="h1", wms_item_id="CH123", sku_id="11", run_id="r1")
    first = clock.now
    clock.advance(timedelta(hours=1))
    store.items.record_synced("A", content_hash="h1b", wms_item_id=None)  # answer without itemId
    a = store.items.rows(["A"])["A"]
    assert (a["state"], a["content_hash"], a["wms_item_id"], a["attempts"]) == ("synced", "h1b", "CH123", 2)
    assert (a["first_synced_at"], a["last_synced_at"]) == (first, clock.now)
    assert a["sku_id"] == "11"
    store.items.record_synced("B", content_hash="h2", wms_item_id="CH124", sku_id="12")
    assert store.items.synced() == [("A", "11"), ("B", "12")]

    store.items.record_failed("A", error_code="HTTP503", message="GET http://x/?sign=" + SIGN)
    a = store.items.rows(["A"])["A"]
    assert (a["state"], a["content_hash"], a["last_error_code"]) == ("failed", "h1b", "HTTP503")
    assert SIGN not in a["last_error_message"]
    assert store.items.codes_in_state("failed") == ["A"] and store.items.synced() == [("B", "12")]

    store.items.record_rejected("NEW", ["item.itemName: required", "item.barCode: 超过500字符"], sku_id="77")
    new = store.items.rows(["NEW"])["NEW"]
    assert (new["state"], new["attempts"], new["sku_id"]) == ("rejected", 0, "77")
    assert json.loads(new["violations"]) == ["item.itemName: required", "item.barCode: 超过500字符"]
    assert set(store.items.rows(["A", "B", "NEW", "Z"])) == {"A", "B", "NEW"}


def test_scrub_helpers_remove_sign_and_secrets():
    url = f"http://www.jxwms.net/api/v2/x/9?app_key=1&method=deliveryorder.create&sign_method=md5&sign={SIGN}&secret={SECRET}&customerId=8"
    cleaned = scrub_url(url)
    assert SIGN not in cleaned and SECRET not in cleaned
    assert "sign_method=md5" in cleaned and "customerId=8" in cleaned and "method=deliveryorder.create" in cleaned
    text = scrub_text(f"failed: {url} <sign>{SIGN}</sign> {{\"app_secret\": \"{SECRET}\"}} design=kept")
    assert SIGN not in text and SECRET not in text and "design=kept" in text


def test_exchange_log_never_stores_sign_or_secret(store, engine):
    url = f"http://127.0.0.1:8710/wms?method=deliveryorder.create&sign={SIGN}&app_secret={SECRET}&customerId=8"
    entry_id = store.exchanges.log(
        direction="outbound", method="deliveryorder.create", business_key="SO1",
        url=url, request_body="<request><deliveryOrder/></request>",
        response_body=f"<error_response><msg>bad sign={SIGN}</msg></error_response>",
        http_status=200, outcome="gateway_error", error_code="50",
        error_message=f"HTTPConnectionPool: Max retries exceeded with url: /wms?sign={SIGN}&secret={SECRET}",
        duration_ms=1234.7, run_id="manual__2026-03-01",
    )
    with engine.connect() as conn:
        row = conn.execute(sa.select(exchange_log).where(exchange_log.c.id == entry_id)).one()._mapping
    stored = " ".join(str(v) for v in row.values())
    assert SIGN not in stored and SECRET not in stored
    assert row["request_url"].startswith("http://127.0.0.1:8710/wms?method=deliveryorder.create")
    assert (row["direction"], row["outcome"], row["duration_ms"], row["http_status"]) == ("outbound", "gateway_error", 1234, 200)
    with pytest.raises(ValueError):
        store.exchanges.log(direction="callback", method="m", outcome="success")
    with pytest.raises(ValueError):
        store.exchanges.log(direction="inbound", method="m", outcome="ok")


def test_exchange_log_keeps_5mb_chinese_bodies(store, engine, clock):
    body = "<request><remark>" + ("收件人张三🚚，浙江省台州市玉环市楚门镇" * 200_000) + "</remark></request>"
    assert len(body.encode()) > 5_000_000
    logged = store.exchanges.log(direction="inbound", method="deliveryorder.confirm", outcome="success",
                                 request_body=body, logged_at=clock.now - timedelta(days=100))
    with engine.connect() as conn:
        row = conn.execute(sa.select(exchange_log).where(exchange_log.c.id == logged)).one()
    assert (row.request_body, row.logged_at) == (body, clock.now - timedelta(days=100))


PACKAGES = (
    ("YTO", "菜鸟-圆通", "YT4815765342047", (("S190013", "75378204784721921", 2),
                                          ("6971278390527", "75384303520841729", 1))),
    ("YTO", "", "YT4815765342048", ()),
)


def test_the_inbox_keeps_a_confirmation_once_per_out_biz_code_with_its_parcels(store, engine):
    first = receive(store.confirmations, "JY2009260440", key="1601100137", packages=PACKAGES,
                    order_id="JY202009260122419", order_confirm_time="2026-03-01 21:05:00")
    again = receive(store.confirmations, "JY2009260440", key="1601100137", packages=PACKAGES)
    assert (first.already_seen, again.already_seen, again.inbox_id) == (False, True, first.inbox_id)

    _, packages = stored(store.confirmations, "JY2009260440")
    assert [(p["package_no"], p["express_code"], p["item_code"], p["item_id"], p["quantity"]) for p in packages] == [
        (1, "YT4815765342047", "S190013", "75378204784721921", 2),
        (1, "YT4815765342047", "6971278390527", "75384303520841729", 1),
        (2, "YT4815765342048", None, None, None),
    ]
    assert packages[0]["logistics_name"] == "菜鸟-圆通"
    due = store.confirmations.due()
    assert [(q["id"], q["status"], q["order_confirm_at"], q["delivery_order_id"]) for q in due] == [
        (first.inbox_id, "DELIVERED", datetime(2026, 3, 1, 21, 5, tzinfo=BEIJING), "JY202009260122419")]
    with engine.connect() as conn:  # the first copy and the repeat are both in the exchange log
        assert [r.outcome for r in conn.execute(sa.select(exchange_log).order_by(exchange_log.c.id))] == [
            "success", "duplicate"]


def test_a_confirmation_settles_applied_waiting_or_for_a_person(store, clock):
    """A row is the run's (the run verdict reads ``run_id``) when that run moved it or first found it
    overdue; an attempt that changes neither leaves it the earlier run's."""
    inbox = store.confirmations
    a = receive(inbox, "A1", key="K-A").inbox_id
    b = receive(inbox, "B1", key="K-B").inbox_id

    def row(code):
        [found] = stored(inbox, code)[0]
        return found

    assert settle(inbox, a, "waiting", reason="no order A1 yet", run_id="r1")
    assert (row("A1")["run_id"], row("A1")["overdue_at"], row("A1")["process_error"]) == ("r1", None, "no order A1 yet")
    assert settle(inbox, a, "waiting", reason="no order A1 yet", run_id="r1b")
    assert row("A1")["run_id"] == "r1"  # still waiting: not this run's finding
    assert settle(inbox, a, "waiting", reason="no order A1 yet", overdue=True, run_id="r2")
    assert (row("A1")["run_id"], row("A1")["overdue_at"]) == ("r2", clock.now)
    clock.advance(timedelta(minutes=1))
    assert settle(inbox, a, "waiting", overdue=True, run_id="r3")
    assert (row("A1")["run_id"], row("A1")["overdue_at"]) == ("r2", clock.now - timedelta(minutes=1))  # overdue once
    assert [q["id"] for q in inbox.due()] == [a, b]
    with pytest.raises(ValueError):
        settle(inbox, b, "received")
    assert settle(inbox, a, "applied", run_id="r4")
    assert settle(inbox, b, "needs_person", reason="LOST", run_id="r4")
    assert inbox.due() == []
    assert not settle(inbox, a, "needs_person", run_id="r5")  # settled: no longer any run's to take
    assert inbox.counts() == {"received": 0, "waiting": 0, "applied": 1, "needs_person": 1}
    assert (row("A1")["state"], row("A1")["attempts"], row("A1")["processed_at"], row("A1")["overdue_at"],
            row("A1")["run_id"]) == ("applied", 5, clock.now, None, "r4")
    assert (row("B1")["state"], row("B1")["process_error"], row("B1")["run_id"]) == ("needs_person", "LOST", "r4")


@pytest.mark.timeout(120)
def test_concurrent_duplicate_confirmations_store_one(store, engine):
    barrier = threading.Barrier(6)
    results, errors = [], []

    def one_copy() -> None:
        try:
            barrier.wait()
            results.append(receive(store.confirmations, "SO9", key="DUP-1", packages=PACKAGES[:1]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one_copy) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.already_seen for r in results) == [False] + [True] * 5
    assert len({r.inbox_id for r in results}) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(shipment_package)).scalar_one() == 2


def _snapshot(engine, day):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(inventory_snapshot.c.item_code, inventory_snapshot.c.inventory_type,
                      inventory_snapshot.c.batch_code, inventory_snapshot.c.quantity,
                      inventory_snapshot.c.lock_quantity)
            .where(inventory_snapshot.c.snapshot_date == day)
            .order_by(inventory_snapshot.c.item_code, inventory_snapshot.c.inventory_type, inventory_snapshot.c.batch_code)
        )
        return [tuple(r) for r in rows]


def test_replace_day_makes_the_rows_the_whole_snapshot_of_that_day_only(store, engine):
    day, before = date(2026, 3, 1), date(2026, 2, 28)
    store.inventory.replace_day(before, [{"warehouse_code": "15", "item_code": "A", "quantity": 1}])
    first = [
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 10, "lock_quantity": 2},
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B2", "quantity": 5},
        {"warehouse_code": "15", "item_code": "B", "inventory_type": "CC", "quantity": 3,
         "product_date": date(2026, 1, 1), "expire_date": date(2027, 1, 1)},
    ]
    assert store.inventory.replace_day(day, first, run_id="r1") == 3
    assert _snapshot(engine, day) == [("A", "ZP", "B1", 10, 2), ("A", "ZP", "B2", 5, 0), ("B", "CC", "", 3, 0)]
    # the day again: batch B2 is gone at the warehouse, B is no longer held, two rows of batch B1 (summed)
    rerun = [
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 7},
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 1, "lock_quantity": 1},
    ]
    assert store.inventory.replace_day(day, rerun, run_id="r2") == 1
    assert _snapshot(engine, day) == [("A", "ZP", "B1", 8, 1)]
    assert _snapshot(engine, before) == [("A", "ZP", "", 1, 0)]  # another day is left alone
    [kept] = store.inventory.snapshot(day)
    assert (kept.item_code, kept.quantity, kept.lock_quantity) == ("A", 8, 1)


def test_stock_writebacks_are_recorded(store, engine, clock):
    rows = [
        {"item_code": "A", "sku_id": 1, "shop_stock_before": 10, "wms_quantity": 12, "pending_quantity": 3,
         "written_value": 9, "outcome": "applied"},
        {"item_code": "B", "shop_stock_before": 4, "wms_quantity": None, "pending_quantity": 0,
         "outcome": "skipped", "reason": "仓库无此商品 (not in inventory.query answer)"},
    ]
    assert store.inventory.record_stock_writebacks(date(2026, 3, 1), rows, run_id="r") == 2
    with engine.connect() as conn:
        stored = conn.execute(sa.select(stock_writeback).order_by(stock_writeback.c.item_code)).all()
    assert [(r.item_code, r.sku_id, r.written_value, r.outcome, r.reason) for r in stored] == [
        ("A", "1", 9, "applied", None), ("B", None, None, "skipped", "仓库无此商品 (not in inventory.query answer)")]
    assert stored[0].recorded_at == clock.now
    with pytest.raises(ValueError):
        store.inventory.record_stock_writebacks(date(2026, 3, 1), [{"item_code": "C", "outcome": "maybe"}])


def test_chinese_and_emoji_round_trip(store):
    text = "收货人：王小明😀 新疆维吾尔自治区乌鲁木齐市天山区 🏠𠀀"
    store.orders.ensure_pending([{"delivery_order_code": "CN1", "shop_order_id": "1"}])
    store.orders.mark_rejected_many({"CN1": [f"deliveryOrder.receiverInfo.detailAddress: {text}"]}, message=text)
    row = store.orders.order("CN1")
    assert row["last_error_message"] == text
    assert json.loads(row["violations"]) == [f"deliveryOrder.receiverInfo.detailAddress: {text}"]
    # codes compare exactly (binary collation on MariaDB): case and emoji distinguish keys
    for code in ("ab", "AB", "码😀", "码😁"):
        store.items.record_rejected(code, ["item.itemName: required"])
    assert set(store.items.rows(["ab", "AB", "码😀", "码😁"])) == {"ab", "AB", "码😀", "码😁"}
