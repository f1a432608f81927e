"""What a ``deliveryorder.create`` request left: the exchange and the order's new state, together.

Mixed into ``IntegrationStore``. ``record_order_outcomes`` writes any number of answered requests
in ONE transaction: their exchange-log rows and one state-checked UPDATE per order (a statement
built once per target state, executed per order with its parameters), so a push pays one commit per
batch of answers instead of two per order. A refused transition (another run took the order over
meanwhile) does not stop the others; its code is returned with the state it has now.

``mark_sent``, ``mark_failed`` and ``mark_exists_different`` are the same write for one order,
raising ``InvalidTransition`` / ``UnknownOrder`` when refused.

Crash safety is unchanged by batching: an answer not yet recorded leaves its order in ``sending``
(claimed, with a lease), which a later run sends again under the same deliveryOrderCode and the
warehouse answers idempotently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .base import MESSAGE_MAX, UNHANDLED, _clip, _run, _str_or_none, _utc, updated_all
from .schema import ERROR_CODE, exchange_log, order_sync
from .scrub import scrub_text
from .states import ORDER_TRANSITIONS

# Per target state: the columns each order brings (bound per execution) ...
_PER_ORDER = {
    "sent": ("wms_order_id", "content_hash"),
    "failed": ("last_error_code", "last_error_message", "last_error_retryable", "next_attempt_at"),
    "exists_different": ("last_error_code", "last_error_message"),
}


def _same_for_all(target: str, now: datetime) -> dict[str, Any]:
    """... and the columns one statement sets alike for every order of the batch."""
    cleared = {"lease_expires_at": None}
    if target == "sent":
        return {**cleared, "sent_at": now, "first_sent_at": sa.func.coalesce(order_sync.c.first_sent_at, _utc(now)),
                "last_error_code": None, "last_error_message": None, "last_error_retryable": None,
                "violations": None, "next_attempt_at": None}
    if target == "exists_different":
        return {**cleared, "last_error_retryable": False}
    return cleared


@dataclass(frozen=True)
class OrderOutcome:
    """One answered request. ``state`` None: the order keeps its state (a forced resend of an
    accepted order), only the exchange is logged."""

    code: str
    state: str | None
    exchange: dict[str, Any] | None = None  # ExchangeLog.exchange_row's fields, logged_at included
    wms_order_id: str | None = None
    content_hash: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False
    attempts: int = 1  # attempts so far, this one included: the retry backoff grows with them

    def params(self, next_attempt_at: datetime | None) -> dict[str, Any]:
        values = {
            "wms_order_id": _str_or_none(self.wms_order_id),
            "content_hash": self.content_hash,
            "last_error_code": _clip(self.error_code, ERROR_CODE),
            "last_error_message": _clip(scrub_text(self.error_message), MESSAGE_MAX),
            "last_error_retryable": bool(self.retryable),
            "next_attempt_at": next_attempt_at,
        }
        return {"b_code": self.code, **{f"b_{name}": values[name] for name in _PER_ORDER[self.state]}}


class OrderOutcomes:
    """Answers of deliveryorder.create, recorded a batch per transaction."""

    def record_order_outcomes(
        self, outcomes: Iterable[OrderOutcome], *, run_id: str | None = None
    ) -> dict[str, str | None]:
        """Log the exchanges and move the orders, all in one transaction. Returns the orders whose
        transition was refused, with their state now (None: unknown code)."""
        outcomes = list(outcomes)
        if not outcomes:
            return {}
        now = self.clock()

        def work() -> list[str]:
            refused: list[str] = []
            with self.engine.begin() as conn:
                exchanges = [self.exchange_row(**o.exchange) for o in outcomes if o.exchange]
                if exchanges:
                    conn.execute(sa.insert(exchange_log), exchanges)
                by_target: dict[str, list[OrderOutcome]] = {}
                for o in outcomes:
                    if o.state is not None:
                        by_target.setdefault(o.state, []).append(o)
                for target, group in by_target.items():
                    params = [o.params(now + self.retry_delay(o.attempts) if target == "failed" and o.retryable
                                       else None) for o in group]
                    refused += self._move(conn, target, params, now, run_id)
            return refused

        return self.states_now(self._retrying(work))

    def _move(self, conn, target: str, params: list[dict[str, Any]], now: datetime, run_id: str | None) -> list[str]:
        """Move a group of orders to ``target``; returns the codes whose transition was refused.

        The common case costs two statements whatever the group's size: one state-checked UPDATE of
        them all, then their own columns (executemany). Only when that UPDATE moved fewer orders
        than asked (one was taken over) is it undone (a savepoint) and each order moved on its own.
        """
        c = order_sync.c
        common = {**_same_for_all(target, now), "state": target, "updated_at": now, **UNHANDLED}
        common.update(_run(run_id))
        sources = sorted(ORDER_TRANSITIONS[target])
        own = {name: sa.bindparam(f"b_{name}") for name in _PER_ORDER[target]}
        together = (sa.update(order_sync)
                    .where(c.delivery_order_code.in_([p["b_code"] for p in params]), c.state.in_(sources))
                    .values(**common))
        if updated_all(conn, together, len(params)):
            conn.execute(sa.update(order_sync).where(c.delivery_order_code == sa.bindparam("b_code")).values(**own),
                         params)
            return []
        one = (sa.update(order_sync).where(c.delivery_order_code == sa.bindparam("b_code"), c.state.in_(sources))
               .values(**common, **own))
        return [p["b_code"] for p in params if conn.execute(one, p).rowcount != 1]

    def _record_one(self, outcome: OrderOutcome, run_id: str | None) -> None:
        if outcome.code in self.record_order_outcomes([outcome], run_id=run_id):
            self._refuse(outcome.code, outcome.state)

    # ---------------------------------------------------------------- one order

    def mark_sent(
        self, code: str, wms_order_id: str | None, *, content_hash: str | None = None, run_id: str | None = None
    ) -> None:
        """deliveryorder.create succeeded; ``content_hash`` is the hash of the document sent."""
        self._record_one(OrderOutcome(code, "sent", wms_order_id=wms_order_id, content_hash=content_hash), run_id)

    def mark_failed(
        self, code: str, error_code: str | None, message: str | None, retryable: bool, *, run_id: str | None = None
    ) -> None:
        """The request failed. Retryable (passing) failures are claimed again by later runs once
        ``next_attempt_at`` is reached; the others wait for a person (``requeue``)."""
        row = self.order(code) if retryable else None
        self._record_one(OrderOutcome(code, "failed", error_code=error_code, error_message=message,
                                      retryable=retryable, attempts=row["attempts"] if row else 1), run_id)

    def mark_exists_different(
        self, code: str, error_code: str | None, message: str | None, *, run_id: str | None = None
    ) -> None:
        """The warehouse holds another version of this order under the same code (a first send,
        or a forced resend of a ``sent`` one): never counted as sent, a person decides."""
        self._record_one(OrderOutcome(code, "exists_different", error_code=error_code, error_message=message), run_id)
