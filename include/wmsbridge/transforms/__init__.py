"""Pure pandas transforms: canonical shop frames in, Qimen XML documents and per-record errors out.

No database, no HTTP, no Airflow: the pipelines feed chunks in and decide what to do with
``documents``, ``rejects``, ``held`` and ``unchanged``.
"""

from .items import TRUNCATABLE_ITEM_FIELDS, ItemBatch, build_item_documents
from .orders import SAFE_TO_TRUNCATE, OrderBatch, OrderSettings, build_delivery_orders

__all__ = [
    "SAFE_TO_TRUNCATE",
    "TRUNCATABLE_ITEM_FIELDS",
    "ItemBatch",
    "OrderBatch",
    "OrderSettings",
    "build_delivery_orders",
    "build_item_documents",
]
