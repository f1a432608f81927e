"""The allowed values of every state-like column and the order state machine.

One place for both the database CHECK constraints (schema.py, migrations) and the repository's
transition checks, so the database and the code can never disagree about what a state is.
"""

from __future__ import annotations

from types import MappingProxyType

ITEM_STATES = ("pending", "synced", "failed", "rejected")

ORDER_STATES = (
    "pending",            # seen paid in the shop, not yet sent
    "sending",            # claimed by a run; the request may be in flight
    "sent",               # the warehouse accepted deliveryorder.create
    "rejected",           # our own validation (or the address parser) refused it; needs a person
    "failed",             # the request failed; retried (after next_attempt_at) when last_error_retryable is true
    "exists_different",   # the warehouse holds another version under this code; needs a person
    "cancel_requested",   # refunded/cancelled in the shop; order.cancel to be sent or in flight
    "cancelled",          # the warehouse cancelled it, or it never reached the warehouse
    "cancel_failed",      # the warehouse refused the cancel (usually: already shipped)
    "shipped",            # final confirmation received
    "partially_shipped",  # an intermediate confirmation (confirmType=1) received
)

# target state -> states it may be entered from. Claiming (-> sending) has extra conditions on
# failed (retryable) and sending (stale) rows, applied in orders.OrderRepository.claim_many.
_SHIPPABLE_FROM = frozenset(
    {"sending", "sent", "failed", "exists_different", "cancel_requested", "cancel_failed", "partially_shipped"}
)
ORDER_TRANSITIONS = MappingProxyType({
    "sending": frozenset({"pending", "failed", "sending"}),
    "sent": frozenset({"sending"}),
    "failed": frozenset({"sending"}),
    # from sent: a forced resend found that the warehouse keeps an older version
    "exists_different": frozenset({"sending", "sent"}),
    "rejected": frozenset({"pending", "sending", "failed"}),
    "pending": frozenset({"failed", "rejected", "exists_different"}),
    "cancel_requested": frozenset({"sent", "failed", "cancel_failed", "exists_different"}),
    # pending/rejected orders never reached the warehouse: cancelling them needs no request.
    "cancelled": frozenset({"pending", "rejected", "sent", "cancel_requested", "cancel_failed"}),
    # the warehouse refused order.cancel; or the shop refunded an order that had already shipped
    # (whichever of the cancel and the shipment confirmation comes first, a refund after shipment
    # ends here: see pipelines/cancels.py)
    "cancel_failed": frozenset({"cancel_requested", "shipped", "partially_shipped"}),
    "shipped": _SHIPPABLE_FROM,
    "partially_shipped": _SHIPPABLE_FROM,
})

# Orders that wait for a person after a warehouse answer: refused for good (failed, not retryable)
# or held in another version (exists_different). The run that decided it is in run_id.
WAITING_FOR_PERSON = frozenset({"exists_different"})  # plus failed with last_error_retryable false

# States in which the order never reached the warehouse, so a shop cancellation ends it at once.
NEVER_SENT = frozenset({"pending", "rejected"})

# outbound: we called the warehouse; inbound: the warehouse called us (deliveryorder.confirm).
EXCHANGE_DIRECTIONS = ("outbound", "inbound")

# A stored deliveryorder.confirm (wms_shipment_inbox.state) on its way to the shop.
SHIPMENT_STATES = (
    "received",      # stored by the receiver, not applied yet
    "applied",       # recorded on the order (and, when final, written to the shop); nothing left to do
    "waiting",       # our order record is missing or not sent yet: kept and retried by every run
    "needs_person",  # EXCEPTION / REJECT / a cancellation we did not ask for / the shop refused it
)
# Confirmation statuses that stop at a person instead of being applied.
SHIPMENT_ALARM_STATUSES = frozenset({"EXCEPTION", "REJECT", "CANCELED"})

# A stored report of the warehouse (wms_warehouse_report.state): orderprocess / itemlack / stockchange.
REPORT_STATES = (
    "received",      # stored by the receiver, for its flow to apply
    "applied",       # its flow recorded it; nothing left to do
    "needs_person",  # what it says is for a person (itemlack.report: a shortage of an order's items)
)

# A return the shop approved (wms_return.state), announced with returnorder.create (pipelines/returns.py).
RETURN_STATES = (
    "pending",             # approved in the shop, not yet announced
    "sending",             # claimed by a run; the request may be in flight
    "sent",                # the warehouse accepted returnorder.create: it expects the parcel
    "failed",              # the request failed; retried by later runs when last_error_retryable is true
    "rejected",            # our checks refused it (its order never reached the warehouse ...): a person
    "partially_received",  # returnorder.confirm with confirmType 1: some of it came in
    "received",            # the final returnorder.confirm: the refund is the shop's to pay
    "withdrawn",           # the shop withdrew, refused or deleted it before the warehouse received it (0011):
                           # never sent (again); a person tells the warehouse when it had been told
)
# A return's request may be (re)sent from these states.
RETURN_SENDABLE = frozenset({"pending", "failed", "sending"})
# A return the shop may still withdraw: registered, not received (nor refunded) yet.
RETURN_WITHDRAWABLE = frozenset({"pending", "sending", "sent", "failed", "rejected"})
# wms_return.last_error_code of a withdrawn return: the warehouse had not been told (nobody waits),
# or it had been (or may have been: a run stopped while sending, an attempt without an answer), so
# a person asks it to cancel the return (store/attention.py: ``returns_withdrawn``).
RETURN_WITHDRAWN_UNTOLD = "WITHDRAWN"
RETURN_WITHDRAWN_TOLD = "WITHDRAWN_AFTER_SENT"

# wms_stock_adjustment.state: one signed change of one SKU's shop stock between daily syncs.
ADJUSTMENT_STATES = (
    "applying",      # recorded, the shop's UPDATE about to run (a row left so: a person checks it)
    "applied",       # the shop's stock moved by delta
    "skipped",       # nothing to write (the SKU is not in the shop)
    "needs_person",  # left ``applying`` by a run that died: whether the shop moved is unknown
)
ADJUSTMENT_SOURCES = (
    "return_received",   # good units the warehouse took back (returnorder.confirm, ZP)
    "return_add_back",   # the shop's own add-back on refund, taken out again: the warehouse counts
    "stock_change",      # stockchange.report
)

# Outcome of one exchange, named after the qimen.errors class that ended it.
EXCHANGE_OUTCOMES = (
    "success",
    "business_failure",   # flag=failure (QimenBusinessError)
    "gateway_error",      # <error_response> (QimenGatewayError)
    "http_error",         # non-200 without a Qimen body (QimenHTTPError)
    "transport_error",    # connect/read failure, timeout (QimenTransportError)
    "protocol_error",     # not a Qimen document (QimenProtocolError)
    "validation_error",   # refused by our own field rules before sending (QimenValidationError)
    "signature_error",    # a callback whose sign did not verify (QimenSignatureError)
    "duplicate",          # a callback already seen (same outBizCode), answered success again
    "refused",            # a callback we answered failure (bad token, not XML, foreign customer ...)
)

# wms_person_action.action: what a person can do about an item waiting for them (store/actions.py).
PERSON_ACTIONS = (
    "handled",       # dealt with outside the bridge: the item leaves the list, its history stays
    "send_again",    # an order (or its cancel, or a SKU) the person fixed: sent again by the next run
    "apply_again",   # a stored confirmation after a fix (a carrier added to the profile ...)
    "write_snapshot",  # a day's stock the guard rails refused: the stored snapshot written as it is
)

# wms_unkeyed_record.flow: which flow refused a shop record it could not key by its code.
UNKEYED_FLOWS = ("items", "orders")

WRITEBACK_OUTCOMES = ("applied", "skipped")

# wms_inventory_run.verdict: how one daily stock sync ended (pipelines/inventory.py).
INVENTORY_RUN_VERDICTS = (
    "running",         # started; the day's sync is held by this run
    "completed",       # queried, snapshot saved, stock written back
    "guard_refused",   # queried and saved, but a guard rail kept the shop untouched (run failed)
    "refused",         # not run: the Beijing day already had its full sync (and no force)
    "failed",          # an error ended it; the day is free again for a retry
    "abandoned",       # left running by a process that died; taken over by a later run
)


def check_in(column: str, values: tuple[str, ...]) -> str:
    """SQL text for a CHECK constraint ``column IN (...)``; the values are our own literals."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
