"""Qimen (奇门) WMS protocol: signing, XML documents, field rules, parsing, errors.

Pure Python (lxml, no Airflow), so the hook, the transforms, the simulator and the tests share one
implementation and one table of field rules.

Names are exported lazily (PEP 562): ``python -m qimen.rules`` then runs the rules module once,
as ``__main__``, instead of after a second copy imported by this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "errors": (
        "QimenBusinessError",
        "QimenError",
        "QimenGatewayError",
        "QimenHTTPError",
        "QimenProtocolError",
        "QimenSignatureError",
        "QimenTransportError",
        "QimenValidationError",
    ),
    "signing": ("SIGN_METHODS", "sign", "verify_sign"),
    "timeutil": ("BEIJING", "format_date", "format_datetime", "now_beijing", "parse_date", "parse_datetime"),
    "transport": ("METHODS", "build_request_url", "normalize_method", "public_params", "redact_url", "signed_params"),
    "rules": (
        "CONFIRM_STATUSES",
        "DOCUMENTS",
        "INVENTORY_TYPES",
        "ITEM_TYPES",
        "LOGISTICS_CODES",
        "ORDER_TYPES",
        "RESPONSES",
        "Field",
    ),
    "validation": ("Violation", "validate"),
    "documents": (
        "build_callback_answer",
        "build_deliveryorder_confirm",
        "build_document",
        "build_error_response",
        "build_response",
    ),
    "parsing": (
        "DEFAULT_MAX_BYTES",
        "ConfirmLine",
        "DeliveryOrderConfirm",
        "Package",
        "PackageItem",
        "Response",
        "parse_deliveryorder_confirm",
        "parse_request",
        "parse_response",
        "parse_xml",
        "raise_for_failure",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _EXPORTS:  # ``import qimen; qimen.rules.DOCUMENTS`` works as with eager imports
        return importlib.import_module(f".{name}", __name__)
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'qimen' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see ordinary imports
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
        RESPONSES,
        Field,
    )
    from .signing import SIGN_METHODS, sign, verify_sign
    from .timeutil import BEIJING, format_date, format_datetime, now_beijing, parse_date, parse_datetime
    from .transport import METHODS, build_request_url, normalize_method, public_params, redact_url, signed_params
    from .validation import Violation, validate
