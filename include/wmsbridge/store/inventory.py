"""wms_inventory_run / wms_inventory_snapshot / wms_stock_writeback, the inventory aggregate: the
run ledger that keeps "one full sync per Beijing day", the snapshot of a whole day replaced at once,
and every stock value the write-back decided.

The ledger (``wms_inventory_run``) is how the bridge itself keeps the warehouse's limit ("once a
day is normal; too many calls are refused"), whatever started the run: the row holding the day has
``holds_date`` set, and a unique constraint lets one row per day hold it, so two runs racing for
the same day cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from qimen.inventory import InventoryRow

from .base import REASON_MAX, Repository, _clip, _str_or_none, run_columns
from .dialect_sql import batches
from .schema import inventory_run, inventory_snapshot, stock_writeback
from .states import INVENTORY_RUN_VERDICTS, WRITEBACK_OUTCOMES

MESSAGE_MAX = 4000
# A `running` holder older than this is a dead process, not a run still at work.
DEFAULT_STALE_RUNNING = timedelta(hours=3)
_CLAIM_ATTEMPTS = 4


@dataclass(frozen=True)
class DayClaim:
    """Outcome of asking for a Beijing day's full sync: ``run_row_id`` is this run's ledger row;
    ``refused`` with ``holder`` (the ledger row holding the day) when the run must not go on."""

    run_row_id: int
    refused: bool
    holder: dict[str, Any] | None = None
    took_over: dict[str, Any] | None = None  # a dead `running` holder this run replaced


@dataclass(frozen=True)
class DailyStock:
    """What the newest completed daily sync wrote to the shop, as the stock-change flow needs it:
    the Beijing day, when the warehouse was first asked (``queried_from``: aware UTC, the start of
    the run that called inventory.query) and, of the item codes asked about, those whose shop stock
    that run set from the warehouse's answer (written, or already equal)."""

    beijing_date: date
    queried_from: datetime
    from_answer: frozenset[str]


class InventoryRepository(Repository):
    """The daily stock sync's ledger, snapshot and write-back decisions."""

    stale_running_after: timedelta = DEFAULT_STALE_RUNNING

    # ------------------------------------------------------------------ ledger

    def claim_day(self, beijing_date: date, run_id: str | None, *, forced: bool) -> DayClaim:
        """Record the start of a full sync for ``beijing_date``.

        - nobody holds the day: this run takes it (forced or not);
        - the holder is `running` but is this same run (a retried or cleared task whose process
          died) or is older than the stale delay: it is marked `abandoned` and this run takes over;
        - otherwise a forced run goes on without holding the day, and an unforced one is recorded
          as `refused` and must stop.
        """
        took_over = None
        for _ in range(_CLAIM_ATTEMPTS):
            now = self.clock()
            holder = self.holder(beijing_date)
            if holder is not None and holder["verdict"] == "running" and (
                holder["run_id"] == run_id or holder["started_at"] < now - self.stale_running_after
            ):
                self._finish(holder["id"], "abandoned", release=True,
                             message=f"taken over by run {run_id} (its process had stopped)")
                took_over, holder = holder, None
            if holder is None:
                try:
                    row_id = self._insert(beijing_date, run_id, forced, "running", holds=True, now=now)
                except IntegrityError:
                    continue  # another run took the day meanwhile: look again
                return DayClaim(row_id, refused=False, took_over=took_over)
            if forced:
                return DayClaim(self._insert(beijing_date, run_id, True, "running", holds=False, now=now),
                                refused=False, holder=holder)
            message = (f"refused: Beijing day {beijing_date} already had its full stock sync "
                       f"(run {holder['run_id']}, {holder['verdict']}, started {holder['started_at']:%H:%M} UTC); "
                       "trigger with force to query the warehouse again")
            row_id = self._insert(beijing_date, run_id, forced, "refused", holds=False, now=now, message=message)
            return DayClaim(row_id, refused=True, holder=holder)
        raise RuntimeError(f"could not claim Beijing day {beijing_date}: the ledger kept changing")

    def holder(self, beijing_date: date) -> dict[str, Any] | None:
        """The ledger row holding ``beijing_date``'s full sync, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(inventory_run).where(self._mine(inventory_run),
                                                              inventory_run.c.holds_date == beijing_date)).first()
        return dict(row._mapping) if row else None

    def finish(self, row_id: int, verdict: str, *, counts: Mapping[str, int] | None = None,
               message: str | None = None) -> None:
        """Close this run's ledger row. A `failed` run gives the day back (a retry may run it)."""
        self._finish(row_id, verdict, release=verdict == "failed", counts=counts, message=message)

    def _insert(self, beijing_date: date, run_id: str | None, forced: bool, verdict: str, *, holds: bool,
                now: datetime, message: str | None = None) -> int:
        row = {
            "bridge_id": self.bridge_id, "beijing_date": beijing_date, "holds_date": beijing_date if holds else None,
            **run_columns(run_id),
            "forced": bool(forced), "verdict": verdict, "started_at": now,
            "finished_at": None if verdict == "running" else now, "message": message,
        }
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(inventory_run).values(**row)).inserted_primary_key[0]

    def _finish(self, row_id: int, verdict: str, *, release: bool, counts: Mapping[str, int] | None = None,
                message: str | None = None) -> None:
        if verdict not in INVENTORY_RUN_VERDICTS:
            raise ValueError(f"verdict must be one of {INVENTORY_RUN_VERDICTS}, not {verdict!r}")
        values: dict[str, Any] = {"verdict": verdict, "finished_at": self.clock(), **(counts or {})}
        if message is not None:
            values["message"] = message[:MESSAGE_MAX]
        if release:
            values["holds_date"] = None
        with self.engine.begin() as conn:
            conn.execute(sa.update(inventory_run).where(self._mine(inventory_run), inventory_run.c.id == row_id)
                         .values(**values))

    def daily_stock(self, item_codes: Iterable[str]) -> DailyStock | None:
        """The newest ``completed`` daily sync of this bridge (None before the first one). A run that
        wrote the day's stored snapshot again (from_snapshot: no call of its own) wrote what an
        earlier run of that day queried: the query times are that run's. ``from_answer`` comes from
        the writing run's wms_stock_writeback rows: ``applied``, or skipped as ``unchanged``; a SKU
        the warehouse said nothing about (or the shop could not read) kept its shop stock."""
        r, w = inventory_run.c, stock_writeback.c
        codes = sorted(set(item_codes))
        with self.engine.connect() as conn:
            done = conn.execute(sa.select(inventory_run).where(self._mine(inventory_run), r.verdict == "completed")
                                .order_by(r.started_at.desc(), r.id.desc()).limit(1)).first()
            if done is None:
                return None
            queried = done
            if not done.calls and done.skus_queried:
                queried = conn.execute(sa.select(inventory_run).where(
                    self._mine(inventory_run), r.beijing_date == done.beijing_date, r.id != done.id,
                    r.calls > 0, r.rows_saved > 0, r.started_at <= done.started_at,
                ).order_by(r.started_at.desc(), r.id.desc()).limit(1)).first() or done
            from_answer: set[str] = set()
            for chunk in (codes[i:i + 500] for i in range(0, len(codes), 500)):
                from_answer.update(conn.execute(sa.select(w.item_code).distinct().where(
                    self._mine(stock_writeback), w.writeback_date == done.beijing_date, w.item_code.in_(chunk),
                    w.run_id.is_(None) if done.run_id is None else w.run_id == done.run_id,
                    w.recorded_at >= done.started_at,
                    w.recorded_at <= (done.finished_at or self.clock()),
                    sa.or_(w.outcome == "applied", w.reason == "unchanged"))).scalars())
        return DailyStock(beijing_date=done.beijing_date, queried_from=queried.started_at,
                          from_answer=frozenset(from_answer))

    # ---------------------------------------------------------------- snapshot

    def snapshot(self, snapshot_date: date) -> list[InventoryRow]:
        """The stored snapshot of ``snapshot_date`` as the warehouse's answer rows (empty: none)."""
        t = inventory_snapshot.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(inventory_snapshot)
                                 .where(self._mine(inventory_snapshot), t.snapshot_date == snapshot_date)
                                 .order_by(t.id)).all()
        return [InventoryRow(item_code=r.item_code, inventory_type=r.inventory_type, quantity=r.quantity,
                             lock_quantity=r.lock_quantity, warehouse_code=r.warehouse_code, item_id=r.item_id,
                             batch_code=r.batch_code, product_date=r.product_date, expire_date=r.expire_date)
                for r in found]

    def replace_day(self, snapshot_date: date, rows: Iterable[Mapping[str, Any]], *, run_id: str | None = None,
                    fetched_at: datetime | None = None) -> int:
        """Make ``rows`` the whole snapshot of ``snapshot_date``, in one transaction: that day's
        earlier rows go (every warehouse and item, so an item missing from a re-run keeps no stale
        row), other days stay untouched. Rows with the same key are summed. Returns the rows saved."""
        fetched_at = fetched_at or self.clock()
        merged = merge_snapshot_rows(snapshot_date, rows, fetched_at=fetched_at, run_id=run_id)

        def replace() -> None:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(inventory_snapshot).where(self._mine(inventory_snapshot),
                                                                 inventory_snapshot.c.snapshot_date == snapshot_date))
                for batch in batches([self._own(row) for row in merged.values()]):
                    conn.execute(sa.insert(inventory_snapshot), list(batch))

        self._retrying(replace)
        return len(merged)

    def record_stock_writebacks(
        self, writeback_date: date, rows: Iterable[Mapping[str, Any]], *, run_id: str | None = None
    ) -> int:
        """Append one row per SKU considered by the stock write-back: the inputs of the decision
        (``shop_stock_before``, ``wms_quantity``, ``pending_quantity``), ``written_value`` and
        ``outcome`` (applied/skipped) with ``reason``. Returns the rows written."""
        now = self.clock()
        prepared = []
        for r in rows:
            if r["outcome"] not in WRITEBACK_OUTCOMES:
                raise ValueError(f"outcome must be one of {WRITEBACK_OUTCOMES}, not {r['outcome']!r}")
            prepared.append({
                "bridge_id": self.bridge_id,
                "writeback_date": writeback_date,
                "item_code": r["item_code"],
                "sku_id": _str_or_none(r.get("sku_id")),
                "shop_stock_before": r.get("shop_stock_before"),
                "wms_quantity": r.get("wms_quantity"),
                "pending_quantity": r.get("pending_quantity"),
                "written_value": r.get("written_value"),
                "outcome": r["outcome"],
                "reason": _clip(r.get("reason"), REASON_MAX),
                "recorded_at": now,
                **run_columns(run_id),
            })
        with self.engine.begin() as conn:
            for batch in batches(prepared):
                conn.execute(sa.insert(stock_writeback), list(batch))
        return len(prepared)


def merge_snapshot_rows(
    snapshot_date: date, rows: Iterable[Mapping[str, Any]], *, fetched_at: datetime, run_id: str | None
) -> dict[tuple, dict[str, Any]]:
    """inventory.query rows as wms_inventory_snapshot rows, keyed by (warehouse, item, inventory
    type, batch); rows with the same key are summed (a missing type is ZP, a missing batch '')."""
    merged: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["warehouse_code"], r["item_code"], r.get("inventory_type") or "ZP", r.get("batch_code") or "")
        if key in merged:
            merged[key]["quantity"] += int(r.get("quantity") or 0)
            merged[key]["lock_quantity"] += int(r.get("lock_quantity") or 0)
            continue
        merged[key] = {
            "snapshot_date": snapshot_date,
            "warehouse_code": key[0],
            "item_code": key[1],
            "inventory_type": key[2],
            "batch_code": key[3],
            "item_id": _str_or_none(r.get("item_id")),
            "quantity": int(r.get("quantity") or 0),
            "lock_quantity": int(r.get("lock_quantity") or 0),
            "product_date": r.get("product_date"),
            "expire_date": r.get("expire_date"),
            "fetched_at": fetched_at,
            "run_id": run_id,
        }
    return merged
