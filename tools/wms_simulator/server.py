"""The HTTP side: a threading stdlib server that owns the sockets, so it can delay, hang, or close
a connection after processing, exactly the faults a pipeline must survive.

Every Qimen answer is XML (``<response>`` or ``<error_response>``), even for transport-level
mistakes: the stdlib's HTML error page is replaced by an ``error_response``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import codes
from .admin import AdminContext, dispatch
from .auto_ship import AutoShipper
from .config import ADMIN_MAX_BODY_BYTES, ADMIN_PREFIX, JUXING_PATH_V2, QIMEN_PATHS, SimulatorConfig
from .faults import FaultDice, CallLimit
from .service import DROPPED, QimenService, gateway_answer
from .store import WarehouseStore, utc_now_iso

log = logging.getLogger("wms_simulator")

DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read and discarded up to this, then the socket closes
CHUNK = 64 * 1024


class _GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wms-simulator"
    sys_version = ""
    # Answers go out in one write with TCP_NODELAY: headers and body in two writes under Nagle's
    # algorithm cost a delayed-ACK wait (about 40 ms) per call, which dominated every push figure.
    disable_nagle_algorithm = True
    error_content_type = "text/xml;charset=utf-8"
    error_message_format = (
        '<?xml version="1.0" encoding="utf-8"?>\n<error_response><code>%(code)d</code><msg>%(message)s</msg>'
        "<sub_code>isv.bad-http-request</sub_code><sub_msg>%(explain)s</sub_msg></error_response>"
    )
    server: _SimulatorHTTPServer

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature; we log our own line
        pass

    # ---- plumbing ----------------------------------------------------------------------------

    def _read_body(self, cap: int) -> tuple[bytes | None, bool]:
        """``(body, too_large)``; an oversized body is drained, not kept."""
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # chunked uploads are not supported; don't misread the stream
            return b"", False
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            return b"", False
        if length > cap:
            left = length
            while left > 0 and length - left < DRAIN_LIMIT:
                chunk = self.rfile.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
            if left > 0:
                self.close_connection = True
            return None, True
        return self.rfile.read(length), False

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        try:
            self._headers_buffer.append(b"\r\n" + body)  # end of headers and the body: one write
            self.flush_headers()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout, killed process): the request was processed and recorded;
            # only the answer is lost, which is exactly the case clients must cope with.
            self.close_connection = True

    def _route(self) -> tuple[str, str]:
        parts = urlsplit(self.path)
        return (parts.path.rstrip("/") or "/"), parts.query

    # ---- verbs -------------------------------------------------------------------------------

    def do_POST(self):
        self._dispatch("POST")

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, verb: str) -> None:
        path, query = self._route()
        if (path + "/").startswith(ADMIN_PREFIX):
            self._admin(verb, path[len(ADMIN_PREFIX):], query)
        elif path in QIMEN_PATHS and verb == "POST":
            self._qimen(path, query)
        else:
            self._read_body(self.server.config.max_body_bytes)
            fault = codes.HTTP_METHOD_NOT_ALLOWED if path in QIMEN_PATHS else codes.INVALID_PATH
            answer = gateway_answer(fault, f"{fault.sub_msg}: {verb} {path}", status=405 if path in QIMEN_PATHS else 404)
            self._send(answer.status, answer.body, answer.content_type)
            log.info("%s %s %s -> %s", self.client_address[0], verb, path, answer.status)

    def _admin(self, verb: str, route: str, query: str) -> None:
        started = time.perf_counter()
        raw, too_large = self._read_body(ADMIN_MAX_BODY_BYTES)
        if too_large:
            status, answer = 413, {"error": f"admin body larger than {ADMIN_MAX_BODY_BYTES} bytes"}
        else:
            try:
                body = json.loads(raw.decode("utf-8")) if raw and raw.strip() else None
            except (UnicodeDecodeError, ValueError) as exc:
                status, answer = 400, {"error": f"invalid JSON: {exc}"}
            else:
                try:
                    status, answer = dispatch(self.server.admin, verb, route, query, body)
                except Exception as exc:  # an admin bug must still answer JSON
                    log.exception("admin %s %s failed", verb, route)
                    status, answer = 500, {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(answer, ensure_ascii=False, default=str).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")
        log.info("%s %s /__admin/%s -> %s %.1fms", self.client_address[0], verb, route, status,
                 (time.perf_counter() - started) * 1000)

    def _qimen(self, path: str, query: str) -> None:
        started = time.perf_counter()
        received_at = utc_now_iso()
        server = self.server
        body, too_large = self._read_body(server.config.max_body_bytes)
        try:
            answer = server.service.handle(query, body, body_too_large=too_large, path=path)
        except Exception:  # never a bare 500: a platform fault, in Qimen's words
            log.exception("unexpected error answering %s?%s", path, query)
            answer = gateway_answer(codes.REMOTE_SERVICE_ERROR)
        text = None if too_large else (body or b"").decode("utf-8", "replace")
        params = _query_dict(query)
        record = {
            "received_at": received_at, "path": path, "method": answer.method,
            "raw_method": params.get("method"), "query": params, "body": text,
            "http_status": None if (answer.hang or answer.drop) else answer.status,
            "outcome": DROPPED if answer.drop else answer.outcome, "code": answer.code,
            "answer": None if answer.hang else answer.body.decode("utf-8", "replace"), "fault": answer.fault,
            "client": self.client_address[0],
        }
        if answer.hang:  # logged now: the hang may outlast the test that provoked it
            self._finish_log(record, started)
            server.stopping.wait(server.service.dice.settings.hang_seconds)
        else:
            # latency is the warehouse's response time: counted from the request's arrival, this
            # simulator's own processing included (a benchmark's bound is C / latency)
            remaining = answer.delay_s - (time.perf_counter() - started)
            if remaining > 0:
                server.stopping.wait(remaining)
            self._finish_log(record, started)
        if answer.hang or answer.drop:
            self.close_connection = True  # nothing sent: the client sees a timeout or a dropped connection
            return
        self._send(answer.status, answer.body, answer.content_type)

    def _finish_log(self, record: dict, started: float) -> None:
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        log.info("%s POST %s %s -> %s %s %s %.1fms", record["client"], record["path"], record["method"] or "-",
                 record["http_status"] or "-", record["outcome"], record["code"] or "", record["duration_ms"])
        try:
            self.server.store.log_request(record)
        except Exception:
            if not self.server.stopping.is_set():  # a request woken up by stop() finds the store closed
                raise


def _query_dict(query: str) -> dict:
    return {k: ("***" if k == "sign" else v) for k, v in parse_qsl(query, keep_blank_values=True)}


class _SimulatorHTTPServer(ThreadingHTTPServer):
    request_queue_size = 256  # the stdlib's 5 resets connections when many clients arrive at once
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    config: SimulatorConfig
    store: WarehouseStore
    service: QimenService
    admin: AdminContext
    stopping: threading.Event


class SimulatorServer:
    """One simulated warehouse listening on ``config.host:config.port`` (0 = a free port).

    ``start()`` serves from a background thread (tests, demos); ``serve_forever()`` blocks (CLI).
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.store = WarehouseStore(self.config.db)
        self.dice = FaultDice(self.config.faults)
        self.limiter = CallLimit()
        self._http = _SimulatorHTTPServer((self.config.host, self.config.port), _GatewayHandler)
        self._http.config = self.config
        self._http.store = self.store
        self._http.service = QimenService(self.config, self.store, self.dice, self.limiter)
        self._http.admin = AdminContext(self.config, self.store, self.dice, self.limiter, self.config.faults)
        self._http.stopping = threading.Event()
        self.auto_ship = AutoShipper(self.config, self.store, self.dice, self._http.stopping)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._http.server_address[:2]
        return host, port

    @property
    def root_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """Juxing's v2 path, what a pipeline's connection would point at."""
        return self.url(JUXING_PATH_V2)

    def url(self, path: str = "/") -> str:
        return self.root_url + (path if path.startswith("/") else "/" + path)

    def serve_forever(self) -> None:
        log.info("wms simulator listening on %s (Qimen paths: %s; admin: %s)", self.root_url,
                 ", ".join(QIMEN_PATHS), ADMIN_PREFIX)
        self._http.serve_forever(poll_interval=0.2)

    def start(self) -> SimulatorServer:
        """Serve from a background thread; automatic shipping runs beside it (idle unless enabled)."""
        self._thread = threading.Thread(target=self.serve_forever, name="wms-simulator", daemon=True)
        self._thread.start()
        self.auto_ship.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake up hanging and delayed requests, stop shipping, close the socket and the store."""
        self._http.stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
        self.auto_ship.join(timeout=self.config.callback_timeout_s + 1)
        self._http.server_close()
        self.store.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
