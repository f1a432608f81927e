"""Returns: what the shop approved -> ``returnorder.create``; what the warehouse received
(``returnorder.confirm``, stored by the receiver) -> the shop's after-sale record, its stock and a
person who pays the refund.

One run, in this order:

1. stock changes a stopped run left unfinished go to a person (store/adjustments.py);
2. every return the shop approves now (profile ``approved_returns``; few: they leave once refunded)
   is registered once in wms_return. One whose order never reached the warehouse, or with nothing to
   take back, is ``rejected`` for a person; the others are announced with ``returnorder.create``
   (claimed first, so two runs never send one twice; the warehouse is idempotent on the code, so a
   crash between send and record costs a repeat, never a second return). Before sending, and at every
   run for returns the warehouse expects, the shop is asked which registered returns not received yet
   it withdrew, refused or deleted (profile ``withdrawn_returns``, optional): those are ``withdrawn``
   and never sent (again); one the warehouse was told of (``sent``, ``sending``, or ``failed`` after an
   attempt that got no answer) waits for a person, who asks the warehouse to cancel it
   (store/attention.py: ``returns_withdrawn``); one never told leaves without a word;
3. every stored ``returnorder.confirm``: the return's received quantities (all its confirmations
   summed), a note in the shop's after-sale record (``return_received``), the good units back in the
   shop's stock (``adjust_stock``), and the return waits for a person to pay the refund. A confirmation
   for a return we never announced (or one the shop withdrew), or one that cannot be read, waits for a
   person as it is (store/attention.py: ``returns_receipts``, which fails the run that settles it). The
   confirmations of a return count in the order they arrived, against what the return announced per
   item: units beyond it (the same receipt resent under a new outBizCode, a parcel with more in it)
   are applied nowhere, neither to the after-sale record nor to the stock, and their confirmation
   waits for a person with the reason (``returns_receipts`` too); the part that fits is applied as
   usual. A confirmation a stopped run applied but did not record is recorded, nothing moves again
   (the stock change is keyed by the confirmation's outBizCode, the after-sale note is added once);
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
from qimen.inventory import SELLABLE_TYPE
from wmsbridge.errors import ConfigError
from wmsbridge.shop.writer import ShopWriter
from wmsbridge.transforms.returns import (
    CONFIRM,
    METHOD,
    build_return_document,
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
WITHDRAWN = "withdrawn_returns"  # the optional profile query: which of the given returns the shop withdrew
# A failed return's last attempt got no answer: the warehouse may hold the return (wms_exchange_log.outcome).
UNANSWERED = frozenset({"transport_error", "http_error", "protocol_error", "gateway_error"})
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
    run.withdraw()
    run.announce_due()
    run.apply_confirmations()
    run.settle_refunds()
    report.set_verdict(*bridge.store.needs_person_by_run("returns", bridge.run_id))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def withdrawn_reason(code: str, shop_why: str, told: str | None) -> str:
    """Why a return the shop withdrew is ``withdrawn``: ``shop_why`` the shop's words, ``told`` how
    the warehouse was told of it (None: it never was; nobody waits)."""
    if not told:
        return f"withdrawn in the shop ({shop_why}) before the warehouse was told: never sent"
    return (f"withdrawn in the shop ({shop_why}) after the warehouse was told ({told}): ask the warehouse to "
            f"cancel return {code} and refuse its parcel, then mark it handled / 已通知仓库后商城撤销："
            f"请联系仓库取消退货单 {code} 并拒收其包裹，然后标记已处理")


class _Run:
    def __init__(self, bridge: Bridge, report: RunReport) -> None:
        self.bridge, self.report, self.returns = bridge, report, bridge.store.returns
        self.writer = ShopWriter(bridge.profile)
        # returns this run read from the shop that the send step counts (every record of a run in
        # one bucket): the ones due when the run began, and the ones it registered
        self.to_announce: set[str] = set()

    # -- 2. what the shop approved --------------------------------------------------------------
    def register_approved(self) -> None:
        bridge, report = self.bridge, self.report
        due = {row["return_code"] for row in self.returns.due()}
        for chunk in bridge.reader.iter_approved_returns(bridge.shop, chunk_size=bridge.config.chunk_size):
            report.extracted += len(chunk)
            unkeyed = chunk["return_code"].isna() | chunk["order_code"].isna()
            for r in chunk[unkeyed].itertuples(index=False):
                report.add("rejected", f"shop return id {r.return_id}", "no return code or no order code in the shop")
            chunk = chunk[~unkeyed]
            known = self.returns.rows(chunk["return_code"])
            new = chunk[~chunk["return_code"].isin(list(known))]
            waiting = due.intersection(known)
            self.to_announce.update(waiting)
            report.add("unchanged", n=len(chunk) - len(new) - len(waiting))
            if new.empty:
                continue
            self.to_announce.update(new["return_code"])
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
            self.to_announce.discard(code)

    # -- withdrawn in the shop ----------------------------------------------------------------------
    def withdraw(self) -> None:
        """Registered returns not received yet that the shop withdrew, refused or deleted: never sent
        (again); a person tells the warehouse when it had been told (see the module docstring)."""
        bridge, report, run_id = self.bridge, self.report, self.bridge.run_id
        if not bridge.profile.has(WITHDRAWN):
            return
        open_ = self.returns.withdrawable()
        if not open_:
            return
        gone = withdrawn_in_shop(bridge, [r["shop_return_id"] for r in open_])
        mine = [r for r in open_ if r["shop_return_id"] in gone]
        if not mine:
            return
        failed = [r["return_code"] for r in mine if r["state"] == "failed"]
        last = bridge.store.exchanges.last_outcomes(METHOD, failed) if failed else {}
        quiet = []
        for row in mine:
            code, state, shop_why = row["return_code"], row["state"], gone[row["shop_return_id"]]
            told = _told(row, last.get(code))
            why = withdrawn_reason(code, shop_why, told)
            if not self.returns.mark_withdrawn(code, state, why, told=bool(told), run_id=run_id):
                continue  # claimed or sent meanwhile by another run: the next run looks again
            if told:
                report.add("needs_person", code, why)
            else:
                quiet.append(code)
        if quiet:  # nothing was sent and nobody waits: told, not counted
            report.notes.append(f"withdrawn in the shop before the warehouse was told (never sent): {len(quiet)}: "
                                + ", ".join(quiet[:20]))

    # -- announce -----------------------------------------------------------------------------------
    def announce_due(self) -> None:
        due = self.returns.due()
        orders = self.bridge.store.orders.rows([r["delivery_order_code"] for r in due]) if due else {}
        for row in due:
            code = row["return_code"]
            self.to_announce.discard(code)
            if not self.returns.claim(code, run_id=self.bridge.run_id):
                self.report.add("held", code, "another run took it meanwhile (sending or sent)")
                continue
            outcome, why = self._announce(row, orders.get(row["delivery_order_code"]) or {})
            self.report.add(outcome, code, why)
        for code in sorted(self.to_announce):  # due when the run read it: another run has sent it since
            self.report.add("unchanged", code, "no longer due: another run announced it meanwhile")

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
        if row is None or row["state"] in ("pending", "rejected", "withdrawn"):
            zh = "未通知仓库的退货入库"
            if row is None:
                why = "a return we never announced: check the parcel and the order it came with"
            elif row["state"] == "withdrawn":
                zh = "商城已撤销的退货入库"
                why = (f"a return the shop withdrew ({row['last_error_message']}): nothing was put into the "
                       "shop's stock nor its after-sale record; check the parcel with the warehouse and the buyer "
                       "(send it back, or register the return again in the shop), then mark it handled")
            else:
                why = f"a return we did not send ({row['state']}): check it"
            reports.settle(stored["id"], "needs_person", summary=f"{why} / {zh}: {code}", run_id=run_id)
            return "needs_person", why
        planned: dict[str, int] = {}
        for line in row["lines"]:
            planned[line["item_code"]] = planned.get(line["item_code"], 0) + int(line["quantity"])
        # every receipt stored before this one, whatever became of it: the same count on every try
        # and in two runs at once, so a receipt is never taken as fitting twice
        tally, earlier = _Tally(planned), []
        for before in reports.earlier(CONFIRM, code, before_id=stored["id"]):
            try:
                earlier.append((before, parse_returnorder_confirm(before["raw_body"])))
            except QimenError:  # unreadable: it waits for a person as it is, and counts nowhere
                continue
            tally.add(earlier[-1][1])
        taken, excess = tally.add(confirm)
        was_final = any(c.is_final for _, c in earlier)
        again = bool(bridge.store.adjustments.recorded("return_received", stored["report_key"]))
        if taken or (confirm.is_final and not was_final):
            received, final, at = tally.taken, confirm.is_final or was_final, stored["received_at"]
            self.returns.mark_received(code, received, final=final, run_id=run_id,
                                       note=received_note(received, planned, at, final=final) + tally.excess_note())
            self.writer.mark_return_received(bridge.shop, row["shop_return_id"],
                                             shop_note(received, at, final=final), at)
            good = {item: n for item, kinds in taken.items() if (n := kinds.get(SELLABLE_TYPE, 0))}
            self._adjust("return_received", stored["report_key"], good, row,
                         note=f"return {code}: good units received by the warehouse")
        if excess:
            same = next((r for r, c in earlier if c.actual_by_item == confirm.actual_by_item), None)
            why = (f"return {code}: the warehouse reports more than the return announced / 退货入库数量超过通知数量: "
                   + tally.excess_detail(excess) + "; the excess was not put into the shop's stock nor its after-sale "
                   "record" + ("; what fits the announcement was applied" if taken else "")
                   + (f"; it repeats receipt #{same['id']} ({same['report_key']}) line for line: the same receipt "
                      "sent again under a new outBizCode?" if same else "")
                   + "; check it with the warehouse, then mark it handled")
            reports.settle(stored["id"], "needs_person", summary=why, run_id=run_id)
            return "needs_person", why
        reports.settle(stored["id"], "applied", run_id=run_id)
        if again:  # a run that stopped before recording it had applied it: nothing moved now
            return "unchanged", None
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


def _told(row: Mapping, last_outcome: str | None) -> str | None:
    """Whether the warehouse was (or may have been) told of a return, and how; None: it was not."""
    state = row["state"]
    if state == "sent":
        return "returnorder.create accepted"
    if state == "sending":
        return "a run was sending it, or stopped while sending it"
    if state == "failed" and row.get("last_error_retryable") and last_outcome in UNANSWERED:
        return f"its last returnorder.create got no answer ({last_outcome}): the warehouse may hold it"
    return None


def withdrawn_in_shop(bridge: Bridge, shop_return_ids: list[str]) -> dict[str, str]:
    """``{shop return id: why}`` for those of ``shop_return_ids`` the shop withdrew, refused or
    deleted (the profile's optional ``withdrawn_returns``: ``return_id``, optional ``why``)."""
    found = bridge.reader.withdrawn_returns(bridge.shop, shop_return_ids)
    return {row.return_id: row.why or "withdrawn, refused or deleted"
            for row in found.itertuples(index=False) if row.return_id is not None}


class _Tally:
    """One return's receipts in the order they arrived, against what it announced per item (good and
    defective units together): what still fits is ``taken``, good units first (the warehouse's count
    is the stock's truth), the rest is ``excess``. Quantities below one are nothing received."""

    def __init__(self, planned: Mapping[str, int]) -> None:
        self.planned = planned
        self.taken: dict[str, dict[str, int]] = {}   # so far, within the announcement
        self.excess: dict[str, dict[str, int]] = {}  # so far, beyond it

    def add(self, confirm: ReturnOrderConfirm) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
        """Count one receipt; returns what of it was taken and what is excess."""
        taken: dict[str, dict[str, int]] = {}
        excess: dict[str, dict[str, int]] = {}
        for item, kinds in received_quantities([confirm]).items():
            room = self.planned.get(item, 0) - sum(self.taken.get(item, {}).values())
            for kind in sorted(kinds, key=lambda k: (k != SELLABLE_TYPE, k)):
                n = max(0, kinds[kind])
                fits = max(0, min(n, room))
                room -= fits
                for part, units in ((taken, fits), (excess, n - fits)):
                    if units:
                        part.setdefault(item, {})[kind] = units
        for part, total in ((taken, self.taken), (excess, self.excess)):
            for item, kinds in part.items():
                for kind, units in kinds.items():
                    total.setdefault(item, {})[kind] = total.get(item, {}).get(kind, 0) + units
        return taken, excess

    def excess_detail(self, excess: Mapping[str, Mapping[str, int]]) -> str:
        """``SKU-1: 4 received in all, 2 announced (2 more: good 1, defective 1)`` per item of ``excess``."""
        parts = []
        for item in sorted(excess):
            got = sum(self.taken.get(item, {}).values()) + sum(self.excess.get(item, {}).values())
            more = excess[item]
            good, bad = more.get(SELLABLE_TYPE, 0), sum(n for k, n in more.items() if k != SELLABLE_TYPE)
            split = ", ".join(p for p in (good and f"good {good}", bad and f"defective {bad}") if p)
            parts.append(f"{item}: {got} received in all, {self.planned.get(item, 0)} announced "
                         f"({good + bad} more: {split})")
        return "; ".join(parts[:20]) + (f"; and {len(parts) - 20} more items" if len(parts) > 20 else "")

    def excess_note(self) -> str:
        """What the person paying the refund reads about units beyond the announcement ('' if none)."""
        if not self.excess:
            return ""
        units = "; ".join(f"{item} +{sum(kinds.values())}" for item, kinds in sorted(self.excess.items())[:20])
        return (f" [超出通知数量 more than announced: {units}: not in the shop's stock, the receipt waits for a "
                "person / 超出部分未加入商城库存，该回传待人工处理]")
