"""The synthetic data generator: reproducible, realistic shapes, and an honest bad-record manifest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import create_engine, func, select

from wmsbridge_tools.shop_schemas import SCHEMAS
from wmsbridge_tools.synthetic import BAD_KINDS, ean13_check_digit, generate
from wmsbridge_tools.synthetic.vocab import divisions


def _dump(engine, schema):
    with engine.connect() as conn:
        return {name: conn.execute(select(t).order_by(*t.primary_key.columns)).all()
                for name, t in SCHEMAS[schema].tables.items()}


@pytest.mark.parametrize("schema", ["reference", "litemall"])
def test_same_seed_same_data(tmp_path, schema):
    engines = [create_engine(f"sqlite:///{tmp_path / f'{n}.db'}") for n in ("a", "b", "c")]
    manifests = [generate(e, schema, orders=300, skus=40, seed=s, bad_share=0.1)
                 for e, s in zip(engines, (5, 5, 6))]
    assert _dump(engines[0], schema) == _dump(engines[1], schema)
    assert manifests[0] == manifests[1]
    assert _dump(engines[0], schema) != _dump(engines[2], schema)


def test_reference_rows_are_realistic(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    manifest = generate(engine, "reference", orders=2000, skus=120, seed=3, bad_share=0.0,
                        date_from=date(2026, 11, 1), date_to=date(2026, 11, 28))
    t = SCHEMAS["reference"].tables
    with engine.connect() as conn:
        codes = conn.execute(select(t["shop_sku"].c.bar_code)).scalars().all()
        orders = conn.execute(select(t["shop_order"])).mappings().all()
        n_lines = conn.execute(select(func.count()).select_from(t["shop_order_line"])).scalar()
    assert len(codes) == 120 and all(len(c) == 13 and c[-1] == ean13_check_digit(c[:12]) for c in codes)
    assert manifest.bad_orders == {} and manifest.lines == n_lines
    assert set(manifest.status_counts) == {"unpaid", "paid", "shipped", "received", "cancelled",
                                           "refund_requested", "refunded"}
    assert {o["status"] for o in orders} == {"unpaid", "paid", "shipped", "completed", "cancelled", "refunding", "refunded"}
    assert all(re.fullmatch(r"1[3-9]\d{9}", o["receiver_mobile"]) for o in orders)
    assert any(o["receiver_phone"] and re.fullmatch(r"0\d{2,3}-\d{8}", o["receiver_phone"]) for o in orders)
    provinces = {o["receiver_province"] for o in orders}
    assert len(provinces) == 31 and {"北京市", "上海市", "内蒙古自治区", "西藏自治区", "新疆维吾尔自治区"} <= provinces
    assert all(o["created_at"].date() >= date(2026, 10, 31) and o["created_at"].date() < date(2026, 11, 28) for o in orders)
    assert all(o["paid_at"] is None or o["paid_at"] >= o["created_at"] for o in orders)


def test_manifest_names_exactly_the_bad_orders(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'bad.db'}")
    manifest = generate(engine, "reference", orders=1500, skus=80, seed=9, bad_share=0.2)
    t = SCHEMAS["reference"].tables
    places = {(p, c) for p, c, _ in divisions()}
    sku_ids = {s for (s,) in engine.connect().execute(select(t["shop_sku"].c.id))}
    with engine.connect() as conn:
        orders = {o["order_no"]: o for o in conn.execute(select(t["shop_order"])).mappings()}
        lines = {}
        for line in conn.execute(select(t["shop_order_line"])).mappings():
            lines.setdefault(line["order_id"], []).append(line)
        dup_codes = {c for c, n in conn.execute(select(t["shop_sku"].c.sku_code, func.count())
                                                 .group_by(t["shop_sku"].c.sku_code)) if n > 1}

    def observed(order) -> set[str]:
        found, own = set(), lines[order["id"]]
        if not order["receiver_mobile"]:
            found.add("no_phone")
        if len(order["receiver_detail"]) >= 600:
            found.add("long_address")
        if (order["receiver_province"], order["receiver_city"]) not in places:
            found.add("unknown_province")
        if re.search(r"[\U00010000-\U0010FFFF\u2600-\u27BF]", order["receiver_name"] + order["receiver_detail"]):
            found.add("emoji")
        if any(line["quantity"] == 0 for line in own):
            found.add("zero_quantity")
        if any(line["sku_id"] not in sku_ids for line in own):
            found.add("unknown_sku")
        if any(line["sku_code"] in dup_codes for line in own):
            found.add("duplicate_sku_code")
        return found

    actual = {code: observed(o) for code, o in orders.items()}
    assert {c: {k} for c, k in manifest.bad_orders.items()} == {c: f for c, f in actual.items() if f}
    assert set(manifest.bad_orders.values()) == set(BAD_KINDS)
    assert all(orders[c]["status"] == "paid" for c in manifest.bad_orders)
    assert manifest.bad_skus and all(v.startswith("duplicate_sku_code") for v in manifest.bad_skus.values())
    assert 0.15 < len(manifest.bad_orders) / 1500 < 0.25


def test_cli_prints_manifest(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "wmsbridge_tools.synthetic", "--profile", "litemall", "--url", url, "--orders", "200",
         "--skus", "30", "--seed", "4", "--bad-share", "0.1", "--from", "2026-11-01", "--to", "2026-11-03",
         "--manifest", str(tmp_path / "m.json")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    printed = json.loads(out.stdout)
    assert printed == json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert printed["orders"] == 200 and printed["bad_orders"]
    assert "orders/s" in out.stderr
    with create_engine(url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(SCHEMAS["litemall"].tables["litemall_order"])).scalar() == 200


def test_appends_after_existing_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    generate(engine, "litemall", orders=100, skus=20, seed=1)
    generate(engine, "litemall", orders=50, skus=10, seed=2)
    t = SCHEMAS["litemall"].tables
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t["litemall_order"])).scalar() == 150
        assert conn.execute(select(func.count(t["litemall_order"].c.order_sn.distinct()))).scalar() == 150
