"""Profiles are "a YAML file, no Python": every mistake in the file is refused with the file, key or
query named, fails as a ConfigError (no Airflow retries), and a profile can be checked against a
real shop from the command line. Issue 9."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import create_engine

from wmsbridge.errors import ConfigError
from wmsbridge.shop.profile import PROFILES_DIR, ProfileError, load_profile
from wmsbridge.shop.reader import ShopReader, read_all
from wmsbridge_tools.shop_schemas import SCHEMAS
from wmsbridge.shop.writer import ShopWriter
from wmsbridge_tools.synthetic.generator import generate


def _litemall() -> dict:
    return yaml.safe_load((PROFILES_DIR / "litemall.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- the file ----------------------------------------------------------------------------------


def test_a_misspelt_setting_is_refused_naming_the_key_and_the_file(tmp_path):
    data = _litemall()
    data["adress_mode"] = data.pop("address_mode")
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=rf"{path}: unknown setting\(s\) \['adress_mode'\]"):
        load_profile(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["queries"].update(paid_order_lines="SELECT 1"), r"unknown queries \['paid_order_lines'\]"),
    (lambda d: d["carriers"].update(unknown_to_qimem="OTHER"), r"\['carriers.unknown_to_qimem'\]"),
    (lambda d: d["statuses"].update(payed=[201]), r"\['statuses.payed'\]"),
    (lambda d: d.update(address_mode="one-string"), "address_mode must be one of"),
    (lambda d: d.update(timezone="China/Beijing"), "timezone 'China/Beijing' is no IANA zone"),
    (lambda d: d["queries"].update(paid_orders="SELECT 1 WHERE x >= :paid_form"),
     r"query 'paid_orders' uses bind parameters \['paid_form'\] it never receives"),
    # half a returns set would announce returns it cannot follow to their refund
    (lambda d: d["queries"].pop("refunded_returns"), r"returns need all of .*missing \['refunded_returns'\]"),
    (lambda d: d["queries"].update(return_lines="SELECT 1 WHERE id IN :return_id"),
     r"query 'return_lines' uses bind parameters \['return_id'\] it never receives"),
])
def test_every_mistake_in_the_file_is_refused_naming_it(tmp_path, change, message):
    data = _litemall()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=message) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_a_profile_that_is_not_yaml_is_a_profile_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nqueries: [\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(path)


# --- against a shop, on every backend ---------------------------------------------------------------


@pytest.fixture(scope="module")
def litemall_shop(shop_url):
    engine = create_engine(shop_url)
    SCHEMAS["litemall"].drop_all(engine)
    generate(engine, "litemall", orders=40, skus=10, seed=5, bad_share=0.1,
             date_from=date(2026, 11, 20), date_to=date(2026, 11, 28))
    yield shop_url, engine
    engine.dispose()


def test_a_column_that_is_no_canonical_name_is_refused_at_first_use(tmp_path, litemall_shop):
    url, engine = litemall_shop
    data = _litemall()
    data["queries"]["paid_orders"] = data["queries"]["paid_orders"].replace("AS receiver_mobile", "AS mobile")
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=rf"{path}: query 'paid_orders': columns \['mobile'\] are no canonical"):
        read_all(ShopReader(load_profile(path)).iter_paid_orders(engine))


def test_a_missing_address_column_is_named_with_the_address_mode(tmp_path, litemall_shop):
    url, engine = litemall_shop
    data = _litemall()
    data["queries"]["paid_orders"] = data["queries"]["paid_orders"].replace(
        "o.address AS receiver_address, ", "")
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=r"missing columns \['receiver_address'\] \(address_mode one_string\)"):
        read_all(ShopReader(load_profile(path)).iter_paid_orders(engine))


@pytest.mark.parametrize(("query", "broken"), [
    ("paid_orders", lambda sql: sql.replace("o.consignee", "o.consigne")),
    ("order_lines", lambda sql: sql.replace("og.number", "og.numbr")),
    ("changed_skus", lambda sql: sql.replace("FROM litemall_goods_product p", "FROM litemall_goods_products p")),
])
def test_a_sql_error_names_the_file_and_the_query(tmp_path, litemall_shop, query, broken):
    url, engine = litemall_shop
    data = _litemall()
    data["queries"][query] = broken(data["queries"][query])
    path = _write(tmp_path, data)
    reader = ShopReader(load_profile(path))
    with pytest.raises(ProfileError, match=rf"{path}: query '{query}' failed: "):
        if query == "changed_skus":
            read_all(reader.iter_changed_skus(engine))
        else:
            read_all(reader.iter_paid_orders(engine))


@pytest.mark.parametrize("query", ["write_stock", "write_stock_bulk"])
def test_a_writing_query_with_a_sql_error_names_it_too(tmp_path, litemall_shop, query):
    url, engine = litemall_shop
    data = _litemall()
    if query == "write_stock":  # the per-SKU path, for a profile without the bulk query
        del data["queries"]["write_stock_bulk"]
        data["queries"]["write_stock"] = "UPDATE litemall_goods_product SET numbr = :quantity WHERE id = :sku_id"
    else:
        data["queries"]["write_stock_bulk"] = {dialect: sql.replace("number =", "numbr =")
                                               for dialect, sql in data["queries"]["write_stock_bulk"].items()}
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=rf"{path}: query '{query}' failed"):
        ShopWriter(load_profile(path)).write_stock(engine, {"1": 5})


def test_a_database_that_is_down_is_no_profile_error(litemall_shop):
    """Airflow should retry an unreachable shop: that is no configuration mistake."""
    url, _ = litemall_shop
    down = sa.engine.make_url(url)
    if down.get_backend_name() == "sqlite":
        down = down.set(database="/nonexistent/dir/shop.db")
    else:
        down = down.set(port=1)
    engine = create_engine(down)
    with pytest.raises(sa.exc.OperationalError):
        read_all(ShopReader(load_profile("litemall")).iter_paid_orders(engine))


def test_a_profile_error_fails_the_task_without_retries(tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from wmsbridge.pipelines.policy import TaskRun, run_flow

    data = _litemall()
    data["adress_mode"] = "split"
    path = _write(tmp_path, data)
    with pytest.raises(AirflowFailException, match="adress_mode"):
        run_flow("orders", lambda run: load_profile(path), run=TaskRun("wms_order_push_manual", "manual__1", "manual"))


# --- the check command ------------------------------------------------------------------------------


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wmsbridge.shop", "check", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)


def test_the_check_command_shows_canonical_samples(litemall_shop):
    url, _ = litemall_shop
    done = _check("--profile", "litemall", "--url", url, "--samples", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    for query in ("changed_skus", "paid_orders", "order_lines", "paid_orders_by_code", "cancelled_orders",
                  "read_stock"):
        assert f"== {query}:" in done.stdout
    assert "item_code" in done.stdout and "receiver_province" in done.stdout
    assert "no problems found" in done.stdout


def test_paid_orders_without_a_payment_time_are_read_and_named_by_the_check(litemall_shop):
    """No payment window selects them: the reader adds them to every windowed read (the push then
    rejects them by name) and the check says they exist."""
    url, engine = litemall_shop
    with engine.begin() as conn:
        order_id, code, paid = conn.execute(sa.text(
            "SELECT id, order_sn, pay_time FROM litemall_order WHERE order_status = 201 AND deleted = FALSE "
            "ORDER BY id LIMIT 1")).one()
        conn.execute(sa.text("UPDATE litemall_order SET pay_time = NULL WHERE id = :i"), {"i": order_id})
    try:
        reader = ShopReader(load_profile("litemall"))
        window = [o for o, _ in reader.iter_paid_orders(engine, paid_from_utc=datetime(2026, 11, 20, tzinfo=timezone.utc),
                                                        paid_to_utc=datetime(2026, 11, 21, tzinfo=timezone.utc))]
        read = pd.concat(window)
        assert code in set(read["order_code"]) and read.set_index("order_code").loc[code, "paid_at"] is pd.NaT
        done = _check("--profile", "litemall", "--url", url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "paid orders without a payment time" in done.stdout and code in done.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE litemall_order SET pay_time = :p WHERE id = :i"), {"p": paid, "i": order_id})


def test_the_check_names_a_profile_that_cannot_read_orders_without_a_payment_time(tmp_path, litemall_shop):
    url, _ = litemall_shop
    data = _litemall()
    del data["queries"]["paid_orders_without_paid_at"]  # optional: a profile written before it existed
    done = _check("--profile", str(_write(tmp_path, data)), "--url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the profile has no 'paid_orders_without_paid_at'" in done.stdout
    assert "the profile has no" not in _check("--profile", "litemall", "--url", url).stdout


def test_the_check_command_lists_every_problem(tmp_path, litemall_shop):
    url, _ = litemall_shop
    data = _litemall()
    data["queries"]["changed_skus"] = data["queries"]["changed_skus"].replace("g.unit AS stock_unit", "g.unit")
    data["queries"]["cancelled_orders"] = data["queries"]["cancelled_orders"].replace("o.order_sn", "o.order_no")
    path = _write(tmp_path, data)
    done = _check("--profile", str(path), "--url", url)
    assert done.returncode == 1
    assert "2 problem(s)" in done.stdout
    assert "query 'changed_skus': columns ['unit'] are no canonical names" in done.stdout
    assert "query 'cancelled_orders' failed" in done.stdout
    assert "== paid_orders:" in done.stdout  # the rest was still checked


def test_the_check_command_reports_a_broken_file(tmp_path):
    data = _litemall()
    data["adress_mode"] = "split"
    done = _check("--profile", str(_write(tmp_path, data)), "--url", "sqlite://")
    assert done.returncode == 1 and "unknown setting(s) ['adress_mode']" in done.stdout


# --- shops without a SKU update time (CRMEB) -----------------------------------------------------------


CRMEB_SKUS = """
CREATE TABLE eb_store_product (id INTEGER PRIMARY KEY, store_name VARCHAR(128), unit_name VARCHAR(16),
                               add_time INTEGER, is_del SMALLINT);
CREATE TABLE eb_store_product_attr_value (id INTEGER PRIMARY KEY, product_id INTEGER, suk VARCHAR(128),
                                          bar_code VARCHAR(64), price DECIMAL(8, 2), stock INTEGER,
                                          is_del SMALLINT)
"""


@pytest.fixture
def crmeb_skus(shop_url):
    engine = create_engine(shop_url)
    with engine.begin() as conn:
        for table in ("eb_store_product_attr_value", "eb_store_product"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for ddl in CRMEB_SKUS.split(";"):
            conn.execute(sa.text(ddl))
        conn.execute(sa.text("INSERT INTO eb_store_product VALUES (1, '保温杯', '个', 1700000000, 0), "
                             "(2, '雨伞', '把', 1790000000, 0)"))
        conn.execute(sa.text("INSERT INTO eb_store_product_attr_value VALUES "
                             "(11, 1, '红色,500ml', '6901', 39.00, 5, 0), (21, 2, '黑色', '6902', 29.00, 9, 0)"))
    yield engine
    with engine.begin() as conn:
        for table in ("eb_store_product_attr_value", "eb_store_product"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def _crmeb_profile(tmp_path, changed_skus: str) -> Path:
    data = _litemall()
    data.update(name="crmeb-skus", item_code=None, sku_property="text")
    data["queries"]["changed_skus"] = changed_skus
    return _write(tmp_path, data, "crmeb.yaml")


def test_a_shop_with_no_sku_update_time_reads_every_sku(tmp_path, crmeb_skus):
    """No update time at all: the query ignores :since; every run reads every SKU and the content
    hash keeps unchanged ones from being sent again."""
    path = _crmeb_profile(tmp_path, """
        SELECT v.id AS sku_id, v.bar_code AS item_code, p.store_name AS item_name, v.suk AS sku_property,
               v.bar_code, p.unit_name AS stock_unit, v.price AS retail_price
        FROM eb_store_product_attr_value v JOIN eb_store_product p ON p.id = v.product_id
        WHERE v.is_del = 0 AND p.is_del = 0
        ORDER BY v.id""")
    since = datetime(2030, 1, 1, tzinfo=timezone.utc)
    skus = read_all(ShopReader(load_profile(path)).iter_changed_skus(crmeb_skus, since))
    assert list(skus["item_code"]) == ["6901", "6902"]
    assert skus["updated_at"].isna().all()


def test_unix_seconds_are_read_as_utc_and_bound_as_since_epoch(tmp_path, crmeb_skus):
    """CRMEB keeps Unix seconds (add_time): ``:since_epoch`` filters them, and they come back as UTC."""
    path = _crmeb_profile(tmp_path, """
        SELECT v.id AS sku_id, v.bar_code AS item_code, p.store_name AS item_name, p.add_time AS updated_at
        FROM eb_store_product_attr_value v JOIN eb_store_product p ON p.id = v.product_id
        WHERE v.is_del = 0 AND p.add_time >= :since_epoch
        ORDER BY v.id""")
    reader = ShopReader(load_profile(path))
    skus = read_all(reader.iter_changed_skus(crmeb_skus, datetime(2025, 1, 1, tzinfo=timezone.utc)))
    assert list(skus["item_code"]) == ["6902"]
    assert skus["updated_at"][0] == datetime.fromtimestamp(1790000000, tz=timezone.utc)
    assert len(read_all(reader.iter_changed_skus(crmeb_skus, None))) == 2


def test_the_readme_shop_connection_strings_become_the_right_urls():
    """The MySQL/MariaDB and PostgreSQL examples a newcomer copies from the README."""
    import json
    import re

    from airflow.sdk.definitions.connection import Connection

    from wmsbridge.connections import url_from_connection

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    given = re.findall(r"export AIRFLOW_CONN_SHOP_DB='([^']+)'", readme)
    urls = []
    for value in given:
        if value.startswith("{"):
            data = json.loads(value)
            conn = Connection(conn_id="shop_db", conn_type=data["conn_type"], extra=json.dumps(data["extra"]))
        else:
            conn = Connection.from_uri(value, conn_id="shop_db")
        urls.append(url_from_connection(conn))
    assert urls == ["mysql+pymysql://bridge:s3cret@shop-db.internal:3306/litemall",
                    "postgresql+psycopg2://bridge:s3cret@shop-db.internal:5432/mall",
                    "sqlite:////srv/shop.db"]
