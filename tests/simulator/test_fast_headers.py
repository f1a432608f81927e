"""The standalone simulator's header parser gives exactly the stdlib's ``HTTPMessage``."""

from __future__ import annotations

import http.client
import io

import pytest

from wms_simulator.fast_headers import MAX_HEADERS, parse_headers

CASES = [
    b"Host: 127.0.0.1:8710\r\nContent-Type: text/xml;charset=utf-8\r\nContent-Length: 12\r\n\r\nbody",
    b"Host:x\r\nX-A:   spaced  \r\nX-Empty:\r\nX-B: b:c: d\r\n\r\n",
    b"A: \xe4\xb8\xad\xe6\x96\x87\r\nA: second\r\n\r\n",  # non-ASCII bytes, a repeated name
    b"Host: x\nA: b\n\n",  # bare LF
    b"Host: x\r\n Folded: y\r\n\r\n",  # obsolete line folding: the stdlib parser decides
    b"Host: x\r\nNoColonHere\r\nA: b\r\n\r\n",
    b"Host : x\r\n\r\n",
    b"\tA: b\r\n\r\n",
    b"A: b\r\n",  # the connection ends before the blank line
    b"",
]


def _state(message) -> tuple:
    return (type(message), message.items(), [type(d) for d in message.defects], message.get_payload(),
            message.get_unixfrom())


@pytest.mark.parametrize("raw", CASES)
def test_the_same_message_as_the_stdlib(raw):
    stream_a, stream_b = io.BytesIO(raw), io.BytesIO(raw)
    assert _state(parse_headers(stream_a)) == _state(http.client.parse_headers(stream_b))
    assert stream_a.tell() == stream_b.tell()  # the body is left where the stdlib leaves it


@pytest.mark.parametrize("raw, error", [
    (b"".join(b"H%d: v\r\n" % i for i in range(MAX_HEADERS)) + b"\r\n", http.client.HTTPException),
    (b"A: " + b"x" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
])
def test_the_same_limits_as_the_stdlib(raw, error):
    for parse in (parse_headers, http.client.parse_headers):
        with pytest.raises(error):
            parse(io.BytesIO(raw))
