"""wms_stock_adjustment, the stock-adjustments aggregate: every signed change the bridge makes to a
SKU's shop stock between daily syncs (a return taken in, the shop's own add-back taken out again,
stockchange.report), once per ``(source, source_key, item_code)``.

The shop may live in another database than the store, so no transaction spans both. The order is:
``begin`` records the rows ``applying`` (committed), the shop's UPDATE runs, ``finish`` marks them
``applied``. A row a dead run left ``applying`` cannot tell whether the shop moved: ``abandoned``
hands it to a person (store/attention.py: ``stock_adjustments_unsure``), never applied twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .base import LOOKUP_CHUNK, Repository, _clip, _run, _utc, run_columns
from .dialect_sql import batches
from .schema import CODE, EXT_ID, KEY, stock_adjustment

ABANDONED_AFTER = timedelta(minutes=1)  # the pipelines pass the configured lease


class StockAdjustments(Repository):
    """Signed stock changes written to the shop, and whether each was."""

    @property
    def own(self) -> sa.ColumnElement[bool]:
        """This bridge's rows of stock_adjustment."""
        return self._mine(stock_adjustment)

    def begin(self, source: str, source_key: str, deltas: Sequence[Mapping[str, Any]], *, note: str | None = None,
              run_id: str | None = None) -> dict[str, int]:
        """Record ``deltas`` (``item_code``, ``sku_id``, ``delta``) as ``applying``; returns
        ``{item_code: id}`` of the rows this call recorded. A key already recorded (any state) is
        never recorded again."""
        now, key, t = self.clock(), _clip(source_key, KEY), stock_adjustment.c
        rows = {str(d["item_code"])[:CODE]: {
            "source": source, "source_key": key, "item_code": str(d["item_code"])[:CODE],
            "sku_id": None if d.get("sku_id") is None else str(d["sku_id"])[:EXT_ID], "delta": int(d["delta"]),
            "state": "applying", "note": note, "created_at": now, **run_columns(run_id), "bridge_id": self.bridge_id,
        } for d in deltas}
        if not rows:
            return {}

        def work() -> dict[str, int]:
            try:
                with self.engine.begin() as conn:
                    known = set(conn.execute(sa.select(t.item_code).where(self.own,
                        t.source == source, t.source_key == key, t.item_code.in_(list(rows)))).scalars())
                    new = [row for code, row in rows.items() if code not in known]
                    if not new:
                        return {}
                    conn.execute(sa.insert(stock_adjustment), new)
                    return dict(conn.execute(sa.select(t.item_code, t.id).where(self.own,
                        t.source == source, t.source_key == key, t.state == "applying",
                        t.item_code.in_([r["item_code"] for r in new]))).all())
            except IntegrityError:  # a run at the same moment recorded the same changes: it writes them
                return {}

        return self._retrying(work)  # a deadlock between two such runs: again, then it is known

    def finish(self, ids: Iterable[int], state: str = "applied", *, run_id: str | None = None) -> None:
        """The shop's UPDATE ran (``applied``) or had nothing to change (``skipped``)."""
        t, now = stock_adjustment.c, self.clock()
        with self.engine.begin() as conn:
            for chunk in batches(list(ids), LOOKUP_CHUNK):
                conn.execute(sa.update(stock_adjustment).where(self.own, t.id.in_(chunk), t.state == "applying")
                             .values(state=state, applied_at=now, **_run(run_id)))

    def abandoned(self, sources: Iterable[str], *, older_than: timedelta = ABANDONED_AFTER,
                  run_id: str | None = None) -> int:
        """Rows of ``sources`` left ``applying`` longer than ``older_than`` (a live run holds one for
        milliseconds): whether the shop moved is unknown, so each waits for a person. Returns how many."""
        t, before = stock_adjustment.c, self.clock() - older_than
        with self.engine.begin() as conn:
            return conn.execute(sa.update(stock_adjustment).where(self.own,
                    t.source.in_(list(sources)), t.state == "applying", t.created_at < _utc(before)).values(
                state="needs_person", note=sa.func.coalesce(t.note, "") + " | left unfinished by a run that "
                "stopped: check the SKU's stock in the shop, then mark it handled", **_run(run_id))).rowcount

    def recorded(self, source: str, source_key: str) -> dict[str, str]:
        """``{item_code: state}`` of what a key already recorded."""
        t = stock_adjustment.c
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(t.item_code, t.state).where(self.own,
                t.source == source, t.source_key == _clip(source_key, KEY))).all())
