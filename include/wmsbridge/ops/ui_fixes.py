"""Make the Test button of Airflow 3.3.2's connection list work for connections without a port.

The list builds its request from the stored row with ``port: Number(row.port)``: an empty (NULL)
port becomes ``0``. The API's ``POST /api/v2/connections/test`` then compares 0 with the stored NULL,
takes it for another destination and answers 400 "The host or port to test differs from the stored
connection" for every connection without a port (``qimen``, ``sqlite``, one a person made in the UI).
Port 0 is never a port anyone connects to, so this root middleware drops ``"port": 0`` from that one
request's JSON body before Airflow reads it: no port given, the stored connection's counts. Every
other request, and that route's other bodies, pass through untouched. Harmless once Airflow's UI
stops sending 0 (then there is nothing to drop).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONNECTION_TEST_PATH = "/api/v2/connections/test"


class ConnectionTestPortZeroFix:
    """ASGI middleware: ``"port": 0`` in a connection test request means "no port given"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_connection_test(scope):
            await self.app(scope, receive, send)
            return
        body, finished = await _read_body(receive)
        fixed = without_port_zero(body) if finished else None
        if fixed is not None:
            body = fixed
            scope = dict(scope, headers=_with_content_length(scope.get("headers", []), len(body)))
        await self.app(scope, _replay(body, receive, finished), send)


def without_port_zero(body: bytes) -> bytes | None:
    """The body without ``"port": 0``, or None when there is nothing to change (not JSON, no port 0)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    port = data.get("port") if isinstance(data, dict) else None
    if type(port) is not int or port != 0:  # (a JSON true is no port either, and not ours to judge)
        return None
    del data["port"]
    return json.dumps(data).encode("utf-8")


def _is_connection_test(scope: Scope) -> bool:
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return False
    root = str(scope.get("root_path") or "").rstrip("/")
    return scope.get("path") in (CONNECTION_TEST_PATH, root + CONNECTION_TEST_PATH)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body; ``finished`` is False when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive, finished: bool) -> Receive:
    """A ``receive`` that hands the (fixed) body over once, then waits on the client as before."""
    pending = [{"type": "http.request", "body": body, "more_body": False}] if finished else [
        {"type": "http.disconnect"}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _with_content_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode("ascii"))]
