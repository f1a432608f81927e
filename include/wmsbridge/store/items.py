"""wms_item_sync, the items aggregate: SKUs the warehouse knows (or refused), by item code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .base import MESSAGE_MAX, UNHANDLED, Repository, _clip, _run, _str_or_none, _utc, _violations_json, run_columns
from .dialect_sql import insert_ignoring_duplicates
from .schema import ERROR_CODE, item_sync
from .scrub import scrub_text


class ItemRepository(Repository):
    """The outcome of each singleitem.synchronize, and lookups by code."""

    @property
    def own(self) -> sa.ColumnElement[bool]:
        """This bridge's rows of item_sync."""
        return self._mine(item_sync)

    def rows(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The sync rows of ``codes`` that exist, by item code."""
        return self._rows_by_key(item_sync, "item_code", codes)

    def synced(self) -> list[tuple[str, str | None]]:
        """``(item_code, sku_id)`` of every SKU the warehouse knows (``synced``), in registration order."""
        stmt = sa.select(item_sync.c.item_code, item_sync.c.sku_id).where(self.own, item_sync.c.state == "synced") \
            .order_by(item_sync.c.id)
        with self.engine.connect() as conn:
            return [(code, sku) for code, sku in conn.execute(stmt)]

    def codes_in_state(self, state: str, limit: int | None = None) -> list[str]:
        """Item codes in ``state`` (e.g. ``failed``: older than any watermark, still to sync)."""
        stmt = (sa.select(item_sync.c.item_code).where(self.own, item_sync.c.state == state)
                .order_by(item_sync.c.id).limit(limit))
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def record_synced(
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

    def record_failed(
        self,
        item_code: str,
        *,
        error_code: str | None,
        message: str | None,
        retryable: bool = True,
        sku_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """The request failed (transport, gateway or business failure); ``content_hash`` keeps the
        last content that did sync, so the next run tries again. Refused for good (not
        ``retryable``), the SKU waits for a person; refused again by a later run, it keeps the run
        that decided so (its verdict) and a person's handled mark."""
        self._update_item(item_code, sku_id, run_id, self.clock(), {
            "state": "failed",
            "last_error_code": _clip(error_code, ERROR_CODE),
            "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
            "last_error_retryable": bool(retryable),
        })

    def record_rejected(
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
        """Insert the item if new, then set ``values``. The row becomes this run's, and a change of
        state clears a person's handled mark; a row that stays waiting for a person in the same way
        (refused for good again) keeps both."""
        c = item_sync.c
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, item_sync, [{
                "bridge_id": self.bridge_id, "item_code": item_code, "sku_id": _str_or_none(sku_id), "state": "pending",
                "attempts": 0,
                **run_columns(run_id), "created_at": now, "updated_at": now,
            }], ["bridge_id", "item_code"])
            before = conn.execute(sa.select(c.state, c.last_error_retryable).where(self.own, c.item_code == item_code)
                                  .with_for_update()).one()
            still_waiting = (before.state == values["state"] == "failed"
                             and before.last_error_retryable is False and values.get("last_error_retryable") is False)
            values = {**values, "updated_at": now, **({} if still_waiting else _run(run_id))}
            if before.state != values["state"]:
                values.update(UNHANDLED)
            if sku_id is not None:
                values["sku_id"] = _str_or_none(sku_id)
            if count_attempt:
                values["attempts"] = c.attempts + 1
            conn.execute(sa.update(item_sync).where(self.own, c.item_code == item_code).values(**values))
