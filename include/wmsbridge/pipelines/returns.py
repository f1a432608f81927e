"""Returns: what the shop approved -> ``returnorder.create``; what the warehouse received
(``returnorder.confirm``, stored by the receiver) -> the shop's after-sale record, its stock and a
person who pays the refund.

One run, in this order:

1. stock changes a stopped run left unfinished go to a person (store/adjustments.py);
2. every return the shop approves now (profile ``approved_returns``; few: they leave once refunded)
   is registered once in wms_return. One whose order never reached the warehouse, or with nothing to
   take back, is ``rejected`` for a person; the others are announced with ``returnorder.create``
   (claimed first, so two runs never send one twice; the warehouse is idempotent on the code, so a
   crash between send and record costs a repeat, never a second return);
3. every stored ``returnorder.confirm``: the return's received quantities (all its confirmations
   summed), a note in the shop's after-sale record (``return_received``), the good units back in the
   shop's stock (``adjust_stock``), and the return waits for a person to pay the refund. A confirmation
   for a return we never announced waits for a person as it is;
4. received returns the shop has refunded leave the person's list; units the shop put back in stock
   itself on refund (litemall does) are taken out again: the warehouse counted the parcel in step 3.

Stock stays the warehouse's truth: the daily inventory sync overwrites what these changes did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import pandas as pd

from qimen.answers import Verdict
from qimen.errors import QimenError, QimenValidationError
from qimen.inbound import ReturnOrderConfirm, parse_returnorder_confirm
from wmsbridge.errors import ConfigError
from wmsbridge.shop.writer import ShopWriter
from wmsbridge.transforms.returns import (
    CONFIRM,
    METHOD,
    build_return_document,
    good_units,
    received_note,
    received_quantities,
    shop_note,
)

from .exchange import send
from .stock_moves import adjust_shop_stock, sku_ids
from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)

RETURN_SOURCES = ("return_received", "return_add_back")  # wms_stock_adjustment.source of this flow
# Order states in which the warehouse has (had) the order a return takes back.
RETURNABLE = frozenset({"sent", "shipped", "partially_shipped", "cancel_requested", "cancel_failed"})
WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'returns'; "
                 "every return: wms_return; stock changes: wms_stock_adjustment")


def returns_switched_on(bridge: Bridge) -> str | None:
    """None when the returns flow may run, else why not (a run then does nothing, and says so)."""
    if not bridge.config.method_enabled(METHOD):
        return (f"{METHOD} is not switched on (wms_bridge_config.enabled_methods): agree on returns with the "
                "warehouse first (docs/connection.md)")
    if not bridge.profile.handles_returns:
        raise ConfigError(f"{bridge.profile.source}: returns are switched on, but the profile has no returns "
                          "queries (approved_returns, return_lines, refunded_returns, adjust_stock; docs/profiles.md)")
    return None


def sync_returns(bridge: Bridge) -> RunReport:
    """One run of the returns flow (see the module docstring)."""
    started = time.monotonic()
    report = RunReport(flow="returns", where_to_look=WHERE_TO_LOOK)
    off = returns_switched_on(bridge)
    if off:
        report.notes.append(off)
        return report
    run = _Run(bridge, report)
    unsure = bridge.store.adjustments.abandoned(RETURN_SOURCES, older_than=bridge.lease, run_id=bridge.run_id)
    if unsure:
        report.add("needs_person", "stock changes", f"{unsure} left unfinished by a run that stopped", n=unsure)
    run.register_approved()
    run.announce_due()
    run.apply_confirmations()
    run.settle_refunds()
    report.set_verdict(*bridge.store.needs_person_by_run("returns", bridge.run_id))
    report.seconds = round(time.monotonic() - started, 3)
    return report


class _Run:
    def __init__(self, bridge: Bridge, report: RunReport) -> None:
        self.bridge, self.report, self.returns = bridge, report, bridge.store.returns
        self.writer = ShopWriter(bridge.profile)

    # -- 2. what the shop approved --------------------------------------------------------------
    def register_approved(self) -> None:
        bridge, report = self.bridge, self.report
        for chunk in bridge.reader.iter_approved_returns(bridge.shop, chunk_size=bridge.config.chunk_size):
            report.extracted += len(chunk)
            unkeyed = chunk["return_code"].isna() | chunk["order_code"].isna()
            for r in chunk[unkeyed].itertuples(index=False):
                report.add("rejected", f"shop return id {r.return_id}", "no return code or no order code in the shop")
            chunk = chunk[~unkeyed]
            known = self.returns.rows(chunk["return_code"])
            new = chunk[~chunk["return_code"].isin(list(known))]
            report.add("unchanged", n=len(chunk) - len(new))
            if new.empty:
                continue
            lines = bridge.reader.return_lines(bridge.shop, new["return_id"])
            self._register(new, lines)

    def _register(self, new: pd.DataFrame, lines: pd.DataFrame) -> None:
        orders = self.bridge.store.orders.rows(new["order_code"])
        rows, refused = [], {}
        for r in new.itertuples(index=False):
            mine = lines[lines["return_id"] == r.return_id]
            errors = [e for errs in (r.read_errors, *mine["read_errors"]) if errs for e in errs]
            state = (orders.get(r.order_code) or {}).get("state")
            taken = [{"sku_id": line.sku_id, "item_code": line.item_code, "quantity": int(line.quantity)}
                     for line in mine.itertuples(index=False)
                     if line.item_code and not pd.isna(line.quantity) and int(line.quantity) > 0]
            if errors:
                refused[r.return_code] = "a value of the shop's return cannot be read: " + "; ".join(errors)
            elif state not in RETURNABLE:
                seen = state or "unknown to the bridge"
                refused[r.return_code] = (f"order {r.order_code} never reached the warehouse ({seen}): nothing to "
                                          "take back there; refund it in the shop")
            elif not taken:
                refused[r.return_code] = "the return names no item to take back"
            rows.append({"return_code": r.return_code, "shop_return_id": r.return_id,
                         "delivery_order_code": r.order_code, "express_code": r.express_code, "lines": taken,
                         "logistics_code": r.logistics_code, "reason": r.reason})
        self.returns.register(rows, run_id=self.bridge.run_id)
        for code, why in refused.items():
            self.returns.mark_rejected(code, why, run_id=self.bridge.run_id)
            self.report.add("rejected", code, why)

    # -- announce -----------------------------------------------------------------------------------
    def announce_due(self) -> None:
        due = self.returns.due()
        if not due:
            return
        orders = self.bridge.store.orders.rows([r["delivery_order_code"] for r in due])
        for row in due:
            code = row["return_code"]
            if not self.returns.claim(code, run_id=self.bridge.run_id):
                self.report.add("held", code, "another run is sending it")
                continue
            outcome, why = self._announce(row, orders.get(row["delivery_order_code"]) or {})
            self.report.add(outcome, code, why)

    def _announce(self, row: Mapping, order: Mapping) -> tuple[str, str | None]:
        code, run_id, hook = row["return_code"], self.bridge.run_id, self.bridge.hook_for(METHOD)
        try:
            body = build_return_document(
                return_code=code, order_code=row["delivery_order_code"], wms_order_id=order.get("wms_order_id"),
                warehouse_code=hook.warehouse_code, owner_code=hook.owner_code, lines=row["lines"],
                express_code=row.get("express_code"), logistics_code=self._courier(row.get("logistics_code")),
                reason=row.get("reason"), shop_nick=self.bridge.config.shop_nick)
        except QimenValidationError as err:
            self.returns.mark_rejected(code, f"not sent: {err}", run_id=run_id)
            return "rejected", f"not sent: {err}"
        exchange = send(self.bridge, METHOD, code, body)
        if exchange.verdict.done:
            fields = exchange.response.fields if exchange.response is not None else {}
            self.returns.mark_sent(code, fields.get("returnOrderId"), run_id=run_id)
            return "sent", None
        passing = exchange.verdict is Verdict.PASSING
        self.returns.mark_failed(code, exchange.error_code, exchange.error_message, retryable=passing, run_id=run_id)
        return ("retry_waiting" if passing else "needs_person"), f"{exchange.verdict.value}: {exchange.error_message}"

    def _courier(self, shop_code: str | None) -> str | None:
        """The return parcel's courier as a Qimen code (None: unknown, sent as OTHER)."""
        if not shop_code:
            return None
        try:
            return self.bridge.profile.carriers.to_qimen(shop_code)
        except (KeyError, ValueError):
            return None

    # -- 3. what the warehouse received -------------------------------------------------------------
    def apply_confirmations(self) -> None:
        reports = self.bridge.store.reports
        for stored in reports.waiting(CONFIRM):
            try:
                confirm = parse_returnorder_confirm(stored["raw_body"])
            except QimenError as err:  # stored by an older receiver that read it more leniently
                reports.settle(stored["id"], "needs_person", summary=f"cannot be read: {err}", run_id=self.bridge.run_id)
                self.report.add("needs_person", f"confirmation #{stored['id']}", str(err))
                continue
            outcome, why = self._apply(stored, confirm)
            self.report.add(outcome, confirm.returnOrderCode, why)

    def _apply(self, stored: Mapping, confirm: ReturnOrderConfirm) -> tuple[str, str | None]:
        bridge, run_id, reports = self.bridge, self.bridge.run_id, self.bridge.store.reports
        code = confirm.returnOrderCode
        row = self.returns.rows([code]).get(code)
        if row is None or row["state"] in ("pending", "rejected"):
            why = ("a return we never announced: check the parcel and the order it came with"
                   if row is None else f"a return we did not send ({row['state']}): check it")
            reports.settle(stored["id"], "needs_person", summary=f"{why} / 未通知仓库的退货入库: {code}", run_id=run_id)
            return "needs_person", why
        earlier = [parse_returnorder_confirm(r["raw_body"]) for r in reports.applied(CONFIRM, code)]
        received = received_quantities([*earlier, confirm])
        final = confirm.is_final or any(c.is_final for c in earlier)
        planned: dict[str, int] = {}
        for line in row["lines"]:
            planned[line["item_code"]] = planned.get(line["item_code"], 0) + int(line["quantity"])
        at = stored["received_at"]
        self.returns.mark_received(code, received, final=final, note=received_note(received, planned, at, final=final),
                                   run_id=run_id)
        self.writer.mark_return_received(bridge.shop, row["shop_return_id"], shop_note(received, at, final=final), at)
        self._adjust("return_received", stored["report_key"], good_units(confirm), row,
                     note=f"return {code}: good units received by the warehouse")
        reports.settle(stored["id"], "applied", run_id=run_id)
        return "sent", None

    # -- 4. refunds the shop paid -------------------------------------------------------------------
    def settle_refunds(self) -> None:
        waiting = self.returns.open_refunds()
        if not waiting:
            return
        by_shop_id = {r["shop_return_id"]: r for r in waiting}
        refunded = self.bridge.reader.refunded_returns(self.bridge.shop, list(by_shop_id))
        settled = []
        for shop_id, rows in refunded.groupby("return_id", sort=False):
            row = by_shop_id.get(shop_id)
            if row is None:
                continue
            items = {str(line["sku_id"]): line["item_code"] for line in row["lines"]}
            added = {str(r.sku_id): int(r.added_back) for r in rows.itertuples(index=False)
                     if r.sku_id is not None and not pd.isna(r.added_back) and int(r.added_back) > 0}
            deltas = {items.get(sku, f"sku {sku}"): -n for sku, n in added.items()}
            skus = {items.get(sku, f"sku {sku}"): sku for sku in added}
            adjust_shop_stock(self.bridge, "return_add_back", row["return_code"], deltas, skus,
                              note=f"return {row['return_code']}: the shop's own add-back on refund, taken out again")
            self.returns.mark_refunded(row["return_code"], run_id=self.bridge.run_id)
            settled.append(row["return_code"])
        if settled:  # nothing was sent: told, not counted
            self.report.notes.append(f"refunded in the shop, off the person's list: {len(settled)}: "
                                     + ", ".join(settled[:20]))

    def _adjust(self, source: str, key: str, deltas: Mapping[str, int], row: Mapping, *, note: str) -> None:
        known = {line["item_code"]: line["sku_id"] for line in row["lines"]}
        adjust_shop_stock(self.bridge, source, key, deltas, sku_ids(self.bridge, list(deltas), known), note=note)
