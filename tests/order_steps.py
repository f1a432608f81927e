"""An order's steps through the store's production API (``store.orders``), one order at a time, for
tests: the push claims a group (``claim_many``) and records a batch of answers
(``record_order_outcomes``), the shipments flow changes a group of orders read under ``lock`` and
``write``s them; here a refused move raises like the one-order transitions do."""

from __future__ import annotations

from wmsbridge.store import InvalidTransition, UnknownOrder
from wmsbridge.store.orders import Claim, OrderOutcome, cancel_changes, ship_changes, shop_written_changes


def claim(store, code: str, run_id: str, **kw) -> Claim:
    """One order's claim, as the push claims a group (``claim_many``)."""
    return store.orders.claim_many([code], run_id, **kw)[code]


def answer(store, code: str, state: str, *, run_id: str | None = None, **fields) -> None:
    """Record what one request left, as the push records a batch; a refused move raises, like the
    single-order transitions, so every operation is tested the same way."""
    refused = store.orders.record_order_outcomes([OrderOutcome(code, state, **fields)], run_id=run_id)
    _raise_refused(refused, code, state)


def reject(store, code: str, violations, *, run_id: str | None = None) -> None:
    _raise_refused(store.orders.mark_rejected_many({code: violations}, run_id=run_id), code, "rejected")


def ship(store, code: str, *, carrier_code: str | None = "YUNDA", tracking_numbers=("YD1",), shipped_at=None,
         partial: bool = False) -> None:
    """A confirmation of ``code`` applied as the shipments flow applies a group's."""
    _change(store, code, lambda order, now: ship_changes(
        order, carrier_code=carrier_code, tracking_numbers=tracking_numbers, shipped_at=shipped_at, now=now,
        partial=partial))


def shop_written(store, code: str) -> None:
    """The shipment of ``code`` written to the shop, as the shipments flow records it."""
    _change(store, code, lambda order, now: shop_written_changes(order, now=now))


def cancelled_by_confirmation(store, code: str) -> None:
    """A CANCELED confirmation of ``code`` applied as the shipments flow applies a group's."""
    _change(store, code, lambda order, now: cancel_changes(order, now=now))


def _change(store, code: str, decide) -> None:
    with store.engine.begin() as conn:
        order = store.orders.lock(conn, [code]).get(code)
        if order is None:
            raise UnknownOrder(code)
        store.orders.write(conn, {code: decide(order, store.clock())})


def _raise_refused(refused: dict, code: str, target: str) -> None:
    if code in refused:
        if refused[code] is None:
            raise UnknownOrder(code)
        raise InvalidTransition(code, refused[code], target)


def drive_to(store, code: str, state: str) -> None:
    """Bring a new order to ``state`` through the public API only."""
    store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code}])
    path = {
        "pending": [],
        "sending": ["claim"],
        "sent": ["claim", "sent"],
        "failed": ["claim", "failed"],
        "exists_different": ["claim", "exists_different"],
        "rejected": ["rejected"],
        "cancel_requested": ["claim", "sent", "cancel"],
        "cancelled": ["cancel"],
        "cancel_failed": ["claim", "sent", "cancel", "cancel_failed"],
        "shipped": ["claim", "sent", "shipped"],
        "partially_shipped": ["claim", "sent", "partial"],
    }[state]
    for step in path:
        if step == "claim":
            assert claim(store, code, "setup").owned
        elif step == "sent":
            answer(store, code, "sent", wms_order_id=f"W{code}")
        elif step == "failed":
            answer(store, code, "failed", error_code="TIMEOUT", error_message="read timed out", retryable=True)
        elif step == "exists_different":
            answer(store, code, "exists_different", error_code="order-exists-different",
                   error_message="another version")
        elif step == "rejected":
            reject(store, code, ["deliveryOrder.receiverInfo.mobile: required"])
        elif step == "cancel":
            store.orders.request_cancel(code)
        elif step == "cancel_failed":
            store.orders.mark_cancel_failed(code, "SHIPPED", "already shipped")
        elif step == "shipped":
            ship(store, code)
        elif step == "partial":
            ship(store, code, partial=True)
    assert store.orders.order(code)["state"] == state
