"""Stock write-back in bulk through a profile: one UPDATE per chunk, derived totals kept right.

A CRMEB-shaped shop (SKU stock in eb_store_product_attr_value, a per-product total in
eb_store_product.stock) with the profile queries docs/profiles.md shows, on the three databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from wmsbridge.shop import ShopWriter
from wmsbridge.shop.profile import QUERIES, load_profile

DOCS = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


def _crmeb_stock_queries() -> dict:
    """The write_stock_bulk / write_stock_totals YAML of the CRMEB sketch in docs/profiles.md."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("  write_stock_bulk:")
    end = text.index("  # ... changed_skus", start)
    return yaml.safe_load(text[start:end].replace("\n  ", "\n").lstrip())


@pytest.fixture
def crmeb(shop_url, tmp_path):
    engine = sa.create_engine(shop_url)
    meta = sa.MetaData()
    product = sa.Table("eb_store_product", meta, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("stock", sa.Integer, nullable=False), sa.Column("is_del", sa.Integer, default=0))
    sku = sa.Table("eb_store_product_attr_value", meta, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("product_id", sa.Integer, nullable=False), sa.Column("stock", sa.Integer, nullable=False),
                   sa.Column("version", sa.Integer, nullable=False), sa.Column("is_del", sa.Integer, nullable=False))
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(product), [{"id": p, "stock": 0, "is_del": 0} for p in (1, 2, 3)])
        conn.execute(sa.insert(sku), [
            {"id": 11, "product_id": 1, "stock": 5, "version": 0, "is_del": 0},
            {"id": 12, "product_id": 1, "stock": 5, "version": 0, "is_del": 0},
            {"id": 13, "product_id": 1, "stock": 100, "version": 0, "is_del": 1},  # deleted: not in the total
            {"id": 21, "product_id": 2, "stock": 7, "version": 0, "is_del": 0},
            {"id": 31, "product_id": 3, "stock": 9, "version": 0, "is_del": 0},
        ])
    queries = {name: "SELECT 1" for name in QUERIES} | _crmeb_stock_queries()
    profile_file = tmp_path / "crmeb.yaml"
    profile_file.write_text(yaml.safe_dump({
        "name": "crmeb-test", "timezone": "Asia/Shanghai", "key_type": "int", "statuses": {"paid": [1]},
        "queries": queries,
    }, allow_unicode=True), encoding="utf-8")
    yield engine, product, sku, load_profile(profile_file)
    meta.drop_all(engine)
    engine.dispose()


def test_bulk_write_updates_skus_and_their_product_totals(crmeb):
    engine, product, sku, profile = crmeb
    assert profile.has("write_stock_bulk") and profile.has("write_stock_totals")
    written = ShopWriter(profile).write_stock(engine, {"11": 3, "12": 4, "21": 0, "13": 50, "999": 8}, chunk_size=2)
    assert written == 3, "deleted and unknown SKUs are not written"
    with engine.connect() as conn:
        skus = dict(conn.execute(sa.select(sku.c.id, sku.c.stock)).all())
        versions = dict(conn.execute(sa.select(sku.c.id, sku.c.version)).all())
        totals = dict(conn.execute(sa.select(product.c.id, product.c.stock)).all())
    assert skus == {11: 3, 12: 4, 13: 100, 21: 0, 31: 9}
    assert versions == {11: 1, 12: 1, 13: 0, 21: 1, 31: 0}, "CRMEB's optimistic lock is bumped"
    assert totals == {1: 7, 2: 0, 3: 0}, "totals of the products touched, over their live SKUs; others untouched"
    # the temporary table is gone and a second write on a pooled connection works
    assert ShopWriter(profile).write_stock(engine, {"31": 2}) == 1
    with engine.connect() as conn:
        assert dict(conn.execute(sa.select(product.c.id, product.c.stock)).all())[3] == 2
