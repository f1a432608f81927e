"""Daily stock: ``inventory.query`` for every SKU the warehouse knows -> the day's snapshot ->
available to sell -> the shop's stock, with every decision recorded.

Juxing: "不可实时调取, 次数太多会被拒绝, 正常为一天调取一次即可" (not real-time; too many calls are
refused; once a day is normal). So:

- one full sync per Beijing day, whatever starts it (schedule, manual trigger, cleared task,
  backfill): the ledger ``wms_inventory_run`` refuses a second one unless forced
  (``store/inventory.py``); a failed run gives the day back so its retry may run;
- many items per call (``inventory_batch_size``), calls paced at ``inventory_requests_per_second``
  (on top of the connection's own ``max_requests_per_second``), the hook's retries and the shared
  classification of answers (``exchange.send``);
- every returned row goes to ``wms_inventory_snapshot`` for the Beijing day; a re-run replaces the
  day, other days stay.

Available to sell per SKU = the warehouse's sellable quantity (``qimen.inventory.sellable_by_item``:
ZP rows, not frozen) minus every unit the shop holds out of its stock for orders the warehouse does
not hold, never below 0. The shop took those units already (and gives them back itself when such an
order is cancelled or refunded), while the warehouse still counts them as free: written as they are,
they would be sold twice. Which orders the shop holds units for is the profile's ``held_stock``
query (litemall: submitted and unpaid 101, paid 201, refund requested 202, because litemall takes
stock at submit and puts it back on cancel and on refund approval), else its paid, unshipped
orders. Of those, the warehouse holds the ones it accepted (``sent``, ``partially_shipped``): their
units are already out of its free quantity. Every other one counts: ``pending``, ``sending`` (may or
may not have arrived: counted, erring on the safe side), ``failed``, ``rejected``, a cancel on its
way, or one the bridge never registered.

Guard rails (bridge config): when the warehouse said nothing about more than
``inventory_max_missing_pct`` % of the SKUs, or the write-back would zero more than
``inventory_max_zeroed_pct`` % of them (SKUs in stock in the shop), or move the shop's total
stock by more than ``inventory_max_total_change_pct`` %, nothing is written to the shop, every SKU
is recorded as skipped with the reason, and the run fails without retries. SKUs missing from the
answer always keep their shop stock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone

from qimen.answers import Verdict
from qimen.inventory import InventoryRow, build_inventory_query, parse_inventory_response, sellable_by_item
from qimen.timeutil import BEIJING
from wmsbridge.shop.reader import ShopStock
from wmsbridge.shop.writer import ShopWriter
from wmsbridge.store.inventory import InventoryRepository
from wmsbridge.transforms.text import clean_text

from .exchange import send
from .policy import FlowRefused, FlowSkipped
from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)
METHOD = "inventory.query"
# Orders the warehouse holds (their units are out of its free quantity): any other held by the shop counts.
WAREHOUSE_HOLDS = frozenset({"sent", "partially_shipped", "shipped"})
PROBLEM_SAMPLE = 20


@dataclass
class InventoryStats:
    """What one run did, for the ledger, the log and the benchmark."""

    beijing_date: date
    skus_queried: int = 0
    skus_answered: int = 0
    skus_missing: int = 0
    calls: int = 0
    rows_saved: int = 0
    skus_written: int = 0
    skus_zeroed: int = 0
    total_before: int = 0
    total_after: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    refusal: str | None = None

    def ledger_counts(self) -> dict[str, int]:
        return {"skus_queried": self.skus_queried, "skus_answered": self.skus_answered,
                "skus_missing": self.skus_missing, "rows_saved": self.rows_saved, "calls": self.calls,
                "skus_written": self.skus_written}


def beijing_day(moment: datetime | None = None) -> date:
    """The Beijing calendar day of ``moment`` (now by default): the day operators think in."""
    return (moment or datetime.now(timezone.utc)).astimezone(BEIJING).date()


@dataclass(frozen=True)
class GuardLimits:
    """The guard rails of one run (percentages; see the module docstring): the bridge config's,
    or a person's for one run of wms_inventory_sync_manual after checking the warehouse's answer."""

    max_missing_pct: float
    max_zeroed_pct: float
    max_total_change_pct: float

    @classmethod
    def of(cls, cfg) -> GuardLimits:
        return cls(cfg.inventory_max_missing_pct, cfg.inventory_max_zeroed_pct, cfg.inventory_max_total_change_pct)

    @classmethod
    def from_form(cls, params: dict, cfg) -> GuardLimits:
        """The trigger form's limits where given, the config's otherwise; a wrong one names its field."""
        from .windows import TriggerFormError

        limits = {}
        for name, default in asdict(cls.of(cfg)).items():
            value = params.get(name)
            if value in (None, ""):
                limits[name] = default
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TriggerFormError(f"{name}: {value!r} is not a percentage (a number >= 0)")
            else:
                limits[name] = float(value)
        return cls(**limits)


def sync_inventory(bridge: Bridge, *, force: bool = False, from_snapshot: bool = False,
                   limits: GuardLimits | None = None, now_utc: datetime | None = None) -> RunReport:
    """The day's full stock sync; raises ``FlowSkipped`` when the day already had one (and not
    forced), ``FlowRefused`` when a guard rail kept the shop untouched. ``from_snapshot``: write
    the day's stored snapshot again, asking the warehouse nothing (the way out of a guard rail
    a person checked); ``limits``: this run's guard rails (default: the config's)."""
    return run_inventory_sync(bridge, force=force, from_snapshot=from_snapshot, limits=limits, now_utc=now_utc)[0]


def run_inventory_sync(bridge: Bridge, *, force: bool = False, from_snapshot: bool = False,
                       limits: GuardLimits | None = None,
                       now_utc: datetime | None = None) -> tuple[RunReport, InventoryStats]:
    started = time.monotonic()
    day = beijing_day(now_utc)
    report = RunReport(flow="inventory", where_to_look=(
        f"the WMS bridge page (Airflow menu); wms_stock_writeback WHERE writeback_date = '{day}' (reason); "
        "wms_inventory_run for the day's runs"))
    ledger = bridge.store.inventory
    if from_snapshot and not ledger.snapshot(day):
        raise FlowRefused(f"inventory: no stored snapshot for Beijing day {day}; nothing to write. Run the day's sync "
                          "first. / 当天没有已保存的库存快照。", report)
    # Asking nothing of the warehouse, a run from the stored snapshot never needs the day's one query.
    claim = ledger.claim_day(day, bridge.run_id, forced=force or from_snapshot)
    if claim.refused:
        holder = claim.holder or {}
        raise FlowSkipped(
            f"inventory: refused, Beijing day {day} already had its full stock sync (run {holder.get('run_id')}, "
            f"{holder.get('verdict')}); the warehouse allows about one inventory.query a day. To write that day's "
            "stored snapshot again, trigger wms_inventory_sync_manual with from_snapshot (no query); force asks "
            "the warehouse again and spends its allowance. / 今日已同步；如需重写已保存的快照，手动运行并勾选 "
            "from_snapshot（不再查询仓库）。", report)
    if claim.took_over:
        report.notes.append(f"took over the day from run {claim.took_over['run_id']}, left running by a dead process")
    if from_snapshot:
        report.notes.append(f"from the stored snapshot of {day}: the warehouse was not asked again")
    elif force:
        report.notes.append("forced: the daily limit was overridden by request")
    stats = InventoryStats(beijing_date=day)
    try:
        _sync(bridge, ledger, stats, report, limits or GuardLimits.of(bridge.config), from_snapshot=from_snapshot)
    except FlowRefused as err:
        ledger.finish(claim.run_row_id, "guard_refused", counts=stats.ledger_counts(), message=str(err))
        raise
    except BaseException as err:
        ledger.finish(claim.run_row_id, "failed", counts=stats.ledger_counts(), message=f"{type(err).__name__}: {err}")
        raise
    report.seconds = round(time.monotonic() - started, 3)
    stats.seconds["total"] = report.seconds
    ledger.finish(claim.run_row_id, "completed", counts=stats.ledger_counts(), message=report.summary())
    return report, stats


def _sync(bridge: Bridge, ledger: InventoryRepository, stats: InventoryStats, report: RunReport, limits: GuardLimits, *,
          from_snapshot: bool) -> None:
    cfg = bridge.config
    day = stats.beijing_date
    items = bridge.store.items.synced()
    stats.skus_queried = report.extracted = len(items)
    if not items:
        report.notes.append("no SKU is synchronized with the warehouse yet: nothing to query")
        return

    clock = time.monotonic()
    if from_snapshot:
        rows, failed = ledger.snapshot(day), {}
    else:
        rows, failed = query_warehouse(bridge, [code for code, _ in items], stats, report)
    stats.seconds["query"] = round(time.monotonic() - clock, 3)

    clock = time.monotonic()
    if not from_snapshot:
        hook = bridge.hook_for(METHOD)
        stats.rows_saved = ledger.replace_day(day, (_snapshot_row(r, hook.warehouse_code) for r in rows),
                                              run_id=bridge.run_id)
    stats.seconds["snapshot"] = round(time.monotonic() - clock, 3)

    clock = time.monotonic()
    sellable = sellable_by_item(rows)
    wanted = {code for code, _ in items}
    stats.skus_answered = len(wanted & sellable.keys())
    stats.skus_missing = stats.skus_queried - stats.skus_answered
    report.valid = stats.skus_answered
    sku_ids = [sku for code, sku in items if sku is not None]
    before = bridge.reader.read_stock(bridge.shop, sku_ids)
    pending = held_quantities(bridge)
    decisions, writes = decide(items, sellable, before, pending, failed)
    stats.seconds["decide"] = round(time.monotonic() - clock, 3)

    stats.skus_zeroed = sum(1 for d in decisions if d.get("written_value") == 0 and (d["shop_stock_before"] or 0) > 0)
    stats.total_before = sum(before.values())
    stats.total_after = stats.total_before + sum(d["written_value"] - d["shop_stock_before"]
                                                 for d in decisions if d["outcome"] == "applied")
    refusal = guard_rails(limits, stats)
    if refusal:
        stats.refusal = refusal
        for d in decisions:
            detail = f"would write {d['written_value']}" if d["outcome"] == "applied" else d.get("reason")
            d.update(outcome="skipped", written_value=None,
                     reason=f"guard rail, nothing written: {refusal}" + (f" ({detail})" if detail else ""))
        bridge.store.inventory.record_stock_writebacks(day, decisions, run_id=bridge.run_id)
        report.add("needs_person", n=len(wanted))
        raise FlowRefused(
            f"inventory: guard rail, nothing written to the shop: {refusal}. Check the warehouse's answer "
            f"(wms_inventory_snapshot for {day}, the WMS bridge page). If it is right, write it without asking the "
            "warehouse again: 'write the stored snapshot' on the WMS bridge page, or trigger wms_inventory_sync_manual "
            "with from_snapshot on and that limit raised for the run. Do not force: force asks the warehouse again "
            "(about one inventory.query a day is allowed). / 保护规则拦截，未写入商城。请核对仓库快照；确认无误后在运营页"
            "点“写入已保存快照”，或手动运行 wms_inventory_sync_manual 勾选 from_snapshot 并放宽该项限制（不再查询仓库）。",
            report)

    clock = time.monotonic()
    stats.skus_written = ShopWriter(bridge.profile).write_stock(
        bridge.shop, writes, chunk_size=max(cfg.chunk_size, 1)) if writes else 0
    bridge.store.inventory.record_stock_writebacks(day, decisions, run_id=bridge.run_id)
    stats.seconds["write_back"] = round(time.monotonic() - clock, 3)
    for d in decisions:
        if d["outcome"] == "applied":
            report.add("sent")
        elif d.get("bucket"):
            report.add(d["bucket"], d["item_code"], d["reason"])
        else:
            report.add("unchanged")
    report.notes.append(
        f"Beijing day {day}: {stats.calls} calls, {stats.skus_answered} of {stats.skus_queried} SKUs answered, "
        f"{stats.rows_saved} snapshot rows, {stats.skus_written} SKUs written, shop total "
        f"{stats.total_before} -> {stats.total_after}; seconds {stats.seconds}")


def query_warehouse(bridge: Bridge, item_codes: Sequence[str], stats: InventoryStats, report: RunReport
                    ) -> tuple[list[InventoryRow], dict[str, tuple[str, str]]]:
    """Ask for ``item_codes`` in batches, paced; returns the answered rows and, for every code of a
    batch that failed, ``(report bucket, reason)``."""
    from qimen_provider.rate_limit import RateLimiter

    cfg = bridge.config
    hook = bridge.hook_for(METHOD)
    size = cfg.inventory_batch_size
    batches = [list(item_codes[i:i + size]) for i in range(0, len(item_codes), size)]
    limiter = RateLimiter(cfg.inventory_requests_per_second)
    day = stats.beijing_date

    def ask(numbered: tuple[int, list[str]]):
        number, codes = numbered
        body = build_inventory_query(codes, warehouse_code=hook.warehouse_code, owner_code=hook.owner_code)
        limiter.acquire()
        exchange = send(bridge, METHOD, f"inventory {day} batch {number}", body)
        if not exchange.verdict.done:
            return codes, None, exchange
        return codes, parse_inventory_response(exchange.response), exchange

    rows: list[InventoryRow] = []
    failed: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=cfg.push_concurrency, thread_name_prefix="inventory") as pool:
        for codes, answer, exchange in pool.map(ask, enumerate(batches, start=1)):
            stats.calls += 1
            if answer is None:
                bucket = "retry_waiting" if exchange.verdict is Verdict.PASSING else "needs_person"
                reason = f"inventory.query {exchange.verdict.value}: {exchange.error_message}"
                failed.update(dict.fromkeys(codes, (bucket, reason)))
                continue
            rows.extend(answer.rows)
            problems.extend(answer.problems)
    if problems:
        log.warning("inventory: %d problems in the warehouse's answers (rows clamped or ignored):%s%s",
                    len(problems), "".join(f"\n    {p}" for p in problems[:PROBLEM_SAMPLE]),
                    f"\n    ... and {len(problems) - PROBLEM_SAMPLE} more" if len(problems) > PROBLEM_SAMPLE else "")
        report.notes.append(f"{len(problems)} answer rows clamped or ignored, e.g. {problems[0]}")
    return rows, failed


def _snapshot_row(row: InventoryRow, default_warehouse: str) -> dict:
    return {
        "warehouse_code": row.warehouse_code or default_warehouse,
        "item_code": row.item_code,
        "inventory_type": row.inventory_type[:20],
        "batch_code": row.batch_code[:50],
        "item_id": row.item_id,
        "quantity": row.quantity,
        "lock_quantity": row.lock_quantity,
        "product_date": row.product_date,
        "expire_date": row.expire_date,
    }


def held_quantities(bridge: Bridge) -> dict[str, int]:
    """Per item code, the units the shop holds for orders the warehouse does not hold (see the
    module docstring): the profile's ``held_stock``, else the lines of its paid, unshipped orders."""
    out: dict[str, int] = {}
    for lines in _held_lines(bridge):
        if lines.empty:
            continue
        states = bridge.store.orders.states(lines["order_code"].dropna().unique().tolist())
        held = lines[lines["order_code"].map(lambda c: states.get(c) not in WAREHOUSE_HOLDS)]
        # item codes as the item flow keys them (cleaned), the quantities that can be read
        held = held.assign(item_code=clean_text(held["item_code"]).astype(object)).dropna(
            subset=["item_code", "quantity"])
        for code, qty in held.groupby("item_code")["quantity"].sum().items():
            out[code] = out.get(code, 0) + int(qty)
    return out


def _held_lines(bridge: Bridge):
    """``order_code``, ``item_code``, ``quantity`` of the order lines whose units the shop holds."""
    if bridge.profile.has("held_stock"):
        yield from bridge.reader.iter_held_stock(bridge.shop, chunk_size=bridge.config.chunk_size)
        return
    for orders, lines in bridge.reader.iter_paid_orders(bridge.shop, chunk_size=bridge.config.chunk_size):
        codes = orders.set_index("order_id")["order_code"]
        yield lines.assign(order_code=lines["order_id"].map(codes))[["order_code", "item_code", "quantity"]]


def decide(items, sellable: dict[str, int], before: ShopStock, pending: dict[str, int],
           failed: dict[str, tuple[str, str]]) -> tuple[list[dict], dict[str, int]]:
    """One decision per SKU (a wms_stock_writeback row) and the writes ``{sku_id: quantity}``."""
    decisions, writes = [], {}
    for code, sku in items:
        shop = before.get(str(sku)) if sku is not None else None
        row = {"item_code": code, "sku_id": sku, "shop_stock_before": shop, "wms_quantity": sellable.get(code),
               "pending_quantity": pending.get(code, 0), "written_value": None, "outcome": "skipped"}
        if code not in sellable:
            bucket, reason = failed.get(code, ("held", "the warehouse returned no row for it"))
            row.update(reason=f"{reason}; shop stock kept", bucket=bucket)
        elif sku is not None and str(sku) in before.unreadable:
            row.update(reason=f"{before.unreadable[str(sku)]}: kept as it is; fix it in the shop", bucket="rejected")
        elif sku is None or shop is None:
            row.update(reason="no such SKU in the shop", bucket="rejected")
        else:
            available = max(sellable[code] - row["pending_quantity"], 0)
            if available == shop:
                row["reason"] = "unchanged"
            else:
                row.update(outcome="applied", written_value=available)
                writes[str(sku)] = available
        decisions.append(row)
    return decisions, writes


def guard_rails(limits: GuardLimits, stats: InventoryStats) -> str | None:
    """Why the write-back must not happen, or None."""
    queried = max(stats.skus_queried, 1)
    missing = 100.0 * stats.skus_missing / queried
    if missing > limits.max_missing_pct:
        return (f"the warehouse answered nothing for {stats.skus_missing} of {stats.skus_queried} SKUs "
                f"({missing:.1f} % > max_missing_pct {limits.max_missing_pct:g} %)")
    zeroed = 100.0 * stats.skus_zeroed / queried
    if zeroed > limits.max_zeroed_pct:
        return (f"the write-back would zero {stats.skus_zeroed} of {stats.skus_queried} SKUs "
                f"({zeroed:.1f} % > max_zeroed_pct {limits.max_zeroed_pct:g} %)")
    if stats.total_before > 0:
        change = 100.0 * abs(stats.total_after - stats.total_before) / stats.total_before
        if change > limits.max_total_change_pct:
            return (f"the write-back would move the shop's total stock from {stats.total_before} to "
                    f"{stats.total_after} ({change:.1f} % > max_total_change_pct {limits.max_total_change_pct:g} %)")
    return None
