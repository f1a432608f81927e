"""Orders the warehouse accepted that the shop later cancelled or refunded -> ``order.cancel``.

What a run does with each order the shop reports cancelled or refunded, by its state in
wms_order_sync:

- ``pending`` / ``rejected``: it never reached the warehouse; withdrawn (``cancelled``), no request;
- ``sent`` / ``failed`` / ``cancel_requested`` / a stale ``sending``: ``cancel_requested``
  (committed first), then order.cancel; success or "already cancelled" -> ``cancelled``;
  a passing failure stays ``cancel_requested`` for a later run; "already shipped" ->
  ``cancel_failed`` (refund after shipment, for a person); "not found" for an order we never got a
  deliveryOrderId for (its create never arrived) -> ``cancelled``; any other refusal ->
  ``cancel_failed``;
- ``shipped`` / ``partially_shipped``: the parcel left; ``cancel_failed`` at once (refund after
  shipment), no request;
- ``sending`` (a push is sending it right now): left to a later run;
- ``cancelled`` / ``cancel_failed`` / unknown to the bridge: nothing to do (``cancel_failed`` is in
  the ``wms_cancel_needs_person`` view; it is never sent again by itself).

With ``orderprocess.report`` switched on, a run also applies the warehouse's TMSCANCELED reports (a
courier intercept that succeeded, :func:`apply_intercepts`): a refund after shipment ends
``cancelled``, the parcel on its way back to the warehouse; an intercept of an order the shop never
refunded (or a report that cannot be read) waits for a person (store/attention.py:
``intercepts_to_check``) and fails the run that settles it.

A cancel and a shipment confirmation can cross. Whichever comes first, a refunded order that
shipped ends ``cancel_failed`` with code ``REFUND_AFTER_SHIPMENT``: the confirmation moves
``cancel_requested`` to ``shipped`` and the warehouse's "already shipped" answer then moves it on,
or the answer comes first and a later confirmation's ``shipped`` is caught by the next run (every
run looks at shipped orders with ``cancel_requested_at`` set). The view shows both meanwhile.

The shop's stock is the shop's business: litemall, CRMEB and the reference shop put the stock of a
cancelled or refunded order back themselves, so the bridge writes no stock here; the warehouse
releases its reservation on order.cancel, and the daily inventory sync reconciles the two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from qimen.answers import Verdict
from qimen.errors import QimenError, QimenValidationError
from qimen.inbound import parse_orderprocess_report
from wmsbridge.shop import frames
from wmsbridge.store import InvalidTransition, UnknownOrder
from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT, REFUND_AFTER_SHIPMENT_ACTION, SHIPPED
from wmsbridge.transforms.cancels import METHOD, build_cancel_document, cancel_reason

from .exchange import send
from .report import RunReport
from .windows import _parse
from .runtime import Bridge

log = logging.getLogger(__name__)
PROCESS_METHOD = "orderprocess.report"

# A scheduled run looks at shop changes since its last successful run, less this much: an order a
# push was sending at that moment is cancelled by a later run, as long as it falls in here.
LOOKBACK = timedelta(hours=1)
WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'cancels'; "
                 "cancels waiting for a retry: wms_order_sync WHERE state = 'cancel_requested'")

# Refusals of order.cancel the bridge understands, beyond qimen.answers' verdict. Real warehouses
# word them freely: codes compare whole (case-insensitive), phrases are substrings of the message.
_REFUSALS = (
    ("shipped", {"order-shipped", "order_shipped", "shipped", "already_shipped", "order_delivered"},
     ("已发货", "已出库", "已揽收", "已打包", "already shipped", "has shipped", "been shipped", "delivered")),
    ("cancelled", {"order-canceled", "order-cancelled", "order_canceled", "order_cancelled", "already_canceled",
                   "already_cancelled"},
     ("已取消", "已经取消", "already canceled", "already cancelled")),
    ("not_found", {"order-not-found", "order_not_found", "order_not_exist", "order-not-exist", "not_found"},
     ("不存在", "未找到", "查无", "not found", "does not exist", "not exist", "unknown order")),
)


def refusal_kind(code: str | None, message: str | None) -> str | None:
    """``shipped``, ``cancelled``, ``not_found`` or None for a failed order.cancel answer."""
    code_n, message_n = (code or "").strip().lower(), (message or "").strip().lower()
    for kind, codes, _ in _REFUSALS:
        if code_n in codes:
            return kind
    for kind, _, phrases in _REFUSALS:
        if any(p in message_n for p in phrases):
            return kind
    return None


@dataclass(frozen=True)
class CancelWindow:
    """Which shop changes a run looks at; ``sweep``: also finish what earlier runs left."""

    changed_from_utc: datetime | None = None
    changed_to_utc: datetime | None = None
    order_codes: tuple[str, ...] | None = None
    sweep: bool = True

    def describe(self) -> str:
        if self.order_codes:
            return f"{len(self.order_codes)} order codes"
        if self.changed_from_utc or self.changed_to_utc:
            return (f"cancelled or refunded in [{self.changed_from_utc or '-inf'}, {self.changed_to_utc or '+inf'})"
                    + (" and unfinished cancels" if self.sweep else ""))
        return "every cancelled or refunded order, and unfinished cancels"


def cancel_window(run_type, params: dict, interval_start=None, interval_end=None, last_success=None) -> CancelWindow:
    """- manual: the trigger form's order codes, or its change window; else like scheduled;
    - backfill: only shop changes within the run's data interval (repeating one is harmless);
    - scheduled: changes since the last successful run (less ``LOOKBACK``), and the store's
      unfinished cancels; everything the first time."""
    codes = tuple(c.strip() for c in (params.get("order_codes") or []) if c and c.strip())
    if codes:
        return CancelWindow(order_codes=codes, sweep=False)
    changed_from, changed_to = _parse(params.get("changed_from")), _parse(params.get("changed_to"))
    if changed_from or changed_to:
        return CancelWindow(changed_from, changed_to, sweep=False)
    if str(getattr(run_type, "value", run_type)) == "backfill" and interval_start is not None:
        return CancelWindow(_parse(interval_start), _parse(interval_end), sweep=False)
    last = last_success if isinstance(last_success, datetime) else None
    return CancelWindow(changed_from_utc=last - LOOKBACK if last else None)


def cancelled_in_shop(bridge: Bridge, codes: Sequence[str]) -> set[str]:
    """The push's last look before it claims a group of orders (one query): which did the shop cancel
    or refund since they were extracted? Those are withdrawn (or their cancel is due), never sent."""
    asked = {frames.collated(code): code for code in codes}
    found = {asked[key] for chunk in bridge.reader.iter_cancelled_orders(bridge.shop, order_codes=codes)
             for key in chunk["order_code"].dropna().map(frames.collated) if key in asked}
    for code in sorted(found):
        try:
            bridge.store.orders.request_cancel(code, run_id=bridge.run_id)
        except (InvalidTransition, UnknownOrder) as err:  # another run holds it: wms_order_cancel finishes it
            log.info("%s: cancelled in the shop; left to wms_order_cancel (%s)", code, err)
    return found


def cancel_orders(
    bridge: Bridge,
    *,
    changed_from_utc: datetime | None = None,
    changed_to_utc: datetime | None = None,
    order_codes: Iterable[str] | None = None,
    sweep: bool = True,
    dry_run: bool = False,
) -> RunReport:
    """Cancel at the warehouse what the shop cancelled or refunded (see the module docstring)."""
    started = time.monotonic()
    report = RunReport(flow="cancels", dry_run=dry_run, where_to_look=WHERE_TO_LOOK)
    run = _CancelRun(bridge, report)
    with ThreadPoolExecutor(max_workers=bridge.config.push_concurrency, thread_name_prefix="cancels") as pool:
        run.pool = pool
        for chunk in _shop_cancellations(bridge, changed_from_utc, changed_to_utc, order_codes):
            run.chunk(chunk)
        if sweep:
            run.finish_unfinished()
    if not dry_run and bridge.config.method_enabled(PROCESS_METHOD):
        apply_intercepts(bridge, report)
    if not dry_run:  # what this run newly found waiting for a person (store/attention.py): its verdict
        report.set_verdict(*bridge.store.needs_person_by_run("cancels", bridge.run_id))
    if run.unreadable:
        log.warning("cancels: %d shop rows with a value that cannot be read, acted on all the same (the refund "
                    "counts, not the time): %s", len(run.unreadable), "; ".join(run.unreadable[:20]))
        report.notes.append(f"acted on although a value of their shop row cannot be read: {len(run.unreadable)}: "
                            + "; ".join(run.unreadable[:5]))
    if run.withdrawn:
        report.notes.append(f"withdrawn before they reached the warehouse (no request): {len(run.withdrawn)}: "
                            + ", ".join(run.withdrawn[:20]))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def apply_intercepts(bridge: Bridge, report: RunReport) -> None:
    """The warehouse's ``orderprocess.report`` TMSCANCELED (when switched on): the courier stopped the
    parcel and it goes back to the warehouse. For a refund after shipment that is what the person was
    asked to get done: the order is ``cancelled`` and leaves their list. An intercept the shop never
    asked for (no refund), or a report that cannot be read, waits for a person as it is, settled with
    this run's id: ``intercepts_to_check``, part of this run's verdict."""
    reports, orders = bridge.store.reports, bridge.store.orders
    for stored in reports.waiting(PROCESS_METHOD):
        try:
            process = parse_orderprocess_report(stored["raw_body"])
        except QimenError as err:
            reports.settle(stored["id"], "needs_person", summary=f"cannot be read: {err}", run_id=bridge.run_id)
            report.add("needs_person", f"report #{stored['id']}", str(err))
            continue
        code = process.orderCode
        row = orders.rows([code]).get(code) or {}
        refunded = (row.get("state") == "cancel_failed" and row.get("last_error_code") == REFUND_AFTER_SHIPMENT) or (
            row.get("state") in SHIPPED and row.get("cancel_requested_at") is not None)
        if not refunded:
            why = (f"the courier intercepted {code} (TMSCANCELED) but the shop did not refund it "
                   f"({row.get('state') or 'unknown to the bridge'}): ask the warehouse / 快递拦截了未退款的订单")
            reports.settle(stored["id"], "needs_person", summary=why, run_id=bridge.run_id)
            report.add("needs_person", code, why)
            continue
        try:
            if row["state"] in SHIPPED:
                orders.mark_refund_after_shipment(code, "shipped, then refunded", run_id=bridge.run_id)
            orders.mark_cancelled(code, run_id=bridge.run_id)
        except InvalidTransition as err:  # another run moved it meanwhile: the next run looks again
            report.add("held", code, f"changed meanwhile ({err.current}); a later run applies the intercept")
            continue
        reports.settle(stored["id"], "applied", run_id=bridge.run_id)
        report.add("sent", code, "intercepted by the courier: the parcel goes back to the warehouse")


def _shop_cancellations(bridge: Bridge, changed_from, changed_to, order_codes) -> Iterator[pd.DataFrame]:
    codes = list(order_codes) if order_codes else None
    for chunk in bridge.reader.iter_cancelled_orders(
            bridge.shop, since_utc=changed_from, order_codes=codes, chunk_size=bridge.config.chunk_size):
        if changed_to is not None and codes is None:
            inside = chunk["updated_at"].isna() | (chunk["updated_at"] < pd.Timestamp(changed_to))
            yield chunk[inside]
            if not inside.all():  # the query is ordered by change time: the rest is later still
                return
        else:
            yield chunk


class _CancelRun:
    """One run's work: decide per order, change the store, send, count."""

    def __init__(self, bridge: Bridge, report: RunReport) -> None:
        self.bridge, self.report, self.orders = bridge, report, bridge.store.orders
        self.seen: set[str] = set()
        self.withdrawn: list[str] = []
        # cancellations whose shop row had a value that cannot be read (a 9999 change time): the
        # refund is what counts, so they are acted on, and named
        self.unreadable: list[str] = []
        self.pool: ThreadPoolExecutor | None = None

    def chunk(self, chunk: pd.DataFrame, *, swept: bool = False) -> None:
        chunk = chunk.dropna(subset=["order_code"]).drop_duplicates("order_code", keep="last")
        chunk = chunk[~chunk["order_code"].isin(self.seen)]
        if chunk.empty:
            return
        self.seen.update(chunk["order_code"])
        self.unreadable += [f"{code}: {'; '.join(found)}" for code, found in zip(chunk["order_code"], chunk["read_errors"])
                            if found]
        if not swept:
            self.report.extracted += len(chunk)
        rows = self.orders.rows(chunk["order_code"])
        due = []
        for r in chunk.itertuples(index=False):
            reason = cancel_reason(r.cancel_reason, r.shop_status)
            job = self.prepare(r.order_code, rows.get(r.order_code), reason)
            if job is not None:
                due.append(job)
        if self.report.dry_run or not due:
            return
        for code, outcome, why in self.pool.map(lambda job: self.send(*job), due):
            self.report.add(outcome, code, why)

    def prepare(self, code: str, row: dict | None, reason: str) -> tuple | None:
        """What this order needs; returns ``(code, wms_order_id, reason)`` when order.cancel is due."""
        report, dry = self.report, self.report.dry_run
        state = row["state"] if row else None
        if state is None or state in ("cancelled", "cancel_failed"):
            report.add("unchanged")
            return None
        if state in ("pending", "rejected"):
            if not dry:
                try:
                    self.orders.request_cancel(code, run_id=self.bridge.run_id)
                except InvalidTransition as err:  # a push claimed it meanwhile
                    report.add("held", code, f"changed meanwhile ({err.current}); a later run looks again")
                    return None
            self.withdrawn.append(code)
            report.add("unchanged")
            return None
        if state in SHIPPED:
            if not dry:
                self.orders.mark_refund_after_shipment(code, "the warehouse confirmed the shipment",
                                                        run_id=self.bridge.run_id)
            report.add("needs_person", code, REFUND_AFTER_SHIPMENT_ACTION)
            return None
        if state == "sending" and not self.orders.is_stale_sending(row):
            report.add("held", code, "a push is sending it right now; a later run cancels it")
            return None
        if dry:
            report.would_send.append(code)
            report.add("sent")
            return None
        if state == "sending":
            if not self.orders.request_cancel_in_flight(code, run_id=self.bridge.run_id):
                report.add("held", code, "a push finished it meanwhile; a later run cancels it")
                return None
        elif state != "cancel_requested":
            try:
                self.orders.request_cancel(code, run_id=self.bridge.run_id)
            except InvalidTransition as err:  # another run requested it, or a shipment crossed
                _, outcome, why = self._moved(code, err)
                report.add(outcome, code, why)
                return None
        return code, row.get("wms_order_id"), reason

    def send(self, code: str, wms_order_id: str | None, reason: str) -> tuple[str, str, str | None]:
        """One order.cancel: send, record, settle the state. Returns (code, bucket, reason)."""
        try:
            return self._send(code, wms_order_id, reason)
        except InvalidTransition as err:  # a shipment confirmation moved the order meanwhile
            return self._moved(code, err)

    def _send(self, code: str, wms_order_id: str | None, reason: str) -> tuple[str, str, str | None]:
        hook, run_id = self.bridge.hook_for(METHOD), self.bridge.run_id
        try:
            body = build_cancel_document(order_code=code, wms_order_id=wms_order_id, reason=reason,
                                         warehouse_code=hook.warehouse_code, owner_code=hook.owner_code)
        except QimenValidationError as err:
            self.orders.mark_cancel_failed(code, "VALIDATION", str(err), run_id=run_id)
            return code, "needs_person", f"not sent: {err}"
        exchange = send(self.bridge, METHOD, code, body)
        verdict, message = exchange.verdict, exchange.error_message
        if verdict.done:
            return self._cancelled(code)
        if verdict is Verdict.PASSING:
            if self.orders.note_cancel_retry(code, exchange.error_code, message, run_id=run_id):
                return code, "retry_waiting", f"{verdict.value}: {message}"
            return self._moved(code, None)
        kind = refusal_kind(exchange.error_code, message)
        if kind == "cancelled":
            return self._cancelled(code)
        if kind == "not_found" and not wms_order_id:
            # the create never reached the warehouse (we never got its deliveryOrderId)
            log.info("%s: the warehouse never had it (%s): cancelled", code, message)
            return self._cancelled(code)
        if kind == "shipped":
            self.orders.mark_refund_after_shipment(code, f"{exchange.error_code}: {message}", run_id=run_id)
            return code, "needs_person", REFUND_AFTER_SHIPMENT_ACTION
        self.orders.mark_cancel_failed(code, exchange.error_code, message, run_id=run_id)
        return code, "needs_person", f"{verdict.value}: {message}"

    def _cancelled(self, code: str) -> tuple[str, str, str | None]:
        self.orders.mark_cancelled(code, run_id=self.bridge.run_id)
        return code, "sent", None

    def _moved(self, code: str, err: InvalidTransition | None) -> tuple[str, str, str | None]:
        """The order changed state under us: a shipment confirmation crossed the cancel."""
        current = err.current if err else (self.orders.rows([code]).get(code) or {}).get("state")
        if current in SHIPPED:
            self.orders.mark_refund_after_shipment(code, "shipped while the cancel was in flight",
                                                    run_id=self.bridge.run_id)
            return code, "needs_person", REFUND_AFTER_SHIPMENT_ACTION
        return code, "held", f"changed meanwhile ({current}); a later run looks again"

    def finish_unfinished(self) -> None:
        """Cancels earlier runs left: due (passing failure, dead run), crossed by a shipment, or a
        stale ``sending`` order the shop has cancelled."""
        rows = [r for r in self.orders.unfinished_cancels() if r["delivery_order_code"] not in self.seen]
        if not rows:
            return
        shipped = [r for r in rows if r["state"] in SHIPPED]
        for r in shipped:
            self.seen.add(r["delivery_order_code"])
            self.report.extracted += 1
            self.prepare(r["delivery_order_code"], r, "")
        others = {r["delivery_order_code"]: r for r in rows if r["state"] not in SHIPPED}
        if not others:
            return
        parts = list(self.bridge.reader.iter_cancelled_orders(self.bridge.shop, order_codes=list(others)))
        found = pd.concat(parts, ignore_index=True) if parts else frames.empty(frames.CANCELLED_COLUMNS)
        requested = {c for c, r in others.items() if r["state"] == "cancel_requested"}
        # counted: every due cancel, and the stale `sending` orders the shop did cancel (the others
        # are the push's business)
        self.report.extracted += len(requested | (set(found["order_code"]) & set(others)))
        self.chunk(found, swept=True)
        for code in requested:
            if code not in self.seen:
                self.seen.add(code)
                self.report.add("held", code, "cancel due, but the shop no longer reports it cancelled: check the order")
