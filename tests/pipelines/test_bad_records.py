"""A corpus of bad records mixed into a good shop, through the real push against the simulator.

Each case is one kind of bad (or merely odd) order row, inserted with SQL into a generated
reference shop on each backend. One push runs over all of them in ONE chunk with the good orders:
every bad record is rejected with a reason naming its field (recorded in wms_order_sync, or, when
its code cannot key it, in wms_unkeyed_record by shop order id), every good one (odd ones
included: emoji in a message, XML-hostile text, control characters that are cleaned away) reaches
the warehouse exactly once, and nothing crashes. A backend skips only what it cannot store, and
says why. The rule it proves: one bad record, one reject, everything else delivered in the same run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import SENDER, OWNER, WAREHOUSE, Shop, bridge, order_sync_rows, paid_order_codes
from databases import BACKENDS, throwaway_database

from wms_simulator.pytest_plugin import start_simulator
from wmsbridge.config import ENV_KEY
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.store.migrate import upgrade
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import unkeyed_record
from wmsbridge_tools.synthetic.generator import generate

ALL = ("sqlite", "postgresql", "mariadb")
SQLITE = ("sqlite",)
NO_BYTES = "PostgreSQL and MariaDB refuse bytes that are not UTF-8 in their UTF-8 text columns"
NO_TEXT_IN_TYPED = "PostgreSQL and MariaDB refuse text in a DECIMAL, INTEGER or DATETIME column"
NO_FRACTION = "PostgreSQL and MariaDB round 2.5 on writing it to an INTEGER column"
NO_OVERFLOW = "DECIMAL(10,2) on PostgreSQL and MariaDB cannot hold 1e12"
NO_BAD_DATE = "PostgreSQL and MariaDB refuse an impossible date"
NO_NUL = "PostgreSQL text cannot hold a NUL character"
NO_YEAR_ONE = "MariaDB's DATETIME starts at the year 1000"
# Orders without a usable code cannot be recorded by code: paid on their own day, so a push over
# that window names them (by shop order id) among its report's samples.
KEYLESS_PAID = datetime(2026, 11, 19, 12, 0, 0)


class Raw(str):
    """An SQL expression inserted as it is (SQLite's bytes that are not UTF-8)."""


def bad_bytes(text: str) -> Raw:
    """``text`` followed by a byte that is never UTF-8, stored by SQLite as TEXT."""
    return Raw(f"CAST(X'{text.encode().hex()}FF' AS TEXT)")


@dataclass(frozen=True)
class Case:
    id: str
    field: str | None  # what the reject reason must name; None: odd but good, must be delivered
    order: dict = field(default_factory=dict)  # shop_order columns to set
    line: dict = field(default_factory=dict)  # first line's columns to set
    sku: dict | None = None  # a new SKU (shop_sku columns) the first line buys
    twin: str | None = None  # a second order with this code (same content)
    no_lines: bool = False
    backends: tuple[str, ...] = ALL
    why_not: str = ""  # why the other backends cannot store it
    key: str | None = "code"  # the deliveryOrderCode it is recorded under; None: no usable code


CASES = [
    # --- missing, empty, NULL --------------------------------------------------------------------
    Case("empty_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": ""}, key=None),
    Case("blank_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "   "}, key=None,
         backends=("sqlite", "postgresql"),
         why_not="MariaDB's unique order_no compares '   ' equal to the empty code (PAD SPACE)"),
    Case("control_only_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "\x01\x02"}, key=None),
    Case("control_in_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "AB\x01C"}, key=None),
    Case("tab_in_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "AB\tC"}, key=None),
    Case("padded_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": " PAD1 "}, key=None),
    Case("null_receiver_name", "receiverInfo.name", order={"receiver_name": None}),
    Case("empty_receiver_name", "receiverInfo.name", order={"receiver_name": ""}),
    Case("control_only_receiver_name", "receiverInfo.name", order={"receiver_name": "\x07\x08"}),
    Case("null_phones", "receiverInfo.mobile", order={"receiver_mobile": None, "receiver_phone": None}),
    Case("empty_phones", "receiverInfo.mobile", order={"receiver_mobile": "", "receiver_phone": ""}),
    Case("null_province", "receiverInfo.province", order={"receiver_province": None}),
    Case("null_city", "receiverInfo.city", order={"receiver_city": None}),
    Case("blank_city", "receiverInfo.city", order={"receiver_city": "   "}),
    Case("null_district", "receiverInfo.area", order={"receiver_district": None}),
    Case("null_detail", "receiverInfo.detailAddress", order={"receiver_detail": None}),
    Case("empty_detail", "receiverInfo.detailAddress", order={"receiver_detail": ""}),
    Case("no_lines", "orderLines", no_lines=True),
    # --- wrong types, unreadable values ------------------------------------------------------------
    Case("text_total_amount", "deliveryOrder.totalAmount", order={"total_amount": "abc"},
         backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("empty_item_amount", "deliveryOrder.itemAmount", order={"item_amount": ""},
         backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("nan_freight", "deliveryOrder.freight", order={"freight": "NaN"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("infinite_discount", "deliveryOrder.discountAmount", order={"discount_amount": "Infinity"},
         backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("empty_line_price", "actualPrice", line={"price": ""}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("text_retail_price", "retailPrice", line={"retail_price": "x9"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("text_quantity", "planQty", line={"quantity": "two"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("text_line_no", "orderLineNo", line={"line_no": "first"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("text_paid_at", "placeOrderTime", order={"paid_at": "yesterday"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("impossible_paid_at", "placeOrderTime", order={"paid_at": "2026-02-30 10:00:00"},
         backends=SQLITE, why_not=NO_BAD_DATE),
    Case("number_paid_at", "placeOrderTime", order={"paid_at": 1764000000}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("text_updated_at", "updated_at", order={"updated_at": "garbage"}, backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("blob_zip", "receiverInfo.zipCode", order={"receiver_zip": Raw("X'00FF'")}, backends=SQLITE,
         why_not="PostgreSQL and MariaDB refuse binary data that is not UTF-8 in a text column"),
    # --- bytes that are not UTF-8 --------------------------------------------------------------------
    Case("bad_bytes_receiver_name", "receiverInfo.name", order={"receiver_name": bad_bytes("张")},
         backends=SQLITE, why_not=NO_BYTES),
    Case("bad_bytes_detail", "receiverInfo.detailAddress", order={"receiver_detail": bad_bytes("人民路1号")},
         backends=SQLITE, why_not=NO_BYTES),
    Case("bad_bytes_buyer_message", "deliveryOrder.buyerMessage", order={"buyer_message": bad_bytes("hi")},
         backends=SQLITE, why_not=NO_BYTES),
    Case("bad_bytes_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": bad_bytes("BADBYTES")},
         key=None, backends=SQLITE, why_not=NO_BYTES),
    Case("bad_bytes_item_name", "itemName", line={"item_name": bad_bytes("衬衫")}, backends=SQLITE, why_not=NO_BYTES),
    Case("bad_bytes_line_sku_code", "itemCode", line={"sku_code": bad_bytes("G1")}, backends=SQLITE, why_not=NO_BYTES),
    # --- emoji and control characters ------------------------------------------------------------------
    Case("emoji_receiver_name", "receiverInfo.name", order={"receiver_name": "张三😀"}),
    Case("bmp_emoji_detail", "receiverInfo.detailAddress", order={"receiver_detail": "人民路1号❤️"}),
    Case("emoji_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "EMOJI😀1"}, key="EMOJI😀1"),
    Case("emoji_buyer_message", None, order={"buyer_message": "谢谢😀❤️"}),
    Case("control_characters_in_name", None, order={"receiver_name": "张\x07三\u200b"}),
    Case("nul_in_message", None, order={"buyer_message": "a\x00b"}, backends=("sqlite", "mariadb"), why_not=NO_NUL),
    Case("newlines_in_detail", None, order={"receiver_detail": "人民路\r\n1号\t2栋"}),
    # --- XML-hostile text ----------------------------------------------------------------------------------
    Case("xml_hostile_detail", None, order={"receiver_detail": "人民路<1>号 & ]]> 2栋"}),
    Case("xml_hostile_message", None, order={"buyer_message": "</buyerMessage><x>&amp;]]>", "seller_message": "<![CDATA["}),
    Case("xml_hostile_item_name", None, line={"item_name": "T恤 <L> & \"XL\" ]]>"}),
    # --- too long ---------------------------------------------------------------------------------------
    Case("long_receiver_name", "receiverInfo.name", order={"receiver_name": "名" * 60}),
    Case("long_detail", "receiverInfo.detailAddress", order={"receiver_detail": "人民路1号" * 120}),
    # longer than wms_order_sync can key: named by its shop order id
    Case("long_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "L" * 60}, key=None),
    Case("long_phone", "receiverInfo.mobile", order={"receiver_mobile": "1" * 30, "receiver_phone": None}),
    Case("long_buyer_message", None, order={"buyer_message": "快" * 500}),
    # --- addresses and phones ---------------------------------------------------------------------------------
    Case("unknown_province", "receiverInfo", order={"receiver_province": "火星省"}),
    Case("letters_as_mobile", "receiverInfo.mobile", order={"receiver_mobile": "abc", "receiver_phone": None}),
    Case("short_mobile", "receiverInfo.mobile", order={"receiver_mobile": "12345", "receiver_phone": None}),
    # --- SKUs -------------------------------------------------------------------------------------------------
    Case("unknown_sku", "orderLines.itemCode", line={"sku_id": 99999999, "sku_code": "GHOST-1"}),
    Case("deleted_sku", "orderLines.itemCode", sku={"sku_code": "DELETED-1", "is_active": False}),
    Case("sku_with_negative_price", "orderLines.itemCode", sku={"sku_code": "NEGPRICE-1", "price": -1}),
    Case("sku_with_bad_bytes_spec", "orderLines.itemCode", sku={"sku_code": "BADSPEC-1", "spec": bad_bytes("黑")},
         backends=SQLITE, why_not=NO_BYTES),
    Case("sku_with_text_price", "orderLines.itemCode", sku={"sku_code": "TEXTPRICE-1", "price": "abc"},
         backends=SQLITE, why_not=NO_TEXT_IN_TYPED),
    Case("emoji_line_sku_code", "itemCode", line={"sku_code": "G😀1"}),
    Case("padded_line_sku_code", None, line={"sku_code": "  {code}  "}),
    # cleaned the same way wherever it is a key (item sync, order lines): delivered, never left pending
    Case("sku_code_with_control_characters", None, sku={"sku_code": "CTRL\x01SKU"}),
    # --- quantities -------------------------------------------------------------------------------------------
    Case("zero_quantity", "planQty", line={"quantity": 0}),
    Case("negative_quantity", "planQty", line={"quantity": -1}),
    Case("fractional_quantity", "planQty", line={"quantity": 2.5}, backends=SQLITE, why_not=NO_FRACTION),
    # --- amounts and prices -------------------------------------------------------------------------------------
    Case("huge_line_price", "actualPrice", line={"price": 1e12}, backends=SQLITE, why_not=NO_OVERFLOW),
    Case("huge_total_amount", "deliveryOrder.totalAmount", order={"total_amount": 1e12},
         backends=SQLITE, why_not=NO_OVERFLOW),
    Case("negative_line_price", "actualPrice", line={"price": -5}),
    Case("negative_total_amount", "deliveryOrder.totalAmount", order={"total_amount": -1}),
    Case("negative_freight", "deliveryOrder.freight", order={"freight": -10}),
    # --- dates --------------------------------------------------------------------------------------------------
    Case("paid_in_1970", "placeOrderTime", order={"paid_at": datetime(1970, 1, 1)}),
    Case("paid_in_2100", "placeOrderTime", order={"paid_at": datetime(2100, 1, 1)}),
    Case("paid_in_1900", "placeOrderTime", order={"paid_at": datetime(1900, 6, 1)}),
    # beyond what a time can be here (pandas: 1677..2262): the record, not its chunk, is refused
    Case("paid_in_9999", "placeOrderTime", order={"paid_at": datetime(9999, 6, 1)}),
    Case("paid_in_1500", "placeOrderTime", order={"paid_at": datetime(1500, 1, 1)}),
    Case("paid_in_year_one", "placeOrderTime", order={"paid_at": datetime(1, 1, 1)}, backends=("sqlite", "postgresql"),
         why_not=NO_YEAR_ONE),
    Case("paid_at_unix_seconds_in_9999", "placeOrderTime", order={"paid_at": 253402300799}, backends=SQLITE,
         why_not=NO_TEXT_IN_TYPED),
    Case("updated_in_9999", "updated_at", order={"updated_at": datetime(9999, 12, 31, 23, 59, 59)}),
    # paid, but no payment time (a manual edit): no payment window selects it; never silently left
    Case("no_payment_time", "placeOrderTime", order={"paid_at": None}),
    # --- duplicate codes ------------------------------------------------------------------------------------------
    Case("whitespace_twin_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "TWIN1"},
         twin=" TWIN1", key="TWIN1"),
    Case("tab_twin_order_code", "deliveryOrder.deliveryOrderCode", order={"order_no": "TWIN2"},
         twin="\tTWIN2", key="TWIN2"),
]
BAD = [c for c in CASES if c.field]


def test_the_corpus_has_at_least_50_kinds_of_bad_record():
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(BAD) >= 50, len(BAD)


def _rows(conn, sql: str, **params) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def _insert(conn, table: str, row: dict) -> None:
    columns = ", ".join(row)
    values = ", ".join(v if isinstance(v, Raw) else f":{k}" for k, v in row.items())
    conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"),
                 {k: v for k, v in row.items() if not isinstance(v, Raw)})


def _insert_cases(engine, backend: str) -> dict[str, dict]:
    """Insert every case this backend can store; returns ``{case id: {code, order_id}}``."""
    placed: dict[str, dict] = {}
    with engine.begin() as conn:
        template = _rows(conn, "SELECT * FROM shop_order WHERE status = 'paid' ORDER BY id")[0]
        lines = _rows(conn, "SELECT * FROM shop_order_line WHERE order_id = :i ORDER BY line_no", i=template["id"])
        sku = _rows(conn, "SELECT * FROM shop_sku WHERE id = :i", i=lines[0]["sku_id"])[0]
        next_order = max(r["id"] for r in _rows(conn, "SELECT id FROM shop_order")) + 1
        next_line = max(r["id"] for r in _rows(conn, "SELECT id FROM shop_order_line")) + 1
        next_sku = max(r["id"] for r in _rows(conn, "SELECT id FROM shop_sku")) + 1
        for number, case in enumerate(CASES):
            if backend not in case.backends:
                continue
            code = f"{'BAD' if case.field else 'ODD'}{number:03d}"
            first_line = {k: (v.format(code=lines[0]["sku_code"]) if isinstance(v, str) and not isinstance(v, Raw)
                              else v) for k, v in case.line.items()}
            if case.sku is not None:
                new_sku = {**sku, "id": next_sku, **case.sku}
                _insert(conn, "shop_sku", new_sku)
                first_line.update(sku_id=next_sku, sku_code=new_sku["sku_code"])
                next_sku += 1
            ids = []
            for twin in [None] + ([case.twin] if case.twin else []):
                order = {**template, "id": next_order, "order_no": code, **case.order}
                if twin is not None:
                    order["order_no"] = twin
                if case.key is None:
                    order["paid_at"] = KEYLESS_PAID
                _insert(conn, "shop_order", order)
                for position, line in enumerate([] if case.no_lines else lines):
                    _insert(conn, "shop_order_line", {**line, "id": next_line, "order_id": next_order,
                                                      **(first_line if position == 0 else {})})
                    next_line += 1
                ids.append(next_order)
                next_order += 1
            key = None if case.key is None else (code if case.key == "code" else case.key)
            placed[case.id] = {"key": key, "order_ids": ids}
    return placed


@dataclass
class CorpusRun:
    backend: str
    placed: dict
    rows: dict
    report: object
    keyless_report: object
    unkeyed: dict
    delivered: list
    repeats: dict
    good: set


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request, tmp_path_factory):
    """One shop per backend: good generated orders plus every case it can store, one push."""
    backend = request.param
    patch = pytest.MonkeyPatch()
    sim = start_simulator(warehouse_code=WAREHOUSE, owner_code=OWNER)
    with throwaway_database(backend, tmp_path_factory.mktemp("corpus"), prefix="corpus") as url:
        engine = sa.create_engine(url)
        try:
            generate(engine, "reference", orders=40, skus=10, seed=5, bad_share=0.0,
                     date_from=date(2026, 11, 20), date_to=date(2026, 11, 28))
            good = paid_order_codes(Shop(str(url), "reference", None, engine))
            placed = _insert_cases(engine, backend)
            good |= {p["key"] for cid, p in placed.items() if not next(c for c in CASES if c.id == cid).field}
            patch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps(
                {"conn_type": "generic", "extra": {"sqlalchemy_url": url.render_as_string(hide_password=False)}}))
            patch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps({
                "conn_type": "qimen", "host": sim.base_url, "login": "app-key", "password": sim.secret,
                "extra": {"customer_id": sim.customer_id, "owner_code": OWNER, "warehouse_code": WAREHOUSE,
                          "max_requests_per_second": 0}}))
            # one chunk: the bad rows travel with the good ones
            patch.setenv(ENV_KEY, json.dumps({"profile": "reference", "chunk_size": 1000,
                                              "default_logistics_code": "YTO", "sender": SENDER}))
            upgrade(engine)
            sync_items(bridge("corpus-items"))
            report = push_orders(bridge("corpus-push"))
            keyless = push_orders(bridge("corpus-keyless"), paid_from_utc=KEYLESS_PAID.replace(tzinfo=timezone.utc),
                                  paid_to_utc=datetime(2026, 11, 20, tzinfo=timezone.utc))
            with engine.connect() as conn:
                unkeyed = {r.shop_id: r._asdict() for r in conn.execute(
                    sa.select(unkeyed_record).where(unkeyed_record.c.flow == "orders"))}
            yield CorpusRun(backend, placed, order_sync_rows(IntegrationStore(engine)), report, keyless, unkeyed,
                            [o["order_code"] for o in sim.admin.orders()], sim.admin.repeats(), good)
        finally:
            engine.dispose()
            patch.undo()
            sim.server.stop()


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_a_bad_record_is_rejected_naming_its_field(corpus, case):
    if corpus.backend not in case.backends:
        pytest.skip(f"{corpus.backend} cannot store it: {case.why_not}")
    placed = corpus.placed[case.id]
    if placed["key"] is None:  # no usable code: a row by shop order id, open, naming the field
        samples = corpus.keyless_report.samples.get("rejected", [])
        for order_id in placed["order_ids"]:
            named = [s for s in samples if s.startswith(f"order id {order_id}:")]
            assert named and case.field in named[0], (case.id, samples)
            row = corpus.unkeyed.get(str(order_id))
            assert row is not None, f"{case.id}: order id {order_id} is in no table"
            assert row["resolved_at"] is None and case.field in row["violations"], (case.id, row)
        return
    row = corpus.rows.get(placed["key"])
    assert row is not None, f"{case.id}: {placed['key']!r} not recorded"
    assert row["state"] == "rejected", (case.id, row["state"], row["last_error_message"])
    assert case.field in (row["violations"] or ""), (case.id, row["violations"])
    assert placed["key"] not in corpus.delivered


def test_every_good_record_is_delivered_exactly_once_and_no_bad_one(corpus):
    assert sorted(corpus.delivered) == sorted(corpus.good)
    assert not any(corpus.repeats.values())
    bad_keys = {corpus.placed[c.id]["key"] for c in BAD if c.id in corpus.placed}
    assert corpus.report.sent == len(corpus.good)
    assert corpus.report.rejected >= len(bad_keys - {None})
    assert corpus.report.held == 0 and corpus.report.undelivered == 0
