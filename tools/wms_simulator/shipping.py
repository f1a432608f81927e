"""Shipping: the warehouse packs accepted orders and tells the integration with a signed
``deliveryorder.confirm`` posted to its callback URL, as Juxing does.

Confirmations are stored when shipped and delivered separately, so a test can hold them back,
deliver them out of order, or deliver one twice (the same ``outBizCode`` and body again).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from lxml import etree

from qimen.documents import build_document
from qimen.transport import CONTENT_TYPE, build_request_url, public_params, signed_params

from .config import SimulatorConfig
from .store import CONFIRM_METHOD, WarehouseStore

log = logging.getLogger(__name__)

OPERATOR = {"operatorCode": "SIM", "operatorName": "模拟仓"}


def render_confirmation(shipment: dict) -> str:
    """The deliveryorder.confirm XML for one shipment from ``WarehouseStore.ship``."""
    order = shipment["order"]
    lines = shipment["lines"]
    tracking = shipment["express_codes"]
    packages = [
        {"logisticsCode": shipment["logistics_code"], "expressCode": code, "packageCode": f"{code}-P", "items": []}
        for code in tracking
    ]
    for i, line in enumerate(lines):  # lines spread over the packages, round robin
        packages[i % len(packages)]["items"].append(
            {"itemCode": line["item_code"], "itemId": line["item_id"], "quantity": line["actual_qty"]}
        )
    packages = [p for p in packages if p["items"]]
    document = {
        "deliveryOrder": {
            "deliveryOrderCode": order["order_code"],
            "deliveryOrderId": order["order_id"],
            "warehouseCode": order["warehouse_code"],
            "orderType": order["order_type"] or "JYCK",
            "status": shipment["status"],
            "outBizCode": shipment["out_biz_code"],
            "confirmType": shipment["confirm_type"],
            "orderConfirmTime": shipment["time"],
            "operateTime": shipment["time"],
            **OPERATOR,
        },
        "packages": packages,
        "orderLines": [
            {
                "orderLineNo": line["order_line_no"],
                "orderSourceCode": line["source_order_code"],
                "subSourceCode": line["sub_source_order_code"],
                "ownerCode": line["owner_code"],
                "itemCode": line["item_code"],
                "itemId": line["item_id"],
                "inventoryType": line["inventory_type"],
                "itemName": line["item_name"],
                "planQty": line["plan_qty"],
                "actualQty": line["actual_qty"],
            }
            for line in lines
        ],
    }
    return build_document(CONFIRM_METHOD, document)


# Juxing's real confirmations (the sample in its integration note): every element present, empty
# where it has nothing, invoices and package materials included, no XML declaration, one line.
_JUXING_ORDER = ("deliveryOrderCode", "deliveryOrderId", "warehouseCode", "orderType", "status", "outBizCode",
                 "confirmType", "orderConfirmTime", "operatorCode", "operatorName", "operateTime", "storageFee")
_JUXING_PACKAGE = ("logisticsCode", "logisticsName", "expressCode", "packageCode", "length", "width", "height",
                   "theoreticalWeight", "weight", "volume", "invoiceNo")
_JUXING_LINE = ("orderLineNo", "orderSourceCode", "subSourceCode", "ownerCode", "itemCode", "itemId", "snList",
                "inventoryType", "itemName", "extCode", "planQty", "actualQty", "retailPrice", "actualPrice",
                "discountAmount", "batchCode", "productDate", "expireDate", "produceCode", "qrCode")
LOGISTICS_NAMES = {"YTO": "菜鸟-圆通", "ZTO": "中通", "SF": "顺丰", "YUNDA": "韵达", "STO": "申通", "EMS": "EMS"}


def _add(parent, tag: str, text=None):
    el = etree.SubElement(parent, tag)
    el.text = "" if text is None else str(text)
    return el


def render_juxing_confirmation(shipment: dict) -> str:
    """The same shipment shaped exactly like Juxing's own sample: empty elements, an empty invoice,
    Java-style times (``2020-09-26 13:53:08.0``), no declaration."""
    order, time_java = shipment["order"], f"{shipment['time']}.0"
    root = etree.Element("request")
    head = etree.SubElement(root, "deliveryOrder")
    values = {"deliveryOrderCode": order["order_code"], "deliveryOrderId": order["order_id"],
              "warehouseCode": order["warehouse_code"], "orderType": order["order_type"] or "JYCK",
              "status": shipment["status"], "outBizCode": shipment["out_biz_code"],
              "confirmType": shipment["confirm_type"], "orderConfirmTime": time_java, "operateTime": time_java}
    for tag in _JUXING_ORDER:
        _add(head, tag, values.get(tag))
    invoice = etree.SubElement(etree.SubElement(head, "invoices"), "invoice")
    for tag in ("header", "amount", "content"):
        _add(invoice, tag)
    item = etree.SubElement(etree.SubElement(etree.SubElement(invoice, "detail"), "items"), "item")
    for tag in ("itemName", "unit", "price", "quantity", "amount"):
        _add(item, tag)
    for tag in ("code", "number"):
        _add(invoice, tag)
    lines = shipment["lines"]
    tracking = shipment["express_codes"]
    packages = etree.SubElement(root, "packages")
    for n, code in enumerate(tracking):
        mine = [line for i, line in enumerate(lines) if i % len(tracking) == n]
        if not mine:
            continue
        package = etree.SubElement(packages, "package")
        carrier = shipment["logistics_code"]
        values = {"logisticsCode": carrier, "logisticsName": LOGISTICS_NAMES.get(carrier, carrier), "expressCode": code}
        for tag in _JUXING_PACKAGE:
            _add(package, tag, values.get(tag))
        material = etree.SubElement(etree.SubElement(package, "packageMaterialList"), "packageMaterial")
        _add(material, "type")
        _add(material, "quantity")
        items = etree.SubElement(package, "items")
        for line in mine:
            entry = etree.SubElement(items, "item")
            _add(entry, "itemCode", line["item_code"])
            _add(entry, "itemId", line["item_id"])
            _add(entry, "quantity", line["actual_qty"])
    order_lines = etree.SubElement(root, "orderLines")
    for line in lines:
        el = etree.SubElement(order_lines, "orderLine")
        values = {"ownerCode": line["owner_code"], "itemCode": line["item_code"], "itemId": line["item_id"],
                  "inventoryType": line["inventory_type"] or "ZP", "planQty": line["plan_qty"],
                  "actualQty": line["actual_qty"], "retailPrice": 0, "actualPrice": 0, "discountAmount": 0}
        for tag in _JUXING_LINE:
            if tag == "snList":
                _add(etree.SubElement(el, "snList"), "sn")
            else:
                _add(el, tag, values.get(tag))
    return etree.tostring(root, encoding="unicode")


RENDERERS = {"qimen": render_confirmation, "juxing": render_juxing_confirmation}


def deliver(store: WarehouseStore, config: SimulatorConfig, confirmations: list[dict],
            callback_url: str | None = None) -> list[dict]:
    """POST each confirmation (or report: its ``method``), in the given order, signed like any Qimen
    request; record how the receiver answered. Returns one result per confirmation."""
    url = callback_url or config.callback_url
    results = []
    for confirmation in confirmations:
        method = confirmation.get("method") or CONFIRM_METHOD
        result = {"out_biz_code": confirmation["out_biz_code"], "order_code": confirmation["order_code"],
                  "method": method}
        if not url:
            result.update(delivered=False, error="no callback URL configured")
            results.append(result)
            continue
        status, answer, error = post_confirmation(config, url, confirmation["body"], method)
        store.record_delivery(confirmation["out_biz_code"], status, answer, error)
        result.update(delivered=error is None, http_status=status, answer=answer, error=error)
        log.info("%s %s (%s) -> %s %s", method, confirmation["out_biz_code"], confirmation["order_code"],
                 status, error or "")
        results.append(result)
    return results


def post_confirmation(config: SimulatorConfig, url: str, body: str,
                      method: str = CONFIRM_METHOD) -> tuple[int | None, str | None, str | None]:
    params = public_params(method, app_key=config.callback_app_key,
                           customer_id=config.customer_id or config.owner_code or "")
    secret = config.effective_callback_secret
    if secret is not None:
        params = signed_params(params, body, secret)
    request = urllib.request.Request(
        build_request_url(url, params), data=body.encode("utf-8"), method="POST",
        headers={"Content-Type": CONTENT_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=config.callback_timeout_s) as response:
            return response.status, response.read(1024 * 1024).decode("utf-8", "replace"), None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1024 * 1024).decode("utf-8", "replace"), f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return None, None, f"{type(exc).__name__}: {exc}"
