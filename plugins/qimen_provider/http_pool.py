"""The hook's keep-alive connections: one urllib3 pool manager per hook, set up from the environment.

The environment is read once, when the pool is made, as requests would on every request:
``HTTP(S)_PROXY``/``ALL_PROXY`` with ``NO_PROXY``, and a CA bundle from ``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE`` (else certifi's, as requests uses).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import urllib3


def proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``, unless ``NO_PROXY`` exempts its host."""
    parts = urlsplit(base_url)
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def pool_for(base_url: str, *, maxsize: int) -> urllib3.PoolManager:
    """Up to ``maxsize`` kept-alive connections per host; urllib3 itself never retries or redirects."""
    options = {
        "maxsize": maxsize,
        "retries": False,
        "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where(),
    }
    proxy = proxy_for(base_url)
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
