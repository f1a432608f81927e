"""Per-flow watermarks (``wms_cursor``): where the next incremental run starts reading the shop.

Airflow's ``prev_start_date_success`` moves with every successful run, dry and manual ones
included, so a record changed between the last real sync and such a run would never be read again.
A cursor in the store moves only when a flow has really sent what it read, and only forward.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .base import Repository, run_columns
from .dialect_sql import upsert
from .schema import cursor


class Cursors(Repository):
    """One watermark per bridge and flow."""

    def get(self, flow: str) -> datetime | None:
        """The watermark of ``flow``; None when it never completed a real run here."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(cursor.c.watermark).where(self._mine(cursor), cursor.c.flow == flow)
                                ).scalar_one_or_none()

    def move(self, flow: str, watermark: datetime, *, run_id: str | None = None) -> datetime:
        """Set the watermark of ``flow`` to ``watermark`` unless it is already later (a slower
        run never moves it back). Returns the watermark now in place."""
        current = self.get(flow)
        if current is not None and current >= watermark:
            return current
        with self.engine.begin() as conn:
            upsert(conn, cursor, [{"bridge_id": self.bridge_id, "flow": flow, "watermark": watermark,
                                   **run_columns(run_id),
                                   "updated_at": self.clock()}],
                   key=("bridge_id", "flow"), update=("watermark", "run_id", "dag_id", "updated_at"))
        return watermark
