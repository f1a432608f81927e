"""The Qimen endpoint: from one HTTP request to the answer a strict Qimen WMS would give.

Transport concerns (sockets, delays, hanging, dropping) stay in ``server.py``; this module only
decides. The order of checks mirrors a gateway in front of a WMS: rate limit and platform faults
first, then the public parameters and the signature, then the document and its field rules, and
last the warehouse's own business rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from qimen.compiled import render
from qimen.documents import build_error_response, build_response
from qimen.errors import QimenProtocolError
from qimen.parsing import parse_request
from qimen.signing import verify_sign
from qimen.timeutil import BEIJING, DATETIME_FORMAT
from qimen.transport import CONTENT_TYPE, normalize_method
from qimen.validation import validate

from . import codes
from .codes import GatewayFault, SimulatedRefusal
from .config import SimulatorConfig
from .faults import FaultDice, FaultPlan, CallLimit
from .methods import HANDLERS
from .store import WarehouseStore

# outcomes, as counted per method by /__admin/counters
SUCCESS = "success"
FAILURE = "failure"
ERROR_RESPONSE = "error_response"
HTTP_5XX = "http_5xx"
HANG = "hang"
DROPPED = "dropped"


@dataclass
class Answer:
    """What to send back (or not) and how to log it."""

    status: int
    body: bytes
    outcome: str
    content_type: str = CONTENT_TYPE
    code: str | None = None
    method: str | None = None
    fault: str | None = None
    delay_s: float = 0.0
    hang: bool = False
    drop: bool = False  # processed, then the connection is closed without an answer


def gateway_answer(fault: GatewayFault, sub_msg: str | None = None, *, status: int = 200) -> Answer:
    body = build_error_response(fault.code, fault.msg, fault.sub_code, sub_msg or fault.sub_msg)
    return Answer(status, body.encode("utf-8"), ERROR_RESPONSE, code=fault.sub_code)


def response_answer(flag: str, code: str, message: str, fields: dict | None = None,
                    method: str | None = None) -> Answer:
    body = build_response(flag, code, message, fields, method=method)
    return Answer(200, body.encode("utf-8"), SUCCESS if flag == "success" else FAILURE, code=code)


_CANONICAL_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def public_params_refusal(params: dict, config: SimulatorConfig, now: datetime | None = None) -> Answer | None:
    """What a Qimen gateway says about ``format``, ``v`` and ``timestamp``; None when they are fine."""
    if params.get("format", "xml") != "xml":
        return gateway_answer(codes.INVALID_FORMAT, f"format只支持xml: got {params.get('format')!r}")
    if params.get("v") != "2.0":
        return gateway_answer(codes.INVALID_VERSION, f"v只支持2.0: got {params.get('v')!r}")
    stamp = params.get("timestamp")
    if not stamp:
        return gateway_answer(codes.MISSING_TIMESTAMP)
    try:
        canonical = _CANONICAL_STAMP.fullmatch(stamp)  # strptime costs more than the rest of the check
        sent = (datetime(*map(int, canonical.groups())) if canonical else datetime.strptime(stamp, DATETIME_FORMAT)
                ).replace(tzinfo=BEIJING)
    except ValueError:
        return gateway_answer(codes.INVALID_TIMESTAMP, f"时间戳错误: {stamp!r} is not yyyy-MM-dd HH:mm:ss")
    skew = abs(((now or datetime.now(BEIJING)) - sent).total_seconds())
    if skew > config.max_clock_skew_s:
        return gateway_answer(codes.INVALID_TIMESTAMP,
                              f"时间戳错误: {stamp} (Beijing time) is {skew / 60:.0f} minutes off the gateway's clock; "
                              f"allowed {config.max_clock_skew_s / 60:.0f}")
    return None


def _lower_case_sign(params: dict) -> bool:
    given = params.get("sign") or ""
    return given != given.upper()


class QimenService:
    """Answers Qimen requests for one simulated warehouse."""

    def __init__(self, config: SimulatorConfig, store: WarehouseStore, dice: FaultDice, limiter: CallLimit) -> None:
        self.config = config
        self.store = store
        self.dice = dice
        self.limiter = limiter

    def handle(self, query: str, body: bytes | None, *, body_too_large: bool = False,
               path: str | None = None) -> Answer:
        params = dict(parse_qsl(query, keep_blank_values=True))
        method = normalize_method(params.get("method", ""))
        plan = self.dice.roll(method)
        answer = self._decide(params, method, body, body_too_large, plan, path)
        answer.method = method or None
        answer.delay_s = plan.delay_s
        if answer.fault is None and answer.outcome not in (HANG, HTTP_5XX) and plan.drop_after:
            answer.drop, answer.fault = True, "drop_after"
        return answer

    def _decide(self, params: dict, method: str, body: bytes | None, too_large: bool, plan: FaultPlan,
                path: str | None = None) -> Answer:
        faults = self.dice.settings
        if (not faults.methods or method in faults.methods) and not self.limiter.admit(
            params.get("app_key", ""), faults.rate_limit, faults.rate_limit_window_s
        ):
            return self._fault(gateway_answer(codes.RATE_LIMITED), "rate_limited")
        if plan.hang:
            return Answer(0, b"", HANG, fault="hang", hang=True)
        if plan.http_5xx:
            status = faults.status_5xx
            text = f"{status} simulated server error\n".encode()
            return Answer(status, text, HTTP_5XX, content_type="text/plain; charset=utf-8", fault="http_5xx",
                          code=f"HTTP{status}")
        if plan.error_response:
            return self._fault(gateway_answer(codes.REMOTE_SERVICE_ERROR), "error_response")
        if too_large:
            return gateway_answer(codes.BODY_TOO_LARGE, f"报文过大: more than {self.config.max_body_bytes} bytes")
        if not params.get("method"):
            return gateway_answer(codes.MISSING_METHOD)
        if method not in HANDLERS:
            return gateway_answer(codes.INVALID_METHOD, f"不存在的方法名: {params['method']}")
        allowed = self.config.method_paths.get(method)
        if allowed and path is not None and path not in allowed:
            return gateway_answer(codes.WRONG_PATH, f"{method} is accepted at {', '.join(allowed)}, not at {path}")
        if self.config.strict_public_params:
            refused = public_params_refusal(params, self.config)
            if refused is not None:
                return refused
        try:
            text = (body or b"").decode("utf-8")
        except UnicodeDecodeError:
            return gateway_answer(codes.INVALID_XML, "非法参数: the body is not UTF-8")
        if self.config.secret is not None and self.config.strict_public_params and _lower_case_sign(params):
            return response_answer(FAILURE, codes.SIGN_CHECK_FAILURE,
                                   "签名错误: the sign must be upper-case hex", method=method)
        if self.config.secret is not None and not verify_sign(params, text, self.config.secret):
            return response_answer(FAILURE, codes.SIGN_CHECK_FAILURE, "签名错误: the sign does not match", method=method)
        if self.config.customer_id and params.get("customerId") != self.config.customer_id:
            return response_answer(FAILURE, codes.INVALID_CUSTOMER,
                                   f"customerId {params.get('customerId')!r} is not a known owner", method=method)
        if plan.failure_code is not None:
            return self._fault(response_answer(FAILURE, plan.failure_code, "simulated failure", method=method),
                               "failure_code")
        if method in self.config.disabled_methods:
            return response_answer(FAILURE, codes.METHOD_NOT_ENABLED,
                                   f"{method} is not enabled for this warehouse",
                                   method=method)
        try:
            document = parse_request(method, text)
        except QimenProtocolError as exc:
            return gateway_answer(codes.INVALID_XML, f"非法参数: {exc.message}")
        # The compiled check vouches for a valid document in one pass (qimen.compiled: rendered =>
        # no violation); anything else gets the generic validator, which names every violation.
        violations = [] if render(method, document) is not None else validate(method, document)
        if violations:
            message = "; ".join(str(v) for v in violations)
            return response_answer(FAILURE, codes.INVALID_PARAMETER, message, method=method)
        try:
            message, fields = HANDLERS[method](document, self.config, self.store)
        except SimulatedRefusal as refusal:
            return response_answer(FAILURE, refusal.code, refusal.message, method=method)
        return response_answer(SUCCESS, "0", message, fields, method=method)

    @staticmethod
    def _fault(answer: Answer, label: str) -> Answer:
        answer.fault = label
        return answer
