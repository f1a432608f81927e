"""Seeded synthetic shop data for any shipped profile, written by bulk insert.

Everything comes from one ``random.Random(seed)``, so the same arguments give the same rows; the
returned ``Manifest`` says which orders (and SKUs) were made bad on purpose and why, so tests and
the demo can check the pipelines hold exactly those back.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from wmsbridge.shop.profile import load_profile
from wmsbridge_tools.shop_schemas import SCHEMAS, create_shop_schema
from wmsbridge_tools.synthetic import vocab

SHANGHAI = ZoneInfo("Asia/Shanghai")
BAD_KINDS = ("no_phone", "long_address", "unknown_province", "emoji", "zero_quantity", "unknown_sku",
             "duplicate_sku_code")
# Order lifecycle mix; bad orders are always "paid" so the pipelines meet them.
STATUS_MIX = (("unpaid", 8), ("paid", 30), ("shipped", 37), ("received", 10), ("cancelled", 8),
              ("refund_requested", 3), ("refunded", 4))
SHOP_STATUS = {
    "litemall": {"unpaid": 101, "paid": 201, "shipped": 301, "received": 401, "cancelled": 102,
                 "refund_requested": 202, "refunded": 203},
    "reference": {"unpaid": "unpaid", "paid": "paid", "shipped": "shipped", "received": "completed",
                  "cancelled": "cancelled", "refund_requested": "refunding", "refunded": "refunded"},
}
DEFAULT_BATCH = 20_000
MAX_PAYMENT_DELAY_S = 1800  # an order is paid within half an hour of its creation, or never


@dataclass
class Manifest:
    profile: str
    seed: int
    orders: int = 0
    skus: int = 0
    lines: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    bad_orders: dict[str, str] = field(default_factory=dict)  # order code -> bad kind
    bad_skus: dict[str, str] = field(default_factory=dict)  # SKU id -> why

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def ean13(rng: random.Random) -> str:
    """A valid EAN-13 with a Chinese GS1 prefix (690-699)."""
    body = "69" + "".join(str(rng.randrange(10)) for _ in range(10))
    return body + ean13_check_digit(body)


def ean13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


class _Writer:
    """Buffers rows per table and flushes them with executemany in big batches, parents first."""

    def __init__(self, conn: Connection, metadata, order: list[str], batch: int):
        self.conn, self.tables, self.order, self.batch = conn, metadata.tables, order, batch
        self.rows: dict[str, list[dict]] = {name: [] for name in order}

    def add(self, table: str, row: dict) -> None:
        self.rows[table].append(row)
        if len(self.rows[table]) >= self.batch:
            self.flush()

    def flush(self) -> None:
        for name in self.order:  # parents before children, so foreign-keyed shops would accept it
            if self.rows[name]:
                self.conn.execute(self.tables[name].insert(), self.rows[name])
                self.rows[name] = []


class _Generator:
    def __init__(self, profile: str, seed: int, bad_share: float, date_from: date, date_to: date,
                 now: datetime | None = None):
        self.profile = load_profile(profile)
        self.schema = profile
        self.rng = random.Random(seed)
        self.bad_share = bad_share
        self.start = datetime.combine(date_from, datetime.min.time(), SHANGHAI)
        end = datetime.combine(date_to, datetime.min.time(), SHANGHAI)
        self.now = now
        if now is not None:  # orders created early enough to be paid by now
            end = min(end, now - timedelta(seconds=MAX_PAYMENT_DELAY_S))
            if end <= self.start:
                raise ValueError(f"date_from {date_from} leaves no time before now ({now:%Y-%m-%d %H:%M %Z})")
        self.span = max(int((end - self.start).total_seconds()), 1)
        self.statuses = SHOP_STATUS[profile]
        self.divisions = vocab.divisions()
        kinds = BAD_KINDS if profile == "reference" else tuple(k for k in BAD_KINDS if k != "duplicate_sku_code")
        self.bad_kinds = kinds  # litemall derives item codes from unique ids: no duplicate to make
        self.carriers = list(self.profile.carriers.shop_to_qimen)

    # -- people and places -------------------------------------------------------------------------
    def local(self, moment: datetime) -> datetime:
        """Naive wall time in the profile's zone, as the shop stores it."""
        return moment.astimezone(self.profile.timezone).replace(tzinfo=None)

    def name(self) -> str:
        rng = self.rng
        surname = rng.choice(vocab.COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(vocab.SURNAMES)
        return surname + "".join(rng.choice(vocab.GIVEN) for _ in range(rng.choice((1, 2, 2))))

    def mobile(self) -> str:
        return self.rng.choice(vocab.MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def landline(self) -> str:
        return f"{self.rng.choice(vocab.AREA_CODES)}-{self.rng.randrange(2 * 10**7, 9 * 10**7)}"

    def place(self) -> tuple[str, str, str | None, str | None, str]:
        rng = self.rng
        province, city, area = rng.choice(self.divisions)
        town = rng.choice(vocab.TOWN_STEMS) + rng.choice(vocab.VILLAGE_PARTS) if rng.random() < 0.4 else None
        street = f"{rng.choice(vocab.STREETS)}{rng.randrange(1, 999)}号"
        if rng.random() < 0.6:
            street += f"{rng.choice(vocab.STREETS)[:2]}{rng.choice(vocab.BUILDINGS)}{rng.randrange(1, 30)}栋{rng.randrange(1, 30)}0{rng.randrange(1, 9)}室"
        return province, city, area, town, street

    @staticmethod
    def one_string(province: str, city: str, area: str | None, town: str | None, detail: str, spaced: bool) -> str:
        """litemall style: divisions, a space, the detail (municipalities name the city once)."""
        head = province + ("" if city == province else city) + (area or "")
        return head + (" " if spaced else "") + (town or "") + detail

    # -- products ------------------------------------------------------------------------------------
    def make_skus(self, w: _Writer, n_skus: int, first_product: int, first_sku: int, manifest: Manifest) -> list[dict]:
        rng, now = self.rng, self.start - timedelta(days=30)
        skus: list[dict] = []
        product_id, sku_id = first_product, first_sku
        while len(skus) < n_skus:
            noun = rng.choice(vocab.NOUNS)
            name = f"{rng.choice(vocab.BRANDS) or ''}{rng.choice(vocab.ADJECTIVES)}{noun}"
            goods_sn = f"G{product_id:07d}"
            created = self.local(now + timedelta(seconds=rng.randrange(86400 * 20)))
            price = Decimal(rng.randrange(990, 59900)) / 100
            category, brand = rng.choice(vocab.CATEGORIES), rng.choice(vocab.BRANDS)
            if self.schema == "litemall":
                w.add("litemall_goods", dict(id=product_id, goods_sn=goods_sn, name=name, category_id=0, brand_id=0,
                                             unit="’件‘", retail_price=price, is_on_sale=True, add_time=created,
                                             update_time=created, deleted=False))
            else:
                w.add("shop_product", dict(id=product_id, product_code=goods_sn, name=name, category_name=category,
                                           brand_name=brand, unit="件", created_at=created, updated_at=created))
            specs = [[c, s] for c in rng.sample(vocab.COLORS, 2) for s in rng.sample(vocab.SIZES, 2)]
            for spec in specs[: min(rng.randint(1, 4), n_skus - len(skus))]:
                sku = dict(id=sku_id, goods_id=product_id, goods_sn=goods_sn, name=name, spec=spec,
                           price=price, code=f"{goods_sn}-{sku_id}", stock=rng.randrange(0, 500))
                skus.append(sku)
                if self.schema == "litemall":
                    w.add("litemall_goods_product", dict(
                        id=sku_id, goods_id=product_id, specifications=json.dumps(spec, ensure_ascii=False),
                        price=price, number=sku["stock"], url="", add_time=created, update_time=created,
                        deleted=False))
                else:
                    w.add("shop_sku", dict(id=sku_id, product_id=product_id, sku_code=sku["code"],
                                           bar_code=ean13(rng), spec=" ".join(spec), price=price, is_active=True,
                                           created_at=created, updated_at=created))
                    w.add("shop_stock", dict(sku_id=sku_id, quantity=sku["stock"], updated_at=created))
                sku_id += 1
            product_id += 1
        if self.schema == "reference" and self.bad_share > 0 and len(skus) >= 4:
            # The last SKUs reuse an earlier SKU's code: the shop allows it, the warehouse must not get it.
            for dup in skus[-max(1, round(len(skus) * self.bad_share / 5)):]:
                original = skus[self.rng.randrange(len(skus) // 2)]
                dup["code"] = original["code"]
                dup["duplicate_of"] = original["id"]
                manifest.bad_skus[str(dup["id"])] = f"duplicate_sku_code: same code as SKU {original['id']}"
            w.flush()
            w.conn.execute(text("UPDATE shop_sku SET sku_code = :code WHERE id = :id"),
                           [{"code": s["code"], "id": s["id"]} for s in skus if "duplicate_of" in s])
        return skus

    # -- orders --------------------------------------------------------------------------------------
    def make_orders(self, w: _Writer, n_orders: int, skus: list[dict], first_order: int, first_line: int,
                    manifest: Manifest) -> None:
        rng = self.rng
        statuses, weights = zip(*STATUS_MIX)
        cum = list(itertools.accumulate(weights))
        dup_skus = [s for s in skus if "duplicate_of" in s]
        # Good orders buy neither side of a duplicated code, so only the manifest's orders carry one.
        tainted = {s["id"] for s in dup_skus} | {s["duplicate_of"] for s in dup_skus}
        good_skus = [s for s in skus if s["id"] not in tainted]
        missing_sku = (skus[-1]["id"] if skus else 0) + 1_000_000
        line_id = first_line
        for order_id in range(first_order, first_order + n_orders):
            bad = rng.choice(self.bad_kinds) if rng.random() < self.bad_share else None
            if bad == "duplicate_sku_code" and not dup_skus:
                bad = "zero_quantity"
            lifecycle = "paid" if bad else rng.choices(statuses, cum_weights=cum)[0]
            created = self.start + timedelta(seconds=rng.randrange(self.span))
            paid = None if lifecycle in ("unpaid",) or (lifecycle == "cancelled" and rng.random() < 0.7) \
                else created + timedelta(seconds=rng.randrange(30, MAX_PAYMENT_DELAY_S))
            shipped = paid + timedelta(hours=rng.randrange(2, 48)) if paid and lifecycle in ("shipped", "received") else None
            updated = shipped or (paid + timedelta(hours=rng.randrange(1, 72)) if paid and lifecycle.startswith("refund") else None) \
                or paid or created
            if self.now is not None and updated > self.now:  # its shipment or refund is still to come
                lifecycle, shipped, updated = "paid", None, paid
            code = f"{self.local(created):%Y%m%d}{order_id:08d}"
            province, city, area, town, detail = self.place()
            name, mobile = self.name(), self.mobile()
            tel = self.landline() if rng.random() < 0.25 else None
            message = rng.choice(("", "", "", "请尽快发货", "周末送货", "放门卫室", "不要放快递柜"))
            if bad == "no_phone":
                mobile, tel = "", None
            elif bad == "long_address":
                detail = (detail * (600 // len(detail) + 1))[:600]  # a 600-character address
            elif bad == "unknown_province":
                province, city, area = "火星省", "奥林匹斯市", "环形山区"
            elif bad == "emoji":
                name = name + rng.choice(vocab.EMOJI)
                detail = detail + rng.choice(vocab.EMOJI)
            if bad:
                manifest.bad_orders[code] = bad

            chosen = rng.sample(good_skus, min(len(good_skus), rng.choice((1, 1, 1, 2, 2, 3))))
            lines = [(s, rng.choice((1, 1, 1, 2, 3))) for s in chosen]
            if bad == "zero_quantity":
                lines[0] = (lines[0][0], 0)
            elif bad == "unknown_sku":
                ghost = dict(lines[0][0], id=missing_sku, code=f"G9999999-{missing_sku}")
                lines.append((ghost, 1))
            elif bad == "duplicate_sku_code":
                lines[0] = (rng.choice(dup_skus), 1)
            item_amount = sum((s["price"] * q for s, q in lines), Decimal("0.00"))
            freight = Decimal("0.00") if item_amount >= 99 else Decimal("10.00")
            discount = Decimal(rng.choice((0, 0, 0, 5, 10))).quantize(Decimal("0.01")).min(item_amount)
            total = item_amount + freight - discount
            carrier = rng.choice(self.carriers) if shipped else None
            tracking = f"{carrier}{rng.randrange(10**11, 10**12)}" if shipped else None
            status = self.statuses[lifecycle]
            manifest.status_counts[lifecycle] = manifest.status_counts.get(lifecycle, 0) + 1
            loc = self.local
            if self.schema == "litemall":
                w.add("litemall_order", dict(
                    id=order_id, user_id=rng.randrange(1, 50000), order_sn=code, order_status=status,
                    aftersale_status=0, consignee=name, mobile=mobile,
                    address=self.one_string(province, city, area, town, detail, rng.random() < 0.8),
                    message=message, goods_price=item_amount, freight_price=freight, coupon_price=discount,
                    integral_price=Decimal("0.00"), groupon_price=Decimal("0.00"), order_price=total,
                    actual_price=total, pay_id=f"WX{order_id:010d}" if paid else None,
                    pay_time=loc(paid) if paid else None, ship_sn=tracking, ship_channel=carrier,
                    ship_time=loc(shipped) if shipped else None, add_time=loc(created), update_time=loc(updated),
                    deleted=False))
                for s, q in lines:
                    w.add("litemall_order_goods", dict(
                        id=line_id, order_id=order_id, goods_id=s["goods_id"], goods_name=s["name"],
                        goods_sn=s["goods_sn"], product_id=s["id"], number=q, price=s["price"],
                        specifications=json.dumps(s["spec"], ensure_ascii=False), pic_url="",
                        add_time=loc(created), update_time=loc(created), deleted=False))
                    line_id += 1
            else:
                w.add("shop_order", dict(
                    id=order_id, order_no=code, status=status, buyer_nick=f"wx_{rng.randrange(10**6, 10**7)}",
                    receiver_name=name, receiver_mobile=mobile, receiver_phone=tel, receiver_province=province,
                    receiver_city=city, receiver_district=area, receiver_town=town, receiver_detail=detail,
                    receiver_zip=None, buyer_message=message, seller_message=None, item_amount=item_amount,
                    discount_amount=discount, freight=freight, total_amount=total, carrier_code=carrier,
                    tracking_no=tracking, created_at=loc(created), paid_at=loc(paid) if paid else None,
                    shipped_at=loc(shipped) if shipped else None, updated_at=loc(updated)))
                for no, (s, q) in enumerate(lines, start=1):
                    w.add("shop_order_line", dict(
                        id=line_id, order_id=order_id, line_no=no, sku_id=s["id"], sku_code=s["code"],
                        item_name=s["name"], quantity=q, price=s["price"], retail_price=s["price"]))
                    line_id += 1
            manifest.lines += len(lines)


TABLE_ORDER = {
    "litemall": ["litemall_goods", "litemall_goods_product", "litemall_order", "litemall_order_goods"],
    "reference": ["shop_product", "shop_sku", "shop_stock", "shop_order", "shop_order_line"],
}
# (table, key column) whose ids the generator assigns itself: continue after what is there.
ID_TABLES = {
    "litemall": ("litemall_goods", "litemall_goods_product", "litemall_order", "litemall_order_goods"),
    "reference": ("shop_product", "shop_sku", "shop_order", "shop_order_line"),
}


def _next_ids(conn: Connection, schema: str) -> list[int]:
    tables = SCHEMAS[schema].tables
    return [(conn.execute(select(func.max(tables[t].c.id))).scalar() or 0) + 1 for t in ID_TABLES[schema]]


def _fix_sequences(conn: Connection, schema: str) -> None:
    """PostgreSQL serials do not see explicit ids: move them past the rows just written."""
    if conn.dialect.name != "postgresql":
        return
    for table in ID_TABLES[schema]:
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
        ))


def generate(
    engine: Engine,
    profile: str,
    *,
    orders: int,
    skus: int,
    seed: int = 1,
    bad_share: float = 0.05,
    date_from: date = date(2026, 11, 1),
    date_to: date = date(2026, 11, 28),
    batch_size: int = DEFAULT_BATCH,
    now: datetime | None = None,
) -> Manifest:
    """Create the profile's shop tables if missing and fill them; returns the manifest.

    ``profile`` is a shipped profile with a schema in ``wmsbridge_tools.shop_schemas`` (``reference``,
    ``litemall``). Orders are created in ``[date_from, date_to)``, shop-local days. ``now`` (an
    aware time) makes the shop as it stands at that moment, for a ``date_to`` that is not past yet:
    nothing is created, paid, shipped, refunded or updated after it (an order whose shipment or
    refund would come later is still paid).
    """
    if profile not in SCHEMAS:
        raise ValueError(f"no synthetic schema for profile {profile!r} (have {sorted(SCHEMAS)})")
    if not 0 <= bad_share <= 1:
        raise ValueError("bad_share must be within [0, 1]")
    if date_to <= date_from:
        raise ValueError("date_to must be after date_from")
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    gen = _Generator(profile, seed, bad_share, date_from, date_to, now)
    create_shop_schema(engine, profile)
    manifest = Manifest(profile=profile, seed=seed, orders=orders, skus=skus)
    with engine.begin() as conn:
        first_product, first_sku, first_order, first_line = _next_ids(conn, profile)
        writer = _Writer(conn, SCHEMAS[profile], TABLE_ORDER[profile], batch_size)
        sku_rows = gen.make_skus(writer, skus, first_product, first_sku, manifest)
        gen.make_orders(writer, orders, sku_rows, first_order, first_line, manifest)
        writer.flush()
        _fix_sequences(conn, profile)
    return manifest


__all__ = ["BAD_KINDS", "Manifest", "ean13", "ean13_check_digit", "generate"]
