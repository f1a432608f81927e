"""Read-only questions the operations page asks the integration store, in the operator's terms.

Every function takes an Engine and only SELECTs. Days are Beijing days (UTC+8) turned into UTC
half-open windows, so the same SQL runs on SQLite, PostgreSQL and MariaDB. Tables another part of
the bridge has not created yet (an older store) are reported as missing, not as an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wmsbridge.pipelines.windows import BEIJING, beijing_days_utc
from wmsbridge.store.schema import (inventory_snapshot, item_sync, order_sync, shipment_inbox, stock_writeback,
                                    unkeyed_record)

LIST_LIMIT = 200  # rows a list shows; counts are always complete


def beijing_today(now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(BEIJING).date()


def present_tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@dataclass
class DayStates:
    day: date
    states: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.states.values())


def orders_by_state(engine: Engine, today: date, days: int = 7) -> list[DayStates]:
    """Orders paid on each of the last ``days`` Beijing days (today first), by their state now."""
    c = order_sync.c
    out = []
    with engine.connect() as conn:
        for back in range(days):
            day = today - timedelta(days=back)
            start, end = beijing_days_utc(day, day)
            rows = conn.execute(sa.select(c.state, sa.func.count()).where(c.paid_at >= start, c.paid_at < end)
                                .group_by(c.state)).all()
            out.append(DayStates(day, dict(rows)))
    return out


def all_states(engine: Engine) -> dict[str, int]:
    c = order_sync.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(c.state, sa.func.count()).group_by(c.state)).all())


@dataclass
class Rejected:
    code: str
    shop_order_id: str
    paid_at: datetime | None
    updated_at: datetime | None
    reasons: list[str]
    run_id: str | None


def _reasons(violations: str | None, message: str | None) -> list[str]:
    try:
        found = [str(v) for v in json.loads(violations or "[]")]
    except (TypeError, ValueError):
        found = [violations] if violations else []
    return found or ([message] if message else ["(no reason recorded)"])


def rejected_orders(engine: Engine, text: str = "", limit: int | None = LIST_LIMIT) -> tuple[int, list[Rejected]]:
    """Orders our own checks refused (state ``rejected``), newest first, optionally filtered by a
    text found in the order code, the shop order id or the reasons; (total matching, rows)."""
    c = order_sync.c
    where = [c.state == "rejected"]
    if text.strip():
        needle = f"%{text.strip().lower()}%"
        where.append(sa.or_(sa.func.lower(c.delivery_order_code).like(needle), sa.func.lower(c.shop_order_id).like(needle),
                            sa.func.lower(sa.func.coalesce(c.violations, "")).like(needle),
                            sa.func.lower(sa.func.coalesce(c.last_error_message, "")).like(needle)))
    query = (sa.select(c.delivery_order_code, c.shop_order_id, c.paid_at, c.updated_at, c.violations,
                       c.last_error_message, c.run_id).where(*where).order_by(c.updated_at.desc(), c.id.desc()))
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(order_sync).where(*where)).scalar_one()
        rows = conn.execute(query.limit(limit) if limit else query).all()
    return total, [Rejected(r.delivery_order_code, r.shop_order_id, r.paid_at, r.updated_at,
                            _reasons(r.violations, r.last_error_message), r.run_id) for r in rows]


@dataclass
class Waiting:
    """One kind of record that waits for a person: how many, and the first few."""

    key: str
    label: str
    table: str
    count: int
    rows: list[dict] = field(default_factory=list)


def waiting_for_a_person(engine: Engine, tables: set[str], *, stale_minutes: int = 15,
                         now: datetime | None = None, sample: int = 20) -> list[Waiting]:
    now = now or datetime.now(timezone.utc)
    o, i, s, u = order_sync.c, item_sync.c, shipment_inbox.c, unkeyed_record.c
    order_cols = (o.delivery_order_code.label("code"), o.state, o.last_error_code.label("error_code"),
                  o.last_error_message.label("message"), o.updated_at, o.run_id)
    item_cols = (i.item_code.label("code"), i.state, i.last_error_code.label("error_code"),
                 sa.func.coalesce(i.last_error_message, i.violations).label("message"), i.updated_at, i.run_id)
    kinds = [
        ("orders_rejected", "Orders refused by our checks / 订单未通过校验", "wms_order_sync",
         order_sync, order_cols, [o.state == "rejected"]),
        ("orders_failed_final", "Orders the warehouse refused for good / 仓库拒收的订单", "wms_order_sync",
         order_sync, order_cols, [o.state == "failed", sa.or_(o.last_error_retryable.is_(False),
                                                              o.last_error_retryable.is_(None))]),
        ("orders_cancel_failed", "Cancellations refused (shipped already?) / 取消失败（可能已发货）", "wms_order_sync",
         order_sync, order_cols, [o.state == "cancel_failed"]),
        ("orders_stuck_sending", f"Orders stuck in sending > {stale_minutes} min / 发送中卡住的订单", "wms_order_sync",
         order_sync, order_cols, [o.state == "sending", o.updated_at < now - timedelta(minutes=stale_minutes)]),
        ("items_rejected", "SKUs refused by our checks / 商品未通过校验", "wms_item_sync",
         item_sync, item_cols, [i.state == "rejected"]),
        ("items_failed", "SKUs the warehouse refused / 仓库拒收的商品", "wms_item_sync",
         item_sync, item_cols, [i.state == "failed"]),
        ("confirmations_unprocessed", "Confirmations that could not be applied / 无法处理的发货回传", "wms_shipment_inbox",
         shipment_inbox, (s.delivery_order_code.label("code"), s.status.label("state"), s.out_biz_code.label("error_code"),
                          s.process_error.label("message"), s.received_at.label("updated_at")),
         [s.process_error.is_not(None)]),
        ("records_unkeyed", "Shop orders and SKUs whose code cannot be used / 编码无法使用的商城订单和商品",
         "wms_unkeyed_record", unkeyed_record,
         ((u.flow + ": id " + u.shop_id + " " + sa.func.coalesce(u.shop_code, "(no code)")).label("code"),
          sa.literal("rejected").label("state"), sa.literal("VALIDATION").label("error_code"),
          u.violations.label("message"), u.last_seen_at.label("updated_at"), u.run_id),
         [u.resolved_at.is_(None)]),
    ]
    out = []
    with engine.connect() as conn:
        for key, label, table_name, table, cols, where in kinds:
            if table_name not in tables:
                continue
            count = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
            rows = []
            if count:
                order = (table.c.received_at.desc() if table is shipment_inbox
                         else table.c.last_seen_at.desc() if table is unkeyed_record else table.c.updated_at.desc())
                rows = [r._asdict() for r in conn.execute(sa.select(*cols).where(*where).order_by(order).limit(sample))]
            out.append(Waiting(key, label, table_name, count, rows))
    return out


def latest_confirmations(engine: Engine, limit: int = 20) -> list[dict]:
    s = shipment_inbox.c
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(
            sa.select(s.delivery_order_code, s.status, s.confirm_type, s.order_confirm_at, s.received_at,
                      s.processed_at, s.process_error).order_by(s.received_at.desc(), s.id.desc()).limit(limit))]


@dataclass
class InventoryRun:
    snapshot_date: date | None = None
    snapshot_rows: int = 0
    snapshot_quantity: int = 0
    fetched_at: datetime | None = None
    snapshot_run_id: str | None = None
    writeback_date: date | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped_reasons: list[tuple[str, int]] = field(default_factory=list)
    writeback_run_id: str | None = None


def last_inventory_run(engine: Engine, tables: set[str]) -> InventoryRun:
    run = InventoryRun()
    with engine.connect() as conn:
        if "wms_inventory_snapshot" in tables:
            v = inventory_snapshot.c
            run.snapshot_date = conn.execute(sa.select(sa.func.max(v.snapshot_date))).scalar()
            if run.snapshot_date:
                row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(v.quantity), 0),
                                             sa.func.max(v.fetched_at), sa.func.max(v.run_id))
                                   .where(v.snapshot_date == run.snapshot_date)).one()
                run.snapshot_rows, run.snapshot_quantity, run.fetched_at, run.snapshot_run_id = \
                    row[0], int(row[1]), row[2], row[3]
        if "wms_stock_writeback" in tables:
            w = stock_writeback.c
            run.writeback_date = conn.execute(sa.select(sa.func.max(w.writeback_date))).scalar()
            if run.writeback_date:
                on_day = w.writeback_date == run.writeback_date
                run.outcomes = dict(conn.execute(sa.select(w.outcome, sa.func.count()).where(on_day)
                                                 .group_by(w.outcome)).all())
                run.skipped_reasons = [tuple(r) for r in conn.execute(
                    sa.select(sa.func.coalesce(w.reason, "(none)"), sa.func.count()).where(on_day, w.outcome == "skipped")
                    .group_by(sa.func.coalesce(w.reason, "(none)")).order_by(sa.func.count().desc()).limit(10))]
                run.writeback_run_id = conn.execute(sa.select(sa.func.max(w.run_id)).where(on_day)).scalar()
    return run
