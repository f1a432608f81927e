"""Daily stock sync against the simulator over HTTP, on the three databases.

Batching and pacing, the once-a-day rule, available to sell with pending orders, each guard rail,
a same-day re-run, SKUs the warehouse said nothing about, the analysts' views, and one DAG run.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, run_dag

from qimen.parsing import parse_request
from wmsbridge.config import load_config
from wmsbridge.pipelines.inventory import beijing_day, sync_inventory
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.policy import FlowRefused, FlowSkipped
from wmsbridge.pipelines.runtime import Bridge
from wmsbridge.shop.reader import read_all
from wmsbridge.store.schema import inventory_run, inventory_snapshot, stock_writeback

BACKENDS = ["sqlite", "postgresql", "mariadb"]
DAY1 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing, 2026-11-27
DAY2 = DAY1 + timedelta(days=1)


_OPENED: list[Bridge] = []


@pytest.fixture(autouse=True)
def _dispose_bridges():
    """Close every bridge's pooled connections after the test: other suites share the servers."""
    yield
    while _OPENED:
        opened = _OPENED.pop()
        opened.store.engine.dispose()
        opened.shop.dispose()


def inv_bridge(run_id: str, **overrides) -> Bridge:
    """The task's Bridge, with bridge settings changed for this call."""
    built = Bridge.from_airflow(run_id, config=dataclasses.replace(load_config(), **overrides))
    _OPENED.append(built)
    return built


def setup_shop(backend, profile, make_shop, bridge_env, wms_simulator_factory, *, skus=12, orders=30, faults=None,
               **config):
    shop = make_shop(backend, profile, orders=orders, skus=skus, bad_share=0.1)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, faults=faults or {})
    store = bridge_env(shop, sim, **config)
    sync_items(inv_bridge("items-1"))
    return shop, sim, store


def codes_of(sim) -> list[str]:
    return sorted(i["item_code"] for i in sim.admin.items())


def shop_stock(store) -> dict[str, int]:
    """Shop stock by item code (through the bridge's reader: sku ids from wms_item_sync)."""
    b = inv_bridge("read")
    items = b.store.items.synced()
    stock = b.reader.read_stock(b.shop, [s for _, s in items])
    return {code: stock[str(sku)] for code, sku in items if str(sku) in stock}


def ledger(store, day: date) -> list[dict]:
    """The day's rows of the run ledger wms_inventory_run, oldest first."""
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(inventory_run).where(inventory_run.c.beijing_date == day).order_by(inventory_run.c.id))]


def snapshot_rows(store, day: date) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(inventory_snapshot).where(inventory_snapshot.c.snapshot_date == day))
        return [dict(r._mapping) for r in rows]


def writebacks(store, day: date) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(stock_writeback).where(stock_writeback.c.writeback_date == day)
                            .order_by(stock_writeback.c.id))
        return [dict(r._mapping) for r in rows]


def inventory_calls(sim) -> list[dict]:
    return sim.admin.requests(method="inventory.query")


def seed(sim, quantities: dict[str, int]) -> None:
    sim.admin.seed_stock([{"itemCode": c, "quantity": q} for c, q in quantities.items()])


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["reference", "litemall"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_batches_paced_under_the_rate_limit_and_available_to_sell_subtracts_pending_orders(
        backend, profile, make_shop, bridge_env, wms_simulator_factory):
    # The warehouse refuses more than 3 inventory.query calls a second; the bridge paces at 2.5.
    shop, sim, store = setup_shop(backend, profile, make_shop, bridge_env, wms_simulator_factory, skus=15,
                                  orders=40, faults={"rate_limit": 3, "methods": ["inventory.query"]},
                                  inventory_batch_size=2, inventory_requests_per_second=2.5,
                                  inventory_max_total_change_pct=1000, inventory_max_zeroed_pct=100)
    codes = codes_of(sim)
    # several rows per item: ZP without a batch, ZP batches, a locked part and a defective row
    sim.admin.seed_stock(
        [{"itemCode": c, "quantity": 40 + i, "lockQuantity": 1} for i, c in enumerate(codes)]
        + [{"itemCode": codes[0], "batchCode": "LOT-A", "quantity": 5, "lockQuantity": 2},
           {"itemCode": codes[0], "inventoryType": "CC", "quantity": 9}])
    push_orders(inv_bridge("push-1"), limit=12)  # some orders reach the warehouse (stock locked there)

    report = sync_inventory(inv_bridge("inv-1"), now_utc=DAY1)

    calls = inventory_calls(sim)
    assert len(calls) == math.ceil(len(codes) / 2), "one call per batch of 2 items, no more"
    assert not [c for c in calls if c["fault"]], "the simulator's rate limit refused a paced call"
    asked = [c2["itemCode"] for c in calls
             for c2 in parse_request("inventory.query", c["body"])["criteriaList"]]
    assert sorted(asked) == codes and max(Counter(asked).values()) == 1

    # expected, from the warehouse's own stock and the units the shop holds (by its own rule: litemall
    # from submit to shipment or give-back, the reference shop from payment) for orders the warehouse
    # has not accepted
    sellable = Counter()
    for row in sim.admin.stock():
        if row["inventory_type"] == "ZP":
            sellable[row["item_code"]] += max(row["quantity"], 0)
    accepted = {o["order_code"] for o in sim.admin.orders()}
    pending = Counter()
    with shop.engine.connect() as conn:
        held = conn.execute(sa.text(
            "SELECT o.order_sn, g.goods_sn, g.product_id, g.number FROM litemall_order o JOIN litemall_order_goods g"
            " ON g.order_id = o.id WHERE o.order_status IN (101, 201, 202) AND o.deleted = FALSE"
            if profile == "litemall" else
            "SELECT o.order_no, l.sku_code, NULL, l.quantity FROM shop_order o JOIN shop_order_line l"
            " ON l.order_id = o.id WHERE o.status IN ('paid', 'refunding')")).all()
    for code, goods, product, number in held:
        if code not in accepted:
            pending[f"{goods}-{product}" if product is not None else goods] += number
    assert pending, "the shop must hold units of orders the warehouse has not accepted"
    expected = {c: max(sellable[c] - int(pending.get(c, 0)), 0) for c in codes}
    assert shop_stock(store) == expected

    day = beijing_day(DAY1)
    rows = writebacks(store, day)
    assert sorted(r["item_code"] for r in rows) == codes, "one decision per SKU"
    for r in rows:
        assert r["wms_quantity"] == sellable[r["item_code"]]
        assert r["pending_quantity"] == int(pending.get(r["item_code"], 0))
        assert (r["outcome"] == "applied") == (r["shop_stock_before"] != expected[r["item_code"]])
    assert len(snapshot_rows(store, day)) == len(sim.admin.stock())
    assert report.counts["sent"] == sum(r["outcome"] == "applied" for r in rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_full_sync_per_beijing_day_unless_forced(backend, make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop(backend, "reference", make_shop, bridge_env, wms_simulator_factory,
                                  inventory_batch_size=5, inventory_requests_per_second=0,
                                  inventory_max_total_change_pct=1000)
    seed(sim, {c: 30 for c in codes_of(sim)})
    sync_inventory(inv_bridge("manual__1"), now_utc=DAY1)
    calls = len(inventory_calls(sim))

    later_same_day = DAY1 + timedelta(hours=10)  # 19:00 Beijing, same day
    with pytest.raises(FlowSkipped, match="already had its full stock sync"):
        sync_inventory(inv_bridge("scheduled__2"), now_utc=later_same_day)
    with pytest.raises(FlowSkipped):  # a cleared task: the same run again
        sync_inventory(inv_bridge("manual__1"), now_utc=later_same_day)
    assert len(inventory_calls(sim)) == calls, "a refused run queried the warehouse"

    sync_inventory(inv_bridge("manual__3"), force=True, now_utc=later_same_day)
    assert len(inventory_calls(sim)) == 2 * calls
    runs = ledger(store, beijing_day(DAY1))
    assert [(r["run_id"], r["verdict"], r["forced"]) for r in runs] == [
        ("manual__1", "completed", False), ("scheduled__2", "refused", False), ("manual__1", "refused", False),
        ("manual__3", "completed", True)]
    assert [r["holds_date"] for r in runs] == [beijing_day(DAY1), None, None, None]
    assert runs[0]["skus_queried"] == len(codes_of(sim)) and runs[0]["calls"] == calls

    # the next Beijing day is a new day
    sync_inventory(inv_bridge("scheduled__4"), now_utc=DAY2)
    assert len(inventory_calls(sim)) == 3 * calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_run_gives_the_day_back_to_its_retry(backend, make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop(backend, "reference", make_shop, bridge_env, wms_simulator_factory,
                                  inventory_requests_per_second=0, inventory_max_total_change_pct=1000)
    seed(sim, {c: 30 for c in codes_of(sim)})
    broken = inv_bridge("scheduled__1")
    broken.shop = sa.create_engine("sqlite:////nonexistent/dir/shop.db")  # the shop is unreachable
    with pytest.raises(sa.exc.OperationalError):
        sync_inventory(broken, now_utc=DAY1)
    sync_inventory(inv_bridge("scheduled__1"), now_utc=DAY1)  # Airflow's retry of the same run
    assert [r["verdict"] for r in ledger(store, beijing_day(DAY1))] == ["failed", "completed"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_day_rerun_replaces_that_day_only(backend, make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop(backend, "reference", make_shop, bridge_env, wms_simulator_factory,
                                  inventory_requests_per_second=0, inventory_max_total_change_pct=1000)
    codes = codes_of(sim)
    sim.admin.seed_stock([{"itemCode": c, "quantity": 20} for c in codes]
                         + [{"itemCode": codes[0], "batchCode": "OLD", "quantity": 3}])
    sync_inventory(inv_bridge("d1"), now_utc=DAY1)
    sync_inventory(inv_bridge("d2"), now_utc=DAY2)
    day1 = snapshot_rows(store, beijing_day(DAY1))

    sim.admin.seed_stock([{"itemCode": c, "quantity": 25} for c in codes]
                         + [{"itemCode": codes[0], "batchCode": "OLD", "quantity": 0}])
    sync_inventory(inv_bridge("d2-again"), force=True, now_utc=DAY2)
    day2 = snapshot_rows(store, beijing_day(DAY2))
    assert len(day2) == len(codes) + 1, "a re-run replaces the day's rows, it does not add to them"
    assert {r["quantity"] for r in day2 if r["batch_code"] == ""} == {25}
    assert {r["run_id"] for r in day2} == {"d2-again"}
    assert snapshot_rows(store, beijing_day(DAY1)) == day1, "another day changed"


@pytest.mark.parametrize("backend", BACKENDS)
def test_skus_missing_from_the_answer_keep_their_shop_stock(backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=10, skus=12)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, inventory_requests_per_second=0, inventory_max_missing_pct=30,
                       inventory_max_total_change_pct=1000)
    b = inv_bridge("items")
    skus = read_all(b.reader.iter_changed_skus(b.shop, None, 100))
    known = skus.iloc[:9]
    unknown = skus[~skus["item_code"].isin(known["item_code"])]  # the generator repeats some codes
    assert len(unknown) >= 2
    sync_items(b, item_codes=known["item_code"])
    for s in unknown.itertuples():  # the store believes the warehouse has them; the warehouse does not
        store.items.record_synced(s.item_code, content_hash="lost", sku_id=s.sku_id)
    seed(sim, {c: 7 for c in known["item_code"]})
    before = shop_stock(store)

    report = sync_inventory(inv_bridge("inv"), now_utc=DAY1)
    after = shop_stock(store)
    for code in unknown["item_code"]:
        assert after[code] == before[code]
    assert report.counts["held"] == len(unknown)
    rows = {r["item_code"]: r for r in writebacks(store, beijing_day(DAY1))}
    for code in unknown["item_code"]:
        assert rows[code]["outcome"] == "skipped" and rows[code]["wms_quantity"] is None
        assert "no row" in rows[code]["reason"] and "shop stock kept" in rows[code]["reason"]
    assert ledger(store, beijing_day(DAY1))[0]["skus_missing"] == len(unknown)


@pytest.mark.parametrize("rail", ["missing", "zeroed", "total_change"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_guard_rail_refuses_and_writes_nothing(backend, rail, make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop(backend, "reference", make_shop, bridge_env, wms_simulator_factory, orders=5,
                                  inventory_requests_per_second=0, inventory_max_missing_pct=10,
                                  inventory_max_zeroed_pct=20, inventory_max_total_change_pct=50)
    codes = codes_of(sim)
    before = shop_stock(store)
    if rail == "missing":  # the warehouse forgot a third of the items
        sim.admin.reset()  # items forgotten: only the stocked ones come back
        seed(sim, {c: before[c] for c in codes[: len(codes) * 2 // 3]})
    elif rail == "zeroed":  # half the items suddenly at 0
        seed(sim, {c: (0 if i % 2 else before[c]) for i, c in enumerate(codes)})
    else:  # ten times the stock
        seed(sim, {c: 10 * before[c] + 10 for c in codes})

    with pytest.raises(FlowRefused, match="guard rail") as refused:
        sync_inventory(inv_bridge("inv"), now_utc=DAY1)
    expected_words = {"missing": "answered nothing", "zeroed": "would zero", "total_change": "total stock"}[rail]
    assert expected_words in str(refused.value)
    assert shop_stock(store) == before, "a guard rail let something through to the shop"
    rows = writebacks(store, beijing_day(DAY1))
    assert len(rows) == len(codes)
    assert all(r["outcome"] == "skipped" and r["written_value"] is None and "guard rail" in r["reason"] for r in rows)
    assert [r["verdict"] for r in ledger(store, beijing_day(DAY1))] == ["guard_refused"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_for_analysts(backend, make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop(backend, "reference", make_shop, bridge_env, wms_simulator_factory, orders=5,
                                  skus=8, inventory_requests_per_second=0, inventory_max_zeroed_pct=100,
                                  inventory_max_total_change_pct=1000)
    a, b, c, d = codes_of(sim)[:4]
    sim.admin.seed_stock([{"itemCode": a, "quantity": 5}, {"itemCode": a, "batchCode": "L1", "quantity": 2},
                          {"itemCode": a, "inventoryType": "CC", "quantity": 4},
                          {"itemCode": b, "quantity": 0}, {"itemCode": c, "quantity": 3, "lockQuantity": 2},
                          {"itemCode": d, "quantity": 0}])
    sync_inventory(inv_bridge("v1"), now_utc=DAY1)
    seed(sim, {a: 6, b: 0, c: 0, d: 8})
    sync_inventory(inv_bridge("v2"), now_utc=DAY2)
    d1, d2 = beijing_day(DAY1), beijing_day(DAY2)

    with store.engine.connect() as conn:
        daily = {(r.snapshot_date if isinstance(r.snapshot_date, date) else date.fromisoformat(r.snapshot_date),
                  r.item_code): (int(r.sellable_quantity), int(r.locked_quantity), int(r.other_quantity))
                 for r in conn.execute(sa.text("SELECT * FROM wms_v_stock_daily"))}
        out = {r.item_code: (int(r.days_observed), int(r.days_out_of_stock))
               for r in conn.execute(sa.text("SELECT * FROM wms_v_days_out_of_stock WHERE item_code IN :codes")
                                     .bindparams(sa.bindparam("codes", expanding=True)), {"codes": [a, b, c, d]})}
        drift = {(r.item_code, int(r.shop_stock_before), int(r.available_to_sell), int(r.drift))
                 for r in conn.execute(sa.text("SELECT * FROM wms_v_stock_drift WHERE writeback_date = :d"),
                                       {"d": d2})}
    assert daily[d1, a] == (7, 0, 4) and daily[d2, a] == (8, 0, 4)
    assert daily[d1, c] == (3, 2, 0) and daily[d2, b] == (0, 0, 0)
    assert out == {a: (2, 0), b: (2, 2), c: (2, 1), d: (2, 1)}
    day2 = {r["item_code"]: r for r in writebacks(store, d2)}
    expected_drift = set()
    for code, r in day2.items():
        available = max(r["wms_quantity"] - r["pending_quantity"], 0)
        expected_drift.add((code, r["shop_stock_before"], available, r["shop_stock_before"] - available))
    assert drift == expected_drift and len(drift) == len(codes_of(sim))


def test_dag_runs_once_a_day_and_fails_loudly_on_a_guard_rail(make_shop, bridge_env, wms_simulator_factory):
    shop, sim, store = setup_shop("sqlite", "reference", make_shop, bridge_env, wms_simulator_factory,
                                  inventory_requests_per_second=0, inventory_max_total_change_pct=1000)
    seed(sim, {c: 300 for c in codes_of(sim)})
    assert run_dag("wms_inventory_sync").state == "success"
    calls = len(inventory_calls(sim))
    assert calls and all(200 < q <= 300 for q in shop_stock(store).values())

    assert run_dag("wms_inventory_sync").state == "success"  # refused: the task is skipped, says so
    assert len(inventory_calls(sim)) == calls
    verdicts = [r["verdict"] for r in ledger(store, beijing_day())]
    assert verdicts == ["completed", "refused"]

    seed(sim, {c: 0 for c in codes_of(sim)})  # every SKU would drop to 0: the zeroed rail trips
    assert run_dag("wms_inventory_sync_manual", force=True).state == "failed"
    assert len(inventory_calls(sim)) == 2 * calls, "a guard rail failure must not be retried by Airflow"
    assert [r["verdict"] for r in ledger(store, beijing_day())][-1] == "guard_refused"


@pytest.mark.parametrize("bad", [{"inventory_batch_size": 0}, {"inventory_requests_per_second": -1},
                                 {"inventory_max_zeroed_pct": -5}, {"inventory_max_missing": 10}])
def test_inventory_settings_are_checked(bad):
    from wmsbridge.config import BridgeConfig
    from wmsbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="inventory_"):
        BridgeConfig.from_mapping(bad)
