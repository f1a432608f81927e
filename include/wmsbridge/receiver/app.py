"""The confirmation receiver: ``POST /wms/qimen/callback``, one FastAPI app served two ways.

Inside Airflow's api-server (``plugin.py``, mounted at ``/wms``) or on its own
(``python -m wmsbridge.receiver``). It checks the caller (auth.py), reads only what it needs
(leniently, from safe XML), stores the raw message durably in the inbox and only then answers
success. It never waits for the shop: the ``wms_shipments`` flow applies what it stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from qimen.documents import build_callback_answer
from qimen.errors import QimenProtocolError, QimenValidationError
from qimen.parsing import parse_deliveryorder_confirm, parse_xml
from qimen.transport import CONTENT_TYPE, normalize_method
from wmsbridge.alerts import notify_report
from wmsbridge.errors import ConfigError
from wmsbridge.store.scrub import scrub_url
from wmsbridge.store.exchange_log import ExchangeLog, Inbound

from .auth import TOKEN_PARAM, carries_qimen_params, customer_ok, ip_allowed, redact, sign_ok
from .composition import Receiver, Receivers, build_receiver
from .reports import KINDS as REPORTS

log = logging.getLogger(__name__)

CALLBACK_PATH = "/qimen/callback"
CONFIRM = "deliveryorder.confirm"
STORED, DUPLICATE = "stored", "duplicate: already stored"
REFUSED_BODY_KEPT = 64 * 1024  # of a refused callback, this much of the body goes to the exchange log
# Content types a warehouse may post XML with; a missing one is accepted too.
_XML_TYPES = re.compile(r"^(text|application)/([\w.+-]*\+)?xml$|^text/plain$|^application/(x-www-form-urlencoded|octet-stream)$")
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.-]+)[\"']")


class Refusal(Exception):
    """A callback answered ``flag=failure``: nothing is stored in the inbox."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Lazy:
    """The receiver's composition, built on first use (inside the api-server, not at import) and
    again on every call while it cannot be built, so fixing the Variable needs no restart."""

    def __init__(self, receiver: Receivers | None, build: Callable[[], Receivers]) -> None:
        self._receiver, self._build, self._lock = receiver, build, threading.Lock()

    def get(self) -> Receivers:
        with self._lock:
            if self._receiver is None:
                self._receiver = self._build()
            return self._receiver


def _answer(status: int, success: bool, code: str, message: str) -> Response:
    return Response(build_callback_answer(success, code, message), status_code=status, media_type=CONTENT_TYPE)


def _decode(body: bytes) -> str:
    """The body as text for the inbox: UTF-8, else its declared encoding (GBK ...), never failing."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        declared = _ENCODING.match(body)
        try:
            return body.decode(declared.group(1).decode("ascii")) if declared else body.decode("utf-8", "replace")
        except (LookupError, UnicodeDecodeError):
            return body.decode("utf-8", "replace")


def method_of(params: dict[str, str], root) -> str | None:
    """The ``method`` query parameter, else what the body looks like (None: cannot tell)."""
    if params.get("method"):
        return normalize_method(params["method"])
    if root.tag != "request":
        return None
    children = {c.tag for c in root if isinstance(c.tag, str)}
    order = root.find("deliveryOrder")
    confirm_marks = {"status", "outBizCode", "confirmType", "orderConfirmTime"}
    if order is not None and ("packages" in children or confirm_marks & {c.tag for c in order if isinstance(c.tag, str)}):
        return CONFIRM
    return None


def _check(receivers: Receivers, params: dict[str, str], client_ip: str | None,
           content_type: str | None) -> Receiver:
    """The bridge the callback's token opens, once the caller passed its checks."""
    rc = receivers.for_token(params.get(TOKEN_PARAM))
    if rc is None:
        raise Refusal(401, "invalid-token", "the token in the callback URL is missing or wrong")
    if not ip_allowed(client_ip, rc.allowed_networks):
        raise _BridgeRefusal(rc, 403, "ip-not-allowed", f"{client_ip} may not post callbacks")
    media = (content_type or "").split(";")[0].strip().lower()
    if media and not _XML_TYPES.match(media):
        raise _BridgeRefusal(rc, 415, "unsupported-content-type", f"expected text/xml, got {media}")
    return rc


class _BridgeRefusal(Refusal):
    """A refusal once the token named the bridge: logged in that bridge's exchange log."""

    def __init__(self, rc: Receiver, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.rc = rc


def _handle(receivers: Receivers, rc: Receiver, params: dict[str, str], body: bytes, inbound: dict,
            on_stored: Callable[[], None] | None = None) -> tuple[Response, list[Callable[[], None]]]:
    """Everything after the body is read (blocking: runs in a worker thread). Returns the answer
    and what to run after it (``on_stored`` when a new confirmation was stored, alerts)."""
    text = _decode(body)
    try:
        if rc.verify_sign and carries_qimen_params(params) and not sign_ok(params, text, rc.config.callback_secret):
            raise Refusal(401, "sign-check-failure", "the Qimen sign does not verify")
        if not customer_ok(params, rc.customer_id):
            raise Refusal(403, "invalid-customer", f"customerId {params.get('customerId')!r} is not ours")
        try:
            root = parse_xml(body, rc.max_bytes)
        except QimenProtocolError as err:
            code = "unsafe-xml" if "DOCTYPE" in str(err) or "entity" in str(err) else "malformed-xml"
            raise Refusal(400, code, str(err)) from None
        method = method_of(params, root)
        if method in REPORTS:
            if not rc.config.method_enabled(method):
                raise Refusal(400, "method-not-enabled", f"{method} is not switched on for this shop "
                              f"(wms_bridge_config.enabled_methods); agree on it with the shop first")
            return _store_report(receivers, rc, method, body, text, inbound)
        if method != CONFIRM:
            enabled = ", ".join([CONFIRM, *(m for m in REPORTS if rc.config.method_enabled(m))])
            raise Refusal(400, "invalid-method",
                          f"this address takes {enabled} only, not {method or 'a body of unknown shape'}")
        try:
            confirm = parse_deliveryorder_confirm(body, max_bytes=rc.max_bytes)
        except QimenValidationError as err:
            raise Refusal(400, "missing-field", "; ".join(str(v) for v in err.violations)) from None
        except QimenProtocolError as err:
            raise Refusal(400, "malformed-xml", str(err)) from None
        _not_elsewhere(receivers, rc, "order", confirm.deliveryOrderCode)
    except Refusal as refusal:
        _log_refusal(rc.store.exchanges, inbound, text, refusal, normalize_method(params.get("method") or "")[:100])
        return _answer(refusal.status, False, refusal.code, refusal.message), []
    key = confirm.outBizCode or "sha256:" + hashlib.sha256(body).hexdigest()
    stored = rc.inbox.receive(confirm, key=key, raw_body=text, inbound=Inbound(
        method=CONFIRM, body=text, answer=build_callback_answer(True, "0", STORED), http_status=200,
        outcome="success", error_message="; ".join(confirm.notes) or None,
        duplicate_answer=build_callback_answer(True, "0", DUPLICATE), **inbound))
    log.info("deliveryorder.confirm %s (%s, %s) %s", confirm.deliveryOrderCode, key, confirm.status,
             "already stored" if stored.already_seen else "stored")
    after = [on_stored] if on_stored is not None and not stored.already_seen else []
    return _answer(200, True, "0", DUPLICATE if stored.already_seen else STORED), after


def _not_elsewhere(receivers: Receivers, rc: Receiver, kind: str, code: str | None) -> None:
    """Refuse a callback about another bridge's order or return (the wrong shop's token)."""
    if receivers.elsewhere(rc, kind, code):
        raise Refusal(409, "not-this-shops-order", f"{code} is not an order or return of the shop this token "
                      "belongs to; post it with its own shop's callback URL")


def _store_report(receivers: Receivers, rc: Receiver, method: str, body: bytes, text: str, inbound: dict
                  ) -> tuple[Response, list[Callable[[], None]]]:
    """A report switched on: read leniently, stored once per key in the state its meaning gives it;
    a new one for a person is announced to the alert channels after the answer."""
    kind = REPORTS[method]
    try:
        report = kind.parse(body, max_bytes=rc.max_bytes)
    except QimenValidationError as err:
        raise Refusal(400, "missing-field", "; ".join(str(v) for v in err.violations)) from None
    except QimenProtocolError as err:
        raise Refusal(400, "malformed-xml", str(err)) from None
    order_code, summary, state = kind.order_code(report), kind.describe(report), kind.state(report)
    if kind.about is not None:
        _not_elsewhere(receivers, rc, kind.about, order_code)
    stored = rc.reports.receive(
        method=method, key=report.dedup_key, order_code=order_code, summary=summary, state=state,
        raw_body=text, inbound=Inbound(
            method=method, body=text, answer=build_callback_answer(True, "0", STORED), http_status=200,
            outcome="success", error_message="; ".join(report.notes) or None,
            duplicate_answer=build_callback_answer(True, "0", DUPLICATE), **inbound))
    log.info("%s %s (%s) %s", method, order_code, report.dedup_key, "already stored" if stored.already_seen else "stored")
    after = []
    if not stored.already_seen and state == "needs_person":
        after.append(lambda: notify_report(method, order_code, summary, config=rc.config))
    return _answer(200, True, "0", DUPLICATE if stored.already_seen else STORED), after


def _log_refusal(exchanges: ExchangeLog, inbound: dict, text: str | None, refusal: Refusal,
                 asked: str = "") -> None:
    log.warning("callback refused: %s (%s)", refusal.code, refusal.message)
    try:
        exchanges.log_inbound(Inbound(
            method=asked or CONFIRM, body=None if text is None else text[:REFUSED_BODY_KEPT],
            answer=build_callback_answer(False, refusal.code, refusal.message), http_status=refusal.status,
            outcome="refused", error_code=refusal.code, error_message=refusal.message, **inbound))
    except Exception:  # noqa: BLE001 - the refusal is answered even when the log cannot be written
        log.exception("could not record a refused callback in wms_exchange_log")


def create_app(
    *,
    receiver: Receivers | None = None,
    build: Callable[[], Receivers] = build_receiver,
    on_stored: Callable[[], None] | None = None,
) -> FastAPI:
    """The receiver app with the route at ``/qimen/callback`` (mount it at ``/wms``).

    ``on_stored`` runs after the answer when a new confirmation was stored (inside the api-server:
    an Asset event that starts ``wms_shipments`` at once)."""
    lazy = _Lazy(receiver, build)
    app = FastAPI(title="WMS bridge: deliveryorder.confirm receiver", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.post(CALLBACK_PATH)
    async def callback(request: Request, background: BackgroundTasks) -> Response:
        started = time.monotonic()
        params = dict(request.query_params)
        try:
            receivers = await run_in_threadpool(lazy.get)
        except ConfigError as err:
            log.error("receiver not ready: %s", err)
            return _answer(503, False, "receiver-not-configured", f"the receiver is not configured: {err}")
        inbound = {"url": redact(scrub_url(str(request.url)) or "")}
        client_ip = request.client.host if request.client else None
        exchanges = receivers.unknown
        try:
            rc = _check(receivers, params, client_ip, request.headers.get("content-type"))
            exchanges = rc.store.exchanges
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > rc.max_bytes:
                raise Refusal(413, "body-too-large", f"{declared} bytes; at most {rc.max_bytes}")
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > rc.max_bytes:
                    raise Refusal(413, "body-too-large", f"more than {rc.max_bytes} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            log.warning("callback: the client hung up before its body was complete; nothing stored")
            return Response(status_code=400)
        except Refusal as refusal:
            if isinstance(refusal, _BridgeRefusal):
                exchanges = refusal.rc.store.exchanges
            await run_in_threadpool(_log_refusal, exchanges, inbound, None, refusal,
                                    normalize_method(params.get("method") or "")[:100])
            return _answer(refusal.status, False, refusal.code, refusal.message)
        try:
            response, after = await run_in_threadpool(_handle, receivers, rc, params, b"".join(chunks), inbound,
                                                      on_stored)
        except Exception:  # noqa: BLE001 - the store is down: failure, so the warehouse sends it again
            log.exception("callback could not be stored")
            return _answer(503, False, "store-unavailable", "the confirmation could not be stored; send it again")
        for task in after:
            background.add_task(task)
        log.debug("callback answered in %.0f ms", (time.monotonic() - started) * 1000)
        return response

    @app.get("/health")
    async def health() -> Response:
        try:
            await run_in_threadpool(lazy.get)
        except ConfigError as err:
            return JSONResponse({"ready": False, "error": str(err)}, status_code=503)
        return JSONResponse({"ready": True})

    return app
