"""wms_shipment_inbox / wms_shipment_package: shipment confirmations, once per outBizCode.

Mixed into ``repo.IntegrationStore``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .base import MESSAGE_MAX, _clip, _str_or_none
from .schema import exchange_log, shipment_inbox, shipment_package
from .scrub import scrub_text


@dataclass(frozen=True)
class InboxInsert:
    """Result of recording a shipment confirmation: ``already_seen`` for a repeated outBizCode."""

    inbox_id: int
    already_seen: bool


class ShipmentInbox:
    """The inbox of deliveryorder.confirm messages and its work queue."""

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
                if exchange is not None:
                    conn.execute(sa.insert(exchange_log).values(**exchange))
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
