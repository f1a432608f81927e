"""wms_unkeyed_record: shop records refused with a code that cannot key them.

Such a record has no row in wms_order_sync / wms_item_sync (both keyed by code), yet a person must
see it: it is kept by the shop's own id, seen again by every run that reads it, and resolved when
the shop's record comes back with a usable code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .base import LOOKUP_CHUNK, UNHANDLED, Repository, _clip, _violations_json, run_columns
from .dialect_sql import batches
from .schema import EXT_ID, KEY, unkeyed_record


def shown_code(code: Any) -> str | None:
    """A code as a person must see it to fix it: quoted, control characters escaped (``'\\x01'``)."""
    return None if code is None else _clip(repr(str(code)), KEY)


class UnkeyedRecords(Repository):
    """Records our rules refused whose code cannot key them, by flow and shop id."""

    @property
    def own(self) -> sa.ColumnElement[bool]:
        """This bridge's rows of unkeyed_record."""
        return self._mine(unkeyed_record)

    def record(self, flow: str, records: Sequence[dict[str, Any]], *, run_id: str | None = None) -> None:
        """Keep ``records`` (``shop_id``, ``shop_code``, ``violations``) as open. A new one, or one the
        shop had fixed and broke again, becomes this run's (it found it); one still open keeps the
        run that first found it, its handled mark, and gets what this run read."""
        if not records:
            return
        now, t = self.clock(), unkeyed_record.c
        rows = {str(r["shop_id"])[:EXT_ID]: {
            "shop_code": shown_code(r.get("shop_code")), "violations": _violations_json(r["violations"]),
        } for r in records}
        with self.engine.begin() as conn:
            known = dict(conn.execute(sa.select(t.shop_id, t.resolved_at).where(self.own,
                t.flow == flow, t.shop_id.in_(list(rows)))).all())
            new = [{"bridge_id": self.bridge_id, "flow": flow, "shop_id": shop_id, **row, **run_columns(run_id),
                    "first_seen_at": now,
                    "last_seen_at": now} for shop_id, row in rows.items() if shop_id not in known]
            if new:
                conn.execute(sa.insert(unkeyed_record), new)
            for shop_id, row in rows.items():
                if shop_id not in known:
                    continue
                again = {"resolved_at": None, **UNHANDLED, **run_columns(run_id)} if known[shop_id] else {}
                conn.execute(sa.update(unkeyed_record).where(self.own, t.flow == flow, t.shop_id == shop_id)
                             .values(**row, last_seen_at=now, **again))

    def open_ids(self, flow: str) -> set[str]:
        """Shop ids of ``flow``'s open records (few: a run resolves only those it meets)."""
        t = unkeyed_record.c
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(t.shop_id).where(self.own, t.flow == flow, t.resolved_at.is_(None)))
                       .scalars())

    def resolve(self, flow: str, shop_ids: Iterable[str], *, run_id: str | None = None) -> int:
        """The shop's records ``shop_ids`` came back with a usable code: resolved. Returns how many."""
        t, now, resolved = unkeyed_record.c, self.clock(), 0
        with self.engine.begin() as conn:
            for chunk in batches([str(i) for i in dict.fromkeys(shop_ids)], LOOKUP_CHUNK):
                resolved += conn.execute(
                    sa.update(unkeyed_record)
                    .where(self.own, t.flow == flow, t.shop_id.in_(chunk), t.resolved_at.is_(None))
                    .values(resolved_at=now, last_seen_at=now, **run_columns(run_id))).rowcount
        return resolved
