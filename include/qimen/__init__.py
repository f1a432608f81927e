"""Qimen (奇门) WMS protocol: signing, XML documents, field rules, parsing, errors.

Pure Python (lxml, no Airflow), so the hook, the transforms, the simulator and the tests share one
implementation and one table of field rules. `python -m qimen` prints the field reference.
"""

from .documents import (
    build_callback_answer,
    build_deliveryorder_confirm,
    build_document,
    build_error_response,
    build_response,
)
from .errors import (
    QimenBusinessError,
    QimenError,
    QimenGatewayError,
    QimenHTTPError,
    QimenProtocolError,
    QimenSignatureError,
    QimenTransportError,
    QimenValidationError,
)
from .inbound import (
    ItemLackReport,
    LackItem,
    OrderProcessReport,
    ReturnBatch,
    ReturnLine,
    ReturnOrderConfirm,
    StockChange,
    StockChangeReport,
    content_key,
    parse_itemlack_report,
    parse_orderprocess_report,
    parse_returnorder_confirm,
    parse_stockchange_report,
)
from .inventory import (
    InventoryAnswer,
    InventoryRow,
    build_inventory_query,
    parse_inventory_response,
    sellable_by_item,
)
from .parsing import (
    DEFAULT_MAX_BYTES,
    ConfirmLine,
    DeliveryOrderConfirm,
    Package,
    PackageItem,
    Response,
    parse_deliveryorder_confirm,
    parse_request,
    parse_response,
    parse_xml,
    raise_for_failure,
)
from .rules import (
    CONFIRM_STATUSES,
    DOCUMENTS,
    INVENTORY_TYPES,
    ITEM_TYPES,
    LOGISTICS_CODES,
    ORDER_TYPES,
    PROCESS_STATUSES,
    RESPONSES,
    RETURN_ORDER_TYPES,
    Field,
)
from .signing import SIGN_METHODS, sign, verify_sign
from .timeutil import BEIJING, format_date, format_datetime, now_beijing, parse_date, parse_datetime
from .transport import METHODS, build_request_url, normalize_method, public_params, redact_url, signed_params
from .validation import Violation, validate

__all__ = [
    "BEIJING", "CONFIRM_STATUSES", "ConfirmLine", "DEFAULT_MAX_BYTES", "DOCUMENTS", "DeliveryOrderConfirm",
    "Field", "INVENTORY_TYPES", "InventoryAnswer", "InventoryRow", "ITEM_TYPES", "LOGISTICS_CODES", "METHODS", "ORDER_TYPES", "Package",
    "PackageItem", "QimenBusinessError", "QimenError", "QimenGatewayError", "QimenHTTPError",
    "QimenProtocolError", "QimenSignatureError", "QimenTransportError", "QimenValidationError", "RESPONSES",
    "Response", "SIGN_METHODS", "Violation", "build_callback_answer", "build_deliveryorder_confirm",
    "build_document", "build_error_response", "build_inventory_query", "build_request_url", "build_response", "format_date",
    "format_datetime", "normalize_method", "now_beijing", "parse_date", "parse_datetime",
    "parse_deliveryorder_confirm", "parse_inventory_response", "parse_request", "parse_response", "parse_xml", "public_params",
    "raise_for_failure", "redact_url", "sellable_by_item", "sign", "signed_params", "validate", "verify_sign",
    # the standard family beyond Juxing's note: returns and the warehouse's reports (qimen.inbound)
    "ItemLackReport", "LackItem", "OrderProcessReport", "PROCESS_STATUSES", "RETURN_ORDER_TYPES", "ReturnBatch",
    "ReturnLine", "ReturnOrderConfirm", "StockChange", "StockChangeReport", "content_key",
    "parse_itemlack_report", "parse_orderprocess_report", "parse_returnorder_confirm", "parse_stockchange_report",
]
