"""The end state after chaos, checked against the warehouse's own records: what was lost, what twice,
and, with several bridges, what crossed from one bridge to another.

Read only, one bridge at a time. The warehouse side is that bridge's simulator's admin API (its
items, orders, confirmations and its request log, which holds every answer it gave); our side is
the bridge's rows in the integration store (by ``bridge_id``) and its shop.
``lost`` is something that happened on one side and is neither on the other nor in a state a person
sees (a waiting state in the store); ``duplicated`` is something the warehouse or the shop holds
twice; ``crossed`` is something of another bridge in this bridge's shop, warehouse or store rows
(the bridges share order and SKU codes, so crossing is told by the marks each bridge leaves: its
customerId, its orders' sellerMessage, its tracking-number prefix, its warehouse's bodies and stock
figures). Each count comes with a few examples, so a finding can be followed up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from qimen.inventory import SELLABLE_TYPE
from qimen.parsing import parse_deliveryorder_confirm, parse_request, parse_response
from wmsbridge.receiver.reports import process_state
from wmsbridge.store.schema import (NO_BRIDGE, exchange_log, inventory_run, inventory_snapshot, item_sync, metadata,
                                    order_sync, return_sync, shipment_inbox, stock_adjustment, stock_writeback,
                                    unkeyed_record, warehouse_report)

FLOWS = ("items", "orders", "cancels", "shipments", "returns", "stock_changes", "reports", "inventory")
EXAMPLES = 3
# Store states in which an order that never reached the warehouse is visible to a person.
VISIBLE_UNSENT = {"rejected", "exists_different", "cancelled"}
AT_WAREHOUSE = {"sent", "shipped", "partially_shipped", "cancel_requested", "cancelled", "cancel_failed"}


@dataclass
class FlowCount:
    lost: int = 0
    duplicated: int = 0
    checked: int = 0
    examples: list[str] = field(default_factory=list)

    def lose(self, what: str) -> None:
        self.lost += 1
        self._example(f"lost {what}")

    def twice(self, what: str, n: int = 1) -> None:
        self.duplicated += n
        self._example(f"duplicated {what}")

    def _example(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)


@dataclass
class Crossing:
    """Marks of another bridge found among one bridge's records (``checked``: records looked at)."""

    checked: int = 0
    crossed: int = 0
    examples: list[str] = field(default_factory=list)

    def cross(self, what: str) -> None:
        self.crossed += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"crossed {what}")


@dataclass
class Audit:
    """One bridge's findings."""

    flows: dict[str, FlowCount] = field(default_factory=lambda: {f: FlowCount() for f in FLOWS})
    crossing: Crossing = field(default_factory=Crossing)

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.flows.values())

    @property
    def duplicated(self) -> int:
        return sum(c.duplicated for c in self.flows.values())

    @property
    def crossed(self) -> int:
        return self.crossing.crossed

    def lines(self) -> list[str]:
        out = []
        for name, c in self.flows.items():
            out.append(f"{name:<13} checked {c.checked:5d}  lost={c.lost} duplicated={c.duplicated}")
            out += [f"    {e}" for e in c.examples]
        out.append(f"{'crossing':<13} checked {self.crossing.checked:5d}  crossed={self.crossed}")
        return out + [f"    {e}" for e in self.crossing.examples]

    def summary(self) -> str:
        return f"lost={self.lost} duplicated={self.duplicated}"


@dataclass
class Result:
    """Every bridge's findings, and their totals."""

    bridges: dict[str, Audit] = field(default_factory=dict)
    stray: Crossing = field(default_factory=Crossing)  # store rows of no configured bridge

    @property
    def lost(self) -> int:
        return sum(a.lost for a in self.bridges.values())

    @property
    def duplicated(self) -> int:
        return sum(a.duplicated for a in self.bridges.values())

    @property
    def crossed(self) -> int:
        return sum(a.crossed for a in self.bridges.values()) + self.stray.crossed

    def lines(self) -> list[str]:
        out = []
        for bridge_id, found in self.bridges.items():
            out += [f"  bridge {bridge_id}:", *(f"    {line}" for line in found.lines())]
        out.append(f"  store rows of no bridge: {self.stray.crossed} of {self.stray.checked}")
        return out + [f"    {e}" for e in self.stray.examples]

    def summaries(self) -> list[str]:
        """One line per bridge; the total is the caller's last line."""
        return [f"{bridge_id}: {a.summary()} crossed={a.crossed}" for bridge_id, a in self.bridges.items()]


def answered(request: dict, method: str, message: str) -> bool:
    """The warehouse processed this request and said ``message`` (also when the connection was
    dropped after processing: the caller never saw the answer, the warehouse acted on it)."""
    if request["outcome"] not in ("success", "dropped") or not request["answer"]:
        return False
    answer = parse_response(request["answer"].encode("utf-8"), method=method)
    return answer.success and answer.message == message


def per_code(requests: list[dict], method: str, message: str, path: tuple[str, ...]) -> Counter:
    """How many times the warehouse said ``message`` to ``method`` per order code (``path`` into the
    parsed request document)."""
    found = Counter()
    for request in requests:
        if request["method"] == method and answered(request, method, message):
            doc = parse_request(method, request["body"].encode("utf-8"))
            for key in path:
                doc = doc[key]
            found[doc] += 1
    return found


def check(bridge_id: str, shop, store, admin, *, paid: list[str], refunds: dict[str, list[str]], hostile=(),
          returned: list[str] = ()) -> Audit:
    """One bridge: ``shop`` its shop, ``store`` the store holding every bridge (its rows are read by
    ``bridge_id``), ``admin`` its warehouse. ``paid``: the shop's paid order codes before anything
    ran; ``refunds``: codes the shop refunded during the run, by kind (``unshipped``, ``shipped``,
    ``never_sent``); ``hostile``: the hostile rows among them (``chaos.hostile``), each delivered or
    visibly refused; ``returned``: the return codes the shop approved."""
    audit = Audit()
    requests = admin.requests()
    with store.connect() as conn:
        def rows(table, *where):
            return list(conn.execute(sa.select(table).where(table.c.bridge_id == bridge_id, *where)))

        items = {r.item_code: r for r in rows(item_sync)}
        orders = {r.delivery_order_code: r for r in rows(order_sync)}
        inbox = rows(shipment_inbox)
        unkeyed = {r.shop_id: r for r in rows(unkeyed_record, unkeyed_record.c.flow == "orders")}
        last_run = conn.execute(sa.select(inventory_run).where(
            inventory_run.c.bridge_id == bridge_id, inventory_run.c.verdict == "completed")
            .order_by(inventory_run.c.id.desc()).limit(1)).first()
        writebacks = rows(stock_writeback, stock_writeback.c.run_id == (last_run.run_id if last_run else None))
        returns = {r.return_code: r for r in rows(return_sync)}
        ledger = rows(stock_adjustment)
        reports = rows(warehouse_report)
    warehouse = {o["order_code"]: o for o in admin.orders()}
    _items(audit.flows["items"], items, admin.items())
    keyless = {h.code for h in hostile if h.shop_id in unkeyed}
    _orders(audit.flows["orders"], [c for c in paid if c not in keyless], orders, warehouse, requests)
    _hostile(audit.flows["orders"], hostile, orders, unkeyed, warehouse)
    _cancels(audit.flows["cancels"], refunds, orders, warehouse, requests)
    _shipments(audit.flows["shipments"], shop, admin.confirmations(), inbox, orders, refunds)
    _returns(audit.flows["returns"], returned, returns, admin.returns(), ledger, reports)
    _stock_changes(audit.flows["stock_changes"], admin.confirmations(method="stockchange.report"), reports, ledger)
    _reports(audit.flows["reports"], admin.confirmations(method="itemlack.report")
             + admin.confirmations(method="orderprocess.report"), reports)
    _inventory(audit.flows["inventory"], shop, items, last_run, writebacks)
    return audit


def _returns(count: FlowCount, returned, returns: dict, at_warehouse: list[dict], ledger: list, reports: list) -> None:
    """Every approved return is at the warehouse once (or refused where a person sees it); every
    received one is received in the store, and its good units reached the shop's stock exactly once
    (or a person was asked to check)."""
    warehouse = {r["return_code"]: r for r in at_warehouse}
    count.checked = len(returned)
    for code in set(warehouse) - set(returned):
        count.twice(f"return {code}: at the warehouse, never approved in the shop")
    keys = {}  # confirmation keys per return code
    for report in reports:
        if report.method == "returnorder.confirm":
            keys.setdefault(report.order_code, set()).add(report.report_key)
    for code in returned:
        row, held = returns.get(code), warehouse.get(code)
        if held is None:
            if row is None or not (row.state == "rejected" or (row.state == "failed" and not row.last_error_retryable)):
                count.lose(f"return {code}: approved, not at the warehouse, store {row.state if row else None}")
            continue
        if held["status"] != "received":
            continue
        if row is None or row.state != "received":
            count.lose(f"return {code}: received by the warehouse, store {row.state if row else None}")
            continue
        good = Counter()
        for line in held["lines"]:
            good[line["item_code"]] += line["good_qty"]
        written, unsure = Counter(), False
        for a in ledger:
            if a.source == "return_received" and a.source_key in keys.get(code, ()):
                unsure |= a.state in ("needs_person", "applying")  # applying: one lease from a person
                written[a.item_code] += a.delta if a.state in ("applied", "skipped") else 0
        if unsure:
            continue  # a person checks it (wms_v_needs_person)
        for item in set(good) | set(written):
            if written[item] > good[item]:
                count.twice(f"return {code}: {item} +{written[item]} in the shop, {good[item]} good units received")
            elif written[item] < good[item]:
                count.lose(f"return {code}: {item} +{written[item]} in the shop, {good[item]} good units received")


def _stock_changes(count: FlowCount, posted: list[dict], reports: list, ledger: list) -> None:
    """Every stock change the warehouse posted is stored once and applied (or refused visibly),
    each written to the shop once."""
    state = _stored_once(count, posted, reports, {"stockchange.report"})
    rows = Counter((a.source_key, a.item_code) for a in ledger if a.source == "stock_change")
    for key_item, n in rows.items():
        if n > 1:
            count.twice(f"stock change {key_item}: written {n} times", n - 1)
    for message in _delivered(posted):
        key = message["out_biz_code"]
        if key not in state:
            count.lose(f"stock change {key}: posted {message['deliveries']}x, never stored")
        elif state[key] == "received":
            count.lose(f"stock change {key}: stored, never applied")


def _reports(count: FlowCount, posted: list[dict], reports: list) -> None:
    """Every shortage and progress report the warehouse posted is stored once, in the state the
    receiver's rules give it: a shortage, a rejection or a failed intercept waits for a person
    (``needs_person``, the one category a person sees), other progress is kept as applied."""
    state = _stored_once(count, posted, reports, {"itemlack.report", "orderprocess.report"})
    for message in _delivered(posted):
        key = message["out_biz_code"]
        expected = "needs_person" if message["method"] == "itemlack.report" else process_state(message["status"])
        if key not in state:
            count.lose(f"{message['method']} {key} ({message['order_code']}): posted, never stored")
        elif state[key] != expected:
            count.lose(f"{message['method']} {key} ({message['order_code']} {message['status']}): "
                       f"stored {state[key]}, not {expected}")


def _stored_once(count: FlowCount, posted: list[dict], reports: list, methods: set[str]) -> dict[str, str]:
    """The store's state of each report of ``methods`` by key; a key stored twice counts as twice."""
    stored = Counter(r.report_key for r in reports if r.method in methods)
    count.checked = len(posted)
    for key, n in stored.items():
        if n > 1:
            count.twice(f"report {key}: stored {n} times", n - 1)
    return {r.report_key: r.state for r in reports if r.method in methods}


def _delivered(posted: list[dict]) -> list[dict]:
    """The warehouse's messages it posted at least once."""
    return [message for message in posted if message["deliveries"]]


def _items(count: FlowCount, items: dict, at_warehouse: list[dict]) -> None:
    held = Counter(i["item_code"] for i in at_warehouse)
    ids = {i["item_code"]: i["item_id"] for i in at_warehouse}
    count.checked = len(items)
    for code, n in held.items():
        if n > 1:
            count.twice(f"item {code}: {n} warehouse items", n - 1)
    for code, row in items.items():
        if row.state == "synced" and code not in ids:
            count.lose(f"item {code}: synced in the store, unknown to the warehouse")
        elif row.state == "synced" and row.wms_item_id and row.wms_item_id != ids[code]:
            count.twice(f"item {code}: store itemId {row.wms_item_id}, warehouse {ids[code]}")
        elif row.state == "pending":  # failed and rejected items are listed for a person, with the reason
            count.lose(f"item {code}: still pending after convergence")
    for code in set(ids) - set(items):
        count.lose(f"item {code}: at the warehouse, no record in the store")


def _orders(count: FlowCount, paid: list[str], orders: dict, warehouse: dict, requests: list[dict]) -> None:
    created = per_code(requests, "deliveryorder.create", "order accepted", ("deliveryOrder", "deliveryOrderCode"))
    count.checked = len(paid)
    for code, n in created.items():
        if n > 1:
            count.twice(f"order {code}: created {n} times at the warehouse", n - 1)
    for code in set(warehouse) - set(paid):
        count.twice(f"order {code}: at the warehouse, never paid in the shop")
    for code in paid:
        row = orders.get(code)
        state = row.state if row is not None else None
        if code in warehouse:
            if state not in AT_WAREHOUSE:
                count.lose(f"order {code}: at the warehouse, the store says {state}")
        elif state not in VISIBLE_UNSENT and not (state == "failed" and not row.last_error_retryable):
            count.lose(f"order {code}: paid, not at the warehouse, store state {state}")


def _hostile(count: FlowCount, hostile, orders: dict, unkeyed: dict, warehouse: dict) -> None:
    """A hostile row is delivered (the good one) or refused where a person sees it: rejected in
    wms_order_sync, or open in wms_unkeyed_record by its shop order id; never at the warehouse."""
    for h in hostile:
        row, kept = orders.get(h.code), unkeyed.get(h.shop_id)
        if h.good:
            continue  # an ordinary paid order for _orders
        count.checked += 1
        if h.code in warehouse:
            count.lose(f"hostile order ({h.label}, id {h.shop_id}): reached the warehouse")
        elif kept is not None:
            if kept.resolved_at is not None:
                count.lose(f"hostile order ({h.label}, id {h.shop_id}): its unkeyed record was resolved")
        elif row is None or row.shop_order_id != h.shop_id or row.state not in VISIBLE_UNSENT:
            count.lose(f"hostile order ({h.label}, id {h.shop_id}): in no table a person reads "
                       f"(store state {row.state if row is not None else None})")


def _cancels(count: FlowCount, refunds: dict, orders: dict, warehouse: dict, requests: list[dict]) -> None:
    cancelled = per_code(requests, "order.cancel", "order canceled", ("orderCode",))
    count.checked = sum(map(len, refunds.values()))
    for code, n in cancelled.items():
        if n > 1:
            count.twice(f"cancel {code}: cancelled {n} times at the warehouse", n - 1)
    for code in (c for group in refunds.values() for c in group):
        state = orders[code].state if code in orders else None
        status = warehouse.get(code, {}).get("status")
        if status == "CANCELED":
            ok = state == "cancelled"
        elif status is None:  # never reached the warehouse: closed without a request
            ok = state in ("cancelled", "rejected")
        elif status == "ACCEPT":  # still to be picked: the cancel must have gone out
            ok = False
        else:  # shipped before the refund: waits for a person, visibly
            ok = state == "cancel_failed"
        if not ok:
            count.lose(f"cancel {code}: warehouse {status}, store {state}")


def _shipments(count: FlowCount, shop, confirmations: list[dict], inbox: list, orders: dict, refunds: dict) -> None:
    stored = Counter(r.out_biz_code for r in inbox)
    by_code = {r.out_biz_code: r for r in inbox}
    count.checked = len(confirmations)
    for code, n in stored.items():
        if n > 1:
            count.twice(f"confirmation {code}: stored {n} times", n - 1)
    with shop.connect() as conn:
        tracking = dict(conn.execute(sa.text("SELECT order_no, tracking_no FROM shop_order WHERE tracking_no IS NOT NULL")).all())
    refunded_after = set(refunds.get("shipped", ()))
    for confirmation in confirmations:
        if not confirmation["deliveries"]:
            continue  # held back by the warehouse: nothing to receive yet
        parsed = parse_deliveryorder_confirm(confirmation["body"])
        code, row = parsed.deliveryOrderCode, by_code.get(confirmation["out_biz_code"])
        if row is None:
            count.lose(f"confirmation {confirmation['out_biz_code']} ({code}): posted {confirmation['deliveries']}x, "
                       f"never stored (last answer HTTP {confirmation['last_http_status']})")
            continue
        if row.state == "needs_person":
            continue  # visible
        numbers = (tracking.get(code) or "").split(",")
        if Counter(numbers).most_common(1)[0][1] > 1:
            count.twice(f"shipment {code}: tracking {tracking[code]}")
        state = orders[code].state if code in orders else None
        if not set(parsed.tracking_numbers) <= set(numbers):
            count.lose(f"shipment {code}: stored ({row.state}), shop tracking {tracking.get(code)!r}")
        elif state not in ("shipped", "cancel_failed") or (state == "cancel_failed" and code not in refunded_after):
            count.lose(f"shipment {code}: in the shop, store state {state}")


def _inventory(count: FlowCount, shop, items: dict, last_run, writebacks: list) -> None:
    if last_run is None:
        count.lose("inventory: no completed run")
        return
    synced = {c for c, r in items.items() if r.state == "synced"}
    with shop.connect() as conn:
        stock = {str(k): v for k, v in conn.execute(sa.text("SELECT sku_id, quantity FROM shop_stock")).all()}
    per_item = Counter(w.item_code for w in writebacks)
    count.checked = len(synced)
    for code, n in per_item.items():
        if n > 1:
            count.twice(f"stock of {code}: {n} write-backs in run {last_run.run_id}", n - 1)
    for code in synced - set(per_item):
        count.lose(f"stock of {code}: synced item without a write-back decision in run {last_run.run_id}")
    for w in writebacks:
        if w.outcome == "applied" and stock.get(str(w.sku_id)) != w.written_value:
            count.lose(f"stock of {w.item_code}: wrote {w.written_value}, the shop holds {stock.get(str(w.sku_id))}")


# -- across bridges ---------------------------------------------------------------------------------


def check_crossing(mark, shop, store, admin) -> Crossing:
    """Marks of another bridge among one bridge's records. ``mark`` names the bridge and its marks:
    ``id``, ``customer_id``, ``marker`` (its orders' sellerMessage), ``tracking_prefix`` (of every
    tracking number its warehouse hands out), ``paid`` and ``refunds`` (as for ``check``)."""
    crossing = Crossing()
    _requests_crossing(crossing, mark, admin.requests())
    with store.connect() as conn:
        def rows(table, *where):
            return list(conn.execute(sa.select(table).where(table.c.bridge_id == mark.id, *where)))

        orders, returns, inbox, reports = rows(order_sync), rows(return_sync), rows(shipment_inbox), rows(warehouse_report)
        last_run = conn.execute(sa.select(inventory_run.c.run_id).where(
            inventory_run.c.bridge_id == mark.id, inventory_run.c.verdict == "completed")
            .order_by(inventory_run.c.id.desc()).limit(1)).scalar()
        snapshot = rows(inventory_snapshot, inventory_snapshot.c.run_id == last_run)
        writebacks = rows(stock_writeback, stock_writeback.c.run_id == last_run)
        sent = rows(exchange_log, exchange_log.c.method == "deliveryorder.create")
    _tracking_crossing(crossing, mark, shop, orders, inbox)
    _bodies_crossing(crossing, mark, inbox, reports, admin.confirmations(method="all"))
    _ids_crossing(crossing, mark, orders, returns, admin)
    _stock_crossing(crossing, mark, snapshot, writebacks, admin.stock())
    _sent_crossing(crossing, mark, sent)
    return crossing


def _requests_crossing(crossing: Crossing, mark, requests: list[dict]) -> None:
    """Every request at this bridge's warehouse came under its customerId, every order it was sent
    carries its shop's mark, every cancel is of an order its shop refunded (each bridge refunds
    other orders)."""
    refunded = {c for group in mark.refunds.values() for c in group}
    for request in requests:
        crossing.checked += 1
        customer = request["query"].get("customerId")
        if customer != mark.customer_id:
            crossing.cross(f"request {request['id']} ({request['method']}) at {mark.id}'s warehouse under "
                           f"customerId {customer!r}")
        if request["method"] == "deliveryorder.create" and request["body"]:
            code, message = _order_mark(request["body"])
            if code is not None and message != mark.marker:
                crossing.cross(f"order {code} at {mark.id}'s warehouse, sellerMessage {message!r}")
        if request["method"] == "order.cancel" and request["body"]:
            code = _cancelled_code(request["body"])
            if code is not None and code not in refunded:
                crossing.cross(f"cancel of {code} at {mark.id}'s warehouse, never refunded in its shop")


def _order_mark(body: str) -> tuple[str | None, str | None]:
    """The code and sellerMessage of a deliveryorder.create body; (None, None) when it does not parse."""
    try:
        order = parse_request("deliveryorder.create", body.encode("utf-8"))["deliveryOrder"]
    except Exception:  # noqa: BLE001 - a body the warehouse could not read either: nothing to compare
        return None, None
    return order.get("deliveryOrderCode"), order.get("sellerMessage")


def _cancelled_code(body: str) -> str | None:
    try:
        return parse_request("order.cancel", body.encode("utf-8"))["orderCode"]
    except Exception:  # noqa: BLE001 - a body the warehouse could not read either
        return None


def _tracking_crossing(crossing: Crossing, mark, shop, orders: list, inbox: list) -> None:
    """Every tracking number in this bridge's shop (on the orders chaos paid: the generator ships
    others itself), order records and stored confirmations is one its own warehouse handed out."""
    paid = set(mark.paid)
    with shop.connect() as conn:
        in_shop = conn.execute(sa.text("SELECT order_no, tracking_no FROM shop_order WHERE tracking_no IS NOT NULL"))
        found = [("shop order", code, numbers) for code, numbers in in_shop if code in paid]
    found += [("order record", r.delivery_order_code, r.tracking_numbers) for r in orders if r.tracking_numbers]
    found += [("stored confirmation", r.out_biz_code, ",".join(parse_deliveryorder_confirm(r.raw_body).tracking_numbers))
              for r in inbox]
    for where, code, numbers in found:
        crossing.checked += 1
        foreign = [n for n in str(numbers).split(",") if n.strip() and not n.strip().startswith(mark.tracking_prefix)]
        if foreign:
            crossing.cross(f"tracking {','.join(foreign)} in {mark.id}'s {where} {code}")


def _bodies_crossing(crossing: Crossing, mark, inbox: list, reports: list, posted: list[dict]) -> None:
    """Every confirmation and report stored for this bridge is what its own warehouse posted under that
    key (both warehouses number their messages alike: only the body tells them apart)."""
    bodies = {m["out_biz_code"]: m["body"] for m in posted}
    for key, body in [(r.out_biz_code, r.raw_body) for r in inbox] + [(r.report_key, r.raw_body) for r in reports]:
        crossing.checked += 1
        if (body or "").strip() != (bodies.get(key) or "").strip():
            crossing.cross(f"message {key} stored for {mark.id}: not what its warehouse posted under that key")


def _ids_crossing(crossing: Crossing, mark, orders: list, returns: list, admin) -> None:
    """The warehouse ids this bridge's records hold are its own warehouse's."""
    ids = {o["order_code"]: o["order_id"] for o in admin.orders()}
    ids.update({r["return_code"]: r["return_id"] for r in admin.returns()})
    for code, held in [(r.delivery_order_code, r.wms_order_id) for r in orders] + [
            (r.return_code, r.wms_return_id) for r in returns]:
        if held:
            crossing.checked += 1
            if ids.get(code) != held:
                crossing.cross(f"{code} in {mark.id}'s store under warehouse id {held}, its warehouse says {ids.get(code)}")


def _stock_crossing(crossing: Crossing, mark, snapshot: list, writebacks: list, stock: list[dict]) -> None:
    """The last completed stock run's snapshot is this bridge's warehouse's stock (nothing moved it
    since: it is the last run of the last round; a negative figure is read as 0, as
    qimen.inventory clamps it), and each write-back decided from that snapshot."""
    held = {(s["item_code"], s["inventory_type"], s["batch_code"] or ""): max(s["quantity"], 0) for s in stock}
    sellable = Counter()
    for row in snapshot:
        crossing.checked += 1
        figure = held.get((row.item_code, row.inventory_type, row.batch_code or ""), 0)
        if row.quantity != figure:
            crossing.cross(f"stock of {row.item_code} ({row.inventory_type}): {mark.id}'s snapshot {row.quantity},"
                           f" its warehouse {figure}")
        sellable[row.item_code] += row.quantity if row.inventory_type == SELLABLE_TYPE else 0
    for w in writebacks:
        crossing.checked += 1
        if w.wms_quantity is not None and w.wms_quantity != sellable[w.item_code]:
            crossing.cross(f"stock of {w.item_code}: {mark.id} decided on {w.wms_quantity}, its snapshot says "
                           f"{sellable[w.item_code]}")


def _sent_crossing(crossing: Crossing, mark, sent: list) -> None:
    """Every order this bridge logged as sent carries its shop's mark and its customerId."""
    for row in sent:
        if not row.request_body:
            continue
        crossing.checked += 1
        code, message = _order_mark(row.request_body)
        if code is not None and message != mark.marker:
            crossing.cross(f"order {code} in {mark.id}'s exchange log, sellerMessage {message!r}")
        if row.request_url and f"customerId={mark.customer_id}" not in row.request_url:
            crossing.cross(f"order {code} in {mark.id}'s exchange log sent to {row.request_url}")


def stray_rows(store, bridge_ids: list[str]) -> Crossing:
    """Store rows of no configured bridge (a callback no token opened is logged under ``*``, nothing
    else may be)."""
    crossing = Crossing()
    with store.connect() as conn:
        for table in metadata.sorted_tables:
            if "bridge_id" not in table.c:
                continue
            allowed = [*bridge_ids, NO_BRIDGE] if table is exchange_log else bridge_ids
            crossing.checked += conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for bridge_id, n in conn.execute(sa.select(table.c.bridge_id, sa.func.count())
                                             .where(table.c.bridge_id.not_in(allowed)).group_by(table.c.bridge_id)):
                crossing.crossed += n
                crossing.examples.append(f"{n} rows in {table.name} of bridge {bridge_id!r}")
    return crossing
