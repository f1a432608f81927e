"""A row that cannot be read (bytes that are not UTF-8, a non-numeric amount) is one reject with its
reason; the rest of its chunk goes on. SQLite is where such rows exist: it stores any bytes and any
type in any column, and the servers refuse them on write."""

from __future__ import annotations

import json

import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes

from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.store.schema import item_sync, unkeyed_record


def _paid(shop, n: int) -> list[tuple[int, str]]:
    with shop.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, order_no FROM shop_order WHERE status = 'paid' ORDER BY id LIMIT :n"), {"n": n})]


def test_an_order_row_that_is_not_utf8_is_rejected_and_the_rest_is_sent(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=60, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    good = paid_order_codes(shop)
    ((bad_id, bad_code),) = _paid(shop, 1)
    with shop.engine.begin() as conn:  # 张 and a byte that is never UTF-8, stored as TEXT
        conn.execute(sa.text("UPDATE shop_order SET receiver_name = CAST(X'E5BCA0FF' AS TEXT) WHERE id = :i"),
                     {"i": bad_id})

    report = push_orders(bridge("run-1"))

    assert report.extracted == len(good)
    assert report.rejected == 1 and report.sent == len(good) - 1
    row = order_sync_rows(store)[bad_code]
    assert row["state"] == "rejected"
    (violation,) = json.loads(row["violations"])
    assert violation.startswith("deliveryOrder.receiverInfo.name: cannot be read from the shop")
    assert "receiver_name: not valid UTF-8" in violation
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good - {bad_code})


def test_non_numeric_amounts_are_rejected_per_order(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=60, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    good = paid_order_codes(shop)
    (total_id, total_code), (price_id, price_code) = _paid(shop, 2)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET total_amount = 'abc' WHERE id = :i"), {"i": total_id})
        conn.execute(sa.text("UPDATE shop_order_line SET price = '' WHERE order_id = :i AND line_no = 1"),
                     {"i": price_id})

    report = push_orders(bridge("run-1"))  # no exception: the chunk goes on

    assert report.rejected == 2 and report.sent == len(good) - 2
    rows = order_sync_rows(store)
    assert rows[total_code]["state"] == rows[price_code]["state"] == "rejected"
    assert json.loads(rows[total_code]["violations"]) == [
        "deliveryOrder.totalAmount: cannot be read from the shop (total_amount: 'abc' is not a number)"]
    assert json.loads(rows[price_code]["violations"]) == [
        "orderLines[0].actualPrice: cannot be read from the shop (price: '' is not a number)"]
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good - {total_code, price_code})


def test_a_sku_row_that_cannot_be_read_is_rejected_and_the_rest_synced(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=10, skus=12, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    with shop.engine.begin() as conn:
        skus = [tuple(r) for r in conn.execute(sa.text("SELECT id, sku_code FROM shop_sku ORDER BY id"))]
        (bytes_id, bytes_code), (price_id, price_code) = skus[2], skus[5]
        conn.execute(sa.text("UPDATE shop_sku SET spec = CAST(X'E9BB91FF' AS TEXT) WHERE id = :i"), {"i": bytes_id})
        conn.execute(sa.text("UPDATE shop_sku SET price = 'n/a' WHERE id = :i"), {"i": price_id})

    report = sync_items(bridge("items-1"))

    assert report.rejected == 2 and report.sent == len(skus) - 2
    with store.engine.connect() as conn:
        rows = {r.item_code: r for r in conn.execute(sa.select(item_sync))}
    assert rows[bytes_code].state == rows[price_code].state == "rejected"
    assert "item.skuProperty: cannot be read from the shop (sku_property: not valid UTF-8" in rows[bytes_code].violations
    assert "item.retailPrice: cannot be read from the shop (retail_price: 'n/a' is not a number)" \
        in rows[price_code].violations
    assert sorted(i["item_code"] for i in sim.admin.items()) == sorted(c for _, c in skus if c not in
                                                                        {bytes_code, price_code})


def test_a_padded_twin_code_in_a_later_chunk_is_rejected_for_its_own_code(make_shop, bridge_env,
                                                                          wms_simulator_factory):
    """Twins in one chunk are both rejected by the transform; a padded twin in a later chunk is
    refused for its own code (spaces around it cannot key an order), named and kept by shop id."""
    shop = make_shop("sqlite", "reference", orders=40, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, chunk_size=5)
    good = paid_order_codes(shop)
    with shop.engine.begin() as conn:
        (first_id, first_code), *_, (last_id, last_code) = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, order_no FROM shop_order WHERE status = 'paid' ORDER BY paid_at, id"))]
        conn.execute(sa.text("UPDATE shop_order SET order_no = :c WHERE id = :i"), {"c": f" {first_code}", "i": last_id})

    report = push_orders(bridge("run-1"))

    assert report.rejected == 1 and report.unchanged == 0 and report.sent == len(good) - 1
    (named,) = report.samples["rejected"]
    assert named.startswith(f"order id {last_id}: deliveryOrder.deliveryOrderCode: ' {first_code}' cannot be the "
                            "order's code: it has spaces around it")
    assert order_sync_rows(store)[first_code]["shop_order_id"] == str(first_id)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(unkeyed_record.c.shop_id)).scalars().all() == [str(last_id)]
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good - {last_code})


def test_a_code_the_shop_reuses_for_another_order_is_rejected_not_silently_skipped(make_shop, bridge_env,
                                                                                   wms_simulator_factory):
    """The shop gives a number the bridge already sent for one order to another (a deleted and
    re-created order): sent, the warehouse would answer "already exists" and the new order would be
    lost. It is rejected, named and kept by its shop id; the first order keeps the code."""
    shop = make_shop("sqlite", "reference", orders=40, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, chunk_size=5)
    good = paid_order_codes(shop)
    push_orders(bridge("run-1"))
    with shop.engine.begin() as conn:
        ((first_id, first_code),) = conn.execute(sa.text(
            "SELECT id, order_no FROM shop_order WHERE status = 'paid' ORDER BY paid_at, id LIMIT 1")).all()
        order = dict(conn.execute(sa.text("SELECT * FROM shop_order WHERE id = :i"), {"i": first_id}).mappings().one())
        lines = [dict(r) for r in conn.execute(sa.text("SELECT * FROM shop_order_line WHERE order_id = :i"),
                                               {"i": first_id}).mappings()]
        conn.execute(sa.text("UPDATE shop_order SET order_no = :c, status = 'shipped' WHERE id = :i"),
                     {"c": f"{first_code}-OLD", "i": first_id})
        new_id = conn.execute(sa.text("SELECT MAX(id) + 1 FROM shop_order")).scalar_one()
        line_id = conn.execute(sa.text("SELECT MAX(id) + 1 FROM shop_order_line")).scalar_one()
        conn.execute(sa.text(f"INSERT INTO shop_order ({', '.join(order)}) VALUES ({', '.join(':' + k for k in order)})"),
                     {**order, "id": new_id})
        for n, line in enumerate(lines):
            conn.execute(sa.text(f"INSERT INTO shop_order_line ({', '.join(line)}) "
                                 f"VALUES ({', '.join(':' + k for k in line)})"), {**line, "id": line_id + n,
                                                                                    "order_id": new_id})

    report = push_orders(bridge("run-2"))

    assert report.rejected == 1 and report.sent == 0
    (named,) = report.samples["rejected"]
    assert named.startswith(f"order id {new_id}: deliveryOrder.deliveryOrderCode: '{first_code}' is already recorded")
    assert order_sync_rows(store)[first_code]["shop_order_id"] == str(first_id)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(unkeyed_record.c.shop_id)).scalars().all() == [str(new_id)]
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good)
