"""Local robots for the alert tests: real HTTP servers on loopback standing in for DingTalk and a
WeCom group robot, and the secrets the tests' connections carry (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

DINGTALK_TOKEN = "dt-token-7f3a9c1e5b2d4f60"
DINGTALK_SECRET = "SECdt-sign-secret-0a1b2c3d4e5f"
WECOM_KEY = "wecom-key-693a91f4-2b7c-4d8e"
SECRETS = (DINGTALK_TOKEN, DINGTALK_SECRET, WECOM_KEY)
WECOM_PATH = "/cgi-bin/webhook/send"
OK = {"errcode": 0, "errmsg": "ok"}


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    content_type: str
    body: dict


class Robot:
    """A robot's HTTP endpoint on a free loopback port: records every POST, answers ``status`` with
    ``answer`` (JSON)."""

    def __init__(self, status: int = 200, answer: dict | None = None) -> None:
        self.status, self.answer = status, OK if answer is None else answer
        self.received: list[Received] = []
        robot = self

        class RobotHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                robot.received.append(Received(parts.path, dict(parse_qsl(parts.query)),
                                               self.headers.get("Content-Type", ""), json.loads(raw)))
                data = json.dumps(robot.answer).encode()
                self.send_response(robot.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep the test output for the code under test
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RobotHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
