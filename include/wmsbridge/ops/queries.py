"""What the operations page asks the store and the shop, in the operator's terms.

Read-only. What waits for a person comes from ``wmsbridge.store.attention``, the definition the
run verdicts and the analysts' view use, so the page cannot count differently from the engine.
Days are Beijing days (UTC+8) turned into UTC half-open windows. Tables an older store lacks are
reported as missing, not as an error.

Several bridges may share one store (every table has ``bridge_id``; two shops may both have order
``1001``): each query that reads store tables takes ``bridge_id`` and then reads that bridge's
rows only; None reads every bridge's (the analysts' totals, and tests of one bridge).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wmsbridge.pipelines.windows import BEIJING, beijing_days_utc
from wmsbridge.store import attention
from wmsbridge.store.actions import PersonActions
from wmsbridge.store.base import LOOKUP_CHUNK
from wmsbridge.store.schema import (inventory_run, inventory_snapshot, order_sync, shipment_inbox, shipment_package,
                                    stock_writeback)
from wmsbridge.transforms.text import why_not_a_key

LIST_LIMIT = 200  # rows a list shows; counts are always complete
BACKLOG_SCAN_LIMIT = 200_000  # shop orders the page reads at most to count the backlog
# Registered orders the warehouse does not hold yet and that wait for no person: the backlog.
BACKLOG_STATES = ("pending", "sending", "failed")


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


def of_bridge(table: sa.Table, bridge_id: str | None) -> sa.ColumnElement[bool]:
    """The rows of one bridge (None: of every bridge), so that two shops' equal codes never mix."""
    return sa.true() if bridge_id is None else table.c.bridge_id == bridge_id


def orders_by_state(engine: Engine, today: date, days: int = 7, *, bridge_id: str | None = None) -> list[DayStates]:
    """Orders paid on each of the last ``days`` Beijing days (today first), by their state now."""
    c = order_sync.c
    out = []
    with engine.connect() as conn:
        for back in range(days):
            day = today - timedelta(days=back)
            start, end = beijing_days_utc(day, day)
            rows = conn.execute(sa.select(c.state, sa.func.count())
                                .where(c.paid_at >= start, c.paid_at < end, of_bridge(order_sync, bridge_id))
                                .group_by(c.state)).all()
            out.append(DayStates(day, dict(rows)))
    return out


def all_states(engine: Engine, *, bridge_id: str | None = None) -> dict[str, int]:
    c = order_sync.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(c.state, sa.func.count()).where(of_bridge(order_sync, bridge_id))
                                 .group_by(c.state)).all())


# -- what waits for a person ----------------------------------------------------------------------


@dataclass
class Waiting:
    """One category of attention.py: how many records wait, and the first of them."""

    category: attention.Category
    count: int
    rows: list[dict] = field(default_factory=list)


def waiting(engine: Engine, *, text: str = "", focus: str | None = None, limit: int = 50,
            bridge_id: str | None = None) -> list[Waiting]:
    """Every category with its count (the store's, exactly) and its newest records; ``text``
    filters the list of ``focus`` (one category), whose list is longer."""
    counts = attention.counts(engine, bridge_id=bridge_id)
    out = []
    for cat in attention.CATEGORIES:
        shown = LIST_LIMIT if cat.key == focus else limit
        rows = attention.rows(engine, cat.key, text=text if cat.key == focus else "", limit=shown,
                              bridge_id=bridge_id) if counts[cat.key] else []
        out.append(Waiting(cat, counts[cat.key], rows))
    return out


def view_counts(engine: Engine, bridge_id: str | None = None) -> dict[str, int]:
    """What the analysts' view ``wms_v_needs_person`` counts per category (of one bridge, if given)."""
    where, params = ("WHERE bridge_id = :bridge_id", {"bridge_id": bridge_id}) if bridge_id is not None else ("", {})
    with engine.connect() as conn:
        found = dict(conn.execute(sa.text(f"SELECT category, COUNT(*) FROM {attention.VIEW} {where} "
                                          "GROUP BY category"), params).all())
    return {c.key: found.get(c.key, 0) for c in attention.CATEGORIES}


def waiting_by_bridge(engine: Engine) -> dict[str, int]:
    """How many records wait for a person in each bridge of one store (bridges with none are
    absent): one read of the store serves every bridge it holds."""
    return {bridge: sum(per_category.values())
            for bridge, per_category in attention.counts_by_bridge(engine).items()}


# -- the bridges: each one's settings and what waits in it ---------------------------------------


def store_conn_id(config) -> str:
    """The connection of a bridge's store: its own, else its shop's (the store in the shop database)."""
    return config.store_conn_id or config.shop_conn_id


@dataclass
class BridgeTotal:
    """One configured bridge in the totals; ``waiting`` None: its store could not be read (``error``)."""

    bridge_id: str
    enabled: bool
    profile: str
    store_conn_id: str
    waiting: int | None
    error: str | None = None


def bridge_totals(bridges: Iterable, engine_of: Callable[[str], Engine]) -> list[BridgeTotal]:
    """Each bridge (``BridgeConfig``, in config order) with what waits in it. Each store connection
    is read once for every bridge it holds; one that cannot be read is named, the others counted."""
    bridges = list(bridges)
    read: dict[str, dict[str, int] | str] = {}
    for conn_id in dict.fromkeys(store_conn_id(cfg) for cfg in bridges):
        try:
            read[conn_id] = waiting_by_bridge(engine_of(conn_id))
        except Exception as err:  # noqa: BLE001 - one store down must not hide the others
            read[conn_id] = f"{type(err).__name__}: {err}"
    out = []
    for cfg in bridges:
        found = read[store_conn_id(cfg)]
        waiting, error = (None, found) if isinstance(found, str) else (found.get(cfg.bridge_id, 0), None)
        out.append(BridgeTotal(cfg.bridge_id, cfg.enabled, cfg.profile, store_conn_id(cfg), waiting, error))
    return out


# -- the backlog: paid in the shop, not at the warehouse yet ------------------------------------


@dataclass
class Backlog:
    """Paid, unshipped orders of the shop the warehouse does not hold yet and no person is asked about."""

    unregistered: int = 0   # no run has read them yet (the push did not run, or is behind)
    pending: int = 0
    retrying: int = 0       # failed for a passing reason: the next run after their backoff
    sending: int = 0
    abandoned: int = 0      # of ``sending``: left by a dead run, taken over by the next push
    oldest_paid_at: datetime | None = None
    scanned: int = 0
    complete: bool = True   # False: more than BACKLOG_SCAN_LIMIT shop orders, counts are "at least"
    error: str | None = None

    @property
    def total(self) -> int:
        return self.unregistered + self.pending + self.retrying + self.sending


def backlog(store: Engine, shop: Engine | None, reader, *, now: datetime,
            bridge_id: str | None = None) -> Backlog:
    """The backlog, read from the shop (every paid, unshipped order) against the store's states of
    the shop's bridge; without a shop (it cannot be read), from the store alone, saying why."""
    found = Backlog()
    c = order_sync.c
    mine = of_bridge(order_sync, bridge_id)
    if shop is None or reader is None:
        found.error = "the shop could not be read: only orders the bridge has registered are counted"
        return _store_backlog(store, found, now, bridge_id)
    try:
        for chunk in reader.iter_paid_order_keys(shop):
            # an order whose code cannot be a key is counted once, under its own "needs a person" category
            codes = [code for code in chunk["order_code"] if isinstance(code, str) and why_not_a_key(code) is None]
            paid = dict(zip(chunk["order_code"], chunk["paid_at"]))
            with store.connect() as conn:
                for start in range(0, len(codes), LOOKUP_CHUNK):
                    part = codes[start:start + LOOKUP_CHUNK]
                    known = {r.delivery_order_code: r for r in conn.execute(
                        sa.select(c.delivery_order_code, c.state, c.last_error_retryable, c.lease_expires_at)
                        .where(mine, c.delivery_order_code.in_(part)))}
                    for code in part:
                        row = known.get(code)
                        if not _count(found, row, now):
                            continue
                        moment = paid.get(code)
                        if moment is not None and moment == moment and (
                                found.oldest_paid_at is None or moment < found.oldest_paid_at):
                            found.oldest_paid_at = moment.to_pydatetime()
            found.scanned += len(chunk)
            if found.scanned >= BACKLOG_SCAN_LIMIT:
                found.complete = False
                break
    except Exception as err:  # noqa: BLE001 - shown on the page, named; the page still renders
        found = Backlog(error=f"the shop could not be read ({type(err).__name__}: {err}); only orders the bridge "
                              "has registered are counted")
        return _store_backlog(store, found, now, bridge_id)
    return found


def _count(found: Backlog, row, now: datetime) -> bool:
    """Count one shop order in the backlog; False when the warehouse has it or a person is asked."""
    if row is None:
        found.unregistered += 1
    elif row.state == "pending":
        found.pending += 1
    elif row.state == "failed" and row.last_error_retryable:
        found.retrying += 1
    elif row.state == "sending":
        found.sending += 1
        found.abandoned += row.lease_expires_at is not None and row.lease_expires_at < now
    else:
        return False
    return True


def _store_backlog(store: Engine, found: Backlog, now: datetime, bridge_id: str | None) -> Backlog:
    c = order_sync.c
    with store.connect() as conn:
        for row in conn.execute(sa.select(c.state, c.last_error_retryable, c.lease_expires_at, c.paid_at)
                                .where(c.state.in_(BACKLOG_STATES), of_bridge(order_sync, bridge_id))):
            if _count(found, row, now) and row.paid_at and (found.oldest_paid_at is None
                                                             or row.paid_at < found.oldest_paid_at):
                found.oldest_paid_at = row.paid_at
    return found


# -- confirmations, inventory, actions -------------------------------------------------------------


def latest_confirmations(engine: Engine, limit: int = 20, *, bridge_id: str | None = None) -> list[dict]:
    """The newest confirmations, each with every parcel it named (carrier and tracking number): the
    shop may show only the first (litemall's one ship_sn), the page shows them all."""
    s, p = shipment_inbox.c, shipment_package.c
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(
            sa.select(s.id, s.delivery_order_code, s.status, s.confirm_type, s.order_confirm_at, s.received_at,
                      s.state, s.process_error).where(of_bridge(shipment_inbox, bridge_id))
            .order_by(s.received_at.desc(), s.id.desc()).limit(limit))]
        parcels: dict[int, list[str]] = {}
        if rows:
            for inbox_id, carrier, number in conn.execute(
                    sa.select(p.inbox_id, p.logistics_code, p.express_code).distinct()
                    .where(p.inbox_id.in_([r["id"] for r in rows]), p.express_code.is_not(None))
                    .order_by(p.inbox_id, p.express_code)):
                parcels.setdefault(inbox_id, []).append(f"{carrier or '?'} {number}")
    for row in rows:
        row["parcels"] = parcels.get(row["id"], [])
    return rows


@dataclass
class InventoryRun:
    """The latest daily stock run that got as far as deciding, and what it decided per SKU."""

    beijing_date: date | None = None
    verdict: str | None = None
    run_id: str | None = None
    dag_id: str | None = None
    finished_at: datetime | None = None
    message: str | None = None
    snapshot_rows: int = 0
    snapshot_quantity: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped_reasons: list[tuple[str, int]] = field(default_factory=list)


def last_inventory_run(engine: Engine, tables: set[str], *, bridge_id: str | None = None) -> InventoryRun:
    """The newest run that queried or wrote (not a refused or abandoned one); its decisions only,
    so a day with two runs never counts a SKU twice."""
    found = InventoryRun()
    if "wms_inventory_run" not in tables:
        return found
    r, w, v = inventory_run.c, stock_writeback.c, inventory_snapshot.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(inventory_run).where(r.verdict.in_(("completed", "guard_refused", "failed")),
                                                          of_bridge(inventory_run, bridge_id))
                           .order_by(r.id.desc()).limit(1)).first()
        if row is None:
            return found
        found = InventoryRun(row.beijing_date, row.verdict, row.run_id, row.dag_id, row.finished_at, row.message)
        # the run's own bridge: with every bridge read, its snapshot is still one shop's
        snap = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(v.quantity), 0))
                            .where(v.snapshot_date == row.beijing_date, v.bridge_id == row.bridge_id)).one()
        found.snapshot_rows, found.snapshot_quantity = snap[0], int(snap[1])
        if row.run_id:
            mine = sa.and_(w.writeback_date == row.beijing_date, w.run_id == row.run_id, w.bridge_id == row.bridge_id)
            found.outcomes = dict(conn.execute(sa.select(w.outcome, sa.func.count()).where(mine)
                                               .group_by(w.outcome)).all())
            reason = sa.func.coalesce(w.reason, "(none)")
            found.skipped_reasons = [tuple(x) for x in conn.execute(
                sa.select(reason, sa.func.count()).where(mine, w.outcome == "skipped")
                .group_by(reason).order_by(sa.func.count().desc()).limit(10))]
    return found


def recent_actions(engine: Engine, limit: int = 30, *, bridge_id: str | None = None) -> list[dict]:
    """What people did, in one bridge (None: in every bridge of the store)."""
    if bridge_id is None:
        return PersonActions(engine).history(limit, every_bridge=True)
    return PersonActions(engine, bridge_id=bridge_id).history(limit)
