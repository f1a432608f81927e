"""Every state change the pipelines make in the integration store, one transaction each.

Concurrency: a state change is a single conditional ``UPDATE ... WHERE state IN (allowed)``, so
the database decides atomically which caller wins; two runs can never both claim an order.
Refused changes raise ``InvalidTransition`` (or ``UnknownOrder``); losing a claim is normal and
returns ``False``. All timestamps come from ``clock`` (aware UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .base import (  # noqa: F401 - re-exported: callers import the refusals from here
    CONFLICT_RETRIES,
    DEFAULT_STALE_SENDING,
    INSERT_CHUNK,
    LOOKUP_CHUNK,
    MESSAGE_MAX,
    REASON_MAX,
    InvalidTransition,
    StoreError,
    UnknownOrder,
    _clip,
    _run,
    _str_or_none,
    _utc,
    _violations_json,
)
from .cursors import Cursors
from .dialect_sql import batches, insert_ignoring_duplicates, is_transient_conflict, upsert
from .order_claims import DEFAULT_LEASE, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF_MAX, OrderClaims
from .schema import (
    ERROR_CODE,
    exchange_log,
    inventory_snapshot,
    item_sync,
    order_sync,
    shipment_inbox,
    shipment_package,
    stock_writeback,
)
from .scrub import scrub_text, scrub_url
from .states import (
    EXCHANGE_DIRECTIONS,
    EXCHANGE_OUTCOMES,
    NEVER_SENT,
    ORDER_TRANSITIONS,
    WRITEBACK_OUTCOMES,
)
from .types import utc_now

@dataclass(frozen=True)
class InboxInsert:
    """Result of recording a shipment confirmation: ``already_seen`` for a repeated outBizCode."""

    inbox_id: int
    already_seen: bool


class IntegrationStore(OrderClaims, Cursors):
    """The repository over one Engine. Cheap to create; holds no connection between calls.

    Claims, leases and retry backoff of orders: ``order_claims.OrderClaims``; per-flow watermarks:
    ``cursors.Cursors``."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        stale_sending_after: timedelta = DEFAULT_STALE_SENDING,
        lease: timedelta = DEFAULT_LEASE,
        retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.stale_sending_after = stale_sending_after
        self.lease, self.retry_backoff, self.retry_backoff_max = lease, retry_backoff, retry_backoff_max

    # ------------------------------------------------------------------ items

    def ensure_items(self, rows: Iterable[Mapping[str, Any]], *, run_id: str | None = None) -> int:
        """Register SKUs (``item_code``, optional ``sku_id``) as ``pending``; known codes are left
        alone. Returns how many codes were new."""
        now = self.clock()
        prepared = [
            {
                "item_code": r["item_code"],
                "sku_id": _str_or_none(r.get("sku_id")),
                "state": "pending",
                "attempts": 0,
                "run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        return self._insert_missing(item_sync, "item_code", prepared)

    def items(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The sync rows of ``codes`` that exist, by item code."""
        return self._rows_by_key(item_sync, "item_code", codes)

    def item_codes_in_state(self, state: str, limit: int | None = None) -> list[str]:
        """Item codes in ``state`` (e.g. ``failed``: older than any watermark, still to sync)."""
        stmt = sa.select(item_sync.c.item_code).where(item_sync.c.state == state).order_by(item_sync.c.id).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def items_needing_sync(self, content_hashes: Mapping[str, str]) -> list[str]:
        """Of ``{item_code: hash of the document we would send}``, the codes that are not yet synced
        with exactly that content, in the given order."""
        known = self._rows_by_key(
            item_sync, "item_code", content_hashes, columns=("item_code", "state", "content_hash")
        )
        return [
            code
            for code, digest in content_hashes.items()
            if not (code in known and known[code]["state"] == "synced" and known[code]["content_hash"] == digest)
        ]

    def record_item_synced(
        self,
        item_code: str,
        *,
        content_hash: str,
        wms_item_id: str | None = None,
        sku_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """The warehouse accepted singleitem.synchronize for this content. Keeps a known itemId
        when the answer carries none."""
        now = self.clock()
        self._update_item(item_code, sku_id, run_id, now, {
            "state": "synced",
            "content_hash": content_hash,
            "wms_item_id": sa.func.coalesce(_str_or_none(wms_item_id), item_sync.c.wms_item_id),
            "first_synced_at": sa.func.coalesce(item_sync.c.first_synced_at, _utc(now)),
            "last_synced_at": now,
            "last_error_code": None,
            "last_error_message": None,
            "violations": None,
        })

    def record_item_failed(
        self,
        item_code: str,
        *,
        error_code: str | None,
        message: str | None,
        sku_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """The request failed (transport, gateway or business failure); ``content_hash`` keeps the
        last content that did sync, so the next run tries again."""
        self._update_item(item_code, sku_id, run_id, self.clock(), {
            "state": "failed",
            "last_error_code": _clip(error_code, ERROR_CODE),
            "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
        })

    def record_item_rejected(
        self, item_code: str, violations: Sequence[Any], *, sku_id: str | None = None, run_id: str | None = None
    ) -> None:
        """Our own field rules refused the item before sending; the shop data needs fixing."""
        self._update_item(item_code, sku_id, run_id, self.clock(), {
            "state": "rejected",
            "last_error_code": "VALIDATION",
            "last_error_message": _clip("; ".join(str(v) for v in violations), MESSAGE_MAX),
            "violations": _violations_json(violations),
        }, count_attempt=False)

    def _update_item(
        self, item_code: str, sku_id: str | None, run_id: str | None, now: datetime,
        values: dict[str, Any], count_attempt: bool = True,
    ) -> None:
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, item_sync, [{
                "item_code": item_code, "sku_id": _str_or_none(sku_id), "state": "pending", "attempts": 0,
                "run_id": run_id, "created_at": now, "updated_at": now,
            }], ["item_code"])
            values = {**values, "updated_at": now, **_run(run_id)}
            if sku_id is not None:
                values["sku_id"] = _str_or_none(sku_id)
            if count_attempt:
                values["attempts"] = item_sync.c.attempts + 1
            conn.execute(sa.update(item_sync).where(item_sync.c.item_code == item_code).values(**values))

    # ----------------------------------------------------------------- orders

    def ensure_pending(self, rows: Iterable[Mapping[str, Any]], *, run_id: str | None = None) -> int:
        """Register paid orders (``delivery_order_code``, ``shop_order_id``, optional aware
        ``paid_at``) as ``pending``. Idempotent on deliveryOrderCode: a known order keeps its state.
        Safe to run concurrently. Returns how many codes were new to this call (a run racing on
        the same codes may count some of them too)."""
        now = self.clock()
        prepared = [
            {
                "delivery_order_code": r["delivery_order_code"],
                "shop_order_id": str(r["shop_order_id"]),
                "paid_at": r.get("paid_at"),
                "state": "pending",
                "attempts": 0,
                "run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        return self._insert_missing(order_sync, "delivery_order_code", prepared)

    def order(self, code: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(order_sync).where(order_sync.c.delivery_order_code == code)).first()
        return dict(row._mapping) if row else None

    def order_states(self, codes: Iterable[str]) -> dict[str, str]:
        """``{deliveryOrderCode: state}`` for the known codes among ``codes`` (bulk)."""
        rows = self._rows_by_key(order_sync, "delivery_order_code", codes, columns=("delivery_order_code", "state"))
        return {code: row["state"] for code, row in rows.items()}

    def orders_by_shop_id(self, shop_order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Sync rows by shop order id, for matching shop cancellations and refunds."""
        return self._rows_by_key(order_sync, "shop_order_id", [str(i) for i in shop_order_ids])

    def mark_sent(
        self, code: str, wms_order_id: str | None, *, content_hash: str | None = None, run_id: str | None = None
    ) -> None:
        """deliveryorder.create succeeded; ``content_hash`` is the hash of the document sent."""
        now = self.clock()
        self._transition(code, "sent", {
            "wms_order_id": _str_or_none(wms_order_id),
            "content_hash": content_hash,
            "sent_at": now,
            "first_sent_at": sa.func.coalesce(order_sync.c.first_sent_at, _utc(now)),
            "last_error_code": None,
            "last_error_message": None,
            "last_error_retryable": None,
            "violations": None,
            "lease_expires_at": None,
            "next_attempt_at": None,
            **_run(run_id),
        })

    def mark_rejected(
        self,
        code: str,
        violations: Sequence[Any],
        *,
        error_code: str = "VALIDATION",
        message: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Refused by our own rules (field validation, an address the parser cannot split): the
        order is not sent until the shop data is fixed and it is requeued."""
        self._transition(code, "rejected", {
            "violations": _violations_json(violations),
            "last_error_code": _clip(error_code, ERROR_CODE),
            "last_error_message": _clip(message or "; ".join(str(v) for v in violations), MESSAGE_MAX),
            "last_error_retryable": False,
            **_run(run_id),
        })

    def requeue(self, code: str, *, run_id: str | None = None) -> None:
        """A failed or rejected order goes back to ``pending`` (after a fix, or by an operator)."""
        self._transition(code, "pending", _run(run_id))

    def request_cancel(self, code: str, *, run_id: str | None = None) -> str:
        """The shop cancelled or refunded the order. One that never reached the warehouse ends
        ``cancelled`` at once; a sent one becomes ``cancel_requested`` (order.cancel is due).
        Returns the new state."""
        now = self.clock()
        values = {"cancel_requested_at": now, "updated_at": now, **_run(run_id)}
        c = order_sync.c
        with self.engine.begin() as conn:
            withdrawn = conn.execute(
                sa.update(order_sync)
                .where(c.delivery_order_code == code, c.state.in_(sorted(NEVER_SENT)))
                .values(state="cancelled", cancelled_at=now, **values)
            )
            if withdrawn.rowcount == 1:
                return "cancelled"
            requested = conn.execute(
                sa.update(order_sync)
                .where(c.delivery_order_code == code, c.state.in_(sorted(ORDER_TRANSITIONS["cancel_requested"])))
                .values(state="cancel_requested", **values)
            )
            if requested.rowcount == 1:
                return "cancel_requested"
        self._refuse(code, "cancel_requested")

    def mark_cancelled(self, code: str, *, run_id: str | None = None) -> None:
        """The warehouse confirmed the cancellation (order.cancel success or a CANCELED callback)."""
        self._transition(
            code, "cancelled", {"cancelled_at": self.clock(), **_run(run_id)},
            sources=ORDER_TRANSITIONS["cancelled"] - NEVER_SENT,
        )

    def mark_cancel_failed(
        self, code: str, error_code: str | None, message: str | None, *, run_id: str | None = None
    ) -> None:
        """The warehouse refused order.cancel (usually: already shipped). Needs a person."""
        self._transition(code, "cancel_failed", {
            "last_error_code": _clip(error_code, ERROR_CODE),
            "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
            "last_error_retryable": False,
            **_run(run_id),
        })

    def mark_shipped(
        self,
        code: str,
        *,
        carrier_code: str | None,
        tracking_numbers: Sequence[str],
        shipped_at: datetime | None = None,
        partial: bool = False,
    ) -> None:
        """A deliveryorder.confirm was processed: ``partial`` for an intermediate one. Tracking
        numbers accumulate over partial confirmations (comma-separated, no duplicates)."""
        target = "partially_shipped" if partial else "shipped"
        now = self.clock()
        c = order_sync.c
        with self.engine.begin() as conn:
            # The state-checked UPDATE comes first: it takes the row (SQLite: the write) lock, so the
            # read-merge-write of tracking numbers below cannot interleave with another writer.
            moved = conn.execute(
                sa.update(order_sync)
                .where(c.delivery_order_code == code, c.state.in_(sorted(ORDER_TRANSITIONS[target])))
                .values(state=target, shipped_at=shipped_at or now, updated_at=now)
            )
            if moved.rowcount == 1:
                known = conn.execute(sa.select(c.tracking_numbers).where(c.delivery_order_code == code)).scalar()
                values = {"tracking_numbers": _merge_tracking(known, tracking_numbers)}
                if carrier_code:
                    values["carrier_code"] = carrier_code
                conn.execute(sa.update(order_sync).where(c.delivery_order_code == code).values(**values))
                return
        self._refuse(code, target)

    def mark_shop_written(self, code: str, *, run_id: str | None = None) -> None:
        """The shipment was written back to the shop (status, tracking number, carrier)."""
        now = self.clock()
        self._transition(
            code, None, {"shop_written_at": now, **_run(run_id)},
            sources=frozenset({"shipped", "partially_shipped"}),
        )

    def _transition(
        self, code: str, target: str | None, values: dict[str, Any], *, sources: frozenset[str] | None = None
    ) -> None:
        """``target=None`` updates columns without changing the state (still state-checked)."""
        sources = ORDER_TRANSITIONS[target] if sources is None else sources
        now = self.clock()
        values = {**values, "updated_at": now}
        if target is not None:
            values["state"] = target
        stmt = (
            sa.update(order_sync)
            .where(order_sync.c.delivery_order_code == code, order_sync.c.state.in_(sorted(sources)))
            .values(**values)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 1:
                return
        self._refuse(code, target or "shop_written")

    def _refuse(self, code: str, target: str):
        with self.engine.connect() as conn:
            current = conn.execute(
                sa.select(order_sync.c.state).where(order_sync.c.delivery_order_code == code)
            ).scalar_one_or_none()
        if current is None:
            raise UnknownOrder(code)
        raise InvalidTransition(code, current, target)

    # ----------------------------------------------------------- exchange log

    def log_exchange(
        self,
        *,
        direction: str,
        method: str,
        outcome: str,
        business_key: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        http_status: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        duration_ms: int | None = None,
        run_id: str | None = None,
        url: str | None = None,
        logged_at: datetime | None = None,
    ) -> int:
        """Append one exchange with the warehouse; returns its id. ``url`` loses its ``sign`` and
        any secret parameter; bodies and messages are scrubbed of ``sign=``/``secret=`` values."""
        if direction not in EXCHANGE_DIRECTIONS:
            raise ValueError(f"direction must be one of {EXCHANGE_DIRECTIONS}, not {direction!r}")
        if outcome not in EXCHANGE_OUTCOMES:
            raise ValueError(f"outcome must be one of {EXCHANGE_OUTCOMES}, not {outcome!r}")
        row = {
            "logged_at": logged_at or self.clock(),
            "direction": direction,
            "method": method,
            "business_key": business_key,
            "request_url": scrub_text(scrub_url(url)),
            "request_body": scrub_text(request_body),
            "response_body": scrub_text(response_body),
            "http_status": http_status,
            "outcome": outcome,
            "error_code": _clip(error_code, ERROR_CODE),
            "error_message": _clip(scrub_text(error_message), MESSAGE_MAX),
            "duration_ms": None if duration_ms is None else int(duration_ms),
            "run_id": run_id,
        }
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(exchange_log).values(**row)).inserted_primary_key[0]

    def purge_exchange_log(self, older_than: datetime) -> int:
        """Retention: delete entries logged before ``older_than``. The only delete on this table."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(exchange_log).where(exchange_log.c.logged_at < older_than)).rowcount

    # --------------------------------------------------------- shipment inbox

    def record_shipment(
        self,
        *,
        out_biz_code: str,
        delivery_order_code: str,
        raw_body: str,
        packages: Sequence[Mapping[str, Any]] = (),
        delivery_order_id: str | None = None,
        warehouse_code: str | None = None,
        status: str | None = None,
        confirm_type: int | None = None,
        order_confirm_at: datetime | None = None,
    ) -> InboxInsert:
        """Store a deliveryorder.confirm and its packages, once per outBizCode. A repeated
        outBizCode stores nothing and returns ``already_seen=True`` with the first copy's id.

        ``packages``: mappings with ``logistics_code``, ``logistics_name``, ``express_code``,
        ``package_code`` and ``items`` (mappings with ``item_code``, ``item_id``, ``quantity``).
        When a message has no outBizCode, pass a hash of its body so a verbatim resend is still
        recognised.
        """
        if not out_biz_code:
            raise ValueError("out_biz_code is required: it is the confirmation's idempotency key")
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                inbox_id = conn.execute(sa.insert(shipment_inbox).values(
                    out_biz_code=out_biz_code,
                    delivery_order_code=delivery_order_code,
                    delivery_order_id=_str_or_none(delivery_order_id),
                    warehouse_code=warehouse_code,
                    status=status,
                    confirm_type=confirm_type,
                    order_confirm_at=order_confirm_at,
                    raw_body=scrub_text(raw_body),
                    received_at=now,
                )).inserted_primary_key[0]
                package_rows = _package_rows(inbox_id, delivery_order_code, packages)
                if package_rows:
                    conn.execute(sa.insert(shipment_package), package_rows)
            return InboxInsert(inbox_id, already_seen=False)
        except IntegrityError:
            with self.engine.connect() as conn:
                existing = conn.execute(
                    sa.select(shipment_inbox.c.id).where(shipment_inbox.c.out_biz_code == out_biz_code)
                ).scalar_one_or_none()
            if existing is None:
                raise
            return InboxInsert(existing, already_seen=True)

    def unprocessed_shipments(self, limit: int = 500) -> list[dict[str, Any]]:
        """Confirmations not yet applied to wms_order_sync and the shop, oldest first."""
        c = shipment_inbox.c
        stmt = (
            sa.select(*(col for col in shipment_inbox.c if col.name != "raw_body"))
            .where(c.processed_at.is_(None))
            .order_by(c.received_at, c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def shipment_packages(self, inbox_id: int) -> list[dict[str, Any]]:
        stmt = (
            sa.select(shipment_package)
            .where(shipment_package.c.inbox_id == inbox_id)
            .order_by(shipment_package.c.package_no, shipment_package.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def mark_shipment_processed(self, inbox_id: int, *, error: str | None = None) -> None:
        """Done with a confirmation; ``error`` records why it could not be applied (it still leaves
        the queue: a person looks at ``process_error``)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(shipment_inbox)
                .where(shipment_inbox.c.id == inbox_id)
                .values(processed_at=self.clock(), process_error=_clip(error, MESSAGE_MAX))
            )

    # ------------------------------------------------------ inventory & stock

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
                "run_id": run_id,
            })
        with self.engine.begin() as conn:
            for batch in batches(prepared):
                conn.execute(sa.insert(stock_writeback), list(batch))
        return len(prepared)

    # --------------------------------------------------------------- helpers

    def _insert_missing(self, table: sa.Table, key: str, rows: list[dict[str, Any]]) -> int:
        """Insert the rows whose ``key`` is not stored yet, batch by batch; returns how many."""
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row[key], row)
        rows = list(unique.values())
        inserted = 0
        for chunk in batches(rows, INSERT_CHUNK):
            inserted += self._retrying(lambda: self._insert_missing_chunk(table, key, chunk))
        return inserted

    def _insert_missing_chunk(self, table: sa.Table, key: str, chunk: Sequence[dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            existing: set[str] = set()
            for codes in batches([r[key] for r in chunk], LOOKUP_CHUNK):
                existing.update(conn.execute(sa.select(table.c[key]).where(table.c[key].in_(codes))).scalars())
            new = [r for r in chunk if r[key] not in existing]
            if not new:
                return 0
            try:
                # Plain multi-row INSERT is the fast path (several times faster than the
                # conflict-tolerant form on PostgreSQL); a concurrent run that inserted some of the
                # same keys meanwhile sends us to the tolerant one.
                with conn.begin_nested():
                    conn.execute(sa.insert(table), new)
            except IntegrityError:
                insert_ignoring_duplicates(conn, table, new, [key])
            return len(new)

    @staticmethod
    def _retrying(work: Callable[[], Any]) -> Any:
        """Run a whole transaction again when concurrent writers deadlocked on it."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                return work()
            except sa.exc.DBAPIError as exc:
                if attempt == CONFLICT_RETRIES - 1 or not is_transient_conflict(exc):
                    raise
        raise AssertionError("unreachable")

    def _rows_by_key(
        self, table: sa.Table, key: str, values: Iterable[str], columns: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        cols = [table.c[name] for name in columns] if columns else list(table.c)
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(values)), LOOKUP_CHUNK):
                for row in conn.execute(sa.select(*cols).where(table.c[key].in_(chunk))):
                    out[row._mapping[key]] = dict(row._mapping)
        return out


def _merge_tracking(existing: str | None, new: Sequence[str]) -> str | None:
    numbers = [n for n in (existing or "").split(",") if n]
    numbers += [n for n in new if n and n not in numbers]
    return ",".join(dict.fromkeys(numbers)) or None


def _package_rows(inbox_id: int, delivery_order_code: str, packages: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per (package, item); a package without items still gets one row."""
    rows = []
    for package_no, package in enumerate(packages, start=1):
        base = {
            "inbox_id": inbox_id,
            "delivery_order_code": delivery_order_code,
            "package_no": package_no,
            "logistics_code": package.get("logistics_code"),
            "logistics_name": package.get("logistics_name"),
            "express_code": package.get("express_code") or None,
            "package_code": package.get("package_code") or None,
        }
        items = package.get("items") or [{}]
        for item in items:
            quantity = item.get("quantity")
            rows.append({
                **base,
                "item_code": item.get("item_code"),
                "item_id": _str_or_none(item.get("item_id")),
                "quantity": None if quantity in (None, "") else int(quantity),
            })
    return rows
