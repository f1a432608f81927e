"""The store's side of order.cancel: which orders a cancel run must look at, and the few state
changes repo.IntegrationStore does not make (kept here so repo.py does not grow).

The transitions themselves are the ones of states.ORDER_TRANSITIONS; every change is one
conditional UPDATE, so a cancel run and a shipment confirmation racing on the same order cannot
both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .dialect_sql import batches
from .base import LOOKUP_CHUNK, MESSAGE_MAX, UNHANDLED, InvalidTransition, _clip, _run
from .repo import IntegrationStore
from .schema import ERROR_CODE
from .schema import order_sync
from .scrub import scrub_text
from .types import UtcDateTime

VIEW = "wms_cancel_needs_person"  # migrations/versions/0004_cancellations.py
REFUND_AFTER_SHIPMENT = "REFUND_AFTER_SHIPMENT"  # last_error_code of a refund after shipment
REFUND_AFTER_SHIPMENT_ACTION = "refund after shipment: intercept or return the parcel"
SHIPPED = frozenset({"shipped", "partially_shipped"})

_COLUMNS = ("delivery_order_code", "shop_order_id", "state", "wms_order_id", "updated_at",
            "cancel_requested_at", "last_error_code", "lease_expires_at")


class CancelStore:
    """Cancellation queries and transitions over an ``IntegrationStore`` (same engine, same clock)."""

    def __init__(self, store: IntegrationStore) -> None:
        self.store = store

    @property
    def _engine(self):
        return self.store.engine

    def rows(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{deliveryOrderCode: row}`` (state, wms_order_id, ...) for the known codes."""
        c = order_sync.c
        out: dict[str, dict[str, Any]] = {}
        with self._engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(codes)), LOOKUP_CHUNK):
                stmt = sa.select(*(c[n] for n in _COLUMNS)).where(c.delivery_order_code.in_(chunk))
                out.update({r.delivery_order_code: dict(r._mapping) for r in conn.execute(stmt)})
        return out

    def is_stale_sending(self, row: dict[str, Any]) -> bool:
        """A ``sending`` row whose run died mid-request: its lease ran out (the same rule as the
        push's reclaim, ``order_claims``), or, for a row without a lease, it is older than
        ``stale_sending_after``."""
        if row["state"] != "sending":
            return False
        now = self.store.clock()
        lease = row.get("lease_expires_at")
        if lease is not None:
            return lease < now
        return row["updated_at"] < now - self.store.stale_sending_after

    def unfinished(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Orders a cancel run must finish whatever its window: ``cancel_requested`` (a passing
        failure or a dead run left order.cancel due), orders that shipped after the shop refunded
        them (``cancel_requested_at`` set), and stale ``sending`` rows (their shop status decides)."""
        c = order_sync.c
        now = self.store.clock()
        stmt = (
            sa.select(*(c[n] for n in _COLUMNS))
            .where(sa.or_(
                c.state == "cancel_requested",
                sa.and_(c.state.in_(sorted(SHIPPED)), c.cancel_requested_at.is_not(None)),
                self.store.abandoned_sending(now),
            ))
            .order_by(c.updated_at, c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def request_cancel_in_flight(self, code: str, *, run_id: str | None = None) -> bool:
        """A stale ``sending`` order the shop cancelled: its create may have reached the warehouse,
        so order.cancel is due (``cancel_requested``). False when the row is no longer a stale
        ``sending`` one (the push finished it meanwhile): the caller looks again."""
        now = self.store.clock()
        c = order_sync.c
        stmt = (
            sa.update(order_sync)
            .where(c.delivery_order_code == code, self.store.abandoned_sending(now))
            .values(state="cancel_requested", cancel_requested_at=now, updated_at=now, lease_expires_at=None, **UNHANDLED,
                    **_run(run_id))
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def note_cancel_retry(self, code: str, error_code: str | None, message: str | None,
                          *, run_id: str | None = None) -> bool:
        """order.cancel failed for a passing reason: stays ``cancel_requested`` (a later run sends
        it again), with the failure recorded. False when the order left ``cancel_requested``
        meanwhile (a shipment confirmation moved it)."""
        now = self.store.clock()
        c = order_sync.c
        stmt = (
            sa.update(order_sync)
            .where(c.delivery_order_code == code, c.state == "cancel_requested")
            .values(last_error_code=_clip(error_code, ERROR_CODE),
                    last_error_message=_clip(scrub_text(message), MESSAGE_MAX),
                    last_error_retryable=True, updated_at=now, **_run(run_id))
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def mark_refund_after_shipment(self, code: str, detail: str | None = None, *, run_id: str | None = None) -> None:
        """The shop refunded an order the warehouse shipped (or refused to cancel because it
        shipped): ``cancel_failed``, for a person to intercept or take back the parcel."""
        message = REFUND_AFTER_SHIPMENT_ACTION + (f" ({detail})" if detail else "")
        now = self.store.clock()
        try:
            self.store._transition(code, "cancel_failed", {
                "cancel_requested_at": sa.func.coalesce(order_sync.c.cancel_requested_at,
                                                        sa.literal(now, UtcDateTime())),
                "last_error_code": REFUND_AFTER_SHIPMENT,
                "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
                "last_error_retryable": False,
                **_run(run_id),
            })
        except InvalidTransition as err:
            if err.current != "cancel_failed":
                raise
            # Already waiting for a person: another run at the same time decided so a moment ago
            # (found by make chaos). Its reason stays; this run reports the order the same way.

    def needs_person(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The rows of the ``wms_cancel_needs_person`` view (what a person must deal with)."""
        with self._engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM {VIEW} ORDER BY updated_at"))
            return [dict(r._mapping) for r in result.fetchmany(limit)]
