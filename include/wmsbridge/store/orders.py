"""wms_order_sync, the orders aggregate: registration, claims, what a request left, cancels, shipments.

Every state change is one conditional ``UPDATE ... WHERE state IN (allowed)`` (states.py holds the
state machine), so the database decides atomically which of two racing runs wins; a refused change
raises ``InvalidTransition`` (``UnknownOrder`` for a code never registered), losing a claim is
normal. Three rules keep an order moving without ever being sent by two live runs at once:

- **Backoff between runs.** A failure for a passing reason (busy, timeout, 5xx ...) leaves the order
  ``failed`` and retryable with ``next_attempt_at = now + min(base * 2**(attempts-1), cap)``: later
  runs claim it again from then on, for ever; an order is never dropped after N passing failures.
- **Leases on ``sending``.** A claim sets ``lease_expires_at = now + lease`` and the live run renews
  it every ``lease / 3`` (``renew_leases``). A row whose lease ran out was left by a process that
  stopped renewing (killed, crashed, hung): the next run sends it again under the same code, which
  the warehouse answers idempotently. Rows without a lease (written before leases) fall back to
  ``stale_sending_after``; an order left by an earlier try of the SAME run is recovered at once.
- **The run that decided is recorded** (``run_id``, ``dag_id``): a run's verdict is read back from the
  store (attention.py), the same on every try.

What a ``deliveryorder.create`` request left is recorded a batch per transaction
(``record_order_outcomes``): the exchange rows and one state-checked UPDATE per target state, so a
push pays one commit per batch of answers. An answer not yet recorded leaves its order ``sending``,
sent again by a later run under the same code.

Shipment confirmations are applied a group per transaction (pipelines/shipments.py): ``lock`` reads
the group's orders FOR UPDATE, the changes are decided from those rows by the same transitions
(``ship_changes``, ``cancel_changes``, ``shop_written_changes``) and ``write`` stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .base import (
    DEFAULT_STALE_SENDING,
    LOOKUP_CHUNK,
    MESSAGE_MAX,
    UNHANDLED,
    InvalidTransition,
    Repository,
    UnknownOrder,
    _clip,
    _run,
    _str_or_none,
    _utc,
    _violations_json,
    batches,
    run_columns,
    updated_all,
)
from .exchange_log import ExchangeLog
from .schema import DEFAULT_BRIDGE, ERROR_CODE, exchange_log, order_sync
from .scrub import scrub_text
from .states import NEVER_SENT, ORDER_TRANSITIONS
from .types import UtcDateTime

DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_RETRY_BACKOFF = timedelta(minutes=1)
DEFAULT_RETRY_BACKOFF_MAX = timedelta(hours=1)

# claim outcomes
CLAIMED = "claimed"            # pending or due retryable failure: this run sends it
RECOVERED = "recovered"        # left in `sending` by a dead attempt: this run sends it again
NOT_DUE = "not_due"            # a passing failure whose next attempt is later: retry_waiting
IN_FLIGHT = "in_flight"        # another live run holds it (lease not expired): held
WAITS_FOR_PERSON = "waits_for_person"  # refused for good, or another version at the warehouse
SETTLED = "settled"            # accepted, cancelled, rejected ...: nothing to send
UNKNOWN = "unknown"            # not registered

REFUND_AFTER_SHIPMENT = "REFUND_AFTER_SHIPMENT"  # last_error_code of a refund after shipment
REFUND_AFTER_SHIPMENT_ACTION = "refund after shipment: intercept or return the parcel"
SHIPPED = frozenset({"shipped", "partially_shipped"})
CANCELLABLE_SENT = ORDER_TRANSITIONS["cancelled"] - NEVER_SENT  # where the warehouse can confirm a cancel


@dataclass(frozen=True)
class Claim:
    outcome: str
    row: dict[str, Any] | None = None

    @property
    def owned(self) -> bool:
        """This caller moved the order to ``sending`` and sends it now."""
        return self.outcome in (CLAIMED, RECOVERED)


@dataclass(frozen=True)
class OrderOutcome:
    """One answered request. ``state`` None: the order keeps its state (a forced resend of an
    accepted order), only the exchange is logged."""

    code: str
    state: str | None
    exchange: dict[str, Any] | None = None  # ExchangeLog.row's fields, logged_at included
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


# What a request leaves, per target state: the columns each order brings (bound per execution) ...
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


def _why_not(row: Mapping[str, Any] | None) -> Claim:
    """Why an order this caller could not take is not its to send (see the outcomes above)."""
    if row is None:
        return Claim(UNKNOWN)
    row = {k: v for k, v in row.items() if not k.startswith("_")}
    state = row["state"]
    if state == "failed" and row["last_error_retryable"]:
        return Claim(NOT_DUE, row)
    if state == "sending":
        return Claim(IN_FLIGHT, row)
    if state == "exists_different" or state == "failed":
        return Claim(WAITS_FOR_PERSON, row)
    return Claim(SETTLED, row)


class OrderRepository(Repository):
    """Every change the flows make to wms_order_sync."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], exchanges: ExchangeLog, *,
                 bridge_id: str = DEFAULT_BRIDGE, lease: timedelta = DEFAULT_LEASE,
                 stale_sending_after: timedelta = DEFAULT_STALE_SENDING,
                 retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF,
                 retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX) -> None:
        super().__init__(engine, clock, bridge_id)
        self.own = self._mine(order_sync)  # this bridge's rows
        self.exchanges = exchanges
        self.lease, self.stale_sending_after = lease, stale_sending_after
        self.retry_backoff, self.retry_backoff_max = retry_backoff, retry_backoff_max

    # ------------------------------------------------------------ registration and lookups

    def ensure_pending(self, rows: Iterable[Mapping[str, Any]], *, run_id: str | None = None) -> int:
        """Register paid orders (``delivery_order_code``, ``shop_order_id``, optional aware
        ``paid_at``) as ``pending``. Idempotent on deliveryOrderCode: a known order keeps its state.
        Safe to run concurrently. Returns how many codes were new to this call."""
        now = self.clock()
        prepared = [{"delivery_order_code": r["delivery_order_code"], "shop_order_id": str(r["shop_order_id"]),
                     "paid_at": r.get("paid_at"), "state": "pending", "attempts": 0, **run_columns(run_id),
                     "created_at": now, "updated_at": now} for r in rows]
        return self._insert_missing(order_sync, "delivery_order_code", prepared)

    def order(self, code: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(order_sync).where(self.own, order_sync.c.delivery_order_code == code)).first()
        return dict(row._mapping) if row else None

    def rows(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{deliveryOrderCode: row}`` for the known codes among ``codes`` (bulk)."""
        return self._rows_by_key(order_sync, "delivery_order_code", codes)

    def states(self, codes: Iterable[str]) -> dict[str, str]:
        """``{deliveryOrderCode: state}`` for the known codes among ``codes`` (bulk)."""
        rows = self._rows_by_key(order_sync, "delivery_order_code", codes, columns=("delivery_order_code", "state"))
        return {code: row["state"] for code, row in rows.items()}

    def keys(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{deliveryOrderCode: {state, shop_order_id}}``: whose order a code is, and where it stands."""
        return self._rows_by_key(order_sync, "delivery_order_code", codes,
                                 columns=("delivery_order_code", "state", "shop_order_id"))

    def _states_now(self, codes: Iterable[str]) -> dict[str, str | None]:
        """``{code: its state now}`` for codes whose transition was refused (None: unknown code)."""
        codes = list(codes)
        if not codes:
            return {}
        states = self.states(codes)
        return {code: states.get(code) for code in codes}

    # ------------------------------------------------------------ claims and leases

    def _fresh(self, now: datetime, max_attempts: int | None) -> sa.ColumnElement[bool]:
        """Pending, or failed for a passing reason and due again."""
        c = order_sync.c
        due = sa.and_(c.state == "failed", c.last_error_retryable.is_(True),
                      sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
        if max_attempts is not None:
            due = sa.and_(due, c.attempts < max_attempts)
        return sa.or_(c.state == "pending", due)

    def abandoned_sending(self, now: datetime, run_id: str | None = None) -> sa.ColumnElement[bool]:
        """In ``sending`` with its owner provably gone: its lease ran out (no lease: older than
        ``stale_sending_after``), or it was left by an earlier try of ``run_id``."""
        c = order_sync.c
        expired = sa.or_(
            sa.and_(c.lease_expires_at.is_not(None), c.lease_expires_at < now),
            sa.and_(c.lease_expires_at.is_(None), c.updated_at < now - self.stale_sending_after),
        )
        if run_id is not None:
            expired = sa.or_(expired, c.run_id == str(run_id))
        return sa.and_(c.state == "sending", expired)

    def _claim_values(self, run_id: str, now: datetime) -> dict[str, Any]:
        return {"state": "sending", **UNHANDLED, "attempts": order_sync.c.attempts + 1, **run_columns(run_id),
                "last_attempt_at": now, "lease_expires_at": now + self.lease, "next_attempt_at": None,
                "updated_at": now}

    def _take(self, conn, code: str, run_id: str, now: datetime, condition) -> bool:
        stmt = (sa.update(order_sync).where(self.own, order_sync.c.delivery_order_code == code, condition)
                .values(**self._claim_values(run_id, now)))
        return conn.execute(stmt).rowcount == 1

    def _take_group(self, conn, codes: list[str], run_id: str, now: datetime, condition) -> set[str]:
        """Take every order of ``codes`` that meets ``condition``: one UPDATE when all of them do (the
        usual case); else that UPDATE is undone (a savepoint) and each order is taken on its own."""
        if not codes:
            return set()
        together = (sa.update(order_sync).where(self.own, order_sync.c.delivery_order_code.in_(codes), condition)
                    .values(**self._claim_values(run_id, now)))
        if updated_all(conn, together, len(codes)):
            return set(codes)
        return {code for code in codes if self._take(conn, code, run_id, now, condition)}

    def claim_many(self, codes: Iterable[str], run_id: str, *, max_attempts: int | None = None) -> dict[str, Claim]:
        """Move a group of orders to ``sending`` for this run (a lease each, the attempt counted), in
        ONE transaction committed before any of them is sent, or say per order why not: one read of
        their rows, then a conditional UPDATE of those that look claimable (one for all of them; one
        each should another run have moved some meanwhile), which decides between racing runs. An
        owned claim's row holds ``attempts`` (this one included)."""
        codes = sorted(set(codes))
        if not codes:
            return {}
        now = self.clock()
        c = order_sync.c
        fresh, abandoned = self._fresh(now, max_attempts), self.abandoned_sending(now, run_id)
        probe = sa.select(*order_sync.c, fresh.label("_fresh"), abandoned.label("_abandoned"))

        def work() -> dict[str, Claim]:
            claims: dict[str, Claim] = {}
            with self.engine.begin() as conn:
                rows = {}
                for part in batches(codes, LOOKUP_CHUNK):
                    rows.update((r.delivery_order_code, r._mapping) for r in
                                conn.execute(probe.where(self.own, c.delivery_order_code.in_(part))))
                looks_fresh = [code for code in codes if code in rows and rows[code]["_fresh"]]
                looks_abandoned = [code for code in codes if code in rows and not rows[code]["_fresh"]
                                   and rows[code]["_abandoned"]]
                for outcome, looks, condition in ((CLAIMED, looks_fresh, fresh), (RECOVERED, looks_abandoned, abandoned)):
                    for code in self._take_group(conn, looks, run_id, now, condition):
                        claims[code] = Claim(outcome, {"attempts": rows[code]["attempts"] + 1})
                raced = [code for code in looks_fresh + looks_abandoned if code not in claims]  # moved meanwhile
                for code in codes:
                    if code not in rows:
                        claims[code] = Claim(UNKNOWN)
                    elif code not in claims and code not in raced:
                        claims[code] = _why_not(rows[code])
                for part in batches(raced, LOOKUP_CHUNK):
                    for r in conn.execute(sa.select(order_sync).where(self.own, c.delivery_order_code.in_(part))):
                        claims[r.delivery_order_code] = _why_not(r._mapping)
            return claims

        return self._retrying(work)

    def renew_leases(self, run_id: str) -> int:
        """Heartbeat: this run is alive, its ``sending`` orders stay its own for one more lease."""
        c = order_sync.c
        with self.engine.begin() as conn:
            return conn.execute(sa.update(order_sync).where(self.own, c.run_id == str(run_id), c.state == "sending")
                                .values(lease_expires_at=self.clock() + self.lease)).rowcount

    def retry_delay(self, attempts: int) -> timedelta:
        """Backoff after ``attempts`` attempts: base, 2 x base, 4 x base ... capped."""
        if self.retry_backoff <= timedelta(0):
            return timedelta(0)
        return min(self.retry_backoff * (2 ** min(max(attempts - 1, 0), 30)), self.retry_backoff_max)

    # ------------------------------------------------------------ what a request left

    def record_order_outcomes(self, outcomes: Iterable[OrderOutcome], *,
                              run_id: str | None = None) -> dict[str, str | None]:
        """Log the exchanges and move the orders, all in one transaction. Returns the orders whose
        transition was refused (another run took them over meanwhile), with their state now."""
        outcomes = list(outcomes)
        if not outcomes:
            return {}
        now = self.clock()

        def work() -> list[str]:
            refused: list[str] = []
            with self.engine.begin() as conn:
                rows = [self.exchanges.row(**o.exchange) for o in outcomes if o.exchange]
                if rows:
                    conn.execute(sa.insert(exchange_log), rows)
                by_target: dict[str, list[OrderOutcome]] = {}
                for o in outcomes:
                    if o.state is not None:
                        by_target.setdefault(o.state, []).append(o)
                for target, group in by_target.items():
                    params = [o.params(now + self.retry_delay(o.attempts) if target == "failed" and o.retryable
                                       else None) for o in group]
                    refused += self._move(conn, target, params, now, run_id)
            return refused

        return self._states_now(self._retrying(work))

    def _move(self, conn, target: str, params: list[dict[str, Any]], now: datetime, run_id: str | None) -> list[str]:
        """Move a group of orders to ``target``; returns the codes whose transition was refused. The
        common case is two statements whatever the group's size: one state-checked UPDATE of them
        all, then their own columns (executemany); only when that UPDATE moved fewer orders than
        asked is it undone (a savepoint) and each order moved on its own."""
        c = order_sync.c
        common = {**_same_for_all(target, now), "state": target, "updated_at": now, **UNHANDLED, **_run(run_id)}
        sources = sorted(ORDER_TRANSITIONS[target])
        own = {name: sa.bindparam(f"b_{name}") for name in _PER_ORDER[target]}
        together = (sa.update(order_sync)
                    .where(self.own, c.delivery_order_code.in_([p["b_code"] for p in params]), c.state.in_(sources))
                    .values(**common))
        if updated_all(conn, together, len(params)):
            conn.execute(sa.update(order_sync).where(self.own, c.delivery_order_code == sa.bindparam("b_code"))
                         .values(**own),
                         params)
            return []
        one = (sa.update(order_sync)
               .where(self.own, c.delivery_order_code == sa.bindparam("b_code"), c.state.in_(sources))
               .values(**common, **own))
        return [p["b_code"] for p in params if conn.execute(one, p).rowcount != 1]

    def mark_rejected_many(self, violations_by_code: Mapping[str, Sequence[Any]], *, error_code: str = "VALIDATION",
                           message: str | None = None, run_id: str | None = None) -> dict[str, str | None]:
        """Refused by our own rules (field validation, an address the parser cannot split): not sent
        until the shop data is fixed. A chunk's rejects in ONE transaction; returns the orders whose
        transition was refused (another run moved them meanwhile), with their state now."""
        if not violations_by_code:
            return {}
        now = self.clock()
        c = order_sync.c
        one = (sa.update(order_sync)
               .where(self.own, c.delivery_order_code == sa.bindparam("b_code"),
                      c.state.in_(sorted(ORDER_TRANSITIONS["rejected"])))
               .values(state="rejected", updated_at=now, last_error_retryable=False, **UNHANDLED,
                       violations=sa.bindparam("b_violations"), last_error_code=_clip(error_code, ERROR_CODE),
                       last_error_message=sa.bindparam("b_message"), **_run(run_id)))
        params = [{"b_code": code, "b_violations": _violations_json(found),
                   "b_message": _clip(message or "; ".join(str(v) for v in found), MESSAGE_MAX)}
                  for code, found in violations_by_code.items()]

        def work() -> list[str]:
            with self.engine.begin() as conn:
                return [p["b_code"] for p in params if conn.execute(one, p).rowcount != 1]

        return self._states_now(self._retrying(work))

    def requeue(self, code: str, *, run_id: str | None = None) -> None:
        """A rejected order the shop fixed (or one a forced run sends again) goes back to ``pending``."""
        self._transition(code, "pending", _run(run_id))

    # ------------------------------------------------------------ cancellations

    def request_cancel(self, code: str, *, run_id: str | None = None) -> str:
        """The shop cancelled or refunded the order. One that never reached the warehouse ends
        ``cancelled`` at once; a sent one becomes ``cancel_requested`` (order.cancel is due).
        Returns the new state."""
        now = self.clock()
        values = {"cancel_requested_at": now, "updated_at": now, **UNHANDLED, **_run(run_id)}
        c = order_sync.c
        with self.engine.begin() as conn:
            withdrawn = conn.execute(sa.update(order_sync)
                                     .where(self.own, c.delivery_order_code == code, c.state.in_(sorted(NEVER_SENT)))
                                     .values(state="cancelled", cancelled_at=now, **values))
            if withdrawn.rowcount == 1:
                return "cancelled"
            requested = conn.execute(
                sa.update(order_sync)
                .where(self.own, c.delivery_order_code == code,
                       c.state.in_(sorted(ORDER_TRANSITIONS["cancel_requested"])))
                .values(state="cancel_requested", **values))
            if requested.rowcount == 1:
                return "cancel_requested"
        self._refuse(code, "cancel_requested")

    def request_cancel_in_flight(self, code: str, *, run_id: str | None = None) -> bool:
        """A stale ``sending`` order the shop cancelled: its create may have reached the warehouse,
        so order.cancel is due (``cancel_requested``). False when the row is no longer a stale
        ``sending`` one (the push finished it meanwhile): the caller looks again."""
        now = self.clock()
        stmt = (sa.update(order_sync)
                .where(self.own, order_sync.c.delivery_order_code == code, self.abandoned_sending(now))
                .values(state="cancel_requested", cancel_requested_at=now, updated_at=now, lease_expires_at=None,
                        **UNHANDLED, **_run(run_id)))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def note_cancel_retry(self, code: str, error_code: str | None, message: str | None, *,
                          run_id: str | None = None) -> bool:
        """order.cancel failed for a passing reason: stays ``cancel_requested`` (a later run sends it
        again), with the failure recorded. False when it left ``cancel_requested`` meanwhile."""
        c = order_sync.c
        stmt = (sa.update(order_sync).where(self.own, c.delivery_order_code == code, c.state == "cancel_requested")
                .values(last_error_code=_clip(error_code, ERROR_CODE),
                        last_error_message=_clip(scrub_text(message), MESSAGE_MAX),
                        last_error_retryable=True, updated_at=self.clock(), **_run(run_id)))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def unfinished_cancels(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Orders a cancel run must finish whatever its window: ``cancel_requested`` (a passing
        failure or a dead run left order.cancel due), orders that shipped after the shop refunded
        them (``cancel_requested_at`` set), and stale ``sending`` rows (their shop status decides)."""
        c = order_sync.c
        stmt = (sa.select(order_sync)
                .where(self.own, sa.or_(c.state == "cancel_requested",
                              sa.and_(c.state.in_(sorted(SHIPPED)), c.cancel_requested_at.is_not(None)),
                              self.abandoned_sending(self.clock())))
                .order_by(c.updated_at, c.id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def is_stale_sending(self, row: Mapping[str, Any]) -> bool:
        """A ``sending`` row whose run died mid-request (the same rule as ``abandoned_sending``)."""
        if row["state"] != "sending":
            return False
        now, lease = self.clock(), row.get("lease_expires_at")
        return lease < now if lease is not None else row["updated_at"] < now - self.stale_sending_after

    def mark_cancelled(self, code: str, *, run_id: str | None = None) -> None:
        """The warehouse confirmed the cancellation (order.cancel success); the shipments flow
        decides the same move for a CANCELED callback with ``cancel_changes``."""
        self._transition(code, "cancelled", cancelled_values(self.clock(), run_id), sources=CANCELLABLE_SENT)

    def mark_cancel_failed(self, code: str, error_code: str | None, message: str | None, *,
                           run_id: str | None = None) -> None:
        """The warehouse refused order.cancel for another reason than a shipment. Needs a person."""
        self._transition(code, "cancel_failed", {
            "last_error_code": _clip(error_code, ERROR_CODE), "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
            "last_error_retryable": False, **_run(run_id)})

    def mark_refund_after_shipment(self, code: str, detail: str | None = None, *, run_id: str | None = None) -> None:
        """The shop refunded an order the warehouse shipped (or refused to cancel because it shipped):
        ``cancel_failed``, for a person to intercept or take back the parcel."""
        message = REFUND_AFTER_SHIPMENT_ACTION + (f" ({detail})" if detail else "")
        try:
            self._transition(code, "cancel_failed", {
                "cancel_requested_at": sa.func.coalesce(order_sync.c.cancel_requested_at,
                                                        sa.literal(self.clock(), UtcDateTime())),
                "last_error_code": REFUND_AFTER_SHIPMENT, "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
                "last_error_retryable": False, **_run(run_id)})
        except InvalidTransition as err:
            if err.current != "cancel_failed":
                raise
            # Already waiting for a person: another run at the same time decided so a moment ago
            # (found by make chaos). Its reason stays; this run reports the order the same way.

    # ------------------------------------------------------------ shipments and cancellations, a group at a time

    def lock(self, conn, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{deliveryOrderCode: row}`` of the known codes among ``codes``, locked until ``conn``'s
        transaction ends (FOR UPDATE; SQLite has no row locks: there the transaction must have written
        already, its write lock holds the whole database), so the caller decides their changes from
        these rows (``ship_changes`` ...) and ``write``s them, no other writer in between."""
        c = order_sync.c
        rows: dict[str, dict[str, Any]] = {}
        for part in batches(sorted(set(codes)), LOOKUP_CHUNK):
            for row in conn.execute(sa.select(order_sync).where(self.own, c.delivery_order_code.in_(part))
                                    .with_for_update()):
                rows[row.delivery_order_code] = dict(row._mapping)
        return rows

    def write(self, conn, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Write ``{deliveryOrderCode: {column: value}}`` to rows ``lock`` holds: one executemany per
        set of columns changed (a group's orders mostly share one)."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for code, values in changes.items():
            if values:
                shapes.setdefault(tuple(sorted(values)), []).append(
                    {"b_code": code, **{f"b_{name}": value for name, value in values.items()}})
        c = order_sync.c
        for columns, params in shapes.items():
            conn.execute(sa.update(order_sync).where(self.own, c.delivery_order_code == sa.bindparam("b_code"))
                         .values({name: sa.bindparam(f"b_{name}") for name in columns}), params)

    # ------------------------------------------------------------ the state machine

    def _transition(self, code: str, target: str | None, values: dict[str, Any], *,
                    sources: frozenset[str] | None = None) -> None:
        """``target=None`` updates columns without changing the state (still state-checked)."""
        sources = ORDER_TRANSITIONS[target] if sources is None else sources
        values = {**values, "updated_at": self.clock()}
        if target is not None:
            values.update(state=target, **UNHANDLED)
        stmt = (sa.update(order_sync)
                .where(self.own, order_sync.c.delivery_order_code == code, order_sync.c.state.in_(sorted(sources)))
                .values(**values))
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 1:
                return
        self._refuse(code, target or "shop_written")

    def _refuse(self, code: str, target: str):
        with self.engine.connect() as conn:
            current = conn.execute(sa.select(order_sync.c.state)
                                   .where(self.own, order_sync.c.delivery_order_code == code)).scalar_one_or_none()
        if current is None:
            raise UnknownOrder(code)
        raise InvalidTransition(code, current, target)


def _merge_tracking(existing: str | None, new: Sequence[str]) -> str | None:
    numbers = [n for n in (existing or "").split(",") if n]
    numbers += [n for n in new if n and n not in numbers]
    return ",".join(dict.fromkeys(numbers)) or None


# What a confirmation changes, as values for ``write``, decided from a row read under lock
# (``lock``): a state checked against ORDER_TRANSITIONS, as ``_transition`` checks it in the database.

def ship_changes(order: Mapping[str, Any], *, carrier_code: str | None, tracking_numbers: Sequence[str],
                 shipped_at: datetime | None, now: datetime, partial: bool = False) -> dict[str, Any]:
    """The order shipped (``partial``: an intermediate confirmation). Tracking numbers accumulate
    over partial confirmations (comma-separated, no duplicates); InvalidTransition when the order's
    state cannot ship."""
    target = "partially_shipped" if partial else "shipped"
    _check(order, target, ORDER_TRANSITIONS[target])
    values = {"state": target, "shipped_at": shipped_at or now, "updated_at": now, **UNHANDLED,
              "tracking_numbers": _merge_tracking(order["tracking_numbers"], tracking_numbers)}
    if carrier_code:
        values["carrier_code"] = carrier_code
    return values


def cancel_changes(order: Mapping[str, Any], *, now: datetime, run_id: str | None = None) -> dict[str, Any]:
    """The warehouse confirmed the cancellation (``mark_cancelled``'s move, for a CANCELED callback)."""
    _check(order, "cancelled", CANCELLABLE_SENT)
    return {"state": "cancelled", "updated_at": now, **UNHANDLED, **cancelled_values(now, run_id)}


def cancelled_values(now: datetime, run_id: str | None) -> dict[str, Any]:
    return {"cancelled_at": now, **_run(run_id)}


def shop_written_changes(order: Mapping[str, Any], *, now: datetime, run_id: str | None = None) -> dict[str, Any]:
    """The shop took the shipment (status, tracking number, carrier)."""
    _check(order, "shop_written", SHIPPED)
    return {"shop_written_at": now, "updated_at": now, **_run(run_id)}


def _check(order: Mapping[str, Any], target: str, sources: frozenset[str]) -> None:
    if order["state"] not in sources:
        raise InvalidTransition(order["delivery_order_code"], order["state"], target)
