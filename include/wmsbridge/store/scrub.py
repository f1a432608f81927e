"""Keep secrets out of the exchange log.

The store is never handed the app secret, but URLs carry the ``sign`` (which, with the body,
helps brute-force a weak secret) and error messages from HTTP libraries often quote the whole
URL. Everything text-like is passed through here before it is written.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

# token: the secret the warehouse's callback URL carries (wmsbridge.receiver)
SECRET_KEYS = frozenset({"sign", "app_secret", "appsecret", "secret", "client_secret", "token", "callback_token"})
MASK = "***"

_KEY_ALTERNATION = "|".join(sorted((re.escape(k) for k in SECRET_KEYS), key=len, reverse=True))
# key=value inside free text (a quoted URL, a query string): the value ends at &, whitespace or a quote
_TEXT_PAIR = re.compile(rf"(?<![A-Za-z0-9_])({_KEY_ALTERNATION})=([^&\s'\"<>]*)", re.IGNORECASE)
# the same as an XML element or a JSON member, should a caller ever put one in a body
_XML_ELEMENT = re.compile(rf"<({_KEY_ALTERNATION})>[^<]*</\1>", re.IGNORECASE)
_JSON_MEMBER = re.compile(rf"(\"({_KEY_ALTERNATION})\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE)


def scrub_url(url: str | None) -> str | None:
    """``url`` without its secret-bearing query parameters (removed, not masked); the other
    parameters stay exactly as they were sent."""
    if not url:
        return url
    parts = urlsplit(url)
    kept = [pair for pair in parts.query.split("&") if pair and _query_key(pair).lower() not in SECRET_KEYS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


def _query_key(pair: str) -> str:
    """A query pair's key as a server reads it (``si%67n`` is ``sign``)."""
    key = pair.split("=", 1)[0]
    return unquote_plus(key) if "%" in key or "+" in key else key


def scrub_text(text: str | None) -> str | None:
    """``text`` with the value of every ``sign=...``/``secret=...`` pair, ``<sign>..</sign>`` element
    or ``"sign": ".."`` member replaced by ``***``."""
    if not text:
        return text
    lowered = text.lower()
    if not any(key in lowered for key in SECRET_KEYS):  # most texts: one pass instead of three
        return text
    text = _TEXT_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _XML_ELEMENT.sub(lambda m: f"<{m.group(1)}>{MASK}</{m.group(1)}>", text)
    return _JSON_MEMBER.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
