"""Every profile query, for both shipped profiles, on SQLite, PostgreSQL and MariaDB.

Each database gets seeded synthetic data; expectations are computed with plain SQLAlchemy Core over
the shop tables (not through the profile's SQL), so the profile must agree with the data itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import create_engine, select, update

from wmsbridge.shop import ShopReader, ShopWriter, load_profile
from wmsbridge.shop.frames import CANCELLED_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS, SKU_COLUMNS
from wmsbridge.shop.reader import read_all
from wmsbridge_tools.shop_schemas import SCHEMAS
from wmsbridge_tools.synthetic import generate

UTC = timezone.utc
# Per profile: table and column names the expectations are computed from.
T = {
    "litemall": dict(order="litemall_order", code="order_sn", status="order_status", paid_at="pay_time",
                     updated="update_time", line="litemall_order_goods", qty="number", sku="litemall_goods_product",
                     sku_updated="update_time", stock_table="litemall_goods_product", stock_key="id",
                     stock_qty="number", paid=201, shipped=301, unpaid=101, cancelled=(102, 103, 104, 202, 203),
                     tracking="ship_sn", carrier="ship_channel", ship_time="ship_time"),
    "reference": dict(order="shop_order", code="order_no", status="status", paid_at="paid_at",
                      updated="updated_at", line="shop_order_line", qty="quantity", sku="shop_sku",
                      sku_updated="updated_at", stock_table="shop_stock", stock_key="sku_id",
                      stock_qty="quantity", paid="paid", shipped="shipped", unpaid="unpaid",
                      cancelled=("cancelled", "refunding", "refunded"), tracking="tracking_no",
                      carrier="carrier_code", ship_time="shipped_at"),
}


@pytest.fixture(scope="module", params=["reference", "litemall"])
def shop(request, shop_url):
    name = request.param
    engine = create_engine(shop_url)
    SCHEMAS[name].drop_all(engine)
    manifest = generate(engine, name, orders=400, skus=60, seed=11, bad_share=0.1)
    profile = load_profile(name)
    yield dict(name=name, engine=engine, manifest=manifest, profile=profile, t=T[name],
               tables=SCHEMAS[name].tables, reader=ShopReader(profile), writer=ShopWriter(profile))
    engine.dispose()


def _local(shop, moment: datetime) -> datetime:
    return moment.astimezone(shop["profile"].timezone).replace(tzinfo=None)


def _rows(shop, stmt):
    with shop["engine"].connect() as conn:
        return conn.execute(stmt).all()


def _assert_frame(df: pd.DataFrame, columns: dict) -> None:
    assert list(df.columns) == list(columns)
    for col, kind in columns.items():
        values = df[col].dropna()
        if kind == "datetime":
            assert str(df[col].dtype) == "datetime64[ns, UTC]", col
        elif kind == "decimal":
            assert all(isinstance(v, Decimal) for v in values), col
        elif kind == "int":
            assert df[col].dtype == "int64", col
        else:
            assert all(isinstance(v, str) for v in values), col


def test_changed_skus_since_watermark(shop):
    engine, t, sku = shop["engine"], shop["t"], shop["tables"][shop["t"]["sku"]]
    everything = read_all(shop["reader"].iter_changed_skus(engine, None, chunk_size=25))
    assert len(everything) == 60 and everything["sku_id"].is_unique
    _assert_frame(everything, SKU_COLUMNS)

    touched_at = datetime(2027, 1, 5, 9, 30, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(update(sku).where(sku.c.id.in_([3, 17, 42])).values({t["sku_updated"]: _local(shop, touched_at)}))
    changed = read_all(shop["reader"].iter_changed_skus(engine, touched_at - timedelta(seconds=1), chunk_size=2))
    assert sorted(changed["sku_id"]) == ["17", "3", "42"]
    assert (changed["updated_at"] == pd.Timestamp(touched_at)).all()
    assert read_all(shop["reader"].iter_changed_skus(engine, touched_at + timedelta(seconds=1))).empty

    row = everything.set_index("sku_id").loc["3"]
    if shop["name"] == "litemall":
        goods_sn, specs = _rows(shop, select(shop["tables"]["litemall_goods"].c.goods_sn, sku.c.specifications)
                                .join_from(sku, shop["tables"]["litemall_goods"],
                                           sku.c.goods_id == shop["tables"]["litemall_goods"].c.id)
                                .where(sku.c.id == 3))[0]
        assert row["item_code"] == f"{goods_sn}-3"
        assert row["sku_property"] == " ".join(json.loads(specs))
    else:
        code, bar_code, spec = _rows(shop, select(sku.c.sku_code, sku.c.bar_code, sku.c.spec).where(sku.c.id == 3))[0]
        assert (row["item_code"], row["bar_code"], row["sku_property"]) == (code, bar_code, spec)


def test_paid_orders_by_window_in_chunks(shop):
    engine, t = shop["engine"], shop["t"]
    order, line = shop["tables"][t["order"]], shop["tables"][t["line"]]
    start, end = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    expected = {code for (code,) in _rows(shop, select(order.c[t["code"]]).where(
        order.c[t["status"]] == t["paid"], order.c[t["paid_at"]] >= _local(shop, start),
        order.c[t["paid_at"]] < _local(shop, end)))}
    assert len(expected) > 20

    chunks = list(shop["reader"].iter_paid_orders(engine, paid_from_utc=start, paid_to_utc=end, chunk_size=7))
    assert len(chunks) >= len(expected) // 7
    assert all(len(orders) <= 7 for orders, _ in chunks)
    for orders, lines in chunks:
        assert set(lines["order_id"]) <= set(orders["order_id"])
    orders, lines = read_all(iter(chunks))
    assert set(orders["order_code"]) == expected and orders["order_code"].is_unique
    _assert_frame(orders, ORDER_COLUMNS)
    _assert_frame(lines, LINE_COLUMNS)
    assert orders["paid_at"].min() >= pd.Timestamp(start) and orders["paid_at"].max() < pd.Timestamp(end)
    assert (orders["shop_status"] == str(t["paid"])).all()

    # Lines agree with the shop's own line table, quantity by quantity.
    ids = [int(i) for i in orders["order_id"]]
    truth = sorted((str(o), int(q)) for o, q in _rows(shop, select(line.c.order_id, line.c[t["qty"]])
                                                       .where(line.c.order_id.in_(ids))))
    assert sorted(zip(lines["order_id"], lines["quantity"])) == truth
    assert (lines.groupby("order_id")["line_no"].apply(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    # Datetimes: the shop's wall time in its own zone, as UTC.
    first = orders.iloc[0]
    (raw,) = _rows(shop, select(order.c[t["paid_at"]]).where(order.c.id == int(first["order_id"])))[0]
    assert first["paid_at"] == pd.Timestamp(raw).tz_localize(shop["profile"].timezone).tz_convert("UTC")


def test_paid_orders_by_codes(shop):
    engine, t = shop["engine"], shop["t"]
    order = shop["tables"][t["order"]]
    paid = [c for (c,) in _rows(shop, select(order.c[t["code"]]).where(order.c[t["status"]] == t["paid"])
                                .order_by(order.c.id).limit(9))]
    unpaid = _rows(shop, select(order.c[t["code"]]).where(order.c[t["status"]] == t["unpaid"]).limit(1))[0][0]
    chunks = list(shop["reader"].iter_paid_orders(engine, order_codes=paid + [unpaid, "NO-SUCH-ORDER"], chunk_size=4))
    orders, lines = read_all(iter(chunks))
    assert sorted(orders["order_code"]) == sorted(paid)
    assert all(len(o) <= 4 for o, _ in chunks)
    assert set(lines["order_id"]) == set(orders["order_id"])


def test_cancelled_orders(shop):
    engine, t = shop["engine"], shop["t"]
    order = shop["tables"][t["order"]]
    expected = {(c, str(s)) for c, s in _rows(shop, select(order.c[t["code"]], order.c[t["status"]])
                                               .where(order.c[t["status"]].in_(t["cancelled"])))}
    cancelled = read_all(shop["reader"].iter_cancelled_orders(engine, chunk_size=10))
    _assert_frame(cancelled, CANCELLED_COLUMNS)
    assert set(zip(cancelled["order_code"], cancelled["shop_status"])) == expected
    assert set(cancelled["cancel_reason"]) == {"cancelled", "refund_requested", "refunded"}
    some = sorted(expected)[:3]
    by_code = read_all(shop["reader"].iter_cancelled_orders(engine, order_codes=[c for c, _ in some]))
    assert sorted(by_code["order_code"]) == [c for c, _ in some]
    late = cancelled["updated_at"].sort_values().iloc[-1]
    since = read_all(shop["reader"].iter_cancelled_orders(engine, since_utc=late.to_pydatetime()))
    assert set(since["order_code"]) == set(cancelled.loc[cancelled["updated_at"] >= late, "order_code"])


def test_ship_writeback_only_from_paid(shop):
    engine, t, writer = shop["engine"], shop["t"], shop["writer"]
    order = shop["tables"][t["order"]]
    code_column = order.c["order_sn" if shop["name"] == "litemall" else "order_no"]
    paid = _rows(shop, select(order.c.id, code_column).where(order.c[t["status"]] == t["paid"]).order_by(order.c.id.desc()))
    # a good one: the later tests read the bad ones among the paid orders
    paid_id = next(i for i, code in paid if code not in shop["manifest"].bad_orders)
    unpaid_id = _rows(shop, select(order.c.id).where(order.c[t["status"]] == t["unpaid"]).limit(1))[0][0]
    shipped_at = datetime(2026, 11, 29, 2, 15, 0, tzinfo=UTC)
    carrier = shop["profile"].carriers.to_shop("YUNDA")

    assert writer.write_shipment(engine, str(paid_id), "YD4300001", carrier, shipped_at) is True
    status, tracking, channel, when = _rows(shop, select(
        order.c[t["status"]], order.c[t["tracking"]], order.c[t["carrier"]], order.c[t["ship_time"]]
    ).where(order.c.id == paid_id))[0]
    assert (str(status), tracking, channel) == (str(t["shipped"]), "YD4300001", carrier)
    assert pd.Timestamp(when) == pd.Timestamp(_local(shop, shipped_at))
    # The shop's own rule: only a paid, unshipped order ships; no second write-back.
    assert writer.write_shipment(engine, str(paid_id), "YD4300002", carrier, shipped_at) is False
    assert _rows(shop, select(order.c[t["tracking"]]).where(order.c.id == paid_id))[0][0] == "YD4300001"
    assert writer.write_shipment(engine, str(unpaid_id), "YD4300003", carrier, shipped_at) is False
    assert _rows(shop, select(order.c[t["status"]]).where(order.c.id == unpaid_id))[0][0] == t["unpaid"]
    assert writer.write_shipment(engine, "99999999", "YD4300004", carrier, shipped_at) is False


def test_stock_read_and_write(shop):
    engine, t = shop["engine"], shop["t"]
    stock = shop["tables"][t["stock_table"]]
    truth = dict(_rows(shop, select(stock.c[t["stock_key"]], stock.c[t["stock_qty"]]).where(stock.c[t["stock_key"]] <= 5)))
    read = shop["reader"].read_stock(engine, ["1", "2", "3", "4", "5", "987654"], chunk_size=2)
    assert read == {str(k): v for k, v in truth.items()}
    assert shop["writer"].write_stock(engine, {"1": 0, "2": 77, "987654": 5}) == 2
    assert shop["reader"].read_stock(engine, ["1", "2", "3"]) == {"1": 0, "2": 77, "3": truth[3]}
    with pytest.raises(ValueError):
        shop["writer"].write_stock(engine, {"1": -1})


def test_one_string_addresses_split_or_flagged(shop):
    """Generated good addresses all split; the manifest's address-bad orders carry an error."""
    orders, _ = read_all(shop["reader"].iter_paid_orders(shop["engine"], chunk_size=100))
    bad = shop["manifest"].bad_orders
    errors = dict(zip(orders["order_code"], orders["receiver_address_error"]))
    address_bad = {c for c, kind in bad.items() if kind in ("long_address", "unknown_province", "emoji")}
    good = set(orders["order_code"]) - set(bad)
    if shop["name"] == "litemall":
        assert address_bad and all(errors[c] for c in address_bad)
        assert [c for c in good if errors[c]] == []
        split = orders[orders["order_code"].isin(good)]
        assert split[["receiver_province", "receiver_city", "receiver_detail"]].notna().all().all()
    else:  # separate fields: nothing to split; only a province that does not exist is flagged
        unknown = {c for c, kind in bad.items() if kind == "unknown_province"}
        assert unknown, "the generator made no unknown-province order"
        assert {c for c, e in errors.items() if e} == unknown
        assert all(errors[c].startswith("unknown province") for c in unknown)
