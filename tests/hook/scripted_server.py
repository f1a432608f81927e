"""A real HTTP server on loopback that answers each request per a script of faults and answers.

The hook is tested against real sockets (timeouts, resets and keep-alive behave as in production);
every arrival is recorded with its monotonic time, query and body so tests can assert server-side
what the hook sent and when.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from qimen.documents import build_error_response, build_response

BASE_PATH = "/api/v2/openapi/wms/wmsnotify/9"


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the request line and headers were read
    path: str
    query: dict[str, str]
    body: str
    content_type: str


# A step answers one request. It gets the handler and returns nothing; a step may close the socket.
Step = Callable[[BaseHTTPRequestHandler, threading.Event], None]


def reply(status: int, body: str = "", content_type: str = "text/xml;charset=utf-8") -> Step:
    def step(handler: BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        data = body.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    step.__name__ = f"reply_{status}"
    return step


def success(**fields: str) -> Step:
    return reply(200, build_response("success", "0", "invalid appkey", fields or None))


def failure(code: str = "ITEM_NOT_FOUND", message: str = "货品不存在") -> Step:
    return reply(200, build_response("failure", code, message))


def gateway_error(code: str = "50", sub_code: str | None = None, sub_msg: str | None = None) -> Step:
    return reply(200, build_error_response(code, "Remote service error", sub_code, sub_msg))


def isv_error() -> Step:
    return gateway_error("50", "isv.invalid-parameter", "非法参数")


def bad_gateway() -> Step:
    return reply(502, "<html><body>502 Bad Gateway</body></html>", "text/html")


def hang(seconds: float = 5.0) -> Step:
    """Say nothing for longer than the client's read timeout (released early when the server stops)."""

    def step(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        stop.wait(seconds)
        handler.close_connection = True

    step.__name__ = "hang"
    return step


def reset() -> Step:
    """Abort the TCP connection (SO_LINGER 0 then close sends RST): the client sees a reset."""

    def step(handler: BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        sock = handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        sock.close()

    step.__name__ = "reset"
    return step


class ScriptedServer:
    """``ThreadingHTTPServer`` on 127.0.0.1, free port; ``script(*steps)`` queues the answers, and
    ``default`` answers once the script is used up."""

    def __init__(self, default: Step | None = None) -> None:
        self.default = default or success()
        self.arrivals: list[Arrival] = []
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-qimen", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, arrival: Arrival) -> Step:
        with self._lock:
            self.arrivals.append(arrival)
            return self._steps.popleft() if self._steps else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class ScriptedHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the hook's pooled session expects

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                at = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                parts = urlsplit(self.path)
                arrival = Arrival(
                    at=at,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    body=body,
                    content_type=self.headers.get("Content-Type", ""),
                )
                step = server._next(arrival)
                try:
                    step(self, server._stop)
                except OSError:
                    self.close_connection = True  # the client went away (after a hang): fine

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return ScriptedHandler
