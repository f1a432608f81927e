"""What the receiver makes of the warehouse's own reports (switched on in ``enabled_methods``).

Per method: how to read it (``qimen.inbound``, leniently), which order it is about, the sentence a
person reads, and the state it is stored in. A report whose meaning is for a person (a shortage, a
rejected order, a failed courier intercept) waits for one at once (store/attention.py:
``reports_for_person``) and is announced to the alert channels; progress is kept as ``applied``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qimen.inbound import ItemLackReport, OrderProcessReport, parse_itemlack_report, parse_orderprocess_report

# orderprocess.report statuses a person must act on: the warehouse rejected the order or hit an
# exception, a courier intercept or a cancel failed, the buyer refused the parcel.
PROCESS_FOR_PERSON = frozenset({"REJECT", "EXCEPTION", "TMSCANCELFAILED", "CANCELEDFAIL", "REFUSE"})


@dataclass(frozen=True)
class ReportKind:
    parse: Callable[..., object]
    order_code: Callable[[object], str | None]
    describe: Callable[[object], str]
    state: Callable[[object], str]


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


KINDS: dict[str, ReportKind] = {
    "itemlack.report": ReportKind(parse_itemlack_report, lambda r: r.deliveryOrderCode, describe_lack,
                                  lambda r: "needs_person"),
    "orderprocess.report": ReportKind(parse_orderprocess_report, lambda r: r.orderCode, describe_process,
                                      lambda r: "needs_person" if r.processStatus in PROCESS_FOR_PERSON else "applied"),
}
