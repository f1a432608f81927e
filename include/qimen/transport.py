"""The request URL: base URL + public parameters (SPEC.md, "Transport and public parameters")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from .signing import SIGN_METHODS, sign
from .timeutil import format_datetime, now_beijing

LONG_PREFIX = "taobao.qimen."
METHODS = (
    "singleitem.synchronize",
    "deliveryorder.create",
    "deliveryorder.confirm",
    "order.cancel",
    "inventory.query",
    "returnorder.create",
    "returnorder.confirm",
    "orderprocess.report",
    "itemlack.report",
    "stockchange.report",
)
CONTENT_TYPE = "text/xml;charset=utf-8"


def normalize_method(name: str) -> str:
    """``taobao.qimen.deliveryorder.create`` -> ``deliveryorder.create`` (gateways accept both)."""
    name = (name or "").strip()
    return name[len(LONG_PREFIX):] if name.startswith(LONG_PREFIX) else name


def public_params(
    method: str,
    *,
    app_key: str,
    customer_id: str,
    v: str = "2.0",
    sign_method: str = "md5",
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """Every public parameter but ``sign``; ``timestamp`` in Beijing time."""
    if sign_method not in SIGN_METHODS:
        raise ValueError(f"unknown sign_method {sign_method!r}")
    return {
        "method": method,
        "timestamp": format_datetime(timestamp or now_beijing()),
        "format": "xml",
        "app_key": app_key or "",
        "v": v or "2.0",
        "sign_method": sign_method,
        "customerId": customer_id or "",
    }


def signed_params(params: Mapping[str, str], body: str, secret: str) -> dict[str, str]:
    out = dict(params)
    out["sign"] = sign(out, body, secret, out.get("sign_method") or "md5")
    return out


def build_request_url(base_url: str, params: Mapping[str, str]) -> str:
    """``base_url`` with ``params`` appended to its query (any query already on it is kept first)."""
    parts = urlsplit(base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def signed_request_urls(base_url: str, params: Mapping[str, str], sign: str) -> tuple[str, str]:
    """The URL to POST to and the same URL with the sign masked (for logs and tables), built in one
    pass: what ``build_request_url`` and ``redact_url`` give for ``{**params, "sign": sign}``."""
    parts = urlsplit(base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None and k != "sign")
    head = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    tail = f"#{parts.fragment}" if parts.fragment else ""
    return f"{head}&sign={quote_plus(sign)}{tail}", f"{head}&sign=***{tail}"


def redact_url(url: str) -> str:
    """The URL with ``sign`` masked, fit for logs and tables."""
    parts = urlsplit(url)
    query = [(k, "***" if k == "sign" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="*"), parts.fragment))
