"""What a warehouse answer means for the record it was about: ONE classification for every flow.

Every exchange ends in exactly one verdict:

- ``accepted``          the warehouse did it (``flag=success``);
- ``exists_same``       it already holds this very document (a resend after a lost answer): as good
                        as accepted;
- ``exists_different``  it holds another version under the same code: never counted as done, a
                        person decides (cancel and recreate, or leave it);
- ``passing``           a fault that goes away by itself: transport errors and timeouts, HTTP
                        5xx/429, gateway code 50 / ``isp.*``, an answer we could not read, and
                        ``flag=failure`` whose code or message means busy / rate-limited / system
                        error / try later. Retried with backoff within the run and by later runs;
- ``permanent``         everything else: refused for good, waiting for a person, with the
                        warehouse's own words.

Real gateways word these freely (``SYSTEM_BUSY``, ``系统繁忙，请稍后重试``), so the codes and phrases
live in one table, ``AnswerRules``, which a deployment extends from configuration
(``AnswerRules.extended``) instead of editing code.

The same table also says which refusals blame the connection's own settings (signature, app key,
customerId, owner 货主, warehouse 仓库: ``names_settings``). The pipelines keep such a refusal
``permanent`` like any other; the connection test (``QimenHook.test_connection``) fails on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from .errors import (
    QimenBusinessError,
    QimenError,
    QimenProtocolError,
    QimenSignatureError,
    QimenValidationError,
)


class Verdict(str, Enum):
    ACCEPTED = "accepted"
    EXISTS_SAME = "exists_same"
    EXISTS_DIFFERENT = "exists_different"
    PASSING = "passing"
    PERMANENT = "permanent"

    @property
    def done(self) -> bool:
        """The warehouse holds exactly what we sent."""
        return self in (Verdict.ACCEPTED, Verdict.EXISTS_SAME)

    @property
    def needs_person(self) -> bool:
        return self in (Verdict.EXISTS_DIFFERENT, Verdict.PERMANENT)


def _norm(values: Iterable[str]) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in values if str(v).strip())


@dataclass(frozen=True)
class AnswerRules:
    """The table behind ``classify``. Codes compare case-insensitively and whole; phrases are
    case-insensitive substrings of the failure message (or of the code)."""

    passing_codes: frozenset[str] = field(default_factory=frozenset)
    passing_phrases: frozenset[str] = field(default_factory=frozenset)
    exists_same_codes: frozenset[str] = field(default_factory=frozenset)
    exists_different_codes: frozenset[str] = field(default_factory=frozenset)
    exists_phrases: frozenset[str] = field(default_factory=frozenset)
    settings_codes: frozenset[str] = field(default_factory=frozenset)
    settings_phrases: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, _norm(getattr(self, name)))

    def extended(self, extra: Mapping[str, Iterable[str]] | None) -> AnswerRules:
        """These rules plus ``extra`` (same keys as the fields, lists of strings). Unknown keys are
        refused, so a typo in configuration cannot silently leave a busy code permanent."""
        if not extra:
            return self
        known = set(self.__dataclass_fields__)
        unknown = sorted(set(extra) - known)
        if unknown:
            raise ValueError(f"unknown answer rule keys {unknown}; known: {sorted(known)}")
        for key, values in extra.items():
            if isinstance(values, str) or not isinstance(values, Iterable):
                raise ValueError(f"answer rule {key!r} must be a list of strings")
        return AnswerRules(**{
            name: getattr(self, name) | _norm(extra.get(name, ())) for name in known
        })

    def is_passing_failure(self, code: str | None, message: str | None) -> bool:
        code_n, message_n = (code or "").strip().lower(), (message or "").strip().lower()
        if code_n and code_n in self.passing_codes:
            return True
        return any(p in message_n or p in code_n for p in self.passing_phrases)

    def exists_verdict(self, code: str | None, message: str | None) -> Verdict | None:
        code_n, message_n = (code or "").strip().lower(), (message or "").strip().lower()
        if code_n in self.exists_different_codes:
            return Verdict.EXISTS_DIFFERENT
        if code_n in self.exists_same_codes:
            return Verdict.EXISTS_SAME
        if any(p in message_n for p in self.exists_phrases):
            # "已存在" alone does not say whether it is the same document: a person checks.
            return Verdict.EXISTS_DIFFERENT
        return None

    def names_settings(self, code: str | None, message: str | None) -> bool:
        """The refusal blames the connection's own settings (signature, app key, customerId, owner or
        warehouse code): checking the connection must fail on it, whatever else the answer says."""
        code_n, message_n = (code or "").strip().lower(), (message or "").strip().lower()
        if code_n and code_n in self.settings_codes:
            return True
        return any(p in message_n or p in code_n for p in self.settings_phrases)


DEFAULT_RULES = AnswerRules(
    passing_codes={
        "SYSTEM_BUSY", "SYSTEM_ERROR", "SERVICE_BUSY", "SERVICE_UNAVAILABLE", "SERVER_BUSY", "BUSY",
        "TIMEOUT", "RATE_LIMITED", "CALL_LIMITED", "TOO_MANY_REQUESTS", "TRY_LATER", "LOCKED",
        "isp.call-limited", "isp.remote-service-error", "isp.service-unavailable", "isp.timeout",
        "system-busy", "system-error", "call-limited", "503", "429",
    },
    passing_phrases={
        "系统繁忙", "系统忙", "系统异常", "系统错误", "服务繁忙", "服务不可用", "服务暂不可用", "稍后重试",
        "稍后再试", "请重试", "频率超限", "调用频率", "调用次数", "请求过于频繁", "访问过于频繁", "超时",
        "system busy", "system error", "server busy", "service unavailable", "try again later",
        "please retry", "rate limit", "too many requests", "timed out", "temporarily unavailable",
    },
    exists_same_codes={"order-exists", "ORDER_EXISTS", "EXISTS", "order-exists-same", "DUPLICATE"},
    exists_different_codes={"order-exists-different", "ORDER_EXISTS_DIFFERENT"},
    exists_phrases={"已存在"},
    # None of these may match the connection test's expected refusal: an order.cancel that names the
    # warehouse and owner but has no order code ("orderCode: required", "订单编码不能为空"). No
    # "invalid appkey" phrase: Juxing writes it into answers whatever the outcome, success included.
    settings_codes={
        "sign-check-failure", "invalid-signature", "isv.invalid-signature", "invalid-app-key",
        "isv.invalid-app-key", "isv.appkey-not-exists", "invalid-customer", "invalid-owner",
        "invalid-warehouse",
    },
    settings_phrases={
        "签名错误", "签名无效", "签名不正确", "验签失败", "货主不存在", "货主编码不存在", "货主id不存在",
        "仓库不存在", "仓库编码不存在", "customerid", "ownercode not exist", "warehousecode not exist",
        "invalid signature", "signature does not match",
    },
)


def classify(error: QimenError | None, rules: AnswerRules = DEFAULT_RULES) -> Verdict:
    """The verdict of one exchange that ended with ``error`` (``None``: success)."""
    if error is None:
        return Verdict.ACCEPTED
    if isinstance(error, QimenBusinessError):
        if rules.is_passing_failure(error.code, error.message):
            return Verdict.PASSING
        return rules.exists_verdict(error.code, error.message) or Verdict.PERMANENT
    if isinstance(error, (QimenValidationError, QimenSignatureError)):
        return Verdict.PERMANENT
    if isinstance(error, QimenProtocolError):
        # An answer we could not read (an HTML error page, a truncated body): whether the warehouse
        # acted is unknown, and every message we send is idempotent, so asking again is safe. An
        # oversized answer would only come back oversized.
        return Verdict.PERMANENT if error.code == "too-large" else Verdict.PASSING
    return Verdict.PASSING if error.retryable else Verdict.PERMANENT


__all__ = ["AnswerRules", "DEFAULT_RULES", "Verdict", "classify"]
