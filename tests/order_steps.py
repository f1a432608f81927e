"""An order's steps through the store's production API (``store.orders``), one order at a time, for
tests: the push claims a group (``claim_many``) and records a batch of answers
(``record_order_outcomes``); here a refused move raises like the one-order transitions do."""

from __future__ import annotations

from wmsbridge.store import InvalidTransition, UnknownOrder
from wmsbridge.store.orders import Claim, OrderOutcome


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
            store.orders.mark_shipped(code, carrier_code="YUNDA", tracking_numbers=["YD1"])
        elif step == "partial":
            store.orders.mark_shipped(code, carrier_code="YUNDA", tracking_numbers=["YD1"], partial=True)
    assert store.orders.order(code)["state"] == state
