"""wms_shipment_inbox / wms_shipment_package, the confirmations aggregate: what the warehouse
confirmed, once per outBizCode, and how far each confirmation got on its way to the shop.

The receiver calls ``receive`` (inbox row, packages and the inbound exchange, committed before it
answers); the ``wms_shipments`` flow takes ``due`` rows and, a group per transaction, ``claim``s
them, reads every confirmation and package of their orders and ``settle_many``s them (a row that
fails alone is claimed and settled in a transaction of its own). A confirmation is never deleted: rows that cannot be applied
yet stay ``waiting`` and are tried again, rows for a person stay ``needs_person`` with the reason in
``process_error``; ``state`` says where each stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .base import (
    LOOKUP_CHUNK,
    MESSAGE_MAX,
    UNHANDLED,
    InboxInsert,
    Repository,
    _clip,
    _run,
    _str_or_none,
    batches,
)
from .exchange_log import ExchangeLog, Inbound
from .schema import DEFAULT_BRIDGE, exchange_log, shipment_inbox, shipment_package
from .scrub import scrub_text
from .states import SHIPMENT_STATES

DUE = ("received", "waiting")
DONE = ("applied", "needs_person")
_WITHOUT_BODY = tuple(col for col in shipment_inbox.c if col.name != "raw_body")


class ConfirmationInbox(Repository):
    """The inbox of deliveryorder.confirm messages and its work queue."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], exchanges: ExchangeLog,
                 bridge_id: str = DEFAULT_BRIDGE) -> None:
        super().__init__(engine, clock, bridge_id)
        self.exchanges = exchanges

    # ------------------------------------------------------------- receiver

    def receive(self, confirm, *, key: str, raw_body: str, inbound: Inbound) -> InboxInsert:
        """Store one parsed ``qimen.parsing.DeliveryOrderConfirm`` under ``key`` (its outBizCode, or a
        hash of the body when it has none) with its exchange, in one transaction. A known key stores
        nothing new and is logged as ``duplicate``."""
        packages = [
            {
                "logistics_code": p.logisticsCode or None,
                "logistics_name": p.logisticsName,
                "express_code": p.expressCode,
                "package_code": p.packageCode,
                "items": [{"item_code": i.itemCode or None, "item_id": i.itemId, "quantity": i.quantity}
                          for i in p.items],
            }
            for p in confirm.packages
        ]
        stored = self._store(
            out_biz_code=key,
            delivery_order_code=confirm.deliveryOrderCode,
            raw_body=raw_body,
            packages=packages,
            delivery_order_id=confirm.deliveryOrderId,
            warehouse_code=confirm.warehouseCode or None,
            status=confirm.status,
            confirm_type=confirm.confirmType,
            order_confirm_at=confirm.orderConfirmTime,
            exchange=self.exchanges.inbound_row(inbound, business_key=confirm.deliveryOrderCode),
        )
        if stored.already_seen:
            self.exchanges.log_inbound(inbound, business_key=confirm.deliveryOrderCode, duplicate=True)
        return stored

    def log(self, inbound: Inbound) -> int:
        """Record one inbound exchange that stored nothing (a refused callback) in wms_exchange_log."""
        return self.exchanges.log_inbound(inbound)

    # ---------------------------------------------------------- the flow

    def due(self, limit: int = 500) -> list[dict[str, Any]]:
        """Confirmations still to apply (``received``, ``waiting``), oldest first, without bodies."""
        c = shipment_inbox.c
        stmt = (
            sa.select(*(col for col in c if col.name != "raw_body"))
            .where(self._mine(shipment_inbox), c.state.in_(DUE))
            .order_by(c.received_at, c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def claim(self, conn, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Take ``rows`` (as ``due`` read them) for ``conn``'s transaction: each one still due and
        untouched since counts an attempt and is returned as it is now, locked until the transaction
        ends (SQLite: this first write takes the whole database). A row another run moved meanwhile
        (it counted an attempt too) is not returned and keeps its count. One UPDATE and one SELECT
        in the usual case, whatever the number of rows; settle the returned rows with
        ``settle_many`` in the same transaction."""
        read = {r["id"]: r["attempts"] for r in rows}
        if not read:
            return []
        c = shipment_inbox.c
        still_due = sa.and_(self._mine(shipment_inbox), c.id.in_(list(read)), c.state.in_(DUE))
        conn.execute(sa.update(shipment_inbox).where(still_due).values(attempts=c.attempts + 1))
        current = {r.id: dict(r._mapping) for r in conn.execute(sa.select(*_WITHOUT_BODY).where(still_due)
                                                                .with_for_update())}
        raced = [i for i, row in current.items() if row["attempts"] != read[i] + 1]  # another run's attempt too
        if raced:
            conn.execute(sa.update(shipment_inbox).where(self._mine(shipment_inbox), c.id.in_(raced))
                         .values(attempts=c.attempts - 1))
        return [current[i] for i in read if i in current and i not in raced]

    def confirmations_of_orders(self, conn, codes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """``{deliveryOrderCode: its confirmations, oldest first}``: every confirmation of the group's
        orders, for the tracking numbers of them all."""
        c = shipment_inbox.c
        found: dict[str, list[dict[str, Any]]] = {}
        for part in batches(sorted(set(codes)), LOOKUP_CHUNK):
            for row in conn.execute(sa.select(*_WITHOUT_BODY)
                                    .where(self._mine(shipment_inbox), c.delivery_order_code.in_(part))
                                    .order_by(c.received_at, c.id)):
                found.setdefault(row.delivery_order_code, []).append(dict(row._mapping))
        return found

    def packages_of_orders(self, conn, codes: Iterable[str]) -> dict[int, list[dict[str, Any]]]:
        """``{inbox_id: its package rows in order}`` of every confirmation of the orders ``codes``."""
        p = shipment_package.c
        found: dict[int, list[dict[str, Any]]] = {}
        for part in batches(sorted(set(codes)), LOOKUP_CHUNK):
            for row in conn.execute(sa.select(shipment_package)
                                    .where(self._mine(shipment_package), p.delivery_order_code.in_(part))
                                    .order_by(p.inbox_id, p.package_no, p.id)):
                found.setdefault(row.inbox_id, []).append(dict(row._mapping))
        return found

    def settle_many(self, conn, claimed: Mapping[int, Mapping[str, Any]], settlements: Iterable[Settlement], *,
                    run_id: str | None = None) -> None:
        """Record how an attempt at rows ``claim`` returned ended (``claimed``: those rows by id), in
        ``conn``'s transaction: ``applied`` and ``needs_person`` leave the queue (``processed_at``),
        ``waiting`` stays in it; the reason is kept in ``process_error``. A row becomes the run's when
        its state changes or it first becomes overdue (that run decided it waits for a person: the run
        verdict reads it), and a change of state clears a person's handled mark. One executemany per
        kind of change (per state, and whether it moved or became overdue), the attempt already
        counted by ``claim``."""
        now = self.clock()
        shapes: dict[tuple, list[dict[str, Any]]] = {}
        for s in settlements:
            _check_settled(s.state)
            values = _settled(claimed[s.inbox_id], s, run_id, now)
            shapes.setdefault(tuple(values.items()), []).append(
                {"b_id": s.inbox_id, "b_error": _clip(s.reason, MESSAGE_MAX)})
        c = shipment_inbox.c
        for values, params in shapes.items():
            conn.execute(sa.update(shipment_inbox)
                         .where(self._mine(shipment_inbox), c.id == sa.bindparam("b_id"))
                         .values(**dict(values), process_error=sa.bindparam("b_error")), params)

    def counts(self) -> dict[str, int]:
        """How many confirmations are in each state (every state listed, zeros included)."""
        c = shipment_inbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.state, sa.func.count()).where(self._mine(shipment_inbox))
                                .group_by(c.state)).all()
        return {**dict.fromkeys(SHIPMENT_STATES, 0), **{state: n for state, n in rows}}


    def _store(
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
        exchange: Mapping[str, Any] | None = None,
    ) -> InboxInsert:
        """Store a deliveryorder.confirm and its packages, once per outBizCode. A repeated
        outBizCode stores nothing and returns ``already_seen=True`` with the first copy's id.

        ``packages``: mappings with ``logistics_code``, ``logistics_name``, ``express_code``,
        ``package_code`` and ``items`` (mappings with ``item_code``, ``item_id``, ``quantity``).
        When a message has no outBizCode, pass a hash of its body so a verbatim resend is still
        recognised. ``exchange``: a wms_exchange_log row (``exchange_row``) committed with a new
        confirmation, in the same transaction (one commit per callback); nothing of it for a repeat.
        """
        if not out_biz_code:
            raise ValueError("out_biz_code is required: it is the confirmation's idempotency key")
        now = self.clock()

        def insert(conn) -> int:
            inbox_id = conn.execute(sa.insert(shipment_inbox).values(
                bridge_id=self.bridge_id,
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
            package_rows = [self._own(row) for row in _package_rows(inbox_id, delivery_order_code, packages)]
            if package_rows:
                conn.execute(sa.insert(shipment_package), package_rows)
            if exchange is not None:
                conn.execute(sa.insert(exchange_log).values(**exchange))
            return inbox_id

        return self._insert_once(insert, sa.select(shipment_inbox.c.id).where(
            self._mine(shipment_inbox), shipment_inbox.c.out_biz_code == out_biz_code))


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


class Settlement(NamedTuple):
    """How one attempt at a confirmation ended (``overdue``: it has waited longer than a person should
    let it; ``overdue_at`` is set once)."""

    inbox_id: int
    state: str
    reason: str | None = None
    overdue: bool = False


def _check_settled(state: str) -> None:
    if state not in SHIPMENT_STATES or state == "received":
        raise ValueError(f"a confirmation settles as applied, waiting or needs_person, not {state!r}")


def _settled(before: Mapping[str, Any], s: Settlement, run_id: str | None, now: datetime) -> dict[str, Any]:
    """The columns an attempt sets on a row that was ``before`` (its state and overdue_at), but its
    count and reason (see ``settle_many``)."""
    moved = s.state != before["state"]
    values: dict[str, Any] = {"state": s.state, "last_attempt_at": now,
                              "processed_at": now if s.state in DONE else None}
    if moved:
        values.update(UNHANDLED, overdue_at=None)
    newly_overdue = s.overdue and s.state == "waiting" and before["overdue_at"] is None
    if newly_overdue:
        values["overdue_at"] = now
    if moved or newly_overdue:
        values.update(_run(run_id))
    return values
