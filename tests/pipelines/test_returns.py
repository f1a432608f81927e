"""Returns end to end on the three databases, with litemall's real after-sale table and CRMEB's
refund table: an approved return -> one returnorder.create; the warehouse's returnorder.confirm
(over HTTP, through the receiver) -> the after-sale record, the shop's stock and the operations
page as documented; a duplicate or replayed confirmation, and every later run, change nothing.

The simulator is the warehouse (it checks every message with the strict Qimen rules and its own);
the receiver is the real app on a socket.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from bridge_helpers import bridge, order_sync_rows
from databases import BACKENDS

from qimen.parsing import parse_response
from wmsbridge.pipelines.cancels import cancel_orders
from wmsbridge.pipelines.returns import sync_returns
from wmsbridge.shop.profile import PROFILES_DIR
from wmsbridge.store import attention
from wmsbridge.store.schema import exchange_log, stock_adjustment, warehouse_report

RETURNS_ON = {"enabled_methods": ["returnorder.create", "returnorder.confirm"]}
BEIJING = timezone(timedelta(hours=8))


def _now_bj() -> datetime:
    return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)


def stock(shop, order_id) -> dict[int, int]:
    """litemall stock of the order's SKUs."""
    with shop.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT p.id, p.number FROM litemall_goods_product p JOIN litemall_order_goods g ON g.product_id = p.id "
            "WHERE g.order_id = :o"), {"o": order_id}).all())


def lines(shop, order_id) -> list[tuple[int, str, int]]:
    """(SKU id, item code, quantity) of the order's lines (litemall's item code: goods_sn-product id)."""
    with shop.engine.connect() as conn:
        return [(sku, f"{sn}-{sku}", n) for sku, sn, n in conn.execute(sa.text(
            "SELECT product_id, goods_sn, number FROM litemall_order_goods WHERE order_id = :o ORDER BY id"),
            {"o": order_id}).all()]


def litemall_aftersale(shop, order_id: int, *, status: int = 2, sn: str = "AS-1") -> int:
    """The buyer's after-sale, type 2 (退货退款), approved by the admin (status 2)."""
    with shop.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO litemall_aftersale (aftersale_sn, order_id, user_id, type, reason, amount, comment, status, "
            "add_time, update_time, deleted) VALUES (:sn, :o, 1, 2, '尺码不合适', 10, '', :s, :t, :t, FALSE)"),
            {"sn": sn, "o": order_id, "s": status, "t": _now_bj()})
        conn.execute(sa.text("UPDATE litemall_order SET aftersale_status = :s WHERE id = :o"), {"s": status, "o": order_id})
        return conn.execute(sa.text("SELECT id FROM litemall_aftersale WHERE aftersale_sn = :sn"), {"sn": sn}).scalar_one()


def litemall_refund(shop, aftersale_id: int, order_id: int) -> None:
    """The admin refunds (status 3); litemall adds the order's units back to stock itself."""
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE litemall_aftersale SET status = 3, update_time = :t WHERE id = :a"),
                     {"a": aftersale_id, "t": _now_bj()})
        for sku, number in conn.execute(sa.text("SELECT product_id, number FROM litemall_order_goods WHERE order_id = :o"),
                                        {"o": order_id}).all():
            conn.execute(sa.text("UPDATE litemall_goods_product SET number = number + :n WHERE id = :s"),
                         {"n": number, "s": sku})


def sent(store, method: str) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(exchange_log).where(
            exchange_log.c.method == method, exchange_log.c.direction == "outbound").order_by(exchange_log.c.id))]


def waiting(store, category: str) -> set[str]:
    return {r["subject"] for r in attention.rows(store.engine, category)}


def post(url: str, body: str) -> bool:
    answer = httpx.post(url, content=body.encode("utf-8"), headers={"Content-Type": "text/xml;charset=utf-8"},
                        timeout=30)
    return parse_response(answer.content).success


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_litemall_return_is_announced_once_received_refunded_and_the_stock_stays_the_warehouses(
        backend, shipped_order):
    shop, sim, store, receiver, code, order_id = shipped_order(backend, **RETURNS_ON)
    # the buyer asks for a refund after the parcel left: a person must deal with it ...
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE litemall_order SET order_status = 202, update_time = :t WHERE id = :o"),
                     {"o": order_id, "t": _now_bj()})
    cancel_orders(bridge("cancel"), changed_from_utc=datetime.now(timezone.utc) - timedelta(hours=1))
    assert code in waiting(store, "refunds_after_shipment")
    # ... until the admin approves it as a return of goods: the returns flow takes it over
    aftersale = litemall_aftersale(shop, order_id)
    before = stock(shop, order_id)
    first = sync_returns(bridge("returns-1"))
    assert (first.extracted, first.sent, first.needs_person_verdict) == (1, 1, 0)
    assert code not in waiting(store, "refunds_after_shipment")
    (announced,) = sim.admin.returns()
    assert (announced["return_code"], announced["pre_order_code"], announced["order_type"]) == ("AS-1", code, "THRK")
    assert [(line["item_code"], line["plan_qty"]) for line in announced["lines"]] == \
        [(item, n) for _sku, item, n in lines(shop, order_id)]
    # a second run, a retry: nothing sent again
    again = sync_returns(bridge("returns-2"))
    assert (again.sent, again.unchanged) == (0, 1) and len(sent(store, "returnorder.create")) == 1
    assert len(sim.admin.returns()) == 1 and stock(shop, order_id) == before

    # the parcel arrives: one unit of the first line defective, the rest good; the gateway posts twice
    first_sku, first_item, first_qty = lines(shop, order_id)[0]
    received = [{"itemCode": item, "good": n - (1 if item == first_item else 0),
                 "defective": 1 if item == first_item else 0} for _sku, item, n in lines(shop, order_id)]
    sim.admin.receive_return("AS-1", received, repeat=1, callback_url=receiver.url())
    with store.engine.connect() as conn:
        (stored,) = conn.execute(sa.select(warehouse_report).where(
            warehouse_report.c.method == "returnorder.confirm")).all()
    assert stored.state == "received" and stored.order_code == "AS-1"
    applied = sync_returns(bridge("returns-3"))
    assert (applied.sent, applied.needs_person_verdict) == (1, 0)
    good = {sku: n - (1 if sku == first_sku else 0) for sku, _item, n in lines(shop, order_id)}
    assert stock(shop, order_id) == {sku: before[sku] + good[sku] for sku in before}
    with shop.engine.connect() as conn:
        comment, status = conn.execute(sa.text("SELECT comment, status FROM litemall_aftersale WHERE id = :a"),
                                       {"a": aftersale}).one()
    assert "仓库已收货" in comment and "次品 1" in comment and status == 2  # the refund is the admin's
    (row,) = attention.rows(store.engine, "returns_to_refund")
    assert row["subject"] == "AS-1" and row["detail"] == code and f"{first_item} 良品 good {first_qty - 1} 次品" \
        " defective 1" in row["reason"]
    # the same confirmation replayed (a gateway, a person), and later runs: nothing moves again
    assert post(receiver.url(method="returnorder.confirm"), stored.raw_body)
    for n in (4, 5):
        assert sync_returns(bridge(f"returns-{n}")).sent == 0
    with shop.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT comment FROM litemall_aftersale WHERE id = :a"), {"a": aftersale}
                            ).scalar_one() == comment
    assert stock(shop, order_id) == {sku: before[sku] + good[sku] for sku in before}

    # the admin pays the refund, and litemall adds every unit back by itself: the bridge takes that
    # add-back out again (the warehouse counted the parcel), and the return leaves the page
    litemall_refund(shop, aftersale, order_id)
    refunded = sync_returns(bridge("returns-6"))
    assert refunded.sent == 0 and waiting(store, "returns_to_refund") == set()
    assert "refunded in the shop, off the person's list: 1: AS-1" in refunded.notes
    assert stock(shop, order_id) == {sku: before[sku] + good[sku] for sku in before}
    assert sync_returns(bridge("returns-7")).sent == 0
    assert stock(shop, order_id) == {sku: before[sku] + good[sku] for sku in before}
    with store.engine.connect() as conn:
        ledger = {(r.source, r.item_code): (r.delta, r.state) for r in conn.execute(sa.select(stock_adjustment))}
    if first_qty > 1:  # good units of the first line went back on sale; a line of one came back defective
        assert ledger[("return_received", first_item)] == (first_qty - 1, "applied")
    else:
        assert ("return_received", first_item) not in ledger
    assert {k: v for k, v in ledger.items() if k[0] == "return_add_back"} == {
        ("return_add_back", item): (-n, "applied") for _sku, item, n in lines(shop, order_id)}
    assert not any(attention.counts(store.engine, [c.key for c in attention.categories_of("returns")]).values())


def test_a_return_of_an_order_the_warehouse_never_had_waits_for_a_person_unsent(shipped_order):
    shop, sim, store, _receiver, _code, _order_id = shipped_order("sqlite", **RETURNS_ON)
    with shop.engine.connect() as conn:  # an order the bridge never sent (not paid: litemall 101, say)
        never = conn.execute(sa.text("SELECT id, order_sn FROM litemall_order WHERE order_status <> 201 "
                                     "ORDER BY id")).first()
    litemall_aftersale(shop, never.id, sn="AS-NEVER")
    report = sync_returns(bridge("returns"))
    assert (report.rejected, report.sent) == (1, 0) and sim.admin.returns() == []
    assert waiting(store, "returns_rejected") == {"AS-NEVER"}
    (row,) = attention.rows(store.engine, "returns_rejected")
    assert "never reached the warehouse" in row["reason"]


def test_a_return_the_warehouse_received_unannounced_waits_for_a_person(shipped_order):
    shop, sim, store, receiver, code, order_id = shipped_order("sqlite", **RETURNS_ON)
    litemall_aftersale(shop, order_id)
    assert sync_returns(bridge("returns-1")).sent == 1
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    with store.engine.connect() as conn:
        body = conn.execute(sa.select(warehouse_report.c.raw_body)).scalar_one()
    stranger = body.replace("AS-1", "AS-UNKNOWN").replace("<outBizCode>", "<outBizCode>X")
    assert post(receiver.url(method="returnorder.confirm"), stranger)
    report = sync_returns(bridge("returns-2"))
    assert report.sent == 1 and report.needs_person == 1
    # the run that put it in front of a person fails for it, once: a return receipt to check
    assert report.needs_person_verdict == 1 and "AS-UNKNOWN" in report.verdict_samples[0]
    (row,) = attention.rows(store.engine, "returns_receipts")
    assert row["detail"] == "AS-UNKNOWN" and "未通知仓库的退货入库: AS-UNKNOWN" in row["reason"]
    assert not attention.rows(store.engine, "reports_for_person")
    assert sync_returns(bridge("returns-3")).needs_person_verdict == 0


def test_returns_not_switched_on_send_nothing_and_say_so(shipped_order, monkeypatch):
    import json

    from wmsbridge.config import ENV_KEY

    shop, sim, store, _receiver, _code, order_id = shipped_order("sqlite", **RETURNS_ON)
    config = json.loads(__import__("os").environ[ENV_KEY])
    config["enabled_methods"] = []
    monkeypatch.setenv(ENV_KEY, json.dumps(config))
    litemall_aftersale(shop, order_id)
    report = sync_returns(bridge("returns"))
    assert report.extracted == 0 and sim.admin.returns() == [] and "not switched on" in report.notes[0]


# --- CRMEB (PHP edition): its refund table, eb_store_order_refund ----------------------------------

# CRMEB PHP's install SQL (crmeb/public/install/crmeb.sql), every column as it is there: its real types,
# NOT NULLs and defaults (comments in Chinese as CRMEB has them); the primary key on id the install SQL adds
# by an ALTER. MariaDB gets it as CRMEB creates it (TINYINT(1), LONGTEXT, utf8 InnoDB); PostgreSQL and
# SQLite have no TINYINT or LONGTEXT: SMALLINT and TEXT hold the same values there.
CRMEB_REFUND = """
CREATE TABLE eb_store_order_refund (
    id INTEGER NOT NULL,
    store_order_id INTEGER NOT NULL DEFAULT 0,            -- 订单表ID
    store_id INTEGER NOT NULL DEFAULT 0,                  -- 门店ID
    order_id VARCHAR(50) NOT NULL DEFAULT '',             -- 订单号 (the number of the refund itself)
    uid INTEGER NOT NULL DEFAULT 0,                       -- 用户UID
    refund_type {tinyint} NOT NULL DEFAULT 0,             -- 退款申请类型
    refund_num INTEGER NOT NULL DEFAULT 0,                -- 退款件数
    refund_price DECIMAL(8, 2) NOT NULL DEFAULT 0.00,     -- 退款金额
    refunded_price DECIMAL(8, 2) NOT NULL DEFAULT 0.00,   -- 已退款金额
    refund_phone VARCHAR(32) NOT NULL DEFAULT '',         -- 退款电话
    refund_express VARCHAR(100) NOT NULL DEFAULT '',      -- 退货快递单号
    refund_express_name VARCHAR(255) NOT NULL DEFAULT '', -- 退货快递名称
    refund_explain VARCHAR(255) NOT NULL DEFAULT '',      -- 退款用户说明
    refund_img TEXT NOT NULL,                             -- 退款图片
    refund_reason VARCHAR(255) NOT NULL DEFAULT '',       -- 不退款的理由
    refuse_reason VARCHAR(255) NOT NULL DEFAULT '',       -- 拒绝原因
    remark VARCHAR(255) NOT NULL DEFAULT '',              -- 备注
    refunded_time INTEGER NOT NULL DEFAULT 0,             -- 处理时间
    cart_info {longtext} NOT NULL,                        -- 退款商品信息
    is_cancel {tinyint} NOT NULL DEFAULT 0,               -- 用户是否取消
    is_pink_cancel {tinyint} NOT NULL DEFAULT 0,          -- 是否拼团自动取消
    is_del {tinyint} DEFAULT 0,                           -- 取消申请
    add_time INTEGER NOT NULL DEFAULT 0,                  -- 申请退款时间
    PRIMARY KEY (id)
){options}"""


def crmeb_refund_ddl(dialect: str) -> str:
    if dialect in ("mysql", "mariadb"):
        return CRMEB_REFUND.format(tinyint="TINYINT(1)", longtext="LONGTEXT",
                                   options=" ENGINE=InnoDB DEFAULT CHARSET=utf8")
    return CRMEB_REFUND.format(tinyint="SMALLINT", longtext="TEXT", options="")


def crmeb_refund(shop, refund_id: int, refund_sn: str, order_id: int, *, refund_type: int = 5,
                 express: str = "", explain: str = "质量问题", is_cancel: int = 0, is_del: int = 0) -> None:
    """A refund application as CRMEB's app writes it, for the whole order: the order's lines as the
    refunded cart lines (cart_info), their units and price; no pictures (refund_img '[]')."""
    import json
    from decimal import Decimal

    with shop.engine.begin() as conn:
        order = conn.execute(sa.text("SELECT user_id, mobile FROM litemall_order WHERE id = :o"),
                             {"o": order_id}).one()
        goods = conn.execute(sa.text(
            "SELECT id, goods_id, goods_name, goods_sn, product_id, number, price, specifications, pic_url "
            "FROM litemall_order_goods WHERE order_id = :o ORDER BY id"), {"o": order_id}).all()
        cart = [{"id": g.id, "uid": order.user_id, "type": "product", "product_id": g.goods_id,
                 "product_attr_unique": f"{g.product_id:08x}", "cart_num": int(g.number), "is_pay": 1,
                 "truePrice": float(g.price), "vip_truePrice": 0, "postage_price": 0,
                 "productInfo": {"id": g.goods_id, "store_name": g.goods_name, "image": g.pic_url or "",
                                 "bar_code": g.goods_sn, "attrInfo": {
                                     "product_id": g.goods_id, "suk": g.specifications,
                                     "unique": f"{g.product_id:08x}", "price": float(g.price),
                                     "bar_code": g.goods_sn}}}
                for g in goods]
        conn.execute(sa.text(
            "INSERT INTO eb_store_order_refund (id, store_order_id, store_id, order_id, uid, refund_type, refund_num, "
            "refund_price, refunded_price, refund_phone, refund_express, refund_express_name, refund_explain, "
            "refund_img, refund_reason, refuse_reason, remark, refunded_time, cart_info, is_cancel, is_pink_cancel, "
            "is_del, add_time) VALUES (:id, :o, 0, :sn, :uid, :type, :num, :price, 0.00, :phone, :express, :express_name, "
            ":explain, '[]', '', '', '', 0, :cart, :cancel, 0, :del, :t)"),
            {"id": refund_id, "o": order_id, "sn": refund_sn, "uid": order.user_id, "type": refund_type,
             "num": sum(int(g.number) for g in goods),
             "price": str(sum((Decimal(str(g.price)) * int(g.number) for g in goods), Decimal("0.00"))),
             "phone": order.mobile[:32], "express": express, "express_name": "顺丰速运" if express else "",
             "explain": explain, "cart": json.dumps(cart, ensure_ascii=False), "cancel": is_cancel, "del": is_del,
             "t": int(datetime.now(timezone.utc).timestamp())})


def crmeb_returns_profile(tmp_path: Path) -> Path:
    """litemall's profile with CRMEB PHP's returns queries: refund_type 4 待退货 / 5 退货待收货 is an
    approved return waiting for its parcel, 6 refunded; one the buyer withdrew (is_cancel 1) or the shop
    deleted (is_del 1) is none, as in CRMEB's admin (``withdrawn_returns`` finds those, and one refused
    after all, 3, among the registered ones). The buyer's tracking number is refund_express and
    their words refund_explain (refund_reason is the shop's reason for refusing).
    CRMEB adds stock back on refund only for unshipped orders: added_back 0. (The orders here are
    litemall's tables, the refunds CRMEB's: what is tested is the refund table's rules.)"""
    data = yaml.safe_load((PROFILES_DIR / "litemall.yaml").read_text(encoding="utf-8"))
    data["name"] = "crmeb-returns"
    queries = data["queries"]
    queries.pop("return_received")  # CRMEB has no state for "received": the page says it
    queries["approved_returns"] = """
        SELECT r.id AS return_id, r.order_id AS return_code, o.order_sn AS order_code,
               r.refund_express AS express_code, r.refund_explain AS reason
        FROM eb_store_order_refund r JOIN litemall_order o ON o.id = r.store_order_id
        WHERE r.refund_type IN (4, 5) AND r.is_cancel = 0 AND r.is_del = 0 AND r.add_time >= :since_epoch
        ORDER BY r.id"""
    queries["return_lines"] = """
        SELECT r.id AS return_id, og.product_id AS sku_id, og.goods_sn AS goods_code, og.number AS quantity
        FROM eb_store_order_refund r JOIN litemall_order_goods og ON og.order_id = r.store_order_id
        WHERE r.id IN :return_ids ORDER BY r.id, og.id"""
    queries["refunded_returns"] = """
        SELECT r.id AS return_id, NULL AS sku_id, 0 AS added_back
        FROM eb_store_order_refund r WHERE r.id IN :return_ids AND r.refund_type = 6"""
    # withdrawn after approval: the buyer cancelled (is_cancel 1), the shop deleted it (is_del 1) or
    # refused it after all (refund_type 3 拒绝退款)
    queries["withdrawn_returns"] = """
        SELECT r.id AS return_id,
               CASE WHEN r.is_cancel = 1 THEN '用户取消: the buyer cancelled it (is_cancel 1)'
                    WHEN r.is_del = 1 THEN 'deleted in the shop (is_del 1)'
                    ELSE '拒绝退款: the admin refused it (refund_type 3)' END AS why
        FROM eb_store_order_refund r
        WHERE r.id IN :return_ids AND (r.is_cancel = 1 OR r.is_del = 1 OR r.refund_type = 3)"""
    path = tmp_path / "crmeb-returns.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_crmeb_return_with_the_buyers_tracking_number(backend, shipped_order, tmp_path, monkeypatch):
    import json

    from wmsbridge.config import ENV_KEY

    shop, sim, store, receiver, code, order_id = shipped_order(backend, **RETURNS_ON)
    config = json.loads(__import__("os").environ[ENV_KEY])
    monkeypatch.setenv(ENV_KEY, json.dumps({**config, "profile": str(crmeb_returns_profile(tmp_path))}))
    with shop.engine.begin() as conn:
        conn.execute(sa.text(crmeb_refund_ddl(shop.engine.dialect.name)))
        other = conn.execute(sa.text("SELECT id FROM litemall_order WHERE order_status = 201 AND id <> :o ORDER BY id"),
                             {"o": order_id}).scalars().first()  # paid, with the warehouse: returnable there
    # the buyer's first application for the order, withdrawn (用户取消: is_cancel 1, whatever its refund_type);
    # another order's approved return the shop deleted (is_del 1): neither is a return to announce
    crmeb_refund(shop, 6, "RF20261204000", order_id, express="SF1400000000", explain="不想要了", is_cancel=1)
    crmeb_refund(shop, 8, "RF20261204002", other, refund_type=4, is_del=1)
    # the buyer applies again, the admin approves, the buyer sends the parcel back: 5 退货待收货
    crmeb_refund(shop, 7, "RF20261204001", order_id, express="SF1400000001")
    before = stock(shop, order_id)
    first = sync_returns(bridge("returns-1"))
    assert (first.extracted, first.sent, first.rejected) == (1, 1, 0)
    (announced,) = sim.admin.returns()
    assert (announced["return_code"], announced["pre_order_code"]) == ("RF20261204001", code)
    (request,) = sent(store, "returnorder.create")
    assert "<expressCode>SF1400000001</expressCode>" in request["request_body"]
    assert "<logisticsCode>OTHER</logisticsCode>" in request["request_body"]  # CRMEB keeps no courier code
    assert "<returnReason>质量问题</returnReason>" in request["request_body"]  # refund_explain, the buyer's words
    assert set(store.returns.rows(["RF20261204000", "RF20261204002"])) == set()

    # the parcel arrives, all good; the gateway posts the confirmation twice
    receipt = sim.admin.receive_return("RF20261204001", repeat=1, callback_url=receiver.url())
    assert len(receipt["deliveries"]) == 2
    with store.engine.connect() as conn:
        (stored,) = conn.execute(sa.select(warehouse_report).where(
            warehouse_report.c.method == "returnorder.confirm")).all()
    assert sync_returns(bridge("returns-2")).sent == 1
    received = {sku: before[sku] + n for sku, _item, n in lines(shop, order_id)}
    assert stock(shop, order_id) == received
    assert waiting(store, "returns_to_refund") == {"RF20261204001"}
    on_the_list = attention.counts(store.engine)
    # the same confirmation replayed once it was applied, and a later run: nothing moves again
    assert post(receiver.url(method="returnorder.confirm"), stored.raw_body)
    replayed = sync_returns(bridge("returns-3"))
    assert (replayed.sent, replayed.needs_person, replayed.rejected) == (0, 0, 0)
    assert stock(shop, order_id) == received
    assert attention.counts(store.engine) == on_the_list
    assert waiting(store, "returns_to_refund") == {"RF20261204001"}
    assert len(sent(store, "returnorder.create")) == 1 and len(sim.admin.returns()) == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report).where(
            warehouse_report.c.method == "returnorder.confirm")).scalar_one() == 1

    with shop.engine.begin() as conn:  # the admin refunds: 6 已退款; CRMEB puts no stock back for it
        conn.execute(sa.text("UPDATE eb_store_order_refund SET refund_type = 6, refunded_price = refund_price, "
                             "refunded_time = :t WHERE id = 7"), {"t": int(datetime.now(timezone.utc).timestamp())})
    assert "refunded in the shop, off the person's list: 1: RF20261204001" in sync_returns(bridge("returns-4")).notes
    assert waiting(store, "returns_to_refund") == set()
    assert stock(shop, order_id) == received
    assert order_sync_rows(store)[code]["state"] == "shipped"
    # the withdrawn and the deleted refund never reached the warehouse, however many runs
    assert sync_returns(bridge("returns-5")).sent == 0
    assert [r["return_code"] for r in sim.admin.returns()] == ["RF20261204001"]
    assert len(sent(store, "returnorder.create")) == 1


def test_the_returns_and_stock_change_dags_run_through_airflow(shipped_order):
    """The DAGs as a person triggers them: wms_returns announces, then applies the receipt (a clear
    of the same run changes nothing more); wms_stock_changes applies the warehouse's report."""
    from bridge_helpers import run_dag

    shop, sim, store, receiver, code, order_id = shipped_order(
        "sqlite", enabled_methods=[*RETURNS_ON["enabled_methods"], "stockchange.report"])
    litemall_aftersale(shop, order_id)
    assert run_dag("wms_returns").state == "success"
    assert [r["return_code"] for r in sim.admin.returns()] == ["AS-1"]
    before = stock(shop, order_id)
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    when = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
    for _ in range(2):  # the run, then a clear of it (the same run id, the next try)
        assert run_dag("wms_returns", logical_date=when).state == "success"
    assert stock(shop, order_id) == {sku: before[sku] + n for sku, _item, n in lines(shop, order_id)}
    assert len(sent(store, "returnorder.create")) == 1 and waiting(store, "returns_to_refund") == {"AS-1"}

    sku, item, _n = lines(shop, order_id)[0]
    sim.admin.report_stock_change([{"itemCode": item, "quantity": 4}], order_type="CGRK",
                                  callback_url=receiver.url())
    now = stock(shop, order_id)
    assert run_dag("wms_stock_changes").state == "success"
    assert stock(shop, order_id)[sku] == now[sku] + 4
