"""Keep the request signature out of logs and error messages.

The sign travels in the query string, and urllib3 logs request lines (``"POST /path?...&sign=..."``)
at DEBUG and puts URLs into its exception texts. The sign is not the secret, but together with the
body it lets anyone replay a request inside the gateway's timestamp window, so it is masked like a
credential. The secret itself never enters a URL.
"""

from __future__ import annotations

import logging
import re
import threading

SIGN_IN_QUERY = re.compile(r"([?&]sign=)[^&#\s'\"]*")
MASK = "***"
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
_install_lock = threading.Lock()


def redact_text(text: str, *secrets: str) -> str:
    """``text`` with any ``sign=`` query value and every given secret value masked."""
    text = SIGN_IN_QUERY.sub(r"\g<1>" + MASK, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class SignRedactingFilter(logging.Filter):
    """Rewrites a record's message with the sign masked (the record keeps flowing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "sign=" in message:
            record.msg = redact_text(message)
            record.args = None
        return True


def install_urllib3_log_redaction() -> None:
    """Attach the filter to urllib3's loggers once per process (idempotent, thread-safe)."""
    with _install_lock:
        for name in _URLLIB3_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, SignRedactingFilter) for f in logger.filters):
                logger.addFilter(SignRedactingFilter())
