"""The codes the simulator answers with (listed for users in docs/simulator.md).

Business refusals are ``<response><flag>failure</flag><code>CODE</code>``; gateway-level faults are
``<error_response>`` with Taobao-TOP-style numeric codes and ``isv.*`` (caller's fault, permanent)
or ``isp.*`` (platform's fault, retryable) sub codes, matching ``qimen.errors``' retry rules.
"""

from __future__ import annotations

from dataclasses import dataclass

# flag=failure codes
SIGN_CHECK_FAILURE = "sign-check-failure"
INVALID_CUSTOMER = "invalid-customer"
INVALID_WAREHOUSE = "invalid-warehouse"
INVALID_OWNER = "invalid-owner"
INVALID_PARAMETER = "invalid-parameter"
ITEM_NOT_FOUND = "item-not-found"
ORDER_EXISTS_DIFFERENT = "order-exists-different"
ORDER_NOT_FOUND = "order-not-found"
ORDER_SHIPPED = "order-shipped"
ORDER_CANCELED = "order-canceled"
INSUFFICIENT_STOCK = "insufficient-stock"
METHOD_NOT_ENABLED = "method-not-enabled"  # config disabled_methods: this warehouse has not switched it on
RETURN_CLOSED = "return-closed"  # admin: a return already finally received


@dataclass(frozen=True)
class GatewayFault:
    code: str
    msg: str
    sub_code: str
    sub_msg: str = ""


RATE_LIMITED = GatewayFault("7", "App Call Limited", "isp.call-limited", "调用频率超限")
REMOTE_SERVICE_ERROR = GatewayFault("50", "Remote service error", "isp.remote-service-error", "服务暂不可用")
INVALID_XML = GatewayFault("50", "Remote service error", "isv.invalid-parameter", "非法参数")
BODY_TOO_LARGE = GatewayFault("50", "Remote service error", "isv.body-too-large", "报文过大")
MISSING_METHOD = GatewayFault("40", "Missing Required Arguments", "isv.missing-parameter:method", "缺少method参数")
INVALID_METHOD = GatewayFault("22", "Invalid Method", "isv.invalid-method", "不存在的方法名")
INVALID_PATH = GatewayFault("22", "Invalid Method", "isv.invalid-path", "不存在的地址")
INVALID_FORMAT = GatewayFault("23", "Invalid Format", "isv.invalid-format", "format只支持xml")
MISSING_TIMESTAMP = GatewayFault("30", "Missing Timestamp", "isv.missing-parameter:timestamp", "缺少timestamp参数")
INVALID_TIMESTAMP = GatewayFault("31", "Invalid Timestamp", "isv.invalid-timestamp", "时间戳错误")
INVALID_VERSION = GatewayFault("34", "Unsupported Version", "isv.invalid-version", "v只支持2.0")
WRONG_PATH = GatewayFault("22", "Invalid Method", "isv.method-not-at-path", "此地址不接收该方法")
HTTP_METHOD_NOT_ALLOWED = GatewayFault("22", "Invalid Method", "isv.http-method-not-allowed", "请使用POST")


class SimulatedRefusal(Exception):
    """A business refusal: answered ``flag=failure`` with ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
