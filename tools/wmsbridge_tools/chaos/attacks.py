"""Hostile callbacks: the bodies an attacker (or a broken proxy) posts to the receiver, and a run of
them against a live receiver for ``make chaos``.

The payload builders are shared with tests/receiver (one copy of each attack). Every attack here
must be refused (HTTP 4xx, ``flag=failure``) and must store nothing; the receiver must stay up.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

# An external entity naming a local file: must never be resolved into a stored field.
XXE = b"""<?xml version="1.0"?><!DOCTYPE request [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<request><deliveryOrder><deliveryOrderCode>&x;</deliveryOrderCode><status>DELIVERED</status></deliveryOrder></request>"""
# Nested entities ("billion laughs", kept small): refused for the DOCTYPE before any expansion.
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><request><deliveryOrder><deliveryOrderCode>&lol3;</deliveryOrderCode></deliveryOrder></request>"""
XML_TYPE = "text/xml;charset=utf-8"
_OUT_BIZ = re.compile(rb"<outBizCode>[^<]*</outBizCode>")


def oversized(size: int = 1_600_000) -> bytes:
    """A well-formed body bigger than the receiver's default cap (1 MB)."""
    return b"<request>" + b"<x>1</x>" * (size // 8) + b"</request>"


def truncated(body: bytes) -> bytes:
    """The first half of a real confirmation: not well-formed."""
    return body[: len(body) // 2]


def fresh(body: bytes, out_biz_code: str) -> bytes:
    """A real confirmation under a new outBizCode: if an attack carrying it got through, it would be
    stored as a new row (a duplicate would hide that)."""
    return _OUT_BIZ.sub(f"<outBizCode>{out_biz_code}</outBizCode>".encode(), body, count=1)


@dataclass
class AttackReport:
    """Per attack: how many were sent and how many were refused (4xx); anything else is a hole."""

    sent: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    answers: dict[str, set] = field(default_factory=dict)

    def record(self, case: str, status: int | None) -> None:
        """A 4xx answer is a refusal; so is a connection the receiver closed without answering (it may
        stop reading an oversized body). A success or a 5xx is not."""
        self.sent[case] = self.sent.get(case, 0) + 1
        self.answers.setdefault(case, set()).add(status if status is not None else "closed")
        if status is None or 400 <= status < 500:
            self.refused[case] = self.refused.get(case, 0) + 1

    @property
    def not_refused(self) -> dict[str, int]:
        return {c: n - self.refused.get(c, 0) for c, n in self.sent.items() if n != self.refused.get(c, 0)}

    def lines(self) -> list[str]:
        return [f"  {case:<16} {self.refused.get(case, 0)}/{n} refused (HTTP {', '.join(map(str, sorted(self.answers[case], key=str)))})"
                for case, n in self.sent.items()]


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(port: int, token: str | None, body: bytes, content_type: str = XML_TYPE, timeout: float = 30, *,
         customer_id: str | None = None) -> int | None:
    """POST to the receiver's callback route (with ``customerId`` in the query when given, as a
    warehouse signs its callbacks); the HTTP status, None when the connection failed."""
    params = {k: v for k, v in (("token", token), ("customerId", customer_id)) if v is not None}
    query = f"?{urlencode(params)}" if params else ""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/wms/qimen/callback{query}", data=body,
                                     method="POST", headers={"Content-Type": content_type})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as err:
        err.read()
        return err.code
    except OSError:
        return None


def cut_off_in_transit(port: int, token: str, body: bytes) -> None:
    """Announce the whole body, send half of it, hang up: nothing may be stored."""
    head = (f"POST /wms/qimen/callback?{urlencode({'token': token})} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + truncated(body))
        conn.shutdown(socket.SHUT_WR)
        try:
            conn.recv(4096)
        except OSError:
            pass


def attack(port: int, token: str, sample: bytes, *, flood: int = 300, workers: int = 16,
           wrong_account: tuple[str, str] | None = None) -> AttackReport:
    """Every attack against the receiver on ``port``; ``sample`` is a real confirmation body.
    The flood mixes all attacks, ``workers`` at a time. ``wrong_account``: (another bridge's token,
    the customerId ``sample`` came from): the sample posted to that other bridge, which must refuse
    a callback naming another warehouse account."""
    report = AttackReport()
    wrong = "wrong-" + token[::-1]
    cases = [
        ("bad token", lambda i: post(port, wrong, fresh(sample, f"CHAOS-BADTOKEN-{i}"))),
        ("no token", lambda i: post(port, None, fresh(sample, f"CHAOS-NOTOKEN-{i}"))),
        ("xxe", lambda i: post(port, token, XXE)),
        ("entity bomb", lambda i: post(port, token, LAUGHS)),
        ("truncated", lambda i: post(port, token, truncated(fresh(sample, f"CHAOS-TRUNC-{i}")))),
        ("oversized", lambda i: post(port, token, oversized())),
    ]
    if wrong_account is not None:
        other, customer_id = wrong_account
        cases.insert(2, ("wrong account", lambda i: post(port, other, fresh(sample, f"CHAOS-ACCOUNT-{i}"),
                                                         customer_id=customer_id)))
    for name, hit in cases:
        report.record(name, hit(0))
    cut_off_in_transit(port, token, fresh(sample, "CHAOS-CUT-0"))
    light = [c for c in cases if c[0] != "oversized"]  # the flood: many small hostile requests at once

    def flood_one(i: int) -> int | None:
        return light[i % len(light)][1](i + 1)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for status in pool.map(flood_one, range(flood)):
            report.record("flood", status)
    return report
