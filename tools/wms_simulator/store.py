"""The warehouse's state in SQLite: items, stock, orders, returns, the messages it posts
(confirmations and reports) and the request log.

One connection guarded by one lock and one transaction per operation, so many concurrent
clients never lose or double state; the UNIQUE constraint on the order code backs the
idempotency rule up at the database level too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from qimen.timeutil import format_datetime, now_beijing

from . import codes
from .codes import SimulatedRefusal

DEFAULT_INVENTORY_TYPE = "ZP"
SHIPPABLE = ("ACCEPT", "PARTDELIVERED")
CONFIRM_METHOD = "deliveryorder.confirm"  # what the confirmations table holds unless ``method`` says otherwise
# Fields that legitimately change when the same order is sent again (see docs/simulator.md).
VOLATILE_ORDER_FIELDS = ("createTime", "operateTime")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_code TEXT PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, owner_code TEXT, warehouse_code TEXT,
    item_name TEXT, bar_code TEXT, document TEXT NOT NULL, versions INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock (
    item_code TEXT NOT NULL, inventory_type TEXT NOT NULL, batch_code TEXT NOT NULL DEFAULT '',
    quantity INTEGER NOT NULL DEFAULT 0, lock_quantity INTEGER NOT NULL DEFAULT 0, product_date TEXT,
    expire_date TEXT, PRIMARY KEY (item_code, inventory_type, batch_code));
CREATE TABLE IF NOT EXISTS orders (
    order_code TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, body_hash TEXT NOT NULL,
    status TEXT NOT NULL, order_type TEXT, warehouse_code TEXT, owner_code TEXT, logistics_code TEXT,
    document TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, cancel_reason TEXT);
CREATE TABLE IF NOT EXISTS order_lines (
    order_code TEXT NOT NULL REFERENCES orders(order_code), line_index INTEGER NOT NULL,
    order_line_no TEXT, item_code TEXT NOT NULL, item_id TEXT, item_name TEXT, owner_code TEXT,
    inventory_type TEXT NOT NULL, plan_qty INTEGER NOT NULL, shipped_qty INTEGER NOT NULL DEFAULT 0,
    source_order_code TEXT, sub_source_order_code TEXT, PRIMARY KEY (order_code, line_index));
CREATE TABLE IF NOT EXISTS confirmations (
    seq INTEGER PRIMARY KEY, out_biz_code TEXT NOT NULL UNIQUE, order_code TEXT NOT NULL,
    status TEXT NOT NULL, confirm_type INTEGER NOT NULL, express_codes TEXT NOT NULL, body TEXT NOT NULL,
    created_at TEXT NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0, last_http_status INTEGER,
    last_answer TEXT, last_error TEXT, last_delivered_at TEXT,
    method TEXT NOT NULL DEFAULT 'deliveryorder.confirm');
CREATE TABLE IF NOT EXISTS returns (
    return_code TEXT PRIMARY KEY, return_id TEXT NOT NULL UNIQUE, body_hash TEXT NOT NULL,
    status TEXT NOT NULL, order_type TEXT, pre_order_code TEXT NOT NULL, warehouse_code TEXT, owner_code TEXT,
    logistics_code TEXT, express_code TEXT, return_reason TEXT, document TEXT NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS return_lines (
    return_code TEXT NOT NULL REFERENCES returns(return_code), line_index INTEGER NOT NULL,
    order_line_no TEXT, item_code TEXT NOT NULL, item_id TEXT, owner_code TEXT, inventory_type TEXT NOT NULL,
    plan_qty INTEGER NOT NULL, good_qty INTEGER NOT NULL DEFAULT 0, defective_qty INTEGER NOT NULL DEFAULT 0,
    source_order_code TEXT, sub_source_order_code TEXT, PRIMARY KEY (return_code, line_index));
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, received_at TEXT NOT NULL, path TEXT NOT NULL, method TEXT,
    raw_method TEXT, query TEXT NOT NULL, body TEXT, http_status INTEGER, outcome TEXT, code TEXT,
    answer TEXT, fault TEXT, duration_ms REAL, client TEXT);
CREATE INDEX IF NOT EXISTS requests_method ON requests(method);
"""
TABLES = ("sequences", "items", "stock", "order_lines", "orders", "return_lines", "returns", "confirmations",
          "requests")


def order_body_hash(document: dict) -> str:
    """Canonical hash of a parsed deliveryorder.create document, ignoring the volatile fields.

    Leaves are compared as their stripped text, keys in sorted order; so re-serialising or
    re-ordering elements is the same order, while any other changed value is a different one.
    """

    def canon(node):
        if isinstance(node, dict):
            return {k: canon(v) for k, v in node.items() if k not in VOLATILE_ORDER_FIELDS and not _empty(v)}
        if isinstance(node, list):
            return [canon(v) for v in node]
        return str(node).strip()

    text = json.dumps(canon(document), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _int(value, path: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise SimulatedRefusal(codes.INVALID_PARAMETER, f"{path}: not an integer: {value!r}") from None
    return number


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def resend_of(db: sqlite3.Connection, table: str, code_column: str, code: str, body_hash: str, id_column: str,
              field: str) -> sqlite3.Row | None:
    """A document stored under ``code`` already: the same body again is a resend (counted in
    ``repeats``, returned), another body is refused as the real WMS refuses it; None when new."""
    known = db.execute(f"SELECT * FROM {table} WHERE {code_column} = ?", (code,)).fetchone()
    if known is None:
        return None
    if known["body_hash"] != body_hash:
        raise SimulatedRefusal(codes.ORDER_EXISTS_DIFFERENT,
                               f"{field}: {code} already exists as {known[id_column]} with a different body")
    db.execute(f"UPDATE {table} SET repeats = repeats + 1 WHERE {code_column} = ?", (code,))
    return known


class WarehouseStore:
    """All state of one simulated warehouse. Every public method is one atomic transaction."""

    def __init__(self, path: str | None = None) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        columns = {r["name"] for r in self._conn.execute("PRAGMA table_info(confirmations)")}
        if "method" not in columns:  # a --db file from before the warehouse posted anything but confirmations
            self._conn.execute(f"ALTER TABLE confirmations ADD COLUMN method TEXT NOT NULL DEFAULT '{CONFIRM_METHOD}'")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def next_value(self, db: sqlite3.Connection, name: str) -> int:
        """The next number of sequence ``name`` (1, 2, ...), within the caller's transaction."""
        return self._next(db, name)

    def _next(self, db: sqlite3.Connection, name: str) -> int:
        db.execute(
            "INSERT INTO sequences(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )
        return db.execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()[0]

    def reset(self) -> None:
        with self.transaction() as db:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")

    # ---- request log -------------------------------------------------------------------------

    def log_request(self, record: dict) -> int:
        columns = ("received_at", "path", "method", "raw_method", "query", "body", "http_status",
                   "outcome", "code", "answer", "fault", "duration_ms", "client")
        values = [record.get(c) for c in columns]
        values[columns.index("query")] = json.dumps(record.get("query") or {}, ensure_ascii=False)
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO requests({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values
            )
            return cursor.lastrowid

    def requests(self, method: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM requests"
        args: list = []
        if method:
            sql += " WHERE method = ?"
            args.append(method)
        sql += " ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', ' ORDER BY id DESC')} LIMIT ?) ORDER BY id"
            args.append(int(limit))
        with self._lock:
            rows = [dict(r) for r in self._conn.execute(sql, args)]
        for row in rows:
            row["query"] = json.loads(row["query"])
        return rows

    def counters(self) -> dict[str, dict[str, int]]:
        """Received requests per method and outcome (success, failure, error_response, http_5xx ...)."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            rows = self._conn.execute(
                "SELECT COALESCE(method, '') AS m, outcome, COUNT(*) AS n FROM requests GROUP BY m, outcome"
            ).fetchall()
        for row in rows:
            per = out.setdefault(row["m"], {"received": 0})
            per["received"] += row["n"]
            per[row["outcome"] or "unknown"] = row["n"]
        return out

    # ---- items -------------------------------------------------------------------------------

    def synchronize_item(self, action: str, warehouse_code: str | None, owner_code: str | None,
                         item: dict, starting_stock: int = 0) -> tuple[str, bool]:
        """Store an item (``add`` creates or overwrites, ``update`` needs it known). Returns
        ``(itemId, created)``; the itemId of an itemCode never changes. A created item without any
        stock row gets ``starting_stock`` ZP units (the goods the shop sent in with it)."""
        code = str(item.get("itemCode") or "").strip()
        now = format_datetime(now_beijing())
        with self.transaction() as db:
            row = db.execute("SELECT item_id FROM items WHERE item_code = ?", (code,)).fetchone()
            if row is None and action == "update":
                raise SimulatedRefusal(codes.ITEM_NOT_FOUND, f"item.itemCode: item {code} is not known; send actionType=add first")
            given_id = str(item.get("itemId") or "").strip()
            if row is not None and given_id and given_id != row["item_id"]:
                raise SimulatedRefusal(codes.INVALID_PARAMETER,
                              f"item.itemId: {given_id} does not match the known itemId {row['item_id']} of {code}")
            document = json.dumps(item, ensure_ascii=False, sort_keys=True)
            values = (owner_code, warehouse_code, item.get("itemName"), item.get("barCode"), document, now)
            if row is None:
                item_id = f"IT{self._next(db, 'item'):010d}"
                db.execute(
                    "INSERT INTO items(item_code, item_id, owner_code, warehouse_code, item_name, bar_code,"
                    " document, updated_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (code, item_id, *values, now),
                )
                stocked = db.execute("SELECT 1 FROM stock WHERE item_code = ?", (code,)).fetchone() is not None
                if starting_stock > 0 and not stocked:
                    self.move_stock(db, code, DEFAULT_INVENTORY_TYPE, available=starting_stock, locked=0)
                return item_id, True
            db.execute(
                "UPDATE items SET owner_code = ?, warehouse_code = ?, item_name = ?, bar_code = ?, document = ?,"
                " updated_at = ?, versions = versions + 1 WHERE item_code = ?",
                (*values, code),
            )
            return row["item_id"], False

    def items(self) -> list[dict]:
        with self._lock:
            rows = [dict(r) for r in self._conn.execute("SELECT * FROM items ORDER BY item_id")]
        for row in rows:
            row["document"] = json.loads(row["document"])
        return rows

    # ---- stock -------------------------------------------------------------------------------

    def seed_stock(self, rows: list[dict], mode: str = "set") -> None:
        """Set (or add to) the available quantity per item, inventory type and batch.

        Rows: ``itemCode``, optional ``inventoryType`` (ZP), ``batchCode`` (none), ``quantity``,
        ``lockQuantity`` (left as it is when not given), ``productDate``/``expireDate`` (batches).
        Orders lock and ship from the row without a batch."""
        if mode not in ("set", "add"):
            raise ValueError("mode must be 'set' or 'add'")
        with self.transaction() as db:
            for i, row in enumerate(rows):
                code = str(row.get("itemCode") or "").strip()
                if not code:
                    raise ValueError(f"items[{i}].itemCode is required")
                key = (code, str(row.get("inventoryType") or DEFAULT_INVENTORY_TYPE), str(row.get("batchCode") or ""))
                db.execute("INSERT OR IGNORE INTO stock(item_code, inventory_type, batch_code) VALUES (?, ?, ?)", key)
                op = "" if mode == "set" else "{0} + "
                sets, values = [f"quantity = {op.format('quantity')}?"], [int(row.get("quantity", 0))]
                if row.get("lockQuantity") is not None:
                    sets.append(f"lock_quantity = {op.format('lock_quantity')}?")
                    values.append(int(row["lockQuantity"]))
                for name, column in (("productDate", "product_date"), ("expireDate", "expire_date")):
                    if row.get(name):
                        sets.append(f"{column} = ?")
                        values.append(str(row[name]))
                db.execute(f"UPDATE stock SET {', '.join(sets)} WHERE item_code = ? AND inventory_type = ?"
                           " AND batch_code = ?", (*values, *key))

    def stock(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(
                "SELECT * FROM stock ORDER BY item_code, inventory_type, batch_code")]

    def query_inventory(self, criteria: list[dict]) -> list[dict]:
        """One row per known item, inventory type and batch; unknown items give no rows (as Juxing
        does for codes it never received). A known item without stock gives one zero ZP row."""
        out = []
        with self._lock:
            for criterion in criteria:
                code = str(criterion.get("itemCode") or "").strip()
                kind = str(criterion.get("inventoryType") or "").strip()
                item = self._conn.execute("SELECT item_id, warehouse_code FROM items WHERE item_code = ?",
                                          (code,)).fetchone()
                sql = "SELECT * FROM stock WHERE item_code = ?" + (" AND inventory_type = ?" if kind else "")
                rows = self._conn.execute(sql + " ORDER BY inventory_type, batch_code",
                                          (code, kind) if kind else (code,)).fetchall()
                if not rows and item is not None:
                    rows = [{"inventory_type": kind or DEFAULT_INVENTORY_TYPE, "quantity": 0, "lock_quantity": 0,
                             "batch_code": "", "product_date": None, "expire_date": None}]
                for row in rows:
                    out.append({
                        "warehouseCode": criterion.get("warehouseCode") or (item["warehouse_code"] if item else None),
                        "itemCode": code,
                        "itemId": item["item_id"] if item else None,
                        "inventoryType": row["inventory_type"],
                        "quantity": row["quantity"],
                        "lockQuantity": row["lock_quantity"],
                        "batchCode": row["batch_code"] or None,
                        "productDate": row["product_date"],
                        "expireDate": row["expire_date"],
                    })
        return out

    # ---- orders ------------------------------------------------------------------------------

    def create_order(self, document: dict, *, require_known_items: bool, strict_stock: bool) -> dict:
        """Accept a delivery order and lock its stock, or recognise a resend.

        Returns ``{"deliveryOrderId", "createTime", "repeat": bool, ...}``; raises :class:`SimulatedRefusal`.
        """
        head = document.get("deliveryOrder") or {}
        code = str(head.get("deliveryOrderCode") or "").strip()
        lines = document.get("orderLines") or []
        body_hash = order_body_hash(document)
        now = format_datetime(now_beijing())
        with self.transaction() as db:
            known = resend_of(db, "orders", "order_code", code, body_hash, "order_id",
                              "deliveryOrder.deliveryOrderCode")
            if known is not None:
                return {"deliveryOrderId": known["order_id"], "createTime": known["created_at"], "repeat": True,
                        "warehouseCode": known["warehouse_code"], "logisticsCode": known["logistics_code"]}
            parsed = []
            for i, line in enumerate(lines):
                item_code = str(line.get("itemCode") or "").strip()
                item = db.execute("SELECT item_id, item_name FROM items WHERE item_code = ?", (item_code,)).fetchone()
                if item is None and require_known_items:
                    raise SimulatedRefusal(codes.ITEM_NOT_FOUND, f"orderLines[{i}].itemCode: item {item_code} is not known")
                qty = _int(line.get("planQty"), f"orderLines[{i}].planQty")
                if qty <= 0:
                    raise SimulatedRefusal(codes.INVALID_PARAMETER, f"orderLines[{i}].planQty: must be positive")
                parsed.append({
                    "line_index": i, "order_line_no": line.get("orderLineNo"), "item_code": item_code,
                    "item_id": line.get("itemId") or (item["item_id"] if item else None),
                    "item_name": line.get("itemName") or (item["item_name"] if item else None),
                    "owner_code": line.get("ownerCode"),
                    "inventory_type": line.get("inventoryType") or DEFAULT_INVENTORY_TYPE, "plan_qty": qty,
                    "source_order_code": line.get("sourceOrderCode"),
                    "sub_source_order_code": line.get("subSourceOrderCode"),
                })
            if strict_stock:
                self._check_stock(db, parsed)
            order_id = f"DO{self._next(db, 'order'):010d}"
            db.execute(
                "INSERT INTO orders(order_code, order_id, body_hash, status, order_type, warehouse_code, owner_code,"
                " logistics_code, document, created_at, updated_at) VALUES (?, ?, ?, 'ACCEPT', ?, ?, ?, ?, ?, ?, ?)",
                (code, order_id, body_hash, head.get("orderType"), head.get("warehouseCode"),
                 (lines[0].get("ownerCode") if lines else None), head.get("logisticsCode"),
                 json.dumps(document, ensure_ascii=False), now, now),
            )
            for line in parsed:
                db.execute(
                    "INSERT INTO order_lines(order_code, line_index, order_line_no, item_code, item_id, item_name,"
                    " owner_code, inventory_type, plan_qty, source_order_code, sub_source_order_code)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (code, line["line_index"], line["order_line_no"], line["item_code"], line["item_id"],
                     line["item_name"], line["owner_code"], line["inventory_type"], line["plan_qty"],
                     line["source_order_code"], line["sub_source_order_code"]),
                )
                self.move_stock(db, line["item_code"], line["inventory_type"], available=-line["plan_qty"],
                                locked=line["plan_qty"])
            return {"deliveryOrderId": order_id, "createTime": now, "repeat": False,
                    "warehouseCode": head.get("warehouseCode"), "logisticsCode": head.get("logisticsCode")}

    @staticmethod
    def _check_stock(db: sqlite3.Connection, lines: list[dict]) -> None:
        wanted: dict[tuple[str, str], int] = {}
        for line in lines:
            key = (line["item_code"], line["inventory_type"])
            wanted[key] = wanted.get(key, 0) + line["plan_qty"]
        for (item_code, kind), qty in wanted.items():
            row = db.execute("SELECT SUM(quantity) AS quantity FROM stock WHERE item_code = ? AND inventory_type = ?",
                             (item_code, kind)).fetchone()
            available = row["quantity"] or 0
            if available < qty:
                raise SimulatedRefusal(codes.INSUFFICIENT_STOCK,
                              f"item {item_code} ({kind}): {qty} wanted, {available} available")

    @staticmethod
    def move_stock(db: sqlite3.Connection, item_code: str, kind: str, *, available: int, locked: int,
                   batch_code: str = "") -> None:
        """Add to one stock row (created at 0 when missing), within the caller's transaction."""
        db.execute("INSERT OR IGNORE INTO stock(item_code, inventory_type, batch_code) VALUES (?, ?, ?)",
                   (item_code, kind, batch_code))
        db.execute(
            "UPDATE stock SET quantity = quantity + ?, lock_quantity = lock_quantity + ?"
            " WHERE item_code = ? AND inventory_type = ? AND batch_code = ?",
            (available, locked, item_code, kind, batch_code),
        )

    def cancel_order(self, order_code: str, reason: str | None = None, order_id: str | None = None) -> dict:
        """Cancel an accepted, unshipped order and release its stock. Cancelling twice is fine."""
        now = format_datetime(now_beijing())
        with self.transaction() as db:
            order = db.execute("SELECT * FROM orders WHERE order_code = ?", (order_code,)).fetchone()
            if order is None:
                raise SimulatedRefusal(codes.ORDER_NOT_FOUND, f"orderCode: order {order_code} is not known")
            if order_id and order_id != order["order_id"]:
                raise SimulatedRefusal(codes.INVALID_PARAMETER,
                              f"orderId: {order_id} is not the id {order['order_id']} of order {order_code}")
            if order["status"] == "CANCELED":
                return {"already": True, "orderId": order["order_id"]}
            if order["status"] != "ACCEPT":
                raise SimulatedRefusal(codes.ORDER_SHIPPED, f"order {order_code} is {order['status']} and cannot be canceled")
            for line in db.execute("SELECT * FROM order_lines WHERE order_code = ?", (order_code,)).fetchall():
                left = line["plan_qty"] - line["shipped_qty"]
                self.move_stock(db, line["item_code"], line["inventory_type"], available=left, locked=-left)
            db.execute("UPDATE orders SET status = 'CANCELED', updated_at = ?, cancel_reason = ? WHERE order_code = ?",
                       (now, reason, order_code))
            return {"already": False, "orderId": order["order_id"]}

    def orders(self, order_code: str | None = None) -> list[dict]:
        with self._lock:
            sql = "SELECT * FROM orders" + (" WHERE order_code = ?" if order_code else "") + " ORDER BY order_id"
            orders = [dict(r) for r in self._conn.execute(sql, (order_code,) if order_code else ())]
            for order in orders:
                order["document"] = json.loads(order["document"])
                order["lines"] = [dict(r) for r in self._conn.execute(
                    "SELECT * FROM order_lines WHERE order_code = ? ORDER BY line_index", (order["order_code"],))]
        return orders

    def repeats(self) -> dict[str, int]:
        with self._lock:
            return {r["order_code"]: r["repeats"] for r in self._conn.execute(
                "SELECT order_code, repeats FROM orders ORDER BY order_code")}

    # ---- shipping ----------------------------------------------------------------------------

    def ship(self, *, order_codes: list[str] | None, lines: dict[str, list[dict]] | None,
             logistics_code: str | None, express_codes: dict[str, object] | None,
             packages_per_order: int, render: Callable[[dict], str]) -> list[dict]:
        """Ship accepted orders (all of them when ``order_codes`` is None), wholly or the given
        ``lines`` (``{code: [{"itemCode"|"orderLineNo", "quantity"}]}``), deduct the locked stock
        and store one confirmation per order rendered by ``render(shipment) -> XML``."""
        lines = lines or {}
        express_codes = express_codes or {}
        now = format_datetime(now_beijing())
        shipments = []
        with self.transaction() as db:
            if order_codes is None:
                targets = [r["order_code"] for r in db.execute(
                    "SELECT order_code FROM orders WHERE status IN (?, ?) ORDER BY order_id", SHIPPABLE)]
            else:
                targets = list(dict.fromkeys(order_codes))
            for code in targets:
                order = db.execute("SELECT * FROM orders WHERE order_code = ?", (code,)).fetchone()
                if order is None:
                    raise SimulatedRefusal(codes.ORDER_NOT_FOUND, f"order {code} is not known")
                if order["status"] not in SHIPPABLE:
                    code_ = codes.ORDER_CANCELED if order["status"] == "CANCELED" else codes.ORDER_SHIPPED
                    raise SimulatedRefusal(code_, f"order {code} is {order['status']} and cannot be shipped")
                order_lines = [dict(r) for r in db.execute(
                    "SELECT * FROM order_lines WHERE order_code = ? ORDER BY line_index", (code,))]
                quantities = self._ship_quantities(code, order_lines, lines.get(code))
                shipped_lines = []
                for line, qty in zip(order_lines, quantities):
                    if qty <= 0:
                        continue
                    db.execute("UPDATE order_lines SET shipped_qty = shipped_qty + ? WHERE order_code = ? AND"
                               " line_index = ?", (qty, code, line["line_index"]))
                    self.move_stock(db, line["item_code"], line["inventory_type"], available=0, locked=-qty)
                    shipped_lines.append({**line, "actual_qty": qty})
                if not shipped_lines:
                    raise SimulatedRefusal(codes.INVALID_PARAMETER, f"order {code}: nothing left to ship")
                done = all(line["shipped_qty"] + q >= line["plan_qty"] for line, q in zip(order_lines, quantities))
                status = "DELIVERED" if done else "PARTDELIVERED"
                db.execute("UPDATE orders SET status = ?, updated_at = ? WHERE order_code = ?", (status, now, code))
                seq, out_biz_code = self.next_message(db)
                carrier = logistics_code or order["logistics_code"] or "OTHER"
                given = express_codes.get(code)
                given = [given] if isinstance(given, str) else list(given or [])
                count = max(1, int(packages_per_order), len(given))
                tracking = given + [f"SIM{carrier}{seq:08d}{n:02d}" for n in range(len(given) + 1, count + 1)]
                shipment = {
                    "order": dict(order), "status": status, "confirm_type": 0 if done else 1,
                    "out_biz_code": out_biz_code, "logistics_code": carrier, "express_codes": tracking,
                    "lines": shipped_lines, "time": now,
                }
                body = render(shipment)
                self.insert_message(db, seq, out_biz_code, method=CONFIRM_METHOD, order_code=code, status=status,
                                    confirm_type=shipment["confirm_type"], body=body, express_codes=tracking)
                shipments.append({"out_biz_code": shipment["out_biz_code"], "order_code": code, "status": status,
                                  "confirm_type": shipment["confirm_type"], "express_codes": tracking,
                                  "logistics_code": carrier})
        return shipments

    def due_for_shipping(self, accepted_before: str) -> list[dict]:
        """Orders still ``ACCEPT`` that were accepted before ``accepted_before`` (Beijing
        ``yyyy-MM-dd HH:mm:ss``), oldest first: ``[{"order_code", "lines"}]``."""
        with self._lock:
            return [dict(r) for r in self._conn.execute(
                "SELECT o.order_code, COUNT(l.line_index) AS lines FROM orders o"
                " LEFT JOIN order_lines l ON l.order_code = o.order_code"
                " WHERE o.status = 'ACCEPT' AND o.created_at < ? GROUP BY o.order_code ORDER BY o.order_id",
                (accepted_before,))]

    def failed_deliveries(self, tried_before: str, max_deliveries: int) -> list[dict]:
        """Confirmations whose last delivery failed (no answer or an HTTP error) before
        ``tried_before`` (UTC ISO, as recorded) and that were posted fewer than ``max_deliveries`` times."""
        with self._lock:
            rows = [dict(r) for r in self._conn.execute(
                "SELECT * FROM confirmations WHERE deliveries > 0 AND deliveries < ? AND last_error IS NOT NULL"
                " AND last_delivered_at < ? ORDER BY seq", (max_deliveries, tried_before))]
        for row in rows:
            row["express_codes"] = json.loads(row["express_codes"])
        return rows

    @staticmethod
    def _ship_quantities(code: str, order_lines: list[dict], wanted: list[dict] | None) -> list[int]:
        remaining = [line["plan_qty"] - line["shipped_qty"] for line in order_lines]
        if wanted is None:
            return remaining
        quantities = [0] * len(order_lines)
        for spec in wanted:
            qty = int(spec.get("quantity", 0))
            matches = [
                i for i, line in enumerate(order_lines)
                if (spec.get("orderLineNo") is not None and str(line["order_line_no"]) == str(spec["orderLineNo"]))
                or (spec.get("orderLineNo") is None and line["item_code"] == spec.get("itemCode"))
            ]
            left = qty
            for i in matches:
                take = min(left, remaining[i] - quantities[i])
                quantities[i] += take
                left -= take
            if not matches or left > 0 or qty <= 0:
                raise SimulatedRefusal(codes.INVALID_PARAMETER,
                              f"order {code}: cannot ship {qty} of {spec} (line unknown or not that much left)")
        return quantities

    def next_message(self, db: sqlite3.Connection) -> tuple[int, str]:
        """``(seq, outBizCode)`` of the next message the warehouse posts (one sequence for
        confirmations and reports alike, so an outBizCode is never used twice)."""
        seq = self._next(db, "confirmation")
        return seq, f"OB{seq:010d}"

    @staticmethod
    def insert_message(db: sqlite3.Connection, seq: int, out_biz_code: str, *, method: str, order_code: str,
                       status: str, confirm_type: int, body: str, express_codes: list[str] | tuple = ()) -> None:
        """Store a message to post (``deliver``), within the caller's transaction."""
        db.execute(
            "INSERT INTO confirmations(seq, out_biz_code, order_code, status, confirm_type, express_codes,"
            " body, created_at, method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, out_biz_code, order_code, status, confirm_type, json.dumps(list(express_codes)), body,
             format_datetime(now_beijing()), method),
        )

    def confirmations(self, out_biz_codes: list[str] | None = None, pending_only: bool = False,
                      method: str | None = None) -> list[dict]:
        """Stored messages in the order they were made (``out_biz_codes``: those, in that order);
        ``method``: of that method only (None: confirmations and reports alike)."""
        sql = "SELECT * FROM confirmations"
        where, args = [], []
        if out_biz_codes is not None:
            where.append(f"out_biz_code IN ({', '.join('?' * len(out_biz_codes))})")
            args.extend(out_biz_codes)
        if pending_only:
            where.append("deliveries = 0")
        if method is not None:
            where.append("method = ?")
            args.append(method)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = [dict(r) for r in self._conn.execute(sql + " ORDER BY seq", args)]
        for row in rows:
            row["express_codes"] = json.loads(row["express_codes"])
        if out_biz_codes is not None:
            missing = set(out_biz_codes) - {r["out_biz_code"] for r in rows}
            if missing:
                raise SimulatedRefusal(codes.ORDER_NOT_FOUND, f"unknown outBizCode: {', '.join(sorted(missing))}")
            position = {c: i for i, c in enumerate(out_biz_codes)}
            rows.sort(key=lambda r: position[r["out_biz_code"]])
        return rows

    def record_delivery(self, out_biz_code: str, http_status: int | None, answer: str | None,
                        error: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE confirmations SET deliveries = deliveries + 1, last_http_status = ?, last_answer = ?,"
                " last_error = ?, last_delivered_at = ? WHERE out_biz_code = ?",
                (http_status, answer, error, utc_now_iso(), out_biz_code),
            )
