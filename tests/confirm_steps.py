"""A deliveryorder.confirm put in the inbox the way the receiver puts it: the XML parsed by
``qimen.parsing`` and stored by ``ConfirmationInbox.receive`` with its exchange, for tests."""

from __future__ import annotations

from xml.sax.saxutils import escape

from qimen.parsing import parse_deliveryorder_confirm
from wmsbridge.store.base import InboxInsert
from wmsbridge.store.confirmations import Settlement
from wmsbridge.store.exchange_log import Inbound


def confirm_xml(code: str, *, key: str | None, status: str = "DELIVERED", confirm_type: int = 0,
                packages=(("YTO", "菜鸟-圆通", "YT4815765342047", (("S190013", "75378204784721921", 2),)),),
                order_confirm_time: str = "", warehouse_code: str = "15", order_id: str = "") -> str:
    """Juxing's shape (tests/protocol/fixtures/confirm_request.xml), reduced to what the store keeps.
    ``packages``: (logisticsCode, logisticsName, expressCode, ((itemCode, itemId, quantity), ...))."""
    parcels = "".join(
        f"<package><logisticsCode>{escape(lc)}</logisticsCode><logisticsName>{escape(ln or '')}</logisticsName>"
        f"<expressCode>{escape(ec)}</expressCode><items>"
        + "".join(f"<item><itemCode>{escape(ic)}</itemCode><itemId>{ii}</itemId><quantity>{q}</quantity></item>"
                  for ic, ii, q in items)
        + "</items></package>" for lc, ln, ec, items in packages)
    return (f"<request><deliveryOrder><deliveryOrderCode>{escape(code)}</deliveryOrderCode>"
            f"<deliveryOrderId>{escape(order_id)}</deliveryOrderId><warehouseCode>{escape(warehouse_code)}</warehouseCode>"
            f"<orderType>JYCK</orderType><status>{escape(status)}</status>"
            f"<outBizCode>{escape(key or '')}</outBizCode><confirmType>{confirm_type}</confirmType>"
            f"<orderConfirmTime>{escape(order_confirm_time)}</orderConfirmTime></deliveryOrder>"
            f"<packages>{parcels}</packages></request>")


def receive(inbox, code: str, *, key: str, **fields) -> InboxInsert:
    """Store one confirmation of order ``code`` under ``key`` (its outBizCode), as the receiver does."""
    body = confirm_xml(code, key=key, **fields)
    return inbox.receive(parse_deliveryorder_confirm(body), key=key, raw_body=body, inbound=Inbound(
        method="deliveryorder.confirm", url="/wms/qimen/callback", body=body, answer="<response/>",
        http_status=200, outcome="success"))


def settle(inbox, inbox_id: int, state: str, *, reason: str | None = None, run_id: str | None = None,
           overdue: bool = False) -> bool:
    """One due confirmation of ``inbox`` claimed and settled in a transaction of its own, as the
    shipments flow settles a row that fails alone; False when it is not this inbox's to take."""
    due = [row for row in inbox.due(10_000) if row["id"] == inbox_id]
    with inbox.engine.begin() as conn:
        claimed = {row["id"]: row for row in inbox.claim(conn, due)}
        inbox.settle_many(conn, claimed, [Settlement(i, state, reason, overdue) for i in claimed], run_id=run_id)
    return bool(claimed)


def stored(inbox, code: str) -> tuple[list[dict], list[dict]]:
    """Every confirmation of order ``code`` in ``inbox`` (oldest first) and their package rows."""
    with inbox.engine.connect() as conn:
        confirmations = inbox.confirmations_of_orders(conn, [code]).get(code, [])
        packages = inbox.packages_of_orders(conn, [code])
    return confirmations, [p for c in confirmations for p in packages.get(c["id"], [])]
