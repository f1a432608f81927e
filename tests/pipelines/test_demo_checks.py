"""The demo report's returns cross-check (what `make demo` prints as "cross-check: OK") against a
real return: the store, the litemall shop and the simulated warehouse agree, and each kind of
disagreement the check exists for is named as a problem, so an OK in the demo means something."""

from __future__ import annotations

import sqlalchemy as sa
from bridge_helpers import bridge
from test_returns import RETURNS_ON, litemall_aftersale

from wmsbridge.pipelines.returns import sync_returns
from wmsbridge.store.schema import return_sync
from wmsbridge_tools import demo_report


def report() -> demo_report.DemoReport:
    return demo_report.DemoReport(
        bridge_id="default", profile="litemall", account="test", paid_orders=0, skus_in_shop=0, items={},
        orders={}, reasons={}, warehouse_items=0, warehouse_orders=0, creates_received=0)


def check(store, shop, sim, codes) -> list[str]:
    found = report()
    with store.engine.connect() as s, shop.engine.connect() as c:
        demo_report.returns_stage(s, c, found, codes, sim.admin)
    return found.problems


def test_the_returns_cross_check_agrees_on_a_real_return_and_names_each_disagreement(shipped_order):
    shop, sim, store, receiver, code, order_id = shipped_order("sqlite", **RETURNS_ON)
    litemall_aftersale(shop, order_id, sn="AS-1")
    assert sync_returns(bridge("returns-1")).sent == 1
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    assert sync_returns(bridge("returns-2")).sent == 1

    assert check(store, shop, sim, ["AS-1"]) == []
    # the demo says it approved a return the warehouse never heard of
    assert any("approved ['AS-1', 'AS-2']" in p for p in check(store, shop, sim, ["AS-1", "AS-2"]))
    # the shop's after-sale record lost the receipt's note
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE litemall_aftersale SET comment = '' WHERE aftersale_sn = 'AS-1'"))
    assert any("shop marked []" in p for p in check(store, shop, sim, ["AS-1"]))
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE litemall_aftersale SET comment = '[仓库已收货 x]' WHERE aftersale_sn = 'AS-1'"))
    assert check(store, shop, sim, ["AS-1"]) == []
    # the store no longer holds the return as received
    with store.engine.begin() as conn:
        conn.execute(sa.update(return_sync).where(return_sync.c.return_code == "AS-1").values(state="sent"))
    assert any("store {'AS-1': 'sent'}" in p for p in check(store, shop, sim, ["AS-1"]))
