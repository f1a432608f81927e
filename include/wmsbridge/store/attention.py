"""What waits for a person: ONE definition per category, read by everything that shows or judges it.

Each :class:`Category` is a rule over one store table. The same rule is

- the run verdict: a run fails for the records of its flow it newly put in a failing category
  (``run_id``/``dag_id`` of the deciding run; a waiting row keeps them until it moves on, so later
  runs name old records without failing for them): :func:`new_for_run`;
- the analysts' view ``wms_v_needs_person`` (migration 0007 creates it from :func:`view_sql`;
  a change here comes with a migration that recreates the view);
- the operations page: counts and lists (:func:`counts`, :func:`rows`), and the actions a person
  may take (store/actions.py).

A row a person marked handled (``handled_at``) leaves every one of them until it changes state
again. Nothing here depends on the clock: a confirmation waiting too long for its order is marked
``overdue_at`` by the run that finds it so (pipelines/shipments.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .schema import (
    inventory_run,
    item_sync,
    order_sync,
    return_sync,
    shipment_inbox,
    stock_adjustment,
    unkeyed_record,
    warehouse_report,
)
from .states import RETURN_WITHDRAWN_TOLD

VIEW = "wms_v_needs_person"
REFUND_AFTER_SHIPMENT = "REFUND_AFTER_SHIPMENT"  # last_error_code of a refund after shipment
SHIPPED = ("partially_shipped", "shipped")


@dataclass(frozen=True)
class Category:
    """One kind of record that waits for a person."""

    key: str
    flow: str                       # the flow that decides it (and whose run fails for it)
    label_en: str
    label_zh: str
    table: sa.Table
    subject: sa.ColumnElement       # the item's key in actions: an order or item code, or a row id
    detail: sa.ColumnElement        # what a person recognises it by besides (shop id, order ...)
    state: sa.ColumnElement
    reason: sa.ColumnElement
    since: sa.ColumnElement         # when it started waiting (as well as the store knows)
    where: sa.ColumnElement         # the rule
    fails_run: bool                 # a run of ``flow`` that newly finds one fails
    actions: tuple[str, ...]        # what a person may do (states.PERSON_ACTIONS)
    runbook: str                    # the section of docs/operations.md
    # (table or alias, EXISTS over it): rows for which it holds leave the category; it matches rows
    # of the same bridge only, and is left out of the view of a migration that ran before its table
    unless: tuple[sa.FromClause, sa.Exists] | None = None

    def rule(self, tables: set[str] | None = None, *, keyed: bool = True) -> sa.ColumnElement[bool]:
        """``where``, less the rows ``unless`` takes out (of the same bridge)."""
        if self.unless is None:
            return self.where
        other, exists = self.unless
        if tables is not None and getattr(other, "element", other).name not in tables:
            return self.where
        return sa.and_(self.where, ~exists.where(other.c.bridge_id == self.table.c.bridge_id) if keyed else ~exists)

    def select(self, tables: set[str] | None = None, *, keyed: bool = True,
               bridge_id: str | None = None) -> sa.Select:
        """The category's rows in the shape every reader shares (:data:`COLUMNS`), of one bridge
        or (``bridge_id`` None) of all. ``keyed=False``: without ``bridge_id`` (stores before 0010)."""
        t = self.table.c
        where = self.rule(tables, keyed=keyed)
        if bridge_id is not None:
            where = sa.and_(where, t.bridge_id == bridge_id)
        return sa.select(
            *([t.bridge_id.label("bridge_id")] if keyed else []),
            sa.literal(self.key, sa.String).label("category"),
            sa.literal(self.flow, sa.String).label("flow"),
            sa.cast(self.subject, sa.String).label("subject"),
            sa.cast(self.detail, sa.String).label("detail"),
            sa.cast(self.state, sa.String).label("state"),
            self.reason.label("reason"),
            self.since.label("since"),
            t.run_id.label("run_id"),
            t.dag_id.label("dag_id"),
        ).where(where, t.handled_at.is_(None))


COLUMNS = ("bridge_id", "category", "flow", "subject", "detail", "state", "reason", "since", "run_id", "dag_id")

o, i, s, u, r = order_sync.c, item_sync.c, shipment_inbox.c, unkeyed_record.c, inventory_run.c
w, rt, a = warehouse_report.c, return_sync.c, stock_adjustment.c
_later_completed = sa.alias(inventory_run, "later")
_ORDER_REASON = sa.func.coalesce(o.last_error_message, o.violations)
_ITEM_REASON = sa.func.coalesce(i.last_error_message, i.violations)


def _order(key, label_en, label_zh, where, *, flow="orders", fails_run=True, actions=("handled", "send_again"),
           runbook, unless=None) -> Category:
    return Category(key, flow, label_en, label_zh, order_sync, o.delivery_order_code, o.shop_order_id, o.state,
                    _ORDER_REASON, o.updated_at, where, fails_run, actions, runbook, unless)


def _unkeyed(key, flow, label_en, label_zh) -> Category:
    return Category(key, flow, label_en, label_zh, unkeyed_record, u.id, u.shop_id + " " + sa.func.coalesce(
        u.shop_code, "(no code)"), sa.literal("rejected", sa.String), u.violations, u.first_seen_at,
        sa.and_(u.flow == flow, u.resolved_at.is_(None)), False, ("handled",), "codes-that-cannot-be-used")


def _return(key, label_en, label_zh, where, *, fails_run, runbook="a-return-refused") -> Category:
    return Category(key, "returns", label_en, label_zh, return_sync, rt.return_code, rt.delivery_order_code, rt.state,
                    rt.last_error_message, rt.updated_at, where, fails_run, ("handled",), runbook)


def _adjustment(key, flow, label_en, label_zh, where) -> Category:
    return Category(key, flow, label_en, label_zh, stock_adjustment, a.id, a.item_code + " " + a.source_key,
                    a.state, a.note, a.created_at, sa.and_(a.state == "needs_person", where), True, ("handled",),
                    "a-stock-change-left-unsure")


def _confirmation(key, label_en, label_zh, where, since) -> Category:
    return Category(key, "shipments", label_en, label_zh, shipment_inbox, s.id, s.delivery_order_code,
                    s.state, s.process_error, since, where, True, ("handled", "apply_again"), "confirmations")


CATEGORIES: tuple[Category, ...] = (
    _order("orders_rejected", "Orders our checks refused", "未通过校验的订单", o.state == "rejected",
           fails_run=False, actions=("handled",), runbook="rejected-orders-fix-and-resend"),
    _unkeyed("orders_unkeyed", "orders", "Orders whose code cannot be used", "订单号无法使用的订单"),
    _order("orders_refused", "Orders the warehouse refused for good", "仓库拒收的订单",
           sa.and_(o.state == "failed", sa.or_(o.last_error_retryable.is_(False), o.last_error_retryable.is_(None))),
           runbook="orders-the-warehouse-refused"),
    _order("orders_exists_different", "Orders the warehouse holds in another version", "仓库已有不同内容的同号订单",
           o.state == "exists_different", runbook="orders-the-warehouse-refused"),
    _order("refunds_after_shipment", "Refunds after shipment: intercept or take back the parcel",
           "发货后退款：拦截或退回包裹",
           sa.or_(sa.and_(o.state == "cancel_failed", o.last_error_code == REFUND_AFTER_SHIPMENT),
                  sa.and_(o.state.in_(SHIPPED), o.cancel_requested_at.is_not(None))),
           # a refund after shipment the shop turned into a return leaves: the returns flow has it
           # (unless the return was refused or withdrawn: then the refund is a person's again)
           unless=(return_sync, sa.exists().where(rt.delivery_order_code == o.delivery_order_code,
                                                  rt.state.not_in(("rejected", "withdrawn")))),
           flow="cancels", actions=("handled",), runbook="refund-after-shipment"),
    _order("cancels_refused", "Cancellations the warehouse refused", "仓库拒绝取消的订单",
           sa.and_(o.state == "cancel_failed", sa.func.coalesce(o.last_error_code, "") != REFUND_AFTER_SHIPMENT),
           flow="cancels", runbook="refund-after-shipment"),
    # a courier intercept (orderprocess.report TMSCANCELED) the cancels run could not apply: the shop
    # never refunded the order, or the report cannot be read. The run settles it (run_id set: the
    # receiver stores its own needs_person reports without one) and fails for it. Keyed by the
    # report's id; its detail is the order's code.
    Category("intercepts_to_check", "cancels", "Courier intercepts to check", "需核对的快递拦截",
             warehouse_report, w.id, w.order_code, w.state, w.summary, w.received_at,
             sa.and_(w.state == "needs_person", w.method == "orderprocess.report", w.run_id.is_not(None)), True,
             ("handled",), "a-courier-intercept-to-check"),
    Category("items_rejected", "items", "SKUs our checks refused", "未通过校验的商品", item_sync, i.item_code, i.sku_id,
             i.state, _ITEM_REASON, i.updated_at, i.state == "rejected", False, ("handled",), "skus"),
    _unkeyed("items_unkeyed", "items", "SKUs whose code cannot be used", "编码无法使用的商品"),
    Category("items_refused", "items", "SKUs the warehouse refused for good", "仓库拒收的商品", item_sync, i.item_code,
             i.sku_id, i.state, _ITEM_REASON, i.updated_at, sa.and_(i.state == "failed", i.last_error_retryable.is_(False)),
             True, ("handled", "send_again"), "skus"),
    _confirmation("confirmations_alarm", "Confirmations that could not be applied", "无法处理的发货回传",
                  s.state == "needs_person", sa.func.coalesce(s.processed_at, s.received_at)),
    _confirmation("confirmations_unmatched", "Confirmations for an order we do not have (overdue)",
                  "找不到对应订单的发货回传（已超时）", sa.and_(s.state == "waiting", s.overdue_at.is_not(None)),
                  s.overdue_at),
    # The warehouse reports what a person must deal with (when switched on): a shortage
    # (itemlack.report), a rejected order, a failed intercept, a refused parcel (orderprocess.report).
    # The receiver stores it for a person at once and alerts; no run decides it, so none fails for it.
    # (The warehouse's stock changes and return receipts are decided by their flows: below; a courier
    # intercept the cancels run settled is its own: intercepts_to_check, above.)
    Category("reports_for_person", "orders", "Orders the warehouse reports a problem with", "仓库上报问题的订单",
             warehouse_report, w.id, w.order_code, w.state, w.summary, w.received_at,
             sa.and_(w.state == "needs_person", w.method.not_in(("stockchange.report", "returnorder.confirm")),
                     sa.not_(sa.and_(w.method == "orderprocess.report", w.run_id.is_not(None)))),
             False, ("handled",), "the-warehouse-reports-a-problem"),
    # Returns (pipelines/returns.py): one our checks refused, one the warehouse refused for good, one
    # the shop withdrew after the warehouse was told, a receipt the run could not apply, one the
    # warehouse received (the shop's refund is a person's to pay), a stock change left unsure.
    _return("returns_rejected", "Returns our checks refused", "未通过校验的退货", rt.state == "rejected",
            fails_run=False),
    _return("returns_refused", "Returns the warehouse refused for good", "仓库拒收的退货单",
            sa.and_(rt.state == "failed", rt.last_error_retryable.is_(False)), fails_run=True),
    # withdrawn, refused or deleted in the shop after the warehouse was told (or may have been): it
    # expects a parcel that will not come. One withdrawn before it was sent leaves without a word.
    _return("returns_withdrawn", "Returns the shop withdrew after the warehouse was told", "已通知仓库后商城撤销的退货",
            sa.and_(rt.state == "withdrawn", rt.last_error_code == RETURN_WITHDRAWN_TOLD), fails_run=True,
            runbook="a-return-the-shop-withdrew"),
    # a receipt (returnorder.confirm) the returns run did not apply, or not all of: for a return we
    # never announced, one our checks refused or the shop withdrew, units beyond what the return
    # announced, or one it cannot read. Keyed by the report's id; its detail is the return's code.
    Category("returns_receipts", "returns", "Return receipts to check", "需核对的退货入库回传",
             warehouse_report, w.id, w.order_code, w.state, w.summary, w.received_at,
             sa.and_(w.state == "needs_person", w.method == "returnorder.confirm"), True, ("handled",),
             "a-return-receipt-to-check"),
    Category("returns_to_refund", "returns", "Returns received: pay the refund", "退货已入库：请退款", return_sync,
             rt.return_code, rt.delivery_order_code, rt.state, rt.note, rt.received_at,
             sa.and_(rt.state.in_(("partially_received", "received")), rt.refunded_at.is_(None)), False,
             ("handled",), "return-received-pay-the-refund"),
    _adjustment("stock_adjustments_unsure", "returns", "Return stock changes a stopped run left unsure",
                "未确认是否生效的退货库存调整", a.source != "stock_change"),
    # The warehouse's stock changes between daily syncs (stockchange.report, pipelines/stock_changes.py):
    # one the guard rail refused (it would take the shop below zero), one a stopped run left unsure.
    Category("stock_changes_refused", "inventory", "Stock changes the guard rail refused", "被保护规则拦截的库存异动",
             warehouse_report, w.id, w.report_key, w.state, w.summary, w.received_at,
             sa.and_(w.state == "needs_person", w.method == "stockchange.report"), True, ("handled",),
             "a-stock-change-refused"),
    _adjustment("stock_changes_unsure", "inventory", "Warehouse stock changes a stopped run left unsure",
                "未确认是否生效的库存异动", a.source == "stock_change"),
    Category("inventory_refused", "inventory", "Stock write-backs the guard rails refused", "被保护规则拦截的库存回写",
             inventory_run, r.id, sa.cast(r.beijing_date, sa.String), r.verdict, r.message,
             sa.func.coalesce(r.finished_at, r.started_at),
             r.verdict == "guard_refused", True, ("handled", "write_snapshot"), "a-refused-stock-write-back",
             # a later completed sync of the same day settled it
             unless=(_later_completed, sa.exists().where(
                 _later_completed.c.beijing_date == r.beijing_date, _later_completed.c.verdict == "completed",
                 _later_completed.c.id > r.id))),
)
BY_KEY = {c.key: c for c in CATEGORIES}


def category(key: str) -> Category:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown category {key!r}; known: {', '.join(BY_KEY)}") from None


def counts(conn: Connection | Engine, keys: Iterable[str] | None = None, *,
           bridge_id: str | None = None) -> dict[str, int]:
    """How many records wait in each category (every category listed, zeros included), of one
    bridge or (None) of all."""
    chosen = [category(k) for k in keys] if keys is not None else list(CATEGORIES)
    with _connection(conn) as c:
        return {cat.key: c.execute(sa.select(sa.func.count()).select_from(
                    cat.select(bridge_id=bridge_id).subquery())).scalar_one()
                for cat in chosen}


def counts_by_bridge(conn: Connection | Engine) -> dict[str, dict[str, int]]:
    """``{bridge_id: {category: n}}`` for the bridges with anything waiting (non-zero counts only)."""
    found: dict[str, dict[str, int]] = {}
    with _connection(conn) as c:
        for cat in CATEGORIES:
            q = cat.select().subquery()
            for bridge, n in c.execute(sa.select(q.c.bridge_id, sa.func.count()).group_by(q.c.bridge_id)):
                found.setdefault(bridge, {})[cat.key] = n
    return found


def rows(conn: Connection | Engine, key: str, *, text: str = "", limit: int | None = 200,
         offset: int = 0, bridge_id: str | None = None) -> list[dict[str, Any]]:
    """A category's records, most recent first; ``text`` filters on subject, detail and reason."""
    query = category(key).select(bridge_id=bridge_id).subquery()
    stmt = sa.select(query)
    if text.strip():
        needle = f"%{text.strip().lower()}%"
        stmt = stmt.where(sa.or_(*(sa.func.lower(sa.func.coalesce(query.c[n], "")).like(needle)
                                   for n in ("subject", "detail", "reason"))))
    stmt = stmt.order_by(query.c.since.desc(), query.c.subject).offset(offset).limit(limit)
    with _connection(conn) as c:
        return [dict(row._mapping) for row in c.execute(stmt)]


def new_for_run(conn: Connection | Engine, flow: str, run_id: str, dag_id: str | None = None, *,
                failing: bool = True, sample: int = 20, bridge_id: str | None = None) -> tuple[int, list[str]]:
    """What a run of ``flow`` newly found waiting for a person, and a sample ``key: reason``: the
    records it put in a category that fails runs (``failing``, its verdict, the same on every try of
    the run), or in one that does not (``failing=False``: records the shop must fix, for alerts)."""
    parts = [cat.select(bridge_id=bridge_id).where(cat.table.c.run_id == str(run_id),
                                sa.or_(cat.table.c.dag_id.is_(None), cat.table.c.dag_id == dag_id) if dag_id
                                else sa.true())
             for cat in CATEGORIES if cat.flow == flow and cat.fails_run is failing]
    if not parts:
        return 0, []
    union = sa.union_all(*parts).subquery()
    with _connection(conn) as c:
        total = c.execute(sa.select(sa.func.count()).select_from(union)).scalar_one()
        found = c.execute(sa.select(union.c.category, union.c.subject, union.c.detail, union.c.reason)
                          .order_by(union.c.category, union.c.subject).limit(sample)).all()
    return total, [f"{_shown(f)}: {f.reason}" for f in found]


def _shown(row) -> str:
    """How a sample names a record: its code, or its order / day for rows keyed by id."""
    if row.category.startswith(("confirmations", "inventory", "reports", "stock", "returns_receipts", "intercepts")):
        return f"{row.detail} (#{row.subject})"
    return str(row.subject)


def view_select(tables: Iterable[str] | None = None, *, keyed: bool = True) -> sa.Select:
    """Every waiting record of every category (over ``tables`` only, if given): the analysts' view."""
    chosen = None if tables is None else set(tables)
    return sa.union_all(*(c.select(chosen, keyed=keyed) for c in CATEGORIES
                          if chosen is None or c.table.name in chosen))


def view_sql(dialect, tables: Iterable[str] | None = None, *, keyed: bool = True) -> str:
    """``CREATE VIEW`` text for ``dialect`` (literal values inlined: a view takes no parameters).
    ``tables``: a migration's tables, for the categories that existed when it ran; ``keyed=False``
    for migrations before 0010 (no ``bridge_id`` yet)."""
    compiled = view_select(tables, keyed=keyed).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f"CREATE VIEW {VIEW} AS {compiled}"


class _connection:
    """``with _connection(engine_or_conn) as conn``: a connection, opened and closed only if needed."""

    def __init__(self, bind: Connection | Engine) -> None:
        self.bind, self.opened = bind, None

    def __enter__(self) -> Connection:
        if isinstance(self.bind, Engine):
            self.opened = self.bind.connect()
            return self.opened
        return self.bind

    def __exit__(self, *exc) -> None:
        if self.opened is not None:
            self.opened.close()


def categories_of(flow: str) -> Sequence[Category]:
    return [c for c in CATEGORIES if c.flow == flow]
