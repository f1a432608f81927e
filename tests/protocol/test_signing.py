"""Signatures checked against canonical strings written out by hand from SPEC.md's algorithm.

Each expected value is hashlib/hmac over a literal string, never over our own canonical_string, so
a mistake in sorting, filtering or wrapping shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from qimen.signing import SIGN_METHODS, canonical_string, sign, verify_sign
from qimen.timeutil import BEIJING
from qimen.transport import build_request_url, public_params, redact_url, signed_params

SECRET = "secret"
BODY = '<?xml version="1.0" encoding="utf-8"?><request><item><itemName>加湿器 & 黑色XL</itemName></item></request>'
PARAMS = {
    "method": "singleitem.synchronize",
    "timestamp": "2020-09-29 13:38:26",
    "format": "xml",
    "app_key": "21363512",
    "v": "2.0",
    "sign_method": "md5",
    "customerId": "82073683308314625",
    "sign": "SHOULD-BE-IGNORED",
    "session": "",  # empty values are dropped
}
# Sorted by key in byte order: app_key < customerId < format < method < sign_method < timestamp < v
CANONICAL_PARAMS = (
    "app_key21363512"
    "customerId82073683308314625"
    "formatxml"
    "methodsingleitem.synchronize"
    "sign_methodmd5"
    "timestamp2020-09-29 13:38:26"
    "v2.0"
)


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def test_canonical_string_by_hand():
    assert canonical_string(PARAMS, BODY) == CANONICAL_PARAMS + BODY


def test_md5_known_answer():
    expected = md5_upper("secret" + CANONICAL_PARAMS + BODY + "secret")
    assert sign(PARAMS, BODY, SECRET, "md5") == expected
    assert len(expected) == 32 and expected == expected.upper()


def test_hmac_md5_known_answer():
    params = dict(PARAMS, sign_method="hmac")
    canonical = CANONICAL_PARAMS.replace("sign_methodmd5", "sign_methodhmac")
    expected = hmac.new(b"secret", (canonical + BODY).encode("utf-8"), hashlib.md5).hexdigest().upper()
    assert sign(params, BODY, SECRET, "hmac") == expected


def test_hmac_sha256_known_answer():
    params = dict(PARAMS, sign_method="hmac-sha256")
    canonical = CANONICAL_PARAMS.replace("sign_methodmd5", "sign_methodhmac-sha256")
    expected = hmac.new(b"secret", (canonical + BODY).encode("utf-8"), hashlib.sha256).hexdigest().upper()
    assert sign(params, BODY, SECRET, "hmac-sha256") == expected
    assert len(expected) == 64


def test_byte_order_puts_uppercase_first():
    # "B" (0x42) sorts before "a" (0x61); a case-insensitive sort would give "a1B2"
    assert sign({"a": "1", "B": "2"}, "", "k") == md5_upper("kB2a1k")
    assert sign({"a": "1", "B": "2"}, "", "k") != md5_upper("ka1B2k")


def test_none_and_empty_keys_dropped_sign_excluded():
    params = {"x": "1", "y": None, "": "orphan", "z": "", "sign": "ABC"}
    assert sign(params, "<b/>", "k") == md5_upper("kx1<b/>k")


def test_the_same_with_a_chinese_secret_and_empty_body():
    assert sign({"m": "值"}, "", "密钥") == md5_upper("密钥m值密钥")


def test_unknown_method_refused():
    assert SIGN_METHODS == ("md5", "hmac", "hmac-sha256")
    with pytest.raises(ValueError, match="unknown sign_method"):
        sign(PARAMS, BODY, SECRET, "sha1")


# --- verify_sign (what our callback does with the warehouse's confirmation) ---------------------


@pytest.fixture(params=SIGN_METHODS)
def signed(request) -> dict:
    params = dict(PARAMS, sign_method=request.param)
    del params["sign"]
    return signed_params(params, BODY, SECRET)


def test_verify_accepts_good_signature(signed):
    assert verify_sign(signed, BODY, SECRET)


def test_verify_accepts_lowercase_sign(signed):
    assert verify_sign(dict(signed, sign=signed["sign"].lower()), BODY, SECRET)


def test_verify_rejects_tampered_body(signed):
    assert not verify_sign(signed, BODY.replace("黑色", "白色"), SECRET)


def test_verify_rejects_tampered_param(signed):
    assert not verify_sign(dict(signed, customerId="82073683308314626"), BODY, SECRET)


def test_verify_rejects_wrong_secret(signed):
    assert not verify_sign(signed, BODY, "Secret")


def test_verify_rejects_missing_sign_and_unknown_method(signed):
    assert not verify_sign({k: v for k, v in signed.items() if k != "sign"}, BODY, SECRET)
    assert not verify_sign(dict(signed, sign_method="sha1"), BODY, SECRET)


def test_verify_defaults_to_md5_without_sign_method():
    params = {"method": "deliveryorder.confirm", "customerId": "1"}
    params["sign"] = md5_upper("s" + "customerId1methoddeliveryorder.confirm" + BODY + "s")
    assert verify_sign(params, BODY, "s")


# --- the request URL from Juxing's own example ----------------------------------------------------


def test_seed_request_url():
    from datetime import datetime

    base = "http://www.jxwms.net/api/v2/openapi/wms/wmsnotify/9"
    params = public_params(
        "deliveryorder.create",
        app_key="21363512",
        customer_id="82073683308314625",
        timestamp=datetime(2020, 9, 29, 13, 38, 26, tzinfo=BEIJING),
    )
    url = build_request_url(base, signed_params(params, BODY, SECRET))
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base
    query = parse_qs(parts.query)
    assert {k: v[0] for k, v in query.items()} == {
        "method": "deliveryorder.create",
        "timestamp": "2020-09-29 13:38:26",
        "format": "xml",
        "app_key": "21363512",
        "v": "2.0",
        "sign_method": "md5",
        "customerId": "82073683308314625",
        "sign": md5_upper(
            "secret"
            "app_key21363512customerId82073683308314625formatxmlmethoddeliveryorder.create"
            "sign_methodmd5timestamp2020-09-29 13:38:26v2.0" + BODY + "secret"
        ),
    }
    # encoded as in Juxing's note (whose "×tamp" is "&timestamp" eaten by an HTML entity)
    assert "timestamp=2020-09-29+13%3A38%3A26" in parts.query
    assert "sign=***" in redact_url(url) and query["sign"][0] not in redact_url(url)


def test_request_url_keeps_an_existing_query_and_converts_utc():
    from datetime import datetime, timezone

    params = public_params("inventory.query", app_key="k", customer_id="c",
                           timestamp=datetime(2020, 9, 29, 5, 38, 26, tzinfo=timezone.utc))
    url = build_request_url("https://wms.example/api?tenant=9", params)
    query = parse_qs(urlsplit(url).query)
    assert query["tenant"] == ["9"] and query["timestamp"] == ["2020-09-29 13:38:26"]


@pytest.mark.parametrize("base_url", ["http://h:1/api/v2/x/9", "http://h/api?x=1&y=a+b", "https://h/p?q=1#frag"])
def test_the_signed_url_and_its_masked_twin_are_built_in_one_pass_as_the_two_steps_would(base_url):
    from urllib.parse import parse_qsl, urlsplit

    from qimen.transport import build_request_url, public_params, redact_url, signed_params, signed_request_urls

    params = public_params("deliveryorder.create", app_key="k&1", customer_id="C 1/2")
    signed = signed_params(params, "<request/>", "secret")
    url, safe = signed_request_urls(base_url, params, signed["sign"])

    def pairs(u):
        return sorted(parse_qsl(urlsplit(u).query, keep_blank_values=True))

    reference = build_request_url(base_url, signed)
    assert pairs(url) == pairs(reference) and urlsplit(url).fragment == urlsplit(reference).fragment
    assert pairs(safe) == pairs(redact_url(reference)) and signed["sign"] not in safe
    assert url.split("?")[0] == safe.split("?")[0] == base_url.split("?")[0]
