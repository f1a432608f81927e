"""Error hierarchy for talking to a Qimen WMS.

Callers decide about retries from one attribute, ``retryable``: transport faults, HTTP 5xx/429 and
gateway faults (``error_response`` code 50, ``isp.*``) may succeed on a second try; business
failures (``flag=failure``) and ``isv.*`` gateway faults will not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qimen.answers import Verdict


class QimenError(Exception):
    """Base class. ``retryable`` says whether sending the same request again may succeed.

    What a call knew when it gave up is on the error itself, declared here so callers read plain
    attributes: the exchange (``request_body``, ``response_body``, ``http_status``, ``url`` with the
    sign masked) and, once a client has decided about it, ``attempts``, ``duration_ms``, the
    ``verdict`` of the answer rules (qimen.answers) and the server's ``retry_after`` seconds."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        http_status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_body = request_body
        self.response_body = response_body
        self.http_status = http_status
        self.url = url
        self.retry_after = retry_after
        self.attempts: int | None = None
        self.duration_ms: int | None = None
        self.verdict: Verdict | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class QimenTransportError(QimenError):
    """Connection refused or reset, timeout, broken response stream. The request may or may not
    have been processed by the warehouse, so only idempotent messages should be resent."""

    retryable = True


class QimenHTTPError(QimenError):
    """A non-200 HTTP status without a Qimen body. 5xx and 429 are retryable, other 4xx are not."""

    def __init__(self, message: str, *, http_status: int, **kwargs) -> None:
        super().__init__(message, http_status=http_status, code=kwargs.pop("code", f"HTTP{http_status}"), **kwargs)
        self.retryable = http_status >= 500 or http_status == 429


class QimenProtocolError(QimenError):
    """The answer is not a Qimen document (HTML error page, truncated XML, oversized, DTD ...)."""

    retryable = False


class QimenGatewayError(QimenError):
    """An ``<error_response>`` from the gateway. Remote-service errors (code 50 without an ``isv.``
    sub code, or any ``isp.*`` sub code) are retryable; ``isv.*`` (the caller's fault) is not."""

    def __init__(self, message: str, *, sub_code: str | None = None, sub_msg: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.sub_code = sub_code or None
        self.sub_msg = sub_msg or None
        self.retryable = is_retryable_gateway_fault(self.code, message, self.sub_code)

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.sub_code or self.sub_msg:
            parts.append(f"({self.sub_code or ''}: {self.sub_msg or ''})")
        return " ".join(parts)


class QimenBusinessError(QimenError):
    """``<response><flag>failure</flag>``: the warehouse understood and refused. Permanent."""

    retryable = False


class QimenValidationError(QimenError):
    """A document broke the field rules before it was sent. Carries every violation."""

    retryable = False

    def __init__(self, violations: list, **kwargs) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations) or "invalid document", code="invalid", **kwargs)


class QimenSignatureError(QimenError):
    """An incoming request's signature does not match (answered ``sign-check-failure``)."""

    retryable = False


def is_retryable_gateway_fault(code: str | None, message: str | None, sub_code: str | None) -> bool:
    sub = (sub_code or "").lower()
    if sub.startswith("isv."):
        return False
    if sub.startswith("isp."):
        return True
    return (code or "").strip() == "50" or (message or "").strip().lower() == "remote service error"
