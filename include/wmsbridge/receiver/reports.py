"""What the receiver makes of the warehouse's own reports (switched on in ``enabled_methods``).

Per method: how to read it (``qimen.inbound``, leniently), which order it is about, the sentence a
person reads, and the state it is stored in. A report whose meaning is for a person (a shortage, a
rejected order, a failed courier intercept) waits for one at once (store/attention.py:
``reports_for_person``) and is announced to the alert channels; progress is kept as ``applied``; a
return's receipt (returnorder.confirm) is ``received`` until the returns flow applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qimen.inbound import (
    ItemLackReport,
    OrderProcessReport,
    ReturnOrderConfirm,
    StockChangeReport,
    parse_itemlack_report,
    parse_orderprocess_report,
    parse_returnorder_confirm,
    parse_stockchange_report,
)

# orderprocess.report statuses a person must act on: the warehouse rejected the order or hit an
# exception, a courier intercept or a cancel failed, the buyer refused the parcel.
PROCESS_FOR_PERSON = frozenset({"REJECT", "EXCEPTION", "TMSCANCELFAILED", "CANCELEDFAIL", "REFUSE"})


# orderprocess.report statuses a flow applies: a courier intercept that succeeded ends a refund after
# shipment (pipelines/cancels.py: the parcel goes back to the warehouse, the order is cancelled); one
# of an order the shop never refunded waits for a person (store/attention.py: intercepts_to_check).
PROCESS_APPLIED_BY_FLOW = frozenset({"TMSCANCELED"})


def process_state(status: str | None) -> str:
    """``needs_person``, ``received`` (for the cancels flow) or ``applied`` (progress, kept)."""
    if status in PROCESS_FOR_PERSON:
        return "needs_person"
    return "received" if status in PROCESS_APPLIED_BY_FLOW else "applied"


@dataclass(frozen=True)
class ReportKind:
    parse: Callable[..., object]
    order_code: Callable[[object], str | None]
    describe: Callable[[object], str]
    state: Callable[[object], str]
    # what ``order_code`` names ("order", "return"): with several bridges, a report about another
    # bridge's one is refused (receiver/app.py); None: not tied to one bridge's record
    about: str | None = None


def describe_lack(report: ItemLackReport) -> str:
    """Each short item, how many of how many, and the warehouse's reason."""
    parts = []
    for item in report.items:
        short = "?" if item.lackQty is None else str(item.lackQty)
        of = f" of {item.planQty}" if item.planQty is not None else ""
        parts.append(f"{item.itemCode}: {short}{of} short" + (f" ({item.reason})" if item.reason else ""))
    return "warehouse reports a shortage / 仓库报缺: " + ("; ".join(parts) or "no item named")


def describe_process(report: OrderProcessReport) -> str:
    """The status, and what the warehouse said about it."""
    said = "; ".join(filter(None, (report.operateInfo, report.expressCode and f"parcel {report.expressCode}")))
    return f"warehouse progress / 仓库作业状态: {report.processStatus or '(none)'}" + (f" - {said}" if said else "")


def describe_return(confirm: ReturnOrderConfirm) -> str:
    """How much came back, good and defective, and whether more will come."""
    good = sum(n for (_, kind), n in confirm.actual_by_item.items() if (kind or "ZP") == "ZP")
    bad = sum(n for (_, kind), n in confirm.actual_by_item.items() if (kind or "ZP") != "ZP")
    more = "" if confirm.is_final else " (partial: more to come / 部分收货)"
    return f"return received / 退货入库: good {good}, defective {bad}{more}"


def describe_stock_change(report: StockChangeReport) -> str:
    """The net signed change per item, as the warehouse reported it."""
    parts = [f"{item} {n:+d}" + (f" {kind}" if kind and kind != "ZP" else "")
             for (item, kind), n in sorted(report.quantity_by_item.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    return "stock change / 库存异动: " + ("; ".join(parts[:20]) or "no item") + (" ..." if len(parts) > 20 else "")


KINDS: dict[str, ReportKind] = {
    # applied by the returns flow (pipelines/returns.py): stored `received` until it is
    "returnorder.confirm": ReportKind(parse_returnorder_confirm, lambda r: r.returnOrderCode, describe_return,
                                      lambda r: "received", about="return"),
    # applied by the stock-change flow (pipelines/stock_changes.py)
    "stockchange.report": ReportKind(parse_stockchange_report, lambda r: next(
        (c.orderCode for c in r.items if c.orderCode), None), describe_stock_change, lambda r: "received"),
    "itemlack.report": ReportKind(parse_itemlack_report, lambda r: r.deliveryOrderCode, describe_lack,
                                  lambda r: "needs_person", about="order"),
    "orderprocess.report": ReportKind(parse_orderprocess_report, lambda r: r.orderCode, describe_process,
                                      lambda r: process_state(r.processStatus), about="order"),
}
