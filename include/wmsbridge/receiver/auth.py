"""Who may post a confirmation: the checks Juxing's callbacks can actually pass.

Juxing's note says app key and sign are "whatever you like", so a Qimen sign alone proves
nothing. The URL we hand the warehouse carries a secret token instead; the sign is checked too
when the deployment has the secret and asks for it; a ``customerId`` that is present must be ours;
an optional allow-list narrows the source addresses. Each check answers a refusal code or None.
"""

from __future__ import annotations

import hmac
import logging
import ipaddress
import re
from collections.abc import Iterable, Mapping

from qimen.signing import verify_sign

TOKEN_PARAM = "token"
# The Qimen public parameters whose presence says "this request was signed like a Qimen call".
QIMEN_PUBLIC = ("sign", "app_key", "timestamp", "sign_method")
_TOKEN_IN_TEXT = re.compile(r"((?:^|[?&\s\"'])(?:callback_)?token=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` (a path with its query, a log line) with every ``token=`` value masked."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


def token_ok(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the URL's token with the configured one."""
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


def networks(allowed: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse the allow-list (addresses or CIDR networks); ``ValueError`` names a bad entry."""
    out = []
    for entry in allowed:
        try:
            out.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError as err:
            raise ValueError(f"callback_allowed_ips: {entry!r} is not an address or network ({err})") from None
    return tuple(out)


def ip_allowed(client_ip: str | None, allowed: tuple) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address((client_ip or "").strip())
    except ValueError:
        return False
    return any(address in net for net in allowed)


def carries_qimen_params(params: Mapping[str, str]) -> bool:
    return any(params.get(name) for name in QIMEN_PUBLIC)


def sign_ok(params: Mapping[str, str], body: str, secret: str) -> bool:
    """The Qimen sign over the public parameters and the body. The token may or may not have been
    part of what the warehouse signed (it is in the base URL we gave it): either form is accepted."""
    without_token = {k: v for k, v in params.items() if k != TOKEN_PARAM}
    return verify_sign(without_token, body, secret) or verify_sign(params, body, secret)


def customer_ok(params: Mapping[str, str], ours: str | None) -> bool:
    """A ``customerId`` that is present must be ours; an absent one is fine (Juxing may omit it)."""
    given = (params.get("customerId") or params.get("customerid") or "").strip()
    return not given or ours is None or hmac.compare_digest(given.encode("utf-8"), ours.encode("utf-8"))


class RedactToken(logging.Filter):
    """Masks ``token=`` values in log records (uvicorn's access log prints the path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) and "token=" in a.lower() else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "uvicorn", "gunicorn.error")


def install_log_redaction() -> None:
    """Attach ``RedactToken`` to the web servers' loggers and their handlers (idempotent)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, RedactToken) for f in target.filters):
                target.addFilter(RedactToken())
