"""The warehouse's stock changes between daily syncs (stockchange.report) on the three databases:
stored once per outBizCode by the receiver, applied once to litemall's stock; our own orders' sales
outbound left out (the shop counted it); a change that would take the shop below zero, or move its
total stock past the guard rail, waits for a person; nothing is written twice however often it is
posted or applied, nor a change the daily inventory sync already counted (it happened before the
sync asked the warehouse)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, paid_order_codes
from databases import BACKENDS
from receivers import TOKEN, ThreadedReceiver

from qimen.parsing import parse_response
from wmsbridge.pipelines.inventory import GuardLimits, beijing_day, sync_inventory
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.policy import FlowRefused
from wmsbridge.pipelines.stock_changes import apply_stock_changes
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store import attention
from wmsbridge.store.schema import inventory_run, stock_adjustment, stock_writeback, warehouse_report

BEIJING = timezone(timedelta(hours=8))
DAILY_SYNC_LIMITS = {"inventory_max_missing_pct": 50, "inventory_max_zeroed_pct": 100,
                     "inventory_max_total_change_pct": 1000}


def shop_stock(shop) -> dict[str, int]:
    """litemall stock per item code (goods_sn-product id)."""
    with shop.engine.connect() as conn:
        return {f"{sn}-{sku}": n for sku, sn, n in conn.execute(sa.text(
            "SELECT p.id, g.goods_sn, p.number FROM litemall_goods_product p JOIN litemall_goods g ON g.id = p.goods_id"
        )).all()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_changes_are_applied_once_our_sales_left_out_and_a_disagreement_waits(
        backend, make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop(backend, "litemall", orders=10, skus=4, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id,
                       enabled_methods=["stockchange.report"])
    assert sync_items(bridge("items")).sent > 0
    assert push_orders(bridge("push")).sent == len(paid_order_codes(shop)) > 0
    ours = sorted(paid_order_codes(shop))[0]
    before = shop_stock(shop)
    a, b, c = sorted(before)[:3]
    sim.admin.seed_stock([{"itemCode": code, "quantity": 1000} for code in (a, b, c)])
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        url = receiver.url()
        sim.admin.report_stock_change([{"itemCode": a, "quantity": 5}], order_code="CG-1", order_type="CGRK",
                                      repeat=1, callback_url=url)  # a purchase inbound, posted twice
        sim.admin.report_stock_change([{"itemCode": b, "quantity": -1}], order_code=ours, order_type="JYCK",
                                      callback_url=url)  # our own order's sale: the shop counted it
        sim.admin.report_stock_change([{"itemCode": b, "quantity": 2, "inventoryType": "CC"}], callback_url=url)
        sim.admin.report_stock_change([{"itemCode": c, "quantity": -(before[c] + 3)}], order_type="PKCK",
                                      callback_url=url)  # a stocktake loss larger than the shop's stock
        sim.admin.report_stock_change([{"itemCode": b, "quantity": 10 * sum(before.values())}], order_type="CGRK",
                                      callback_url=url)  # a unit mistake: ten times the shop's whole stock
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report).where(
            warehouse_report.c.method == "stockchange.report")).scalar_one() == 5  # the repeat stored once

    report = apply_stock_changes(bridge("changes-1"))
    assert (report.extracted, report.sent, report.unchanged, report.needs_person) == (5, 1, 2, 2)
    assert report.needs_person_verdict == 2
    after = shop_stock(shop)
    assert after == {**before, a: before[a] + 5}
    below, too_much = sorted(attention.rows(store.engine, "stock_changes_refused"), key=lambda r: int(r["subject"]))
    assert "below zero" in below["reason"] and c in below["reason"]
    assert "inventory_max_total_change_pct 50 %" in too_much["reason"] and b in too_much["reason"]
    with store.engine.connect() as conn:
        assert [(r.item_code, r.delta, r.state) for r in conn.execute(sa.select(stock_adjustment))] == \
            [(a, 5, "applied")]

    # applied again (a retry, a cleared task) and the same report once more: nothing moves
    again = apply_stock_changes(bridge("changes-2"))
    assert (again.extracted, again.sent) == (0, 0) and shop_stock(shop) == after
    with store.engine.begin() as conn:  # even a report put back to `received` (a crash before it was marked)
        conn.execute(sa.update(warehouse_report).where(warehouse_report.c.state == "applied",
                                                       warehouse_report.c.summary.like(f"%{a} +5%"))
                     .values(state="received"))
    third = apply_stock_changes(bridge("changes-3"))
    assert (third.extracted, third.unchanged) == (1, 1) and shop_stock(shop) == after


def test_stock_changes_not_switched_on_are_refused_at_the_door(make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop("sqlite", "litemall", orders=2, skus=2, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id)
    assert sync_items(bridge("items")).sent > 0
    code = sorted(shop_stock(shop))[0]
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        sim.admin.report_stock_change([{"itemCode": code, "quantity": 5}], callback_url=receiver.url())
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report)).scalar_one() == 0
    report = apply_stock_changes(bridge("changes"))
    assert report.extracted == 0 and "not switched on" in report.notes[0]


def beijing_text(moment: datetime) -> str:
    """``moment`` as a Qimen date-time (Beijing wall time, to the second)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def held(sim, changes: list[dict], **options) -> str:
    """The simulator moves its stock by ``changes`` and makes the stockchange.report, without posting it."""
    return sim.admin.report_stock_change(changes, hold=True, **options)["body"]


def change_times(body: str, *times: str | None) -> str:
    """``body`` with its items' changeTime set in order (None: the element left out); items beyond
    ``times`` keep the simulator's (the moment it made the report)."""
    wanted = iter(times)

    def one(match: re.Match) -> str:
        time = next(wanted, match.group(1))
        return "" if time is None else f"<changeTime>{time}</changeTime>"

    return re.sub(r"<changeTime>([^<]*)</changeTime>", one, body)


def post(receiver: ThreadedReceiver, body: str) -> None:
    """The warehouse posts ``body`` to the receiver (the token in the URL opens the bridge)."""
    answer = httpx.post(receiver.url(method="stockchange.report"), content=body.encode("utf-8"),
                        headers={"Content-Type": "text/xml;charset=utf-8"}, timeout=30)
    assert parse_response(answer.content).success, answer.text


def summaries(store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(warehouse_report.c.summary).where(
            warehouse_report.c.method == "stockchange.report").order_by(warehouse_report.c.id)).scalars())


def written_from_answer(store, item_code: str) -> int | None:
    """What the warehouse answered the daily sync for ``item_code`` (wms_stock_writeback.wms_quantity)."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(stock_writeback.c.wms_quantity).where(
            stock_writeback.c.item_code == item_code).order_by(stock_writeback.c.id.desc()).limit(1)).scalar()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_change_the_daily_sync_already_counted_is_not_applied_again(
        backend, make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop(backend, "litemall", orders=10, skus=5, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id,
                       enabled_methods=["stockchange.report"], **DAILY_SYNC_LIMITS)
    assert sync_items(bridge("items")).sent > 0
    a, b, c, d, e = sorted(shop_stock(shop))[:5]
    sim.admin.seed_stock([{"itemCode": code, "quantity": 100} for code in (a, b, c, d, e)])
    a_minute_ago = beijing_text(datetime.now(timezone.utc) - timedelta(minutes=1))
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        # (1) two moves before the day's sync, their reports not applied yet (late, or the run not due):
        # a purchase inbound a minute ago, and a stocktake gain without a changeTime (stored before the sync)
        post(receiver, change_times(held(sim, [{"itemCode": a, "quantity": 5}], order_type="CGRK"), a_minute_ago))
        post(receiver, change_times(held(sim, [{"itemCode": d, "quantity": 7}], order_type="PYRK"), None))
        sync_inventory(bridge("inventory"))  # the warehouse's figures already hold both moves
        assert (written_from_answer(store, a), written_from_answer(store, d)) == (105, 107)
        synced = shop_stock(shop)

        report = apply_stock_changes(bridge("changes-1"))
        assert (report.extracted, report.sent, report.unchanged, report.needs_person) == (2, 0, 2, 0)
        assert shop_stock(shop) == synced  # not counted a second time
        day = beijing_day()
        for summary, item, qty in zip(summaries(store), (a, d), ("+5", "+7"), strict=True):
            assert f"nothing for the shop (left out: {item} {qty}: already in the daily stock of {day} (queried " \
                   "from " in summary and f"已计入 {day} 每日库存" in summary
        assert all("already in the daily stock" in why for why in report.samples["unchanged"])
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(stock_adjustment)).scalar_one() == 0

        with store.engine.begin() as conn:  # as the sync records an item the warehouse said nothing about
            conn.execute(sa.update(stock_writeback).where(stock_writeback.c.item_code == e).values(
                outcome="skipped", wms_quantity=None, written_value=None,
                reason="the warehouse returned no row for it; shop stock kept"))

        # (2) a move after the sync began: applied as before; (3) one report, two moves: the one before
        # the sync is left out, the later one applied; an item the sync took no figure for (its shop
        # stock kept) and an item without changeTime stored after the sync: applied
        post(receiver, held(sim, [{"itemCode": b, "quantity": 3}], order_type="CGRK"))
        post(receiver, change_times(held(sim, [{"itemCode": a, "quantity": -2}, {"itemCode": c, "quantity": 4}],
                                         order_type="PKCK"), a_minute_ago))
        post(receiver, change_times(held(sim, [{"itemCode": e, "quantity": 6}], order_type="CGRK"), a_minute_ago))
        post(receiver, change_times(held(sim, [{"itemCode": d, "quantity": -1}], order_type="PKCK"), None))
    later = apply_stock_changes(bridge("changes-2"))
    assert (later.extracted, later.sent, later.unchanged, later.needs_person) == (4, 4, 0, 0)
    assert shop_stock(shop) == {**synced, b: synced[b] + 3, c: synced[c] + 4, e: synced[e] + 6, d: synced[d] - 1}
    both = summaries(store)[3]
    assert f"{c} +4" in both and f"left out: {a} -2: already in the daily stock of {day}" in both
    with store.engine.connect() as conn:
        assert sorted((r.item_code, r.delta) for r in conn.execute(sa.select(stock_adjustment))) == \
            sorted([(b, 3), (c, 4), (e, 6), (d, -1)])
    assert apply_stock_changes(bridge("changes-3")).extracted == 0


def test_stock_written_from_the_stored_snapshot_counts_from_the_query_that_made_it(
        make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop("sqlite", "litemall", orders=4, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id,
                       enabled_methods=["stockchange.report"], **DAILY_SYNC_LIMITS)
    assert sync_items(bridge("items")).sent > 0
    a, b = sorted(shop_stock(shop))[:2]
    sim.admin.seed_stock([{"itemCode": code, "quantity": 1000} for code in sorted(shop_stock(shop))])
    # the day's query an hour ago, its write-back held by a guard rail; a person writes its stored
    # snapshot now: the shop gets the warehouse's figures of an hour ago
    with pytest.raises(FlowRefused):
        sync_inventory(bridge("inventory-1"), limits=GuardLimits(100, 100, 0))
    with store.engine.begin() as conn:
        (run,) = conn.execute(sa.select(inventory_run)).all()
        conn.execute(sa.update(inventory_run).values(started_at=run.started_at - timedelta(hours=1),
                                                     finished_at=run.finished_at - timedelta(hours=1)))
    sync_inventory(bridge("inventory-2"), from_snapshot=True, limits=GuardLimits(100, 100, 10_000))
    written = shop_stock(shop)
    half_an_hour_ago = beijing_text(datetime.now(timezone.utc) - timedelta(minutes=30))
    two_hours_ago = beijing_text(datetime.now(timezone.utc) - timedelta(hours=2))
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:  # the reports come late
        post(receiver, change_times(held(sim, [{"itemCode": a, "quantity": 5}], order_type="CGRK"), half_an_hour_ago))
        post(receiver, change_times(held(sim, [{"itemCode": b, "quantity": 2}], order_type="CGRK"), two_hours_ago))
    report = apply_stock_changes(bridge("changes"))
    assert (report.sent, report.unchanged) == (1, 1)
    assert shop_stock(shop) == {**written, a: written[a] + 5}  # after that query: not in the snapshot, applied
    assert "already in the daily stock" in summaries(store)[1]
