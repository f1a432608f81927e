"""Stored ``deliveryorder.confirm`` messages -> the order record and the shop, each exactly once.

The receiver only stores; this flow applies, oldest first, in small transactions:

- a partial confirmation (``confirmType=1``, PARTDELIVERED) is recorded (tracking numbers kept,
  order ``partially_shipped``) without closing the order in the shop;
- a final one closes it: the shop's own ``ship`` statement gets every parcel's tracking number
  (joined the way the profile says), the carrier mapped back to the shop's code, and the ship
  time in the shop's zone. The ``ship`` statement also matches an order already shipped with the
  same numbers, so applying a confirmation twice changes nothing;
- EXCEPTION / REJECT / an unrequested CANCELED, and anything the shop refuses, wait for a person;
- a confirmation for an order we have no (sent) record of is kept ``waiting`` and tried again by
  every run, counted as retry-waiting (and as needing a person once it has waited too long).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from wmsbridge.shop.carriers import UnknownCarrierError
from wmsbridge.shop.writer import ShopWriter
from wmsbridge.store import StoreError
from wmsbridge.store.confirmations import ConfirmationInbox
from wmsbridge.store.states import SHIPMENT_ALARM_STATUSES

from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)

WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'shipments'; "
                 "every confirmation: wms_shipment_inbox (state, process_error, raw_body)")
SHIPPED = ("DELIVERED", "PARTDELIVERED")
NOT_YET = ("NEW", "ACCEPT")  # the warehouse reports progress, nothing has left yet
BATCH = 500
_EARLIEST_SHIPMENT = datetime(2000, 1, 1, tzinfo=timezone.utc)  # before: an unset clock, not a ship time


class _Outcome(Exception):
    """How one confirmation ended: inbox state, report bucket, reason."""

    def __init__(self, state: str, bucket: str, reason: str | None = None, *, overdue: bool = False) -> None:
        super().__init__(reason)
        self.state, self.bucket, self.reason, self.overdue = state, bucket, reason, overdue


def apply_shipments(bridge: Bridge, *, limit: int | None = None) -> RunReport:
    """Apply every due confirmation (``received`` and ``waiting``), at most ``limit``. The run fails
    for the confirmations it newly found for a person (an alarm, a refusal, one waiting past
    ``shipment_waiting_alert_hours``), never again for those earlier runs found."""
    started = time.monotonic()
    report = RunReport(flow="shipments", where_to_look=WHERE_TO_LOOK)
    inbox = bridge.store.confirmations
    writer = ShopWriter(bridge.profile)
    alert_after = timedelta(hours=bridge.config.shipment_waiting_alert_hours)
    due = inbox.due(min(limit or BATCH, BATCH))
    report.extracted = report.valid = len(due)
    for row in due:
        try:
            _apply(bridge, inbox, writer, row, alert_after)
            outcome = _Outcome("applied", "sent")
        except _Outcome as done:
            outcome = done
        inbox.settle(row["id"], outcome.state, reason=outcome.reason, run_id=bridge.run_id, overdue=outcome.overdue)
        report.add(outcome.bucket, f"{row['delivery_order_code']} ({row['out_biz_code']})", outcome.reason)
    report.set_verdict(*bridge.store.needs_person_by_run("shipments", bridge.run_id))
    counts = inbox.counts()
    report.notes.append(f"inbox now: {counts['waiting']} waiting, {counts['needs_person']} for a person")
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _apply(bridge: Bridge, inbox: ConfirmationInbox, writer: ShopWriter, row: dict, alert_after: timedelta) -> None:
    """Apply one confirmation; raises ``_Outcome`` for anything but a plain success."""
    store, code = bridge.store, row["delivery_order_code"]
    status = (row["status"] or "").upper()
    order = store.orders.order(code)
    if order is None:
        waited = store.clock() - row["received_at"]
        raise _Outcome("waiting", "needs_person" if waited > alert_after else "retry_waiting",
                       f"no order {code} in wms_order_sync (not sent by us, or not recorded yet); "
                       f"kept and tried again (waiting {_hours(waited)})", overdue=waited > alert_after)
    state = order["state"]
    if status in SHIPMENT_ALARM_STATUSES:
        if status == "CANCELED" and state in ("cancel_requested", "cancelled"):
            if state == "cancel_requested":
                store.orders.mark_cancelled(code, run_id=bridge.run_id)
            return  # the cancellation we asked for
        raise _Outcome("needs_person", "needs_person", f"the warehouse reports {status} (our order is {state})")
    if status in NOT_YET:
        raise _Outcome("applied", "unchanged", f"status {status}: nothing has shipped yet")
    if status and status not in SHIPPED:
        raise _Outcome("needs_person", "needs_person", f"status {status} is not a shipment (our order is {state})")
    if state in ("pending", "rejected"):
        raise _Outcome("waiting", "retry_waiting",
                       f"our order {code} is {state}, not sent yet: kept and tried again")
    if state == "cancelled":
        raise _Outcome("needs_person", "needs_person", "shipped although the order was cancelled")

    if not (row["confirm_type"] == 1 or status == "PARTDELIVERED"):
        _close(bridge, inbox, writer, row, order)
        return
    packages = inbox.packages([row["id"]])
    tracking = _tracking(packages)
    carrier = _carrier(packages, order)
    # a partial confirmation: recorded, the order stays open in the shop
    if state == "shipped":
        known = set((order["tracking_numbers"] or "").split(","))
        extra = [n for n in tracking if n not in known]
        if extra:
            raise _Outcome("needs_person", "needs_person",
                           f"a partial confirmation with parcels {', '.join(extra)} arrived after the order "
                           "was closed; add them in the shop by hand")
        raise _Outcome("applied", "unchanged", "partial confirmation after the final one")
    try:
        store.orders.mark_shipped(code, carrier_code=carrier, tracking_numbers=tracking, shipped_at=ship_time(row),
                                  partial=True)
    except StoreError as err:
        raise _Outcome("needs_person", "needs_person", str(err)) from None


def _close(bridge: Bridge, inbox: ConfirmationInbox, writer: ShopWriter, row: dict, order: dict) -> None:
    """A final confirmation: record it and write the shipment to the shop, every parcel included."""
    store, code, profile = bridge.store, row["delivery_order_code"], bridge.profile
    shipped_ids = [r["id"] for r in inbox.confirmations_of(code)
                   if (r["status"] or "").upper() not in SHIPMENT_ALARM_STATUSES and r["state"] != "needs_person"]
    packages = inbox.packages(sorted({*shipped_ids, row["id"]}))  # this confirmation's among them
    carrier = _carrier([p for p in packages if p["inbox_id"] == row["id"]], order)
    tracking = _tracking(packages)
    carrier_name = next((p["logistics_name"] for p in packages if p["logistics_name"]), None)
    shipped_at = ship_time(row)
    if order["state"] != "shipped":
        try:
            store.orders.mark_shipped(code, carrier_code=carrier, tracking_numbers=tracking, shipped_at=shipped_at)
        except StoreError as err:
            raise _Outcome("needs_person", "needs_person", str(err)) from None
    elif order["shop_written_at"] is not None and set(tracking) <= set((order["tracking_numbers"] or "").split(",")):
        raise _Outcome("applied", "unchanged", "already written to the shop")
    if not tracking:
        raise _Outcome("needs_person", "needs_person", "a final confirmation without any expressCode")
    # Every parcel is in the store (tracking_numbers, wms_shipment_package); the shop gets them all
    # joined, or the first one where it looks a number up whole (profile shipment.tracking: first).
    text = tracking[0] if profile.tracking == "first" else profile.tracking_separator.join(tracking)
    if profile.tracking_max_length and len(text) > profile.tracking_max_length:
        raise _Outcome("needs_person", "needs_person",
                       f"{len(tracking)} tracking numbers ({text}) do not fit the shop's "
                       f"{profile.tracking_max_length} characters; enter them by hand")
    try:
        shop_carrier = profile.carriers.to_shop(carrier, carrier_name)
    except UnknownCarrierError as err:
        raise _Outcome("needs_person", "needs_person",
                       f"{err} ({profile.source.name}: carriers.codes, aliases or names)") from None
    if not writer.write_shipment(bridge.shop, order["shop_order_id"], text, shop_carrier, shipped_at, carrier_name,
                                 now_utc=store.clock()):
        raise _Outcome("needs_person", "needs_person",
                       f"the shop refused the shipment of order {order['shop_order_id']} (not paid and unshipped, "
                       "deleted, or shipped with other tracking numbers)")
    store.orders.mark_shop_written(code, run_id=bridge.run_id)
    log.info("%s shipped in the shop: %s %s%s", code, shop_carrier, text,
             f" (parcels {', '.join(tracking)})" if len(tracking) > 1 else "")


def ship_time(row: dict) -> datetime:
    """When the parcel left: the confirmation's ``orderConfirmTime`` when it is plausible (not after
    the message arrived, give or take a day of clock skew; not before 2000), else when it arrived."""
    confirmed, received = row["order_confirm_at"], row["received_at"]
    if confirmed is None or not _EARLIEST_SHIPMENT <= confirmed <= received + timedelta(days=1):
        return received
    return confirmed


def _carrier(packages: list[dict], order: dict) -> str | None:
    """The carrier a confirmation names (its first package that has one), else the order's."""
    return next((p["logistics_code"] for p in packages if p["logistics_code"]), None) or order["carrier_code"]


def _tracking(packages: list[dict]) -> list[str]:
    """Tracking numbers of package rows (one row per package and item), in order, once each."""
    return list(dict.fromkeys(p["express_code"] for p in packages if p["express_code"]))


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
