"""QimenHook: an Airflow ``qimen`` connection turned into a careful Qimen WMS client.

The protocol (signing, XML, parsing, which errors are retryable) lives in the ``qimen`` package; this
hook adds what a production caller needs around it: lazy connection lookup, one pool of keep-alive
connections (urllib3, which requests uses underneath, without requests' per-request work: about
half of a call's CPU), timeouts, bounded retries with jittered backoff for retryable errors only,
a client-side rate limit shared by every thread, hook and process that talks to the same warehouse
(``rate_limit``), and logs that never show the secret or the sign.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
)

from airflow.sdk import BaseHook
from qimen.answers import DEFAULT_RULES, AnswerRules, Verdict, classify
from qimen.client import QimenResult
from qimen.documents import build_document
from qimen.errors import (
    QimenBusinessError,
    QimenError,
    QimenGatewayError,
    QimenHTTPError,
    QimenProtocolError,
    QimenTransportError,
)
from qimen.parsing import DEFAULT_MAX_BYTES, Response, parse_response, raise_for_failure
from qimen.transport import (
    CONTENT_TYPE,
    METHODS,
    normalize_method,
    public_params,
    signed_params,
    signed_request_urls,
)
from qimen_provider.connection import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME, QimenSettings
from qimen_provider.http_pool import pool_for
from qimen_provider.rate_limit import RateLimiter
from qimen_provider.redaction import install_urllib3_log_redaction, redact_text
from qimen_provider.retry import RetryPolicy

# A stdlib logger (not BaseHook.log, a structlog proxy): Airflow routes it into the task log and its
# secrets masker, and tests can read it with caplog.
log = logging.getLogger(__name__)

# test_connection(probe="inventory") asks for the stock of an item code no shop uses: read-only, but it
# spends Juxing's inventory.query allowance (about one call a day).
PROBE_ITEM_CODE = "AIRFLOW-CONNECTION-TEST"
# test_connection() by default: order.cancel WITHOUT an order code, a deliberately incomplete document.
PROBE_METHOD = "order.cancel"
PROBES = ("cheap", "inventory")


class QimenHook(BaseHook):
    """Send Qimen WMS messages (``singleitem.synchronize``, ``deliveryorder.create``, ...) to a
    warehouse: the ``qimen.client.QimenClient`` the pipelines are written against.

    :param qimen_conn_id: an Airflow connection of type ``qimen`` (see docs/connection.md).
    :param max_retries: resends of a request that failed with a retryable error (transport errors
        and timeouts, HTTP 5xx/429, gateway code 50 / ``isp.*``). ``flag=failure`` and ``isv.*`` are
        never resent.
    :param backoff_base: seconds; the n-th resend waits a random time in ``[0, base * 2**(n-1)]``.
    :param backoff_max: seconds; upper bound of any single wait.
    :param pool_maxsize: keep-alive connections kept for threads sharing this hook.
    :param answer_rules: which ``flag=failure`` codes and messages mean "busy, try later"
        (``qimen.answers``); those are resent like transport errors. ``test_connection`` judges its
        probe's answer by the same rules (also: which refusals blame the connection's settings).

    Nothing is looked up in ``__init__``: the connection is read on first use, so DAG files can build
    hooks at parse time for free.
    """

    conn_name_attr = "qimen_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        qimen_conn_id: str = DEFAULT_CONN_ID,
        *,
        max_retries: int = 3,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        pool_maxsize: int = 8,
        answer_rules: AnswerRules = DEFAULT_RULES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.qimen_conn_id = qimen_conn_id
        self.answer_rules = answer_rules
        self.retry_policy = RetryPolicy(max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max)
        self.pool_maxsize = pool_maxsize
        self._lock = threading.Lock()
        self._settings: QimenSettings | None = None
        self._limiter: RateLimiter | None = None
        self._session: urllib3.PoolManager | None = None

    # -- connection --------------------------------------------------------------------------------

    @property
    def settings(self) -> QimenSettings:
        """The connection's settings, read once on first use."""
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    settings = QimenSettings.from_connection(self.get_connection(self.qimen_conn_id))
                    # One limit per warehouse host and app key across every hook and process here.
                    key = f"{urlsplit(settings.base_url).netloc}|{settings.app_key}"
                    self._limiter = RateLimiter(settings.max_requests_per_second, shared_key=key)
                    self._settings = settings
        return self._settings

    @property
    def customer_id(self) -> str:
        return self.settings.customer_id

    @property
    def owner_code(self) -> str:
        return self.settings.owner_code

    @property
    def warehouse_code(self) -> str:
        return self.settings.warehouse_code

    def get_conn(self) -> urllib3.PoolManager:
        """The hook's pool of keep-alive connections (created once, shared by all threads using the
        hook), through the environment's proxy if it names one for the warehouse."""
        if self._session is None:
            base_url = self.settings.base_url
            with self._lock:
                if self._session is None:
                    install_urllib3_log_redaction()
                    self._session = pool_for(base_url, maxsize=self.pool_maxsize)
        return self._session

    def close(self) -> None:
        """Close the pooled connections (the hook can still be used; a new session is then made)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.clear()

    def __enter__(self) -> QimenHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        document: str | bytes | Mapping[str, Any],
        *,
        raise_on_failure: bool = True,
        max_retries: int | None = None,
    ) -> QimenResult:
        """POST one Qimen message and parse the answer.

        ``document`` is the XML itself or document data for ``qimen.documents.build_document``.
        ``flag=failure`` raises ``QimenBusinessError`` unless ``raise_on_failure=False``.
        ``max_retries`` overrides the hook's setting for this call (0 for messages that must not be
        sent twice). Every raised ``QimenError`` carries ``request_body``, ``response_body``,
        ``http_status``, ``attempts`` and ``url`` (sign masked).
        """
        method = normalize_method(method)
        if method not in METHODS:
            raise ValueError(f"unknown Qimen method {method!r}; expected one of {', '.join(METHODS)}")
        body = self._request_body(method, document)
        settings = self.settings
        session = self.get_conn()
        policy = self.retry_policy if max_retries is None else replace(self.retry_policy, max_retries=max_retries)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            waited = self._limiter.acquire() if self._limiter else 0.0
            if waited > 0:
                log.debug("Qimen %s attempt %d waited %.3fs for the rate limit", method, attempt, waited)
            try:
                response, raw_text, status, url = self._send_once(session, settings, method, body)
                if not response.success:
                    # flag=failure: the warehouse's words decide (qimen.answers); a busy or
                    # rate-limited answer is resent like a transport error, anything else is final.
                    try:
                        raise_for_failure(response)
                    except QimenError as err:
                        _attach(err, request_body=body, response_body=raw_text, http_status=status, url=url)
                        if raise_on_failure or classify(err, self.answer_rules) is Verdict.PASSING:
                            raise
            except QimenError as err:
                err.attempts = attempt
                err.duration_ms = _elapsed_ms(started)
                err.verdict = classify(err, self.answer_rules)
                passing = err.retryable = err.verdict is Verdict.PASSING
                if not passing or attempt >= policy.max_attempts:
                    log.warning(
                        "Qimen %s failed after %d attempt(s): %s%s",
                        method,
                        attempt,
                        _describe(err),
                        " (retries exhausted)" if passing else "",
                    )
                    if not raise_on_failure and isinstance(err, QimenBusinessError):
                        break  # the caller reads flag=failure from the result itself
                    raise
                delay = policy.backoff(attempt, retry_after=err.retry_after)
                log.warning(
                    "Qimen %s attempt %d/%d failed: %s; retrying in %.2fs",
                    method,
                    attempt,
                    policy.max_attempts,
                    _describe(err),
                    delay,
                )
                time.sleep(delay)
                continue
            break

        result = QimenResult(
            method=method,
            response=response,
            request_body=body,
            response_body=raw_text,
            http_status=status,
            duration_ms=_elapsed_ms(started),
            attempts=attempt,
            url=url,
        )
        log.debug(
            "Qimen %s answered flag=%s code=%s after %d attempt(s) in %d ms",
            method,
            response.flag,
            response.code,
            attempt,
            result.duration_ms,
        )
        return result

    def _request_body(self, method: str, document: str | bytes | Mapping[str, Any]) -> str:
        if isinstance(document, bytes):
            return document.decode("utf-8")
        if isinstance(document, str):
            return document
        if isinstance(document, Mapping):
            return build_document(method, document)
        raise TypeError(f"document must be XML (str/bytes) or document data (a mapping), not {type(document).__name__}")

    def _send_once(
        self, session: urllib3.PoolManager, settings: QimenSettings, method: str, body: str
    ) -> tuple[Response, str, int, str]:
        """One signed POST. Each attempt gets its own timestamp, hence its own sign."""
        params = public_params(
            method,
            app_key=settings.app_key,
            customer_id=settings.customer_id,
            v=settings.api_version,
            sign_method=settings.sign_method,
        )
        signed = signed_params(params, body, settings.app_secret)
        url, safe_url = signed_request_urls(settings.base_url, params, signed["sign"])
        log.debug("Qimen %s POST %s", method, safe_url)

        failure: QimenError | None = None
        try:
            http_response = session.urlopen(
                "POST",
                url,
                body=body.encode("utf-8"),
                headers={"Content-Type": CONTENT_TYPE},
                timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
                redirect=False,
                retries=False,  # retries are ours: they need a fresh timestamp and sign
                preload_content=False,
            )
            try:
                status = http_response.status
                retry_after = _retry_after_seconds(http_response.headers.get("Retry-After"))
                raw = _read_capped(http_response, DEFAULT_MAX_BYTES)
            finally:
                http_response.release_conn()
        except HTTPError as exc:
            # urllib3 puts the full URL into its messages: mask the sign (and, to be safe, the
            # secret) and do not chain the original exception.
            detail = redact_text(str(exc), signed["sign"], settings.app_secret)
            code = _transport_code(exc)
            failure = QimenTransportError(f"{code}: {detail} (POST {safe_url})", code=code)
        except _ResponseTooLarge as exc:
            failure = QimenProtocolError(str(exc), code="too-large")
        if failure is not None:
            _attach(failure, request_body=body, url=safe_url)
            raise failure

        text = raw.decode("utf-8", errors="replace")
        context = {"request_body": body, "response_body": text, "http_status": status, "url": safe_url}
        if not 200 <= status < 300:
            error: QimenError = QimenHTTPError(f"HTTP {status} from the warehouse", http_status=status)
            try:
                parse_response(raw, method=method)
            except QimenGatewayError as gateway_error:  # a Qimen error document on a non-2xx status
                error = gateway_error
            except QimenError:
                pass
            error.retry_after = retry_after
            _attach(error, **context)
            raise error
        try:
            response = parse_response(raw, method=method)
        except QimenError as err:
            _attach(err, **context)
            raise
        return response, text, status, safe_url

    # -- connection test ---------------------------------------------------------------------------

    def test_connection(self, probe: str = "cheap") -> tuple[bool, str]:
        """Check the address, the signature and the customerId with one request.

        Cost: ONE request to the warehouse, no retry.

        - ``probe="cheap"`` (default, the UI's Test button): ``order.cancel`` with the warehouse and owner
          codes but WITHOUT an order code, a deliberately incomplete document. The gateway verifies the
          sign and the customerId before it reads a document (the simulator does; Qimen gateways answer
          ``sign-check-failure`` first), then refuses the document for its missing code: nothing can be
          cancelled, nothing is created, and Juxing's inventory.query allowance (about one call a day)
          is not spent. It does not prove the warehouse/owner codes (the document is refused first).
        - ``probe="inventory"``: ``inventory.query`` for a dummy item code. Read-only, also proves the
          warehouse/owner codes at warehouses that check them, but it counts against that allowance.

        The answer is judged by the hook's ``answer_rules`` (``qimen.answers``, the pipelines' table):
        ``flag=success`` passes; a refusal that blames the connection's settings (signature, app key,
        customerId, owner 货主, warehouse 仓库: ``names_settings``) fails, naming what to check; a busy or
        rate-limited answer (``is_passing_failure``) fails as inconclusive; any other well-formed
        ``<response>`` refusal is the one the incomplete probe expects and passes. A gateway error or a
        transport error never passes.
        """
        if probe not in PROBES:
            return False, f"unknown probe {probe!r}; one of {', '.join(PROBES)}"
        where = f"connection {self.qimen_conn_id!r}"
        try:
            settings = self.settings
            where = f"{settings.base_url} (customerId {settings.customer_id or '-'})"
            method, body = self._probe_request(settings, probe)
            # One plain attempt: no retry loop, no "failed" warning for the refusal the probe expects.
            response, _text, status, _url = self._send_once(self.get_conn(), settings, method, body)
        except QimenError as err:
            return False, f"{where}: {self._probe_error_verdict(err)}{type(err).__name__}: {err}"
        except Exception as err:  # a bad connection definition, an unknown conn id ...
            secret = self._settings.app_secret if self._settings else ""
            return False, f"{type(err).__name__}: {redact_text(str(err), secret)}"
        rules = self.answer_rules
        code, message = (response.code or "").strip(), (response.message or "").strip()
        said = ": ".join(part for part in (code, message) if part) or f"flag={response.flag}"
        if response.success:
            return True, f"{where}: the warehouse answered {method} with flag=success (HTTP {status})."
        if rules.names_settings(code, message):
            return False, (f"{where}: the warehouse refused this connection's settings; "
                           f"check {_setting_named(code, message)} ({said}).")
        if rules.is_passing_failure(code, message):
            return False, f"{where}: inconclusive, the warehouse is busy, try again ({said})."
        expected = "the probe has no order code" if method == PROBE_METHOD else "the probe item is not expected to exist"
        return True, (
            f"{where}: address, signature and customerId accepted; the warehouse answered {method} with "
            f"flag=failure ({said}) as expected ({expected})."
        )

    def _probe_request(self, settings: QimenSettings, probe: str) -> tuple[str, str]:
        """The method and document of one connection-test probe (see ``test_connection``)."""
        if probe == "inventory":
            return "inventory.query", self._request_body("inventory.query", {"criteriaList": [{
                "warehouseCode": settings.warehouse_code, "ownerCode": settings.owner_code,
                "itemCode": PROBE_ITEM_CODE}]})
        return PROBE_METHOD, _incomplete_cancel(settings.warehouse_code, settings.owner_code)

    def _probe_error_verdict(self, err: QimenError) -> str:
        """What a failed probe means, put before the error itself: the connection's settings, a busy
        warehouse (inconclusive), or nothing more (an address or transport problem)."""
        rules = self.answer_rules
        answers = [(err.code, err.message)]
        if isinstance(err, QimenGatewayError):
            answers.append((err.sub_code, err.sub_msg))
        for code, message in answers:
            if rules.names_settings(code, message):
                return f"the warehouse refused this connection's settings; check {_setting_named(code, message)}: "
        # Only an answer from the warehouse says "busy": a refused connection or an HTML page from
        # the wrong address is an address problem, though the pipelines retry it too.
        if isinstance(err, (QimenGatewayError, QimenHTTPError)) and classify(err, rules) is Verdict.PASSING:
            return "inconclusive, the warehouse is busy, try again: "
        return ""


# Which setting a settings refusal names, for the message only (the verdict is qimen.answers').
_SETTING_HINTS = (
    (("customer", "货主id"), "the customerId (货主ID)"),
    (("sign", "签名", "验签"), "the signature: app secret and sign method"),
    (("app-key", "appkey", "app key"), "the app key"),
    (("owner", "货主"), "the ownerCode (货主编码)"),
    (("warehouse", "仓库"), "the warehouseCode (仓库编码)"),
)


def _setting_named(code: str | None, message: str | None) -> str:
    text = f"{code or ''} {message or ''}".lower()
    for words, setting in _SETTING_HINTS:
        if any(word in text for word in words):
            return setting
    return "the app key, app secret, customerId, ownerCode and warehouseCode"


def _incomplete_cancel(warehouse_code: str, owner_code: str) -> str:
    """The cheap probe's document, written by hand: build_document (rightly) refuses it."""
    from xml.sax.saxutils import escape

    return (f'<?xml version="1.0" encoding="utf-8"?><request><warehouseCode>{escape(warehouse_code)}'
            f"</warehouseCode><ownerCode>{escape(owner_code)}</ownerCode></request>")


class _ResponseTooLarge(Exception):
    pass


def _read_capped(http_response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    """The body, refusing more than ``max_bytes`` instead of buffering whatever a gateway sends."""
    chunks: list[bytes] = []
    size = 0
    for chunk in http_response.stream(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise _ResponseTooLarge(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_code(exc: HTTPError) -> str:
    """A stable error code for a failure below HTTP (the names the exchange log has always used)."""
    if isinstance(exc, ProxyError):
        return "ProxyError"
    if isinstance(exc, NewConnectionError):  # (a subclass of ConnectTimeoutError in urllib3 2)
        return "ConnectionError"
    if isinstance(exc, ConnectTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, ReadTimeoutError):
        return "ReadTimeout"
    if isinstance(exc, ProtocolError):  # reset, closed without an answer, a truncated body
        return "ConnectionError"
    return type(exc).__name__


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:  # the HTTP-date form is rare for APIs; the jittered backoff applies then
        return None


def _attach(err: QimenError, **context: Any) -> None:
    """Fill in what the lower layers could not know (bodies, status, redacted URL) without overwriting."""
    for name, value in context.items():
        if getattr(err, name, None) in (None, ""):
            setattr(err, name, value)


def _describe(err: QimenError) -> str:
    """Error class and codes for a log line: what went wrong, never the request itself."""
    text = f"{type(err).__name__} code={err.code}"
    sub_code = getattr(err, "sub_code", None)
    return f"{text} sub_code={sub_code}" if sub_code else text


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
