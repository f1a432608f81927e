"""Hostile shop rows mixed into the chaos shop: each must cost its own record, never its chunk.

Copies of an ordinary paid order (reference schema) with one thing wrong: a payment time pandas
cannot hold, one in 2100, a change time in 9999, a code that cannot key the order (empty, blank,
control characters, padded), and an order buying a SKU whose code holds a control character (good:
it must be delivered). The audit expects every one either delivered or visible to a person: a
rejected row in wms_order_sync, or an open wms_unkeyed_record by shop order id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

# (label, order columns to set); the code is HOSTILE-<n> unless the case sets order_no
CASES: tuple[tuple[str, dict], ...] = (
    ("paid in 9999", {"paid_at": datetime(9999, 6, 1)}),
    ("paid in 2100", {"paid_at": datetime(2100, 1, 1)}),
    ("changed in 9999", {"updated_at": datetime(9999, 12, 31, 23, 59, 59)}),
    ("empty code", {"order_no": ""}),
    ("blank code", {"order_no": "   "}),
    ("control character in the code", {"order_no": "HOSTILE\x01CTRL"}),
    ("padded code", {"order_no": " HOSTILE-PAD "}),
)
CONTROL_SKU = "HOSTILE\x07SKU"  # good: synced and sent as HOSTILESKU


@dataclass(frozen=True)
class Hostile:
    shop_id: str
    code: str
    label: str
    good: bool  # must reach the warehouse (the others must be refused, visibly)


def insert(engine) -> list[Hostile]:
    """Insert the hostile rows next to the generated ones; returns what was inserted."""
    placed = []
    with engine.begin() as conn:
        order = dict(conn.execute(sa.text("SELECT * FROM shop_order WHERE status = 'paid' ORDER BY id LIMIT 1"))
                     .mappings().one())
        lines = [dict(r) for r in conn.execute(sa.text("SELECT * FROM shop_order_line WHERE order_id = :i"),
                                               {"i": order["id"]}).mappings()]
        sku = dict(conn.execute(sa.text("SELECT * FROM shop_sku WHERE id = :i"), {"i": lines[0]["sku_id"]})
                   .mappings().one())
        next_order, next_line, next_sku = (conn.execute(sa.text(f"SELECT MAX(id) + 1 FROM {t}")).scalar_one()
                                           for t in ("shop_order", "shop_order_line", "shop_sku"))
        _insert(conn, "shop_sku", {**sku, "id": next_sku, "sku_code": CONTROL_SKU})
        stock = conn.execute(sa.text("SELECT * FROM shop_stock WHERE sku_id = :i"), {"i": sku["id"]}).mappings().first()
        if stock is not None:
            _insert(conn, "shop_stock", {**dict(stock), "sku_id": next_sku})
        cases = [*CASES, ("SKU code with a control character", {"_sku": next_sku})]
        for n, (label, change) in enumerate(cases, start=1):
            row = {**order, "id": next_order, "order_no": f"HOSTILE-{n}",
                   **{k: v for k, v in change.items() if not k.startswith("_")}}
            _insert(conn, "shop_order", row)
            for line in lines:
                own = {**line, "id": next_line, "order_id": next_order}
                if "_sku" in change:
                    own.update(sku_id=change["_sku"], sku_code=CONTROL_SKU)
                _insert(conn, "shop_order_line", own)
                next_line += 1
            placed.append(Hostile(str(next_order), row["order_no"], label, good="_sku" in change))
            next_order += 1
    return placed


def _insert(conn, table: str, row: dict) -> None:
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
