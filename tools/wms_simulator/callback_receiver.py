"""A loopback HTTP endpoint that records the callbacks it receives (deliveryorder.confirm, and the
warehouse's returnorder.confirm and reports).

It plays the integration's side in simulator tests (and in pipelines' tests before the real
receiver exists): checks each callback's signature, keeps the raw body and query, and answers
like a Qimen receiver with ``qimen.documents.build_callback_answer``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from qimen import inbound
from qimen.documents import build_callback_answer
from qimen.parsing import DeliveryOrderConfirm, parse_deliveryorder_confirm
from qimen.signing import verify_sign
from qimen.transport import CONTENT_TYPE


@dataclass(frozen=True)
class ReceivedCallback:
    path: str
    params: dict[str, str]
    body: str
    sign_valid: bool | None  # None when the receiver has no secret to check with

    def confirm(self) -> DeliveryOrderConfirm:
        return parse_deliveryorder_confirm(self.body)

    @property
    def method(self) -> str:
        return self.params.get("method", "")

    def message(self):
        """The body read with the parser of its ``method`` (``qimen.parsing`` / ``qimen.inbound``)."""
        return _PARSERS[self.method](self.body)


_PARSERS = {
    "deliveryorder.confirm": parse_deliveryorder_confirm,
    "returnorder.confirm": inbound.parse_returnorder_confirm,
    "orderprocess.report": inbound.parse_orderprocess_report,
    "itemlack.report": inbound.parse_itemlack_report,
    "stockchange.report": inbound.parse_stockchange_report,
}


class _CallbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ReceiverHTTPServer

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_POST(self):
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        receiver = self.server.receiver
        valid = None if receiver.secret is None else verify_sign(params, body, receiver.secret)
        receiver._record(ReceivedCallback(parts.path, params, body, valid))
        ok = receiver.answer_success and valid is not False
        answer = build_callback_answer(ok, "0" if ok else "sign-check-failure" if valid is False else "REFUSED",
                                       "" if ok else "refused by the test receiver").encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class _ReceiverHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
    receiver: CallbackReceiver


class CallbackReceiver:
    """``with CallbackReceiver(secret="s") as r: ... r.url ... r.wait_for(2)``."""

    def __init__(self, secret: str | None = None, *, answer_success: bool = True, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.answer_success = answer_success
        self._received: list[ReceivedCallback] = []
        self._changed = threading.Condition()
        self._http = _ReceiverHTTPServer((host, 0), _CallbackHandler)
        self._http.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/qimen/callback"

    @property
    def received(self) -> list[ReceivedCallback]:
        with self._changed:
            return list(self._received)

    def confirms(self) -> list[DeliveryOrderConfirm]:
        return [r.confirm() for r in self.received]

    def clear(self) -> None:
        with self._changed:
            self._received.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedCallback]:
        """Block until at least ``count`` callbacks arrived (the simulator posts synchronously, so
        this normally returns at once); raise ``TimeoutError`` otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(f"{len(self._received)} callbacks received, {count} expected")
            return list(self._received)

    def _record(self, callback: ReceivedCallback) -> None:
        with self._changed:
            self._received.append(callback)
            self._changed.notify_all()

    def start(self) -> CallbackReceiver:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="callback-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
        self._http.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
