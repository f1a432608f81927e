"""wms_inventory_snapshot / wms_stock_writeback: daily stock and the write-back decisions.

Mixed into ``repo.IntegrationStore``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from .base import LOOKUP_CHUNK, REASON_MAX, _clip, _str_or_none, run_columns
from .dialect_sql import batches, upsert
from .schema import inventory_snapshot, stock_writeback
from .states import WRITEBACK_OUTCOMES


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


class InventoryAndStock:
    """Inventory snapshots (replaced per day) and the stock write-back history."""

    def save_inventory_snapshot(
        self,
        snapshot_date: date,
        rows: Iterable[Mapping[str, Any]],
        *,
        fetched_at: datetime | None = None,
        run_id: str | None = None,
    ) -> int:
        """Store one inventory.query answer for ``snapshot_date``. Re-running replaces: every
        (warehouse, item) in ``rows`` loses that day's earlier rows and gets the new ones, in one
        transaction, so a re-fetched item never keeps a stale batch. Rows with the same key
        (warehouse, item, inventory type, batch) are summed. Returns the rows written."""
        fetched_at = fetched_at or self.clock()
        merged = merge_snapshot_rows(snapshot_date, rows, fetched_at=fetched_at, run_id=run_id)
        items_by_warehouse: dict[str, list[str]] = {}
        for warehouse, item, _, _ in merged:
            items_by_warehouse.setdefault(warehouse, []).append(item)
        c = inventory_snapshot.c

        def replace() -> None:
            with self.engine.begin() as conn:
                for warehouse, items in items_by_warehouse.items():
                    for chunk in batches(sorted(set(items)), LOOKUP_CHUNK):
                        conn.execute(sa.delete(inventory_snapshot).where(
                            c.snapshot_date == snapshot_date, c.warehouse_code == warehouse, c.item_code.in_(chunk)
                        ))
                # upsert, not insert: a concurrent re-run of the same day overwrites instead of failing
                upsert(
                    conn, inventory_snapshot, list(merged.values()),
                    key=("snapshot_date", "warehouse_code", "item_code", "inventory_type", "batch_code"),
                    update=("item_id", "quantity", "lock_quantity", "product_date", "expire_date", "fetched_at", "run_id"),
                )

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
