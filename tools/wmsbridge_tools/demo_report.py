"""The ``make demo`` report: what each stage did for each bridge, read from that bridge's store rows
and its shop, cross-checked against what its warehouse (its simulator's admin API) saw.

Kept apart from the driver (``wmsbridge_tools.demo``) so the numbers and the checks can be read in one
place. Reads only; every figure printed is one measured here. The bridges share one store: every
store query here is filtered by ``bridge_id``, so a row of the other bridge can never make a figure
agree by accident.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

EXAMPLES = 3  # order codes shown per rejection reason
OUTBOUND = ("singleitem.synchronize", "deliveryorder.create", "order.cancel", "inventory.query", "returnorder.create")
INBOUND = ("deliveryorder.confirm", "returnorder.confirm")
_CODE_LIKE = re.compile(r"\b[A-Z]*\d[\w-]*\b")
RECEIVED_NOTE = "%仓库已收货%"  # what the bridge writes into a shop's return record on the warehouse's receipt


def reason_key(violation: str) -> str:
    """Group rejections by kind: the violation with codes and numbers in it blanked out."""
    return _CODE_LIKE.sub("…", violation)


# -- the shops, in their own words -----------------------------------------------------------------


@dataclass(frozen=True)
class ShopReads:
    """How the report reads one profile's shop tables: written here, not taken from the profile, so
    the check reads what the bridge wrote rather than asking the bridge's own SQL."""

    tracking: str        # (order code, tracking number) of the shipped orders among :codes
    returns_marked: str  # the return codes among :codes the bridge marked as received
    stock: str           # (SKU id, quantity) of every SKU
    first_tracking_only: bool = False  # one number per order: the first parcel's (litemall's ship_sn)


SHOP_READS = {
    "reference": ShopReads(
        tracking="SELECT order_no, tracking_no FROM shop_order WHERE status = 'shipped'"
                 " AND tracking_no IS NOT NULL AND order_no IN :codes",
        returns_marked="SELECT return_no FROM shop_return WHERE status = 'received'"
                       f" AND note LIKE '{RECEIVED_NOTE}' AND return_no IN :codes",
        stock="SELECT sku_id, quantity FROM shop_stock"),
    "litemall": ShopReads(
        tracking="SELECT order_sn, ship_sn FROM litemall_order WHERE order_status = 301"
                 " AND ship_sn IS NOT NULL AND order_sn IN :codes",
        # litemall has no "received" status: the receipt goes into the comment while it waits (status 2)
        returns_marked="SELECT aftersale_sn FROM litemall_aftersale WHERE status = 2"
                       f" AND comment LIKE '{RECEIVED_NOTE}' AND aftersale_sn IN :codes",
        stock="SELECT id, number FROM litemall_goods_product",
        first_tracking_only=True),
}


def _among(sql: str):
    return sa.text(sql).bindparams(sa.bindparam("codes", expanding=True))


# -- the report ------------------------------------------------------------------------------------


@dataclass
class DemoReport:
    """One bridge's stages."""

    bridge_id: str
    profile: str
    account: str                    # the warehouse account (customer id) of this bridge
    paid_orders: int
    skus_in_shop: int
    items: dict[str, int]           # wms_item_sync state -> count
    orders: dict[str, int]          # wms_order_sync state -> count, right after the push
    reasons: dict[str, list[str]]   # rejection reason -> order codes (all of them)
    warehouse_items: int
    warehouse_orders: int
    creates_received: int
    shipments: dict = field(default_factory=dict)
    cancels: dict = field(default_factory=dict)
    returns: dict = field(default_factory=dict)
    inventory: dict = field(default_factory=dict)
    exchange_log: dict[str, dict[str, int]] = field(default_factory=dict)  # direction -> method -> rows
    person_needed: list[str] = field(default_factory=list)  # expected DAG failures, said plainly
    problems: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.orders.get("sent", 0)

    @property
    def rejected(self) -> int:
        return self.orders.get("rejected", 0)

    @property
    def held(self) -> int:
        return self.orders.get("pending", 0)

    @property
    def failed(self) -> int:
        return self.orders.get("failed", 0) + self.orders.get("sending", 0)

    def as_dict(self) -> dict:
        return {**asdict(self), "sent": self.sent, "rejected": self.rejected, "held": self.held,
                "failed": self.failed}

    def lines(self) -> list[str]:
        return [f"== bridge {self.bridge_id} ({self.profile} shop, warehouse account {self.account})",
                *self._push_lines(), *self._later_lines(),
                *(f"a person is needed: {text}" for text in self.person_needed),
                "cross-check       : " + ("OK" if not self.problems else "MISMATCH: " + "; ".join(self.problems))]

    def _push_lines(self) -> list[str]:
        out = [
            "1. items and orders",
            f"SKUs synchronized : {self.items.get('synced', 0)} of {self.skus_in_shop}"
            f" (rejected {self.items.get('rejected', 0)}, failed {self.items.get('failed', 0)})",
            f"paid orders       : {self.paid_orders}",
            f"  sent            : {self.sent}",
            f"  rejected        : {self.rejected}" + ("  by reason (an order may have several):" if self.reasons else ""),
        ]
        for reason, codes in sorted(self.reasons.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            more = f", ... (+{len(codes) - EXAMPLES})" if len(codes) > EXAMPLES else ""
            out.append(f"    {len(codes):4d}  {reason}  e.g. {', '.join(codes[:EXAMPLES])}{more}")
        return out + [
            f"  held (waiting)  : {self.held}",
            f"  failed          : {self.failed}",
            f"warehouse (simulator): {self.warehouse_items} items, {self.warehouse_orders} orders,"
            f" {self.creates_received} deliveryorder.create received",
        ]

    def _later_lines(self) -> list[str]:
        s, c, r, inv = self.shipments, self.cancels, self.returns, self.inventory
        return [
            "2. shipments",
            f"shipped           : {s.get('shipped', 0)} of {self.sent} accepted orders (Juxing-shaped"
            f" confirmations, {s.get('delivered', 0)} answered success by the receiver)",
            f"confirmations     : {s.get('inbox', {}).get('applied', 0)} applied in {s.get('runs', 0)}"
            f" wms_shipments run(s) (inbox: {_counts(s.get('inbox', {}))})",
            f"tracking written  : {s.get('tracking_written', 0)} shop orders shipped with tracking numbers,"
            f" {s.get('tracking_matching', 0)} equal to the warehouse's",
            "3. refunds and cancels",
            f"refunded in shop  : {c.get('refunded', 0)} ({c.get('refunded_unshipped', 0)} not shipped,"
            f" {c.get('refunded_shipped', 0)} already shipped, {c.get('refunded_never_sent', 0)} never sent)",
            f"cancelled         : {c.get('cancelled', 0)} (order.cancel accepted by the warehouse:"
            f" {c.get('warehouse_cancelled', 0)}; closed without a request: {c.get('closed_locally', 0)})",
            f"needs a person    : {c.get('needs_person', 0)} refund after shipment"
            + (f" ({', '.join(c.get('needs_person_codes', []))})" if c.get("needs_person_codes") else ""),
            "4. returns",
            f"announced         : {r.get('announced', 0)} approved in the shop, {r.get('created', 0)}"
            f" returnorder.create received by the warehouse",
            f"received          : {r.get('received', 0)} (returnorder.confirm: {r.get('good', 0)} good,"
            f" {r.get('defective', 0)} defective units; shop return records marked: {r.get('shop_marked', 0)})",
            f"refund to pay     : {r.get('to_refund', 0)} on the operations page"
            + (f" ({', '.join(r.get('to_refund_codes', []))})" if r.get("to_refund_codes") else ""),
            "5. inventory",
            f"stock queried     : {inv.get('skus_answered', 0)} of {inv.get('skus_queried', 0)} SKUs answered,"
            f" {inv.get('calls', 0)} inventory.query calls, {inv.get('snapshot_rows', 0)} snapshot rows",
            f"stock written     : {inv.get('applied', 0)} SKUs changed, {inv.get('unchanged', 0)} kept"
            f" (shop total {inv.get('total_before', 0)} -> {inv.get('total_after', 0)})",
            f"guard rails       : {inv.get('guard_rails', '?')}",
            "6. exchanges in wms_exchange_log",
            "  " + ", ".join(f"{m} {n}" for m, n in self.exchange_log.get("outbound", {}).items()) + " (outbound)",
            "  " + ", ".join(f"{m} {n}" for m, n in self.exchange_log.get("inbound", {}).items()) + " (inbound)",
        ]


@dataclass
class DeploymentReport:
    """Every bridge of the one deployment, and what their shops have in common."""

    bridges: dict[str, DemoReport]
    shared: dict = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return [f"{bridge_id}: {p}" for bridge_id, report in self.bridges.items() for p in report.problems]

    def as_dict(self) -> dict:
        return {"bridges": {b: r.as_dict() for b, r in self.bridges.items()}, "shared": self.shared,
                "problems": self.problems}

    def lines(self) -> list[str]:
        out = [line for report in self.bridges.values() for line in (*report.lines(), "")]
        if self.shared:
            sh = self.shared
            out.append(f"shared codes      : {sh['sku_codes']} SKU codes and {sh['order_codes']} paid order codes"
                       f" are in every shop; {sh['skus_at_every_warehouse']} of those SKUs and"
                       f" {sh['orders_at_every_warehouse']} of those orders reached every warehouse, each as its own"
                       " bridge's row")
        failing = [b for b, r in self.bridges.items() if r.problems]
        every = ", ".join(self.bridges)
        out.append("cross-check       : " + (f"OK, every bridge ({every})" if not failing
                                             else f"MISMATCH in {', '.join(failing)}"))
        return out


def _counts(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "empty"


# -- reading ---------------------------------------------------------------------------------------


def count_by(conn, column, *where) -> dict[str, int]:
    stmt = sa.select(column, sa.func.count()).where(*where).group_by(column)
    return {str(k): int(n) for k, n in conn.execute(stmt).all()}


def push_stage(store, bridge_id: str, profile: str, account: str, manifest: dict, admin) -> DemoReport:
    """Items and orders right after wms_order_push (before anything shipped or was cancelled)."""
    from wmsbridge.store.schema import item_sync, order_sync

    o, i = order_sync.c, item_sync.c
    rejected = store.execute(sa.select(o.delivery_order_code, o.violations)
                             .where(o.bridge_id == bridge_id, o.state == "rejected")
                             .order_by(o.delivery_order_code)).all()
    reasons: dict[str, list[str]] = {}
    for code, violations in rejected:
        for key in sorted({reason_key(v) for v in json.loads(violations or "[]")} or {"(no reason recorded)"}):
            reasons.setdefault(key, []).append(code)
    counters, at_warehouse = admin.counters(), {w["order_code"] for w in admin.orders()}
    report = DemoReport(
        bridge_id=bridge_id, profile=profile, account=account,
        paid_orders=manifest["status_counts"].get("paid", 0), skus_in_shop=manifest["skus"],
        items=count_by(store, i.state, i.bridge_id == bridge_id),
        orders=count_by(store, o.state, o.bridge_id == bridge_id), reasons=reasons,
        warehouse_items=len(admin.items()), warehouse_orders=len(at_warehouse),
        creates_received=counters.get("deliveryorder.create", {}).get("received", 0),
    )
    sent = set(store.execute(sa.select(o.delivery_order_code).where(o.bridge_id == bridge_id, o.state == "sent"))
               .scalars())
    report.problems += check_push(report, manifest, counters, sent, at_warehouse)
    return report


def check_push(report: DemoReport, manifest: dict, counters: dict, sent: set[str], at_warehouse: set[str]) -> list[str]:
    problems = []
    accounted = report.sent + report.rejected + report.held + report.failed
    if accounted != report.paid_orders:
        problems.append(f"store accounts for {accounted} orders, the shop has {report.paid_orders} paid")
    if sent != at_warehouse:  # the very orders, not only as many: another bridge's would show here
        problems.append(f"store: {len(sent)} sent, warehouse holds {len(at_warehouse)}; differing e.g."
                        f" {sorted(sent ^ at_warehouse)[:EXAMPLES]}")
    created = counters.get("deliveryorder.create", {}).get("success", 0)
    if created != report.sent:
        problems.append(f"warehouse answered success to {created} creates for {report.sent} sent orders")
    if report.items.get("synced", 0) != report.warehouse_items:
        problems.append(f"store: {report.items.get('synced', 0)} items synced, warehouse holds {report.warehouse_items}")
    # Every order the generator spoiled must be refused (real addresses may add a few more, e.g. a
    # city without districts: the warehouse requires an area).
    missed = sorted(set(manifest["bad_orders"]) - {c for codes in report.reasons.values() for c in codes})
    if missed:
        problems.append(f"{len(missed)} bad orders not rejected, e.g. {', '.join(missed[:EXAMPLES])}")
    return problems


def shipment_stage(store, shop, report: DemoReport, shipped: list[str], deliveries: list[dict], admin) -> None:
    """After wms_shipments: the inbox, the shop's tracking numbers, against the warehouse's confirmations."""
    from qimen.parsing import parse_deliveryorder_confirm
    from wmsbridge.store.schema import shipment_inbox

    reads = SHOP_READS[report.profile]
    warehouse = {}
    for confirmation in admin.confirmations():
        parsed = parse_deliveryorder_confirm(confirmation["body"])
        numbers = parsed.tracking_numbers[:1] if reads.first_tracking_only else parsed.tracking_numbers
        warehouse[parsed.deliveryOrderCode] = ",".join(numbers)
    # only the orders shipped here: the generator's history holds shipped orders too
    in_shop = dict(shop.execute(_among(reads.tracking), {"codes": list(shipped) or [""]}).all())
    delivered = sum(1 for d in deliveries if d.get("delivered") and "<flag>success</flag>" in (d.get("answer") or ""))
    inbox = shipment_inbox.c
    report.shipments = {
        "shipped": len(shipped), "delivered": delivered,
        "inbox": count_by(store, inbox.state, inbox.bridge_id == report.bridge_id),
        "tracking_written": len(in_shop),
        "tracking_matching": sum(1 for code, numbers in in_shop.items() if warehouse.get(code) == numbers),
        "example": next(iter(sorted(in_shop.items())), None),
    }
    s = report.shipments
    if not (len(shipped) == delivered == len(warehouse) == s["inbox"].get("applied", 0) == len(in_shop)
            == s["tracking_matching"]):
        report.problems.append(
            f"shipments: warehouse shipped {len(shipped)} ({len(warehouse)} confirmations, {delivered} answered"
            f" success), inbox {s['inbox']}, shop {len(in_shop)} with tracking, {s['tracking_matching']} matching")


def cancel_stage(store, report: DemoReport, refunds: dict[str, list[str]], admin) -> None:
    """After wms_order_cancel: order states against the warehouse's order statuses and counters."""
    from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT
    from wmsbridge.store.schema import order_sync

    o = order_sync.c
    codes = [c for group in refunds.values() for c in group]
    states = dict(store.execute(sa.select(o.delivery_order_code, o.state).where(
        o.bridge_id == report.bridge_id, o.delivery_order_code.in_(codes))).all())
    # the analysts' view of cancellations waiting for a person (migration 0004; bridge_id since 0010)
    view = [dict(r._mapping) for r in store.execute(
        sa.text("SELECT * FROM wms_cancel_needs_person WHERE bridge_id = :b"), {"b": report.bridge_id})]
    person = sorted(r["delivery_order_code"] for r in view if r.get("last_error_code") == REFUND_AFTER_SHIPMENT)
    canceled_at_warehouse = sorted(w["order_code"] for w in admin.orders() if w["status"] == "CANCELED")
    counters = admin.counters().get("order.cancel", {})
    report.cancels = {
        "refunded": len(codes), "refunded_unshipped": len(refunds["unshipped"]),
        "refunded_shipped": len(refunds["shipped"]), "refunded_never_sent": len(refunds["never_sent"]),
        "cancelled": sum(1 for c in codes if states.get(c) == "cancelled"),
        "warehouse_cancelled": len(canceled_at_warehouse),
        "closed_locally": sum(1 for c in refunds["never_sent"] if states.get(c) == "cancelled"),
        "cancel_requests": counters.get("received", 0),
        "needs_person": len(person), "needs_person_codes": person, "view_rows": len(view),
    }
    if canceled_at_warehouse != sorted(refunds["unshipped"]) or counters.get("success", 0) != len(refunds["unshipped"]):
        report.problems.append(f"cancels: refunded unshipped {sorted(refunds['unshipped'])}, warehouse CANCELED"
                               f" {canceled_at_warehouse}, order.cancel success {counters.get('success', 0)}")
    if report.cancels["cancelled"] != len(refunds["unshipped"]) + len(refunds["never_sent"]):
        report.problems.append(f"cancels: {report.cancels['cancelled']} orders cancelled in the store")
    if person != sorted(refunds["shipped"]) or len(view) != len(person):
        report.problems.append(f"cancels: refund after shipment of {refunds['shipped']}, the view holds {view}")


def returns_stage(store, shop, report: DemoReport, codes: list[str], admin) -> None:
    """After wms_returns: the store's returns and the shop's return records against what the
    warehouse was told and received, and the refunds waiting for a person on the page."""
    from wmsbridge.store import attention
    from wmsbridge.store.schema import return_sync

    rs = return_sync.c
    states = dict(store.execute(sa.select(rs.return_code, rs.state).where(rs.bridge_id == report.bridge_id)).all())
    warehouse = {r["return_code"]: r for r in admin.returns()}
    lines = [line for code in codes for line in warehouse.get(code, {}).get("lines", [])]
    shop_marked = list(shop.execute(_among(SHOP_READS[report.profile].returns_marked),
                                    {"codes": codes or [""]}).scalars())
    to_refund = sorted(r["subject"] for r in attention.rows(store, "returns_to_refund", bridge_id=report.bridge_id))
    report.returns = {
        "announced": len(codes), "created": admin.counters().get("returnorder.create", {}).get("success", 0),
        "received": sum(1 for c in codes if states.get(c) == "received"),
        "good": sum(line.get("good_qty", 0) for line in lines),
        "defective": sum(line.get("defective_qty", 0) for line in lines),
        "shop_marked": len(shop_marked), "to_refund": len(to_refund), "to_refund_codes": to_refund,
    }
    r = report.returns
    if not (len(codes) == r["created"] == len(warehouse) == r["received"] == r["shop_marked"]) or to_refund != sorted(codes):
        report.problems.append(f"returns: approved {codes}, warehouse holds {sorted(warehouse)} ({r['created']}"
                               f" creates), store {states}, shop marked {shop_marked}, to refund {to_refund}")


def inventory_stage(store, shop, report: DemoReport, admin) -> None:
    """After wms_inventory_sync: the day's run, snapshot and write-backs; the shop's stock as written."""
    from wmsbridge.store.schema import inventory_run, inventory_snapshot, stock_writeback

    bridge_id, w = report.bridge_id, stock_writeback.c
    run = store.execute(sa.select(inventory_run).where(inventory_run.c.bridge_id == bridge_id)
                        .order_by(inventory_run.c.id.desc()).limit(1)).mappings().first()
    rows = store.execute(sa.select(w.sku_id, w.outcome, w.written_value, w.shop_stock_before)
                         .where(w.bridge_id == bridge_id)).all()
    written = [(sku, value) for sku, outcome, value, _ in rows if outcome == "applied"]
    stock = {str(k): v for k, v in shop.execute(sa.text(SHOP_READS[report.profile].stock)).all()}
    calls = admin.counters().get("inventory.query", {})
    report.inventory = {
        "verdict": run and run["verdict"], "skus_queried": run and run["skus_queried"],
        "skus_answered": run and run["skus_answered"], "calls": run and run["calls"],
        "snapshot_rows": store.execute(sa.select(sa.func.count()).select_from(inventory_snapshot)
                                       .where(inventory_snapshot.c.bridge_id == bridge_id)).scalar_one(),
        "applied": len(written), "unchanged": len(rows) - len(written),
        "total_before": sum(before or 0 for _, _, _, before in rows),
        "total_after": sum((value if outcome == "applied" else before) or 0 for _, outcome, value, before in rows),
        "guard_rails": "passed (nothing refused)" if run and run["verdict"] == "completed"
        else f"REFUSED: {run and run['message']}",
        "warehouse_calls": calls.get("received", 0),
    }
    inv = report.inventory
    if not run or run["verdict"] != "completed":
        report.problems.append(f"inventory: the day's run ended {inv['verdict']}")
    if inv["calls"] != inv["warehouse_calls"]:
        report.problems.append(f"inventory: {inv['calls']} calls recorded, the warehouse received {inv['warehouse_calls']}")
    wrong = [sku for sku, value in written if stock.get(str(sku)) != value]
    if wrong:
        report.problems.append(f"inventory: {len(wrong)} SKUs not holding the written stock, e.g. {wrong[:EXAMPLES]}")
    if inv["skus_answered"] != report.warehouse_items:
        report.problems.append(f"inventory: {inv['skus_answered']} SKUs answered of {report.warehouse_items} items")


def exchange_stage(store, report: DemoReport, admin) -> None:
    """Every message exchanged with the warehouse is in wms_exchange_log: each outbound method as
    often as the warehouse received it, each confirmation posted to the receiver as an inbound row."""
    from wmsbridge.store.schema import exchange_log

    c = exchange_log.c
    report.exchange_log = {direction: count_by(store, c.method, c.bridge_id == report.bridge_id,
                                               c.direction == direction) for direction in ("outbound", "inbound")}
    counters = admin.counters()
    for method in OUTBOUND:
        logged = report.exchange_log["outbound"].get(method, 0)
        received = counters.get(method, {}).get("received", 0)
        if not logged or logged != received:
            report.problems.append(f"exchange log: {logged} {method} rows, the warehouse received {received}")
    requests: dict[str, int] = {}
    for request in admin.requests():  # the warehouse's own request log, one row per request
        requests[request["method"]] = requests.get(request["method"], 0) + 1
    for method in OUTBOUND:
        if requests.get(method, 0) != report.exchange_log["outbound"].get(method, 0):
            report.problems.append(f"exchange log: the warehouse logged {requests.get(method, 0)} {method} requests")
    twice = {code: n for code, n in admin.repeats().items() if n}
    if twice:  # a repeat is harmless (answered idempotently) but the demo has no reason to make one
        report.problems.append(f"{len(twice)} orders were sent more than once, e.g. {sorted(twice)[:EXAMPLES]}")
    for method in INBOUND:
        posted = sum(c_["deliveries"] for c_ in admin.confirmations(method=method))
        logged = report.exchange_log["inbound"].get(method, 0)
        if not logged or logged != posted:
            report.problems.append(f"exchange log: {logged} inbound {method} rows, the warehouse posted {posted}")


def shared_codes(store, admins: dict) -> dict[str, int]:
    """Order and SKU codes every bridge's shop uses, and how many of them every warehouse holds:
    equal codes are no conflict, since each bridge keeps its own rows and talks to its own account."""
    from wmsbridge.store.schema import item_sync, order_sync

    def common(column, bridge_column) -> set[str]:
        sets = [set(store.execute(sa.select(column).where(bridge_column == b)).scalars()) for b in admins]
        return set.intersection(*sets) if sets else set()

    orders = common(order_sync.c.delivery_order_code, order_sync.c.bridge_id)
    skus = common(item_sync.c.item_code, item_sync.c.bridge_id)
    at_every = [({o["order_code"] for o in a.orders()}, {i["item_code"] for i in a.items()}) for a in admins.values()]
    return {"order_codes": len(orders), "sku_codes": len(skus),
            "orders_at_every_warehouse": len(orders.intersection(*(o for o, _ in at_every))),
            "skus_at_every_warehouse": len(skus.intersection(*(i for _, i in at_every)))}
