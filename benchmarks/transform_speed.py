"""Print how fast paid orders become validated ``deliveryorder.create`` XML, next to its floor.

Three figures, measured in one process, one after the other, on the same generated frames
(realistic Chinese names and addresses, 3 lines per order by default, every order valid):

* transform: ``wmsbridge.transforms.build_delivery_orders`` (cleaning over whole columns,
  validation against ``qimen.rules``, one XML body and content hash per order): what a push pays;
* bare lxml (the floor): the same documents built with plain ``etree.SubElement`` calls from dicts
  whose values are already text, no cleaning, no validation, no hash;
* naive row loop (the baseline to beat by far): ``DataFrame.iterrows`` and, per order, the GENERIC
  rules walkers (``qimen.validation.validate`` + ``qimen.documents.build_document``).

    python benchmarks/transform_speed.py                     # 20,000 orders, naive loop on 5,000
    python benchmarks/transform_speed.py --orders 5000 --json  # one JSON line at the end as well

``transform_vs_bare_lxml`` = transform orders/s / bare lxml orders/s (target >= 0.6). Times are
CPU seconds of this process (less disturbed by other work than wall time), best of 5 alternated
runs each (on a busy 2-core machine single runs vary by +-15 %). Figures are printed,
never asserted; the load average is printed with them (other work shares the CPU).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
from lxml import etree

from qimen.documents import build_document
from qimen.timeutil import BEIJING
from qimen.validation import validate
from wmsbridge_tools.synthetic import vocab
from wmsbridge.transforms import OrderSettings, build_delivery_orders

METHOD = "deliveryorder.create"
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=BEIJING)
SETTINGS = OrderSettings(
    warehouse_code="WH01", owner_code="OWNER01", shop_nick="四海母婴专营店", sender_name="四海",
    sender_mobile="010-56133684", sender_province="北京", sender_city="北京市", sender_area="朝阳区",
    sender_detail="北京市朝阳区建国路1号", carrier_map={"YD": "YUNDA"}, default_logistics_code="YTO",
)


# --- the input: canonical frames as a profile returns them ------------------------------------------


def make_frames(orders: int, lines_per_order: int = 3, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    provinces = [("浙江省", "台州市", "玉环市"), ("广东省", "深圳市", "南山区"), ("江苏省", "南京市", "鼓楼区"),
                 ("四川省", "成都市", "武侯区"), ("北京市", "北京市", "朝阳区"), ("湖北省", "武汉市", "洪山区")]
    order_rows, line_rows = [], []
    for i in range(orders):
        province, city, area = rng.choice(provinces)
        town = rng.choice(vocab.TOWN_STEMS) + rng.choice(vocab.VILLAGE_PARTS)
        detail = f"{town}{rng.choice(vocab.STREETS)}{rng.randint(1, 999)}号{rng.choice(vocab.BUILDINGS)}{rng.randint(1, 30)}栋"
        paid = start + timedelta(seconds=rng.randint(0, 7 * 86400))
        amounts = [Decimal(rng.randint(100, 99_999)) / 100 for _ in range(lines_per_order)]
        qty = [rng.randint(1, 3) for _ in range(lines_per_order)]
        total = sum(a * q for a, q in zip(amounts, qty))
        order_rows.append({
            "order_id": str(100_000 + i), "order_code": f"2026112{i:09d}", "paid_at": paid,
            "receiver_name": rng.choice(vocab.SURNAMES) + rng.choice(vocab.GIVEN) + rng.choice(vocab.GIVEN),
            "receiver_mobile": rng.choice(vocab.MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}",
            "receiver_tel": None, "receiver_province": province, "receiver_city": city, "receiver_area": area,
            "receiver_town": town, "receiver_detail": detail, "receiver_address": None, "receiver_address_error": None,
            "receiver_zip": f"{rng.randint(100_000, 899_999)}", "buyer_nick": f"buyer{rng.randint(1, 10**6)}",
            "buyer_message": rng.choice([None, "请尽快发货", "周末送货 & 谢谢 <急>"]), "seller_message": None,
            "remark": None, "total_amount": total, "item_amount": total, "discount_amount": Decimal("0"),
            "freight": Decimal("0"), "carrier_code": rng.choice(["YD", "ZTO", None]),
            "updated_at": paid + timedelta(minutes=1),
        })
        for n in range(lines_per_order):
            line_rows.append({
                "order_id": str(100_000 + i), "line_no": n + 1, "sku_id": str(rng.randint(1, 2000)),
                "item_code": f"SKU{rng.randint(1, 2000):05d}",
                "item_name": f"{rng.choice(vocab.ADJECTIVES)}{rng.choice(vocab.NOUNS)} {rng.choice(vocab.COLORS)}",
                "quantity": qty[n], "price": amounts[n], "retail_price": amounts[n] + 10,
            })
    orders_df, lines_df = pd.DataFrame(order_rows), pd.DataFrame(line_rows)
    for column in ("paid_at", "updated_at"):
        orders_df[column] = pd.to_datetime(orders_df[column], utc=True)
    return orders_df, lines_df


# --- the three contenders ---------------------------------------------------------------------------


def run_transform(orders: pd.DataFrame, lines: pd.DataFrame) -> tuple[float, int]:
    known = set(lines["item_code"])
    started = time.process_time()
    batch = build_delivery_orders(orders, lines, settings=SETTINGS, now=NOW, known_item_codes=known)
    elapsed = time.process_time() - started
    if not batch.rejects.empty or not batch.held.empty:
        raise RuntimeError(f"benchmark frames must be valid: {batch.rejects.head(3).to_dict('records')}")
    return elapsed, len(batch.documents)


def ready_dicts(orders: pd.DataFrame, lines: pd.DataFrame) -> list[dict]:
    """The transform's documents with every value already text (built before the clock starts)."""
    docs = []
    orders = orders.astype(object).where(orders.notna(), None)
    by_order: dict[str, list[dict]] = {}
    for line in lines.to_dict("records"):
        by_order.setdefault(line["order_id"], []).append(line)
    for o in orders.to_dict("records"):
        paid = o["paid_at"].tz_convert(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        now = NOW.strftime("%Y-%m-%d %H:%M:%S")
        docs.append({
            "deliveryOrder": {
                "deliveryOrderCode": o["order_code"], "orderType": "JYCK", "warehouseCode": "WH01",
                "sourcePlatformCode": "API", "createTime": now, "placeOrderTime": paid, "payTime": paid,
                "operateTime": now, "shopNick": SETTINGS.shop_nick, "buyerNick": o["buyer_nick"],
                "totalAmount": format(o["total_amount"], "f"), "itemAmount": format(o["item_amount"], "f"),
                "discountAmount": "0.00", "freight": "0.00", "logisticsCode": "YTO",
                "buyerMessage": o["buyer_message"],
                "senderInfo": {"name": SETTINGS.sender_name, "mobile": SETTINGS.sender_mobile,
                               "province": SETTINGS.sender_province, "city": SETTINGS.sender_city,
                               "area": SETTINGS.sender_area, "detailAddress": SETTINGS.sender_detail},
                "receiverInfo": {"name": o["receiver_name"], "zipCode": o["receiver_zip"],
                                 "mobile": o["receiver_mobile"], "province": o["receiver_province"],
                                 "city": o["receiver_city"], "area": o["receiver_area"], "town": o["receiver_town"],
                                 "detailAddress": o["receiver_detail"]},
            },
            "orderLines": [
                {"orderLineNo": str(line["line_no"]), "sourceOrderCode": o["order_code"], "ownerCode": "OWNER01",
                 "itemCode": line["item_code"], "itemName": line["item_name"], "planQty": str(line["quantity"]),
                 "retailPrice": format(line["retail_price"], "f"), "actualPrice": format(line["price"], "f")}
                for line in by_order[o["order_id"]]
            ],
        })
    return docs


def _bare(parent, data: dict) -> None:
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            _bare(etree.SubElement(parent, name), value)
        elif isinstance(value, list):
            wrapper = etree.SubElement(parent, name)
            for item in value:
                _bare(etree.SubElement(wrapper, name[:-1]), item)
        else:
            etree.SubElement(parent, name).text = value


def run_bare_lxml(docs: list[dict]) -> float:
    started = time.process_time()
    for doc in docs:
        root = etree.Element("request")
        _bare(root, doc)
        '<?xml version="1.0" encoding="utf-8"?>' + etree.tostring(root, encoding="unicode")
    return time.process_time() - started


def run_naive(orders: pd.DataFrame, lines: pd.DataFrame) -> float:
    """iterrows + the generic rules walkers per record: what a first version would write."""
    started = time.process_time()
    grouped = {key: group for key, group in lines.groupby("order_id")}
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    for _, row in orders.iterrows():
        o = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        paid = o["paid_at"].tz_convert(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        doc = {
            "deliveryOrder": {
                "deliveryOrderCode": o["order_code"], "orderType": "JYCK", "warehouseCode": "WH01",
                "sourcePlatformCode": "API", "createTime": now, "placeOrderTime": paid, "payTime": paid,
                "operateTime": now, "shopNick": SETTINGS.shop_nick, "buyerNick": o["buyer_nick"],
                "totalAmount": o["total_amount"], "itemAmount": o["item_amount"],
                "discountAmount": o["discount_amount"], "freight": o["freight"], "logisticsCode": "YTO",
                "buyerMessage": o["buyer_message"],
                "senderInfo": {"name": SETTINGS.sender_name, "mobile": SETTINGS.sender_mobile,
                               "province": SETTINGS.sender_province, "city": SETTINGS.sender_city,
                               "area": SETTINGS.sender_area, "detailAddress": SETTINGS.sender_detail},
                "receiverInfo": {"name": o["receiver_name"], "zipCode": o["receiver_zip"],
                                 "mobile": o["receiver_mobile"], "province": o["receiver_province"],
                                 "city": o["receiver_city"], "area": o["receiver_area"],
                                 "town": o["receiver_town"], "detailAddress": o["receiver_detail"]},
            },
            "orderLines": [
                {"orderLineNo": str(line["line_no"]), "sourceOrderCode": o["order_code"], "ownerCode": "OWNER01",
                 "itemCode": line["item_code"], "itemName": line["item_name"], "planQty": int(line["quantity"]),
                 "retailPrice": line["retail_price"], "actualPrice": line["price"]}
                for _, line in grouped[o["order_id"]].iterrows()
            ],
        }
        if validate(METHOD, doc):
            raise RuntimeError("naive baseline: benchmark frames must be valid")
        build_document(METHOD, doc, validate=False)
    return time.process_time() - started


def _quiet(run):
    gc.collect()  # each run starts from the same heap; the collector stays on, as in production
    return run()


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def measure(orders: int, naive_orders: int, lines_per_order: int = 3, repeat: int = 5) -> dict:
    """The figures as a dict (``benchmarks/run_all.py`` uses this); best of ``repeat`` runs each."""
    order_frame, line_frame = make_frames(orders, lines_per_order)
    docs = ready_dicts(order_frame, line_frame)
    transform_s = bare_s = float("inf")
    for _ in range(repeat):  # alternated, so both see the same machine; the best of each
        transform_s = min(transform_s, _quiet(lambda: run_transform(order_frame, line_frame)[0]))
        bare_s = min(bare_s, _quiet(lambda: run_bare_lxml(docs)))
    naive_n = min(naive_orders, orders)
    naive_s = run_naive(order_frame.head(naive_n), line_frame[line_frame["order_id"].isin(order_frame["order_id"].head(naive_n))])
    transform = orders / transform_s
    bare = orders / bare_s
    naive = naive_n / naive_s
    return {
        "orders": orders, "lines_per_order": lines_per_order, "naive_orders": naive_n,
        "transform_orders_per_s": round(transform), "bare_lxml_orders_per_s": round(bare),
        "transform_vs_bare_lxml": round(transform / bare, 3),
        "naive_row_loop_orders_per_s": round(naive), "transform_vs_naive": round(transform / naive, 2),
        "load": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--naive-orders", type=int, default=5_000, help="the naive loop is slow: fewer orders")
    parser.add_argument("--lines", type=int, default=3, help="lines per order")
    parser.add_argument("--repeat", type=int, default=5, help="best of N alternated runs (transform, bare lxml)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    r = measure(args.orders, args.naive_orders, args.lines, args.repeat)
    print(f"orders: {r['orders']:,} with {r['lines_per_order']} lines each, one core ({r['load']})")
    print(f"  transform (frames -> validated XML) : {r['transform_orders_per_s']:>8,} orders/s")
    print(f"  bare lxml from ready dicts (floor)  : {r['bare_lxml_orders_per_s']:>8,} orders/s")
    print(f"  transform_vs_bare_lxml              : {r['transform_vs_bare_lxml']:>8.2f}  (target >= 0.6)")
    print(f"  naive row loop ({r['naive_orders']:,} orders)       : {r['naive_row_loop_orders_per_s']:>8,} orders/s "
          f"(the transform is {r['transform_vs_naive']:.1f}x faster)")
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
