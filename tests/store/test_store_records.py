"""Items, exchange log, shipment inbox, inventory snapshots and stock write-back records."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from wmsbridge.store.schema import exchange_log, inventory_snapshot, shipment_package, stock_writeback
from wmsbridge.store.scrub import scrub_text, scrub_url

SIGN = "935F3ED8AF103570E868DD262E4BD36C"
SECRET = "s3cr3t-AppSecret"
BEIJING = timezone(timedelta(hours=8))


def test_items_register_sync_fail_and_reject(store, clock):
    assert store.ensure_items([{"item_code": "A", "sku_id": 11}, {"item_code": "B", "sku_id": 12}]) == 2
    assert store.ensure_items([{"item_code": "A", "sku_id": 11}, {"item_code": "C"}]) == 1
    assert store.items_needing_sync({"A": "h1", "B": "h2", "Z": "h9"}) == ["A", "B", "Z"]

    store.record_item_synced("A", content_hash="h1", wms_item_id="CH123", run_id="r1")
    first = clock.now
    clock.advance(timedelta(hours=1))
    store.record_item_synced("A", content_hash="h1b", wms_item_id=None)  # answer without itemId
    a = store.items(["A"])["A"]
    assert (a["state"], a["content_hash"], a["wms_item_id"], a["attempts"]) == ("synced", "h1b", "CH123", 2)
    assert (a["first_synced_at"], a["last_synced_at"]) == (first, clock.now)
    assert a["sku_id"] == "11"
    assert store.items_needing_sync({"A": "h1b", "B": "h2"}) == ["B"]

    store.record_item_failed("A", error_code="HTTP503", message="GET http://x/?sign=" + SIGN)
    a = store.items(["A"])["A"]
    assert (a["state"], a["content_hash"], a["last_error_code"]) == ("failed", "h1b", "HTTP503")
    assert SIGN not in a["last_error_message"]
    assert store.items_needing_sync({"A": "h1b"}) == ["A"]

    store.record_item_rejected("NEW", ["item.itemName: required", "item.barCode: 超过500字符"], sku_id="77")
    new = store.items(["NEW"])["NEW"]
    assert (new["state"], new["attempts"], new["sku_id"]) == ("rejected", 0, "77")
    assert json.loads(new["violations"]) == ["item.itemName: required", "item.barCode: 超过500字符"]


def test_scrub_helpers_remove_sign_and_secrets():
    url = f"http://www.jxwms.net/api/v2/x/9?app_key=1&method=deliveryorder.create&sign_method=md5&sign={SIGN}&secret={SECRET}&customerId=8"
    cleaned = scrub_url(url)
    assert SIGN not in cleaned and SECRET not in cleaned
    assert "sign_method=md5" in cleaned and "customerId=8" in cleaned and "method=deliveryorder.create" in cleaned
    text = scrub_text(f"failed: {url} <sign>{SIGN}</sign> {{\"app_secret\": \"{SECRET}\"}} design=kept")
    assert SIGN not in text and SECRET not in text and "design=kept" in text


def test_exchange_log_never_stores_sign_or_secret(store, engine):
    url = f"http://127.0.0.1:8710/wms?method=deliveryorder.create&sign={SIGN}&app_secret={SECRET}&customerId=8"
    entry_id = store.log_exchange(
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
        store.log_exchange(direction="callback", method="m", outcome="success")
    with pytest.raises(ValueError):
        store.log_exchange(direction="inbound", method="m", outcome="ok")


def test_exchange_log_keeps_5mb_chinese_bodies_and_purges_by_age(store, engine, clock):
    body = "<request><remark>" + ("收件人张三🚚，浙江省台州市玉环市楚门镇" * 200_000) + "</remark></request>"
    assert len(body.encode()) > 5_000_000
    old = store.log_exchange(direction="inbound", method="deliveryorder.confirm", outcome="success",
                             request_body=body, logged_at=clock.now - timedelta(days=100))
    new = store.log_exchange(direction="inbound", method="deliveryorder.confirm", outcome="duplicate",
                             business_key="JY2009260440")
    with engine.connect() as conn:
        assert conn.execute(sa.select(exchange_log.c.request_body).where(exchange_log.c.id == old)).scalar_one() == body
    assert store.purge_exchange_log(clock.now - timedelta(days=90)) == 1
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(exchange_log.c.id)).scalars()) == [new]


PACKAGES = [
    {"logistics_code": "YTO", "logistics_name": "菜鸟-圆通", "express_code": "YT4815765342047",
     "items": [{"item_code": "S190013", "item_id": 75378204784721921, "quantity": "2"},
               {"item_code": "6971278390527", "item_id": "75384303520841729", "quantity": 1}]},
    {"logistics_code": "YTO", "express_code": "YT4815765342048", "items": []},
]


def test_shipment_inbox_is_unique_per_out_biz_code(store):
    confirm_at = datetime(2026, 3, 1, 21, 5, tzinfo=BEIJING)
    first = store.record_shipment(
        out_biz_code="1601100137", delivery_order_code="JY2009260440", raw_body="<request>发货</request>",
        packages=PACKAGES, delivery_order_id="JY202009260122419", warehouse_code="15",
        status="DELIVERED", confirm_type=0, order_confirm_at=confirm_at,
    )
    again = store.record_shipment(out_biz_code="1601100137", delivery_order_code="JY2009260440",
                                  raw_body="<request>发货</request>", packages=PACKAGES)
    assert (first.already_seen, again.already_seen, again.inbox_id) == (False, True, first.inbox_id)

    packages = store.shipment_packages(first.inbox_id)
    assert [(p["package_no"], p["express_code"], p["item_code"], p["item_id"], p["quantity"]) for p in packages] == [
        (1, "YT4815765342047", "S190013", "75378204784721921", 2),
        (1, "YT4815765342047", "6971278390527", "75384303520841729", 1),
        (2, "YT4815765342048", None, None, None),
    ]
    assert packages[0]["logistics_name"] == "菜鸟-圆通"
    queue = store.unprocessed_shipments()
    assert [(q["id"], q["status"], q["order_confirm_at"]) for q in queue] == [(first.inbox_id, "DELIVERED", confirm_at)]
    store.mark_shipment_processed(first.inbox_id, error=None)
    assert store.unprocessed_shipments() == []
    with pytest.raises(ValueError):
        store.record_shipment(out_biz_code="", delivery_order_code="X", raw_body="<request/>")


@pytest.mark.timeout(120)
def test_concurrent_duplicate_confirmations_store_one(store, engine):
    barrier = threading.Barrier(6)
    results, errors = [], []

    def receive() -> None:
        try:
            barrier.wait()
            results.append(store.record_shipment(out_biz_code="DUP-1", delivery_order_code="SO9",
                                                 raw_body="<request/>", packages=PACKAGES[:1]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=receive) for _ in range(6)]
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


def test_inventory_snapshot_rerun_replaces_the_items_it_fetched(store, engine):
    day, before = date(2026, 3, 1), date(2026, 2, 28)
    store.save_inventory_snapshot(before, [{"warehouse_code": "15", "item_code": "A", "quantity": 1}])
    first = [
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 10, "lock_quantity": 2},
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B2", "quantity": 5},
        {"warehouse_code": "15", "item_code": "B", "inventory_type": "CC", "quantity": 3,
         "product_date": date(2026, 1, 1), "expire_date": date(2027, 1, 1)},
    ]
    assert store.save_inventory_snapshot(day, first, run_id="r1") == 3
    # re-run for A only: batch B2 is gone at the warehouse, two rows of batch B1 (summed)
    rerun = [
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 7},
        {"warehouse_code": "15", "item_code": "A", "inventory_type": "ZP", "batch_code": "B1", "quantity": 1, "lock_quantity": 1},
    ]
    assert store.save_inventory_snapshot(day, rerun, run_id="r2") == 1
    assert _snapshot(engine, day) == [("A", "ZP", "B1", 8, 1), ("B", "CC", "", 3, 0)]
    assert _snapshot(engine, before) == [("A", "ZP", "", 1, 0)]


def test_stock_writebacks_are_recorded(store, engine, clock):
    rows = [
        {"item_code": "A", "sku_id": 1, "shop_stock_before": 10, "wms_quantity": 12, "pending_quantity": 3,
         "written_value": 9, "outcome": "applied"},
        {"item_code": "B", "shop_stock_before": 4, "wms_quantity": None, "pending_quantity": 0,
         "outcome": "skipped", "reason": "仓库无此商品 (not in inventory.query answer)"},
    ]
    assert store.record_stock_writebacks(date(2026, 3, 1), rows, run_id="r") == 2
    with engine.connect() as conn:
        stored = conn.execute(sa.select(stock_writeback).order_by(stock_writeback.c.item_code)).all()
    assert [(r.item_code, r.sku_id, r.written_value, r.outcome, r.reason) for r in stored] == [
        ("A", "1", 9, "applied", None), ("B", None, None, "skipped", "仓库无此商品 (not in inventory.query answer)")]
    assert stored[0].recorded_at == clock.now
    with pytest.raises(ValueError):
        store.record_stock_writebacks(date(2026, 3, 1), [{"item_code": "C", "outcome": "maybe"}])


def test_chinese_and_emoji_round_trip(store):
    text = "收货人：王小明😀 新疆维吾尔自治区乌鲁木齐市天山区 🏠𠀀"
    store.ensure_pending([{"delivery_order_code": "CN1", "shop_order_id": "1"}])
    store.mark_rejected("CN1", [f"deliveryOrder.receiverInfo.detailAddress: {text}"], message=text)
    row = store.order("CN1")
    assert row["last_error_message"] == text
    assert json.loads(row["violations"]) == [f"deliveryOrder.receiverInfo.detailAddress: {text}"]
    # codes compare exactly (binary collation on MariaDB): case and emoji distinguish keys
    assert store.ensure_items([{"item_code": "ab"}, {"item_code": "AB"}, {"item_code": "码😀"}, {"item_code": "码😁"}]) == 4
    assert set(store.items(["ab", "AB", "码😀", "码😁"])) == {"ab", "AB", "码😀", "码😁"}
