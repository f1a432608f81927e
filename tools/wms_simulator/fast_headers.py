"""HTTP header parsing without the ``email`` package, for the standalone simulator process.

``http.server`` parses each request's headers with ``http.client.parse_headers``, which hands them
to ``email.parser``: about an eighth of the simulator's CPU per request under a push benchmark, on
the same two cores as the pipeline it measures. Plain ``Name: value`` lines give the same
``HTTPMessage`` when added one by one (the compat32 policy stores name and value as read, the value
without leading blanks and its line end); anything else (folded lines, a line without a colon)
goes to the stdlib parser unchanged.

``install()`` replaces ``http.client.parse_headers`` for the whole process, so it is called only by
``python -m wms_simulator`` (its own process), never by a simulator started inside a test or a
client.
"""

from __future__ import annotations

import email.parser
import http.client

MAX_LINE = 65536  # http.client's _MAXLINE
MAX_HEADERS = 100  # http.client's _MAXHEADERS


def parse_headers(fp, _class=http.client.HTTPMessage):
    """``http.client.parse_headers``: same limits, same errors, same message."""
    lines = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = _class()
    for raw in lines[:-1]:
        text = raw.decode("iso-8859-1")
        name, colon, value = text.partition(":")
        if not colon or not name or name[0] in " \t" or name != name.rstrip(" \t"):
            # folded or malformed: the email parser decides, as the stdlib would
            return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        message[name] = value.lstrip(" \t").rstrip("\r\n")
    message.set_payload("")  # what the parser leaves after the blank line
    return message


def install() -> None:
    http.client.parse_headers = parse_headers


__all__ = ["install", "parse_headers"]
