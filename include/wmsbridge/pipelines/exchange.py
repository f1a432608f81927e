"""One request to the warehouse, recorded in wms_exchange_log whatever happens.

The outcome names follow ``qimen.errors``; the caller decides what an outcome means for its
record (sent, failed and retryable, failed for good).
"""

from __future__ import annotations

import time

from .runtime import Bridge
from dataclasses import dataclass

from qimen.answers import Verdict, classify
from qimen.errors import (
    QimenBusinessError,
    QimenError,
    QimenGatewayError,
    QimenHTTPError,
    QimenProtocolError,
    QimenSignatureError,
    QimenTransportError,
    QimenValidationError,
)
from qimen.parsing import Response

_OUTCOMES = (
    (QimenBusinessError, "business_failure"),
    (QimenGatewayError, "gateway_error"),
    (QimenHTTPError, "http_error"),
    (QimenTransportError, "transport_error"),
    (QimenValidationError, "validation_error"),
    (QimenSignatureError, "signature_error"),
    (QimenProtocolError, "protocol_error"),
)


@dataclass(frozen=True)
class Exchange:
    key: str
    response: Response | None
    error: QimenError | None
    verdict: Verdict = Verdict.ACCEPTED  # qimen.answers: what the answer means for the record

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None and self.response.success

    @property
    def retryable(self) -> bool:
        return bool(self.error is not None and self.error.retryable)

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else (self.error.code or type(self.error).__name__)

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else str(self.error)


def outcome_of(error: QimenError | None) -> str:
    if error is None:
        return "success"
    for cls, name in _OUTCOMES:
        if isinstance(error, cls):
            return name
    return "protocol_error"


def send(bridge: Bridge, method: str, key: str, body: str, *, log=None) -> Exchange:
    """POST one document through the hook (with its retries) and log the exchange.

    ``log`` takes the exchange-log row instead of ``bridge.store.exchanges.log`` (same arguments),
    e.g. a writer that batches exchange rows.
    """
    log_exchange = log or bridge.store.exchanges.log
    started = time.monotonic()
    try:
        result = bridge.hook_for(method).call(method, body)
    except QimenError as err:
        log_exchange(
            direction="outbound", method=method, outcome=outcome_of(err), business_key=key,
            request_body=err.request_body or body, response_body=err.response_body,
            http_status=err.http_status, error_code=err.code, error_message=str(err),
            duration_ms=int((time.monotonic() - started) * 1000), run_id=bridge.run_id,
            url=err.url,
        )
        verdict = err.verdict or classify(err, bridge.config.rules())
        return Exchange(key, None, err, verdict)
    log_exchange(
        direction="outbound", method=method, outcome="success", business_key=key,
        request_body=result.request_body, response_body=result.response_body, http_status=result.http_status,
        duration_ms=result.duration_ms, run_id=bridge.run_id, url=result.url,
    )
    return Exchange(key, result.response, None)
