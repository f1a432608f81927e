"""Qimen (奇门) WMS protocol: signing, XML documents, field rules, parsing, errors.

Pure Python (lxml, no Airflow), so the hook, the transforms, the simulator and the tests share one
implementation and one table of field rules.
"""

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
from .signing import SIGN_METHODS, sign, verify_sign
from .timeutil import BEIJING, format_datetime, now_beijing, parse_datetime
from .transport import METHODS, build_request_url, normalize_method, public_params, redact_url, signed_params

__all__ = [
    "BEIJING",
    "METHODS",
    "SIGN_METHODS",
    "QimenBusinessError",
    "QimenError",
    "QimenGatewayError",
    "QimenHTTPError",
    "QimenProtocolError",
    "QimenSignatureError",
    "QimenTransportError",
    "QimenValidationError",
    "build_request_url",
    "format_datetime",
    "normalize_method",
    "now_beijing",
    "parse_datetime",
    "public_params",
    "redact_url",
    "sign",
    "signed_params",
    "verify_sign",
]
