"""The warehouse's stock changes between daily syncs (``stockchange.report``) -> the shop's stock.

The receiver stores each report once per ``outBizCode``; a run applies the ones waiting, oldest
first. Only good stock (ZP) is the shop's business, and two kinds of moves are already counted
elsewhere, so they are left out: the sales outbound of our own delivery orders (the shop took those
units when the order was placed) and the return inbound of returns we announced (the returns flow
applies them). Everything else - purchase inbound, stocktake gains and losses, damage, transfers -
moves the shop's stock by its signed quantity (pipelines/stock_moves.py: once, never below zero).

A change the daily inventory sync already counted is left out too: the sync writes the warehouse's
absolute figure, so a move that happened before it asked (``changeTime``, Beijing wall time, before
the start of the newest ``completed`` run in wms_inventory_run, UTC; an item without ``changeTime``:
before the receiver stored the report) is in the shop's stock already, however late the report
arrives or is applied. Decided per item, and only for the items that run set from the warehouse's
answer (a SKU it said nothing about kept its shop stock: the change still applies). A change while
the query ran (from its start on) may or may not be in the answer: it is applied, so it can count
twice at worst until the next daily sync, never be lost.

Guard rails, as the daily write-back's: a report that would take a SKU below zero in the shop (the
two disagree), or move the shop's total stock by more than ``inventory_max_total_change_pct`` % (a
warehouse mistake, a unit error), is not written and waits for a person (store/attention.py:
``stock_changes_refused``). The daily inventory sync stays the truth and overwrites whatever drift
is left.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from qimen.errors import QimenError
from qimen.inbound import StockChange, StockChangeReport, parse_stockchange_report
from qimen.timeutil import BEIJING
from wmsbridge.errors import ConfigError
from wmsbridge.store.inventory import DailyStock

from .report import RunReport
from .runtime import Bridge
from .stock_moves import adjust_shop_stock, sku_ids

log = logging.getLogger(__name__)

METHOD = "stockchange.report"
SOURCE = "stock_change"
SALES_OUT = frozenset({"JYCK", "HHCK", "BFCK"})  # sale, exchange and re-send outbound of a delivery order
RETURNS_IN = frozenset({"THRK", "HHRK"})         # return and exchange inbound
IN_DAILY_STOCK = "already in the daily stock"
WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE category LIKE 'stock_changes%'; "
                 "every change written: wms_stock_adjustment WHERE source = 'stock_change'")


def apply_stock_changes(bridge: Bridge) -> RunReport:
    """Apply every stored stockchange.report (see the module docstring)."""
    started = time.monotonic()
    report = RunReport(flow="inventory", where_to_look=WHERE_TO_LOOK)
    if not bridge.config.method_enabled(METHOD):
        report.notes.append(f"{METHOD} is not switched on (wms_bridge_config.enabled_methods): nothing to apply")
        return report
    if not bridge.profile.has("adjust_stock"):
        raise ConfigError(f"{bridge.profile.source}: {METHOD} is switched on, but the profile has no "
                          "'adjust_stock' query (docs/profiles.md)")
    store = bridge.store
    unsure = store.adjustments.abandoned((SOURCE,), older_than=bridge.lease, run_id=bridge.run_id)
    if unsure:
        report.add("needs_person", "stock changes", f"{unsure} left unfinished by a run that stopped", n=unsure)
    waiting = store.reports.waiting(METHOD)
    total = _shop_total(bridge) if waiting else 0
    for stored in waiting:
        report.extracted += 1
        try:
            change = parse_stockchange_report(stored["raw_body"])
        except QimenError as err:
            store.reports.settle(stored["id"], "needs_person", summary=f"cannot be read: {err}", run_id=bridge.run_id)
            report.add("needs_person", f"report #{stored['id']}", str(err))
            continue
        outcome, why, moved = _apply(bridge, stored, change, total)
        total += moved
        report.add(outcome, f"report #{stored['id']}", why)
    report.set_verdict(*store.needs_person_by_run("inventory", bridge.run_id))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def shop_deltas(bridge: Bridge, change: StockChangeReport, *, received_at: datetime | None = None
                ) -> tuple[dict[str, int], list[str]]:
    """Good-stock change per item the shop has not counted yet, and what was left out and why.
    ``received_at``: when the receiver stored the report, the latest an item without ``changeTime``
    can have happened."""
    orders = {c.orderCode for c in change.items if c.orderType in SALES_OUT and c.orderCode}
    ours = set(bridge.store.orders.rows(orders)) if orders else set()
    returns = {c.orderCode for c in change.items if c.orderType in RETURNS_IN and c.orderCode}
    announced = set(bridge.store.returns.rows(returns)) if returns else set()
    deltas: dict[str, int] = {}
    left_out: list[str] = []
    rest, counted = [], []
    for c in change.items:
        if (c.inventoryType or "ZP") != "ZP":
            left_out.append(f"{c.itemCode} {c.quantity:+d} {c.inventoryType}: not sellable stock")
        elif c.orderType in SALES_OUT and c.orderCode in ours:
            left_out.append(f"{c.itemCode} {c.quantity:+d}: our order {c.orderCode}, the shop counted it")
        elif c.orderType in RETURNS_IN and c.orderCode in announced:
            left_out.append(f"{c.itemCode} {c.quantity:+d}: return {c.orderCode}, applied by the returns flow")
        else:
            rest.append(c)
    daily = bridge.store.inventory.daily_stock(c.itemCode for c in rest) if rest else None
    for c in rest:
        if daily is not None and in_daily_stock(daily, c, received_at):
            counted.append(f"{c.itemCode} {c.quantity:+d}")
        else:
            deltas[c.itemCode] = deltas.get(c.itemCode, 0) + c.quantity
    if counted:
        left_out.insert(0, ", ".join(counted) + ": " + daily_stock_phrase(daily))
    return {item: d for item, d in deltas.items() if d}, left_out


def in_daily_stock(daily: DailyStock, item: StockChange, received_at: datetime | None) -> bool:
    """Whether the daily sync ``daily`` already counted ``item``: it happened before the sync began
    to ask the warehouse, and the sync set that item's shop stock from the answer. ``changeTime`` is
    Beijing wall time, to the second (a change in the very second the query began counts as after
    it); without one, the report's ``received_at`` (UTC) is the latest it can have happened."""
    if item.itemCode not in daily.from_answer:
        return False
    began = daily.queried_from.astimezone(timezone.utc)
    if item.changeTime is not None:
        when = item.changeTime if item.changeTime.tzinfo is not None else item.changeTime.replace(tzinfo=BEIJING)
        return when.astimezone(timezone.utc) < began.replace(microsecond=0)
    return received_at is not None and received_at.astimezone(timezone.utc) < began


def daily_stock_phrase(daily: DailyStock) -> str:
    asked = f"{daily.queried_from.astimezone(BEIJING):%H:%M:%S}"
    return (f"{IN_DAILY_STOCK} of {daily.beijing_date} (queried from {asked} Beijing) / "
            f"已计入 {daily.beijing_date} 每日库存（北京时间 {asked} 起查询）")


def _shop_total(bridge: Bridge) -> int:
    """The shop's stock over every SKU the warehouse knows: what the total-change guard compares with."""
    skus = [sku for _code, sku in bridge.store.items.synced() if sku is not None]
    return sum(bridge.reader.read_stock(bridge.shop, skus).values()) if skus else 0


def _apply(bridge: Bridge, stored: dict, change: StockChangeReport, total: int) -> tuple[str, str | None, int]:
    """Settle one report; returns its outcome, why, and how far it moved the shop's total."""
    reports, run_id = bridge.store.reports, bridge.run_id
    deltas, left_out = shop_deltas(bridge, change, received_at=stored.get("received_at"))
    summary = "stock change / 库存异动: " + ("; ".join(f"{item} {d:+d}" for item, d in sorted(deltas.items()))
                                             or "nothing for the shop")
    if left_out:
        summary += " (left out: " + "; ".join(left_out[:10]) + ")"
    skus = sku_ids(bridge, list(deltas))
    if bridge.store.adjustments.recorded(SOURCE, stored["report_key"]):
        reports.settle(stored["id"], "applied", summary=summary, run_id=run_id)  # an earlier run wrote it
        return "unchanged", None, 0
    shop = bridge.reader.read_stock(bridge.shop, [s for s in skus.values() if s is not None])
    below = [f"{item}: the shop has {shop[str(skus[item])]}, the change is {d:+d}" for item, d in deltas.items()
             if skus.get(item) is not None and str(skus[item]) in shop and shop[str(skus[item])] + d < 0]
    moved = sum(d for item, d in deltas.items() if skus.get(item) is not None and str(skus[item]) in shop)
    limit = bridge.config.inventory_max_total_change_pct
    why = None
    if below:
        why = ("would take the shop below zero (the shop and the warehouse disagree; the daily sync settles "
               "it, or write the change by hand): " + "; ".join(below))
    elif total > 0 and 100.0 * abs(moved) / total > limit:
        why = (f"would move the shop's total stock from {total} by {moved:+d} ({100.0 * abs(moved) / total:.1f} % > "
               f"inventory_max_total_change_pct {limit:g} %): check it with the warehouse, then write it by hand "
               "or leave it to the daily sync")
    if why:
        reports.settle(stored["id"], "needs_person", summary=f"{summary} - {why}", run_id=run_id)
        return "needs_person", why, 0
    adjust_shop_stock(bridge, SOURCE, stored["report_key"], deltas, skus,
                      note=f"stockchange.report {stored['report_key']}")
    reports.settle(stored["id"], "applied", summary=summary, run_id=run_id)
    if deltas:
        return "sent", None, moved
    return "unchanged", next((why for why in left_out if IN_DAILY_STOCK in why), None), 0
