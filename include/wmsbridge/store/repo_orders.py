"""wms_order_sync: registration and the order state machine (claims: ``order_claims``).

Mixed into ``repo.IntegrationStore``; transitions are single conditional UPDATEs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .base import (
    MESSAGE_MAX,
    InvalidTransition,
    UnknownOrder,
    _clip,
    _run,
    UNHANDLED,
    _violations_json,
    run_columns,
)
from .schema import ERROR_CODE, order_sync
from .scrub import scrub_text
from .states import NEVER_SENT, ORDER_TRANSITIONS


class OrderRecords:
    """Orders: registration, lookups and every state transition but claiming."""

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
                **run_columns(run_id),
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

    def order_keys(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{deliveryOrderCode: {state, shop_order_id}}`` for the known codes among ``codes`` (bulk):
        whose order a code is, and where it stands."""
        return self._rows_by_key(order_sync, "delivery_order_code", codes,
                                 columns=("delivery_order_code", "state", "shop_order_id"))

    def states_now(self, codes: Iterable[str]) -> dict[str, str | None]:
        """``{code: its state now}`` for codes whose transition was refused (None: unknown code)."""
        codes = list(codes)
        if not codes:
            return {}
        states = self.order_states(codes)
        return {code: states.get(code) for code in codes}

    def orders_by_shop_id(self, shop_order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Sync rows by shop order id, for matching shop cancellations and refunds."""
        return self._rows_by_key(order_sync, "shop_order_id", [str(i) for i in shop_order_ids])

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
        if code in self.mark_rejected_many({code: violations}, error_code=error_code, message=message, run_id=run_id):
            self._refuse(code, "rejected")

    def mark_rejected_many(
        self,
        violations_by_code: Mapping[str, Sequence[Any]],
        *,
        error_code: str = "VALIDATION",
        message: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, str | None]:
        """``mark_rejected`` for a chunk's rejects in ONE transaction (a shop with much bad data
        pays one commit per chunk, not one per order). Returns the orders whose transition was
        refused (another run moved them meanwhile), with their state now (None: unknown code)."""
        if not violations_by_code:
            return {}
        now = self.clock()
        c = order_sync.c
        one = (sa.update(order_sync)
               .where(c.delivery_order_code == sa.bindparam("b_code"), c.state.in_(sorted(ORDER_TRANSITIONS["rejected"])))
               .values(state="rejected", updated_at=now, last_error_retryable=False, **UNHANDLED,
                       violations=sa.bindparam("b_violations"), last_error_code=_clip(error_code, ERROR_CODE),
                       last_error_message=sa.bindparam("b_message"), **_run(run_id)))
        params = [{"b_code": code, "b_violations": _violations_json(found),
                   "b_message": _clip(message or "; ".join(str(v) for v in found), MESSAGE_MAX)}
                  for code, found in violations_by_code.items()]

        def work() -> list[str]:
            with self.engine.begin() as conn:
                return [p["b_code"] for p in params if conn.execute(one, p).rowcount != 1]

        return self.states_now(self._retrying(work))

    def requeue(self, code: str, *, run_id: str | None = None) -> None:
        """A failed or rejected order goes back to ``pending`` (after a fix, or by an operator)."""
        self._transition(code, "pending", _run(run_id))

    def request_cancel(self, code: str, *, run_id: str | None = None) -> str:
        """The shop cancelled or refunded the order. One that never reached the warehouse ends
        ``cancelled`` at once; a sent one becomes ``cancel_requested`` (order.cancel is due).
        Returns the new state."""
        now = self.clock()
        values = {"cancel_requested_at": now, "updated_at": now, **UNHANDLED, **_run(run_id)}
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
                .values(state=target, shipped_at=shipped_at or now, updated_at=now, **UNHANDLED)
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
            values.update(state=target, **UNHANDLED)
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



def _merge_tracking(existing: str | None, new: Sequence[str]) -> str | None:
    numbers = [n for n in (existing or "").split(",") if n]
    numbers += [n for n in new if n and n not in numbers]
    return ",".join(dict.fromkeys(numbers)) or None
