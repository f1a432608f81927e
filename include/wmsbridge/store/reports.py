"""wms_warehouse_report, the reports aggregate: what the warehouse reported on its own initiative
(standard Qimen methods switched on in ``enabled_methods``), once per report key.

The receiver calls ``receive`` (the report and its inbound exchange, one transaction, committed
before it answers). A report is stored in the state its meaning gives it (receiver/reports.py): a
shortage or a rejected order waits for a person at once (store/attention.py: ``reports_for_person``),
progress is ``applied``; one a flow applies is ``received`` until that flow has recorded it
(``settle``): ``applied``, or ``needs_person`` in that flow's own category (a return receipt:
``returns_receipts``; a stock change: ``stock_changes_refused``; a courier intercept, TMSCANCELED:
``intercepts_to_check``, told apart by the settling run's ``run_id``), whose runs fail for it.
Reports are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .base import UNHANDLED, InboxInsert, Repository, _clip, _run
from .exchange_log import ExchangeLog, Inbound
from .schema import CODE, DEFAULT_BRIDGE, exchange_log, warehouse_report
from .scrub import scrub_text
from .states import REPORT_STATES


class WarehouseReports(Repository):
    """The warehouse's own reports and where each stands."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], exchanges: ExchangeLog,
                 bridge_id: str = DEFAULT_BRIDGE) -> None:
        super().__init__(engine, clock, bridge_id)
        self.own = self._mine(warehouse_report)  # this bridge's rows
        self.exchanges = exchanges

    def receive(self, *, method: str, key: str, order_code: str | None, summary: str | None, state: str,
                raw_body: str, inbound: Inbound) -> InboxInsert:
        """Store one report under ``(method, key)`` with its exchange, in one transaction. A known
        key stores nothing new and is logged as ``duplicate``."""
        if not key:
            raise ValueError("key is required: it is the report's idempotency key")
        if state not in REPORT_STATES:
            raise ValueError(f"unknown report state {state!r}")
        now = self.clock()
        exchange = self.exchanges.inbound_row(inbound, business_key=order_code)

        def insert(conn) -> int:
            report_id = conn.execute(sa.insert(warehouse_report).values(
                bridge_id=self.bridge_id, method=method, report_key=key,
                order_code=_clip(order_code, CODE) if order_code else None,
                summary=summary, raw_body=scrub_text(raw_body), received_at=now, state=state,
                processed_at=now if state != "received" else None,
            )).inserted_primary_key[0]
            conn.execute(sa.insert(exchange_log).values(**exchange))
            return report_id

        c = warehouse_report.c
        stored = self._insert_once(insert, sa.select(c.id).where(self.own, c.method == method, c.report_key == key))
        if stored.already_seen:
            self.exchanges.log_inbound(inbound, business_key=order_code, duplicate=True)
        return stored

    def waiting(self, method: str, *, limit: int = 1000) -> list[dict]:
        """Reports of ``method`` stored ``received``, for the flow that applies them, oldest first."""
        c = warehouse_report.c
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(c.id, c.report_key, c.order_code, c.raw_body, c.received_at)
                .where(self.own, c.method == method, c.state == "received").order_by(c.received_at, c.id).limit(limit))]

    def earlier(self, method: str, order_code: str, *, before_id: int) -> list[dict]:
        """Reports of ``method`` about ``order_code`` stored before report ``before_id`` (any state:
        applied, received, or a person's), oldest first: ``id``, ``report_key``, ``state``,
        ``raw_body``. The order they arrived in never changes, so what a flow counts before a report
        (a return's earlier receipts) is the same on every try and in two runs at once."""
        c = warehouse_report.c
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(c.id, c.report_key, c.state, c.raw_body).where(
                    self.own, c.method == method, c.order_code == order_code, c.id < before_id).order_by(c.id))]

    def settle(self, report_id: int, state: str, *, summary: str | None = None, run_id: str | None = None) -> bool:
        """A flow recorded a ``received`` report: ``applied``, or ``needs_person`` with why."""
        if state not in REPORT_STATES or state == "received":
            raise ValueError(f"a report is settled as applied or needs_person, not {state!r}")
        c, now = warehouse_report.c, self.clock()
        values = {"state": state, "processed_at": now, **UNHANDLED, **_run(run_id)}
        if summary is not None:
            values["summary"] = summary
        with self.engine.begin() as conn:
            return conn.execute(sa.update(warehouse_report).where(self.own, c.id == report_id, c.state == "received")
                                .values(**values)).rowcount == 1
