"""Qimen request signatures (SPEC.md, "Signing").

The string signed is built from every query parameter but ``sign`` (pairs with an empty key or
value dropped), sorted by key in byte order, joined as ``k1v1k2v2`` without URL-encoding, then the
exact body that is POSTed. ``md5`` wraps it in the secret; ``hmac``/``hmac-sha256`` key it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def canonical_string(params: Mapping[str, object], body: str) -> str:
    pairs = [
        (str(k), str(v))
        for k, v in params.items()
        if k != "sign" and k not in (None, "") and v is not None and str(v) != ""
    ]
    pairs.sort(key=lambda kv: kv[0].encode("utf-8"))  # byte order, as the SPEC says
    return "".join(k + v for k, v in pairs) + (body or "")


def sign(params: Mapping[str, str], body: str, secret: str, sign_method: str = "md5") -> str:
    """Uppercase hex signature of ``params`` + ``body`` with ``secret``."""
    method = (sign_method or "md5").lower()
    text = canonical_string(params, body)
    if method == "md5":
        digest = hashlib.md5((secret + text + secret).encode("utf-8")).hexdigest()
    elif method == "hmac":
        digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown sign_method {sign_method!r}; expected one of {', '.join(SIGN_METHODS)}")
    return digest.upper()


def verify_sign(params: Mapping[str, str], body: str, secret: str) -> bool:
    """Check an incoming request's ``sign`` (method from its ``sign_method``, md5 by default).

    Constant-time compare; an unknown sign method or a missing sign is simply not valid.
    """
    given = params.get("sign")
    if not given:
        return False
    try:
        expected = sign(params, body, secret, params.get("sign_method") or "md5")
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), str(given).strip().upper().encode("utf-8"))
