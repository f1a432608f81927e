"""Runs decide the same way whatever the mode: a dry run makes the real run's decisions; codes a person
asked for that the shop does not have are named; a wrong trigger-form value fails the task at once."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, run_dag

from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.report import SAMPLE


def _shop_with_item_trouble(make_shop):
    """Generated bad orders (unknown SKUs, shared SKU codes, zero quantities, bad addresses...) plus
    orders buying a SKU the item sync rejects and one the shop deleted."""
    shop = make_shop("sqlite", "reference", orders=60, skus=10, bad_share=0.2, seed=3)
    with shop.engine.begin() as conn:
        sku = conn.execute(sa.text("SELECT * FROM shop_sku ORDER BY id LIMIT 1")).mappings().one()
        paid = [i for i, code in conn.execute(sa.text("SELECT id, order_no FROM shop_order WHERE status = 'paid' "
                                                      "ORDER BY id")) if code not in shop.manifest.bad_orders][:2]
        for sku_id, code, price, active, order_id in ((900001, "NEGATIVE-1", "-1.00", True, paid[0]),
                                                      (900002, "DELETED-1", str(sku["price"]), False, paid[1])):
            conn.execute(sa.text(
                "INSERT INTO shop_sku (id, product_id, sku_code, bar_code, spec, price, is_active, created_at, "
                "updated_at) VALUES (:id, :p, :code, NULL, :spec, :price, :active, :c, :u)"),
                {"id": sku_id, "p": sku["product_id"], "code": code, "spec": sku["spec"], "price": price,
                 "active": active, "c": sku["created_at"], "u": sku["updated_at"]})
            conn.execute(sa.text("UPDATE shop_order_line SET sku_id = :s, sku_code = :code "
                                 "WHERE order_id = :o AND line_no = 1"), {"s": sku_id, "code": code, "o": order_id})
    return shop


def _decisions(report, rows: dict | None = None) -> dict[str, str]:
    """Order code -> bucket, from the report's samples (every record fits in them here)."""
    assert all(report.counts[b] <= SAMPLE for b in ("rejected", "held")), "the test shop outgrew the samples"
    decided = {s.split(": ", 1)[0]: bucket for bucket in ("rejected", "held") for s in report.samples.get(bucket, [])}
    decided.update(dict.fromkeys(report.would_send, "sent"))
    if rows is not None:
        decided.update({code: "sent" for code, row in rows.items() if row["state"] == "sent"})
    return decided


def test_a_dry_run_makes_exactly_the_real_runs_decisions(make_shop, bridge_env, wms_simulator_factory):
    shop = _shop_with_item_trouble(make_shop)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)

    # No item was ever synchronized: the real run would sync them first, the dry run plans it.
    dry = push_orders(bridge("dry-1"), dry_run=True)
    assert not sim.admin.requests() and not order_sync_rows(store)  # nothing sent, nothing written
    real = push_orders(bridge("real-1"))

    assert _decisions(dry) == _decisions(real, order_sync_rows(store))
    assert sorted(dry.samples.get("rejected", [])) == sorted(real.samples.get("rejected", []))  # same reasons
    for bucket in ("sent", "held", "rejected"):
        assert dry.counts[bucket] == real.counts[bucket], bucket
    reasons = " ".join(real.samples["rejected"])
    assert "item NEGATIVE-1 was rejected: item.retailPrice: negative" in reasons
    assert "item DELETED-1 was rejected: itemCode: no SKU of the shop" in reasons
    assert real.held == 0 and real.rejected > 3 and real.sent == len(sim.admin.orders()) > 0


def test_unknown_order_codes_are_named_in_the_summary_and_the_log(make_shop, bridge_env, wms_simulator_factory,
                                                                  caplog):
    shop = make_shop("sqlite", "reference", orders=40, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)
    with shop.engine.connect() as conn:
        shipped = conn.execute(sa.text("SELECT order_no FROM shop_order WHERE status <> 'paid' LIMIT 1")).scalar_one()
    paid = sorted(paid_order_codes(shop))[:2]

    report = push_orders(bridge("run-1"), order_codes=[paid[0], "2026112099999999", shipped, paid[1]])

    assert report.extracted == 2 and report.sent == 2
    assert report.unknown_codes == ["2026112099999999", shipped]
    assert f"unknown codes 2 (2026112099999999, {shipped})" in report.summary()
    with caplog.at_level(logging.INFO):
        report.log()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 requested codes are not paid, unshipped orders of the shop: 2026112099999999, " + shipped in m
               for m in warned)


def test_a_wrong_trigger_form_value_fails_at_once_without_retries(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=10, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)

    run = run_dag("wms_order_push", paid_from="2026-11-27T00:00:00")  # no zone: which day is that?

    assert run.state == "failed"
    tries = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert tries == {"bridges": ("success", 1), "push": ("failed", 1)}  # not up_for_retry: retrying cannot fix a typo
    assert not sim.admin.requests()
