"""SKUs (canonical frame) -> ``singleitem.synchronize`` documents.

Cleaning and checks run over the whole chunk; the only per-record loop is the final document
build. Decisions that are not obvious:

* ``itemName`` is the product name plus the spec (``秋冬大衣 黑色XL``) unless the name already
  says the spec, so one product's SKUs are told apart on the warehouse's pick lists. A SKU with
  only a spec is named by the spec (Juxing accepts either).
* Duplicate ``item_code`` in one batch: the same ``sku_id`` extracted twice is one SKU, and its
  latest row (by ``updated_at``) is kept. Two *different* SKUs sharing an item code are ALL
  rejected: the warehouse identifies goods by item code, so sending either would make it merge
  two products, and which one is right is the shop's call, not ours ("first wins" would silently
  depend on extract order).
* The content hash covers the business content only (not ``actionType``/``itemId``, no
  timestamps), so a SKU whose ``updated_at`` moved without a real change is not sent again.
* Truncation (with ``…``) only for descriptive fields in :data:`TRUNCATABLE_ITEM_FIELDS`; codes
  and barcodes that are too long are rejected by the rules table.
* Emoji are kept in descriptive text; in codes they are rejected (scanners and warehouse keys).
* A value the reader could not read (``read_errors``) rejects its SKU, named at the field it
  feeds; a retail price must be within ``[0, MAX_MONEY]``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import pandas as pd
from qimen.documents import build_document
from qimen.validation import validate

from .field_rules import max_len
from .hashing import content_hash
from .keys import latest_per_key, shared_codes
from .numbers import MAX_MONEY, money_out_of_range, to_money
from .problems import RowProblems, add_read_errors, merge_violations, records, unreadable_first
from .text import clean_text, has_non_bmp, truncate

METHOD = "singleitem.synchronize"

SKU_COLUMNS = (
    "sku_id", "item_code", "item_name", "bar_code", "sku_property", "goods_code",
    "category_name", "brand_name", "stock_unit", "retail_price", "updated_at", "read_errors",
)
REQUIRED_SKU_COLUMNS = ("sku_id", "item_code")

#: Item fields that may be cut to the rules' length (document path -> SKU column): they describe,
#: they do not identify. Codes, barcodes, brand and unit are rejected when too long instead.
_TRUNCATABLE_COLUMNS = {"item.itemName": "item_name", "item.skuProperty": "sku_property",
                        "item.categoryName": "category_name"}
TRUNCATABLE_ITEM_FIELDS = frozenset(_TRUNCATABLE_COLUMNS)

#: Fields left out of the content hash: they differ between the first and later sends.
HASH_EXCLUDES = ("actionType", "itemId")

ITEM_TYPE_NORMAL = "ZC"

_DOCUMENT_COLUMNS = ["item_code", "sku_id", "action_type", "item_id", "content_hash", "body"]
_REJECT_COLUMNS = ["item_code", "sku_id", "violations"]
_UNCHANGED_COLUMNS = ["item_code", "sku_id", "content_hash"]
# Where a shop column lands in the document, to name the field of a value that could not be read.
_ITEM_PATHS = {"item_code": "item.itemCode", "item_name": "item.itemName", "bar_code": "item.barCode",
               "sku_property": "item.skuProperty", "goods_code": "item.goodsCode",
               "category_name": "item.categoryName", "brand_name": "item.brandName",
               "stock_unit": "item.stockUnit", "retail_price": "item.retailPrice"}


@dataclass(frozen=True)
class ItemBatch:
    """One transformed chunk. ``documents`` are to send; ``rejects`` carry every violation;
    ``unchanged`` SKUs match what the warehouse already has and need no call."""

    documents: pd.DataFrame
    rejects: pd.DataFrame
    unchanged: pd.DataFrame

    @property
    def unchanged_count(self) -> int:
        return len(self.unchanged)


def build_item_documents(
    skus: pd.DataFrame,
    *,
    warehouse_code: str,
    owner_code: str,
    known: pd.DataFrame | None = None,
) -> ItemBatch:
    """Build ``singleitem.synchronize`` XML for the SKUs that are new or changed.

    ``known`` holds ``item_code, wms_item_id, content_hash`` of SKUs the warehouse already
    accepted: those with an equal hash are unchanged, others are sent as ``update`` with the
    warehouse's ``itemId``; codes not in ``known`` are sent as ``add``.
    """
    missing = [c for c in REQUIRED_SKU_COLUMNS if c not in skus.columns]
    if missing:
        raise ValueError(f"SKU frame lacks required columns {missing}")
    frame = _clean(skus)
    problems = RowProblems()
    frame = latest_per_key(frame, "sku_id")
    add_read_errors(problems, frame["read_errors"], _ITEM_PATHS)
    _check_codes(frame, problems)
    known_by_code = _known_by_code(known)

    documents, rejects, unchanged = [], [], []
    for row in records(frame):
        label = row["_label"]
        document = _document(row, warehouse_code=warehouse_code, owner_code=owner_code)
        violations = merge_violations(unreadable_first(problems.get(label)), validate(METHOD, document))
        if violations:
            rejects.append((row["item_code"], row["sku_id"], violations))
            continue
        previous = known_by_code.get(row["item_code"])
        item_id = previous[0] if previous is not None else None
        document["actionType"] = "update" if previous is not None else "add"
        document["item"]["itemId"] = item_id
        body = build_document(METHOD, document, validate=False)
        digest = content_hash(METHOD, body, exclude=HASH_EXCLUDES)
        if previous is not None and previous[1] == digest:
            unchanged.append((row["item_code"], row["sku_id"], digest))
            continue
        documents.append((row["item_code"], row["sku_id"], document["actionType"], item_id, digest, body))

    return ItemBatch(
        documents=pd.DataFrame(documents, columns=_DOCUMENT_COLUMNS),
        rejects=pd.DataFrame(rejects, columns=_REJECT_COLUMNS),
        unchanged=pd.DataFrame(unchanged, columns=_UNCHANGED_COLUMNS),
    )


def _clean(skus: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=skus.index)
    for column in SKU_COLUMNS:
        frame[column] = skus[column] if column in skus.columns else None
    for column in ("sku_id", "item_code", "item_name", "bar_code", "sku_property", "goods_code",
                   "category_name", "brand_name", "stock_unit"):
        frame[column] = clean_text(frame[column])
    frame["stock_unit"] = _unquoted(frame["stock_unit"])
    frame["item_name"] = _name_with_spec(frame["item_name"], frame["sku_property"])
    for path, column in _TRUNCATABLE_COLUMNS.items():
        frame[column] = truncate(frame[column], max_len(METHOD, path))
    frame["retail_price"], frame["_bad_price"] = to_money(frame["retail_price"])
    frame["_label"] = frame.index
    return frame


#: Quote marks around a value (litemall's column default for the unit is the text ``’件‘``).
_QUOTES = "'\"‘’“”「」『』"


def _unquoted(values: pd.Series) -> pd.Series:
    """The value without quote marks around it: the unit ``’件‘`` is sent as ``件``."""
    stripped = values.str.strip(_QUOTES).str.strip()
    return stripped.where(stripped.str.len() > 0, None)


def _name_with_spec(name: pd.Series, spec: pd.Series) -> pd.Series:
    """``name spec`` unless the name already contains the spec (spaces ignored)."""
    bare_name = name.str.replace(" ", "", regex=False)
    bare_spec = spec.str.replace(" ", "", regex=False)
    said = pd.Series(
        [isinstance(n, str) and isinstance(s, str) and s in n for n, s in zip(bare_name, bare_spec)],
        index=name.index,
    )
    combined = name.where(spec.isna() | said, name + " " + spec)
    return combined.fillna(spec)


def _check_codes(frame: pd.DataFrame, problems: RowProblems) -> None:
    code = frame["item_code"]
    shared, owners = shared_codes(frame, "item_code", "sku_id", "item code shared by SKUs")
    if shared.any():
        problems.add(shared, "item.itemCode", owners[shared] + "; fix it in the shop")
    problems.add(has_non_bmp(code), "item.itemCode", "contains emoji or other non-BMP characters")
    problems.add(has_non_bmp(frame["bar_code"]), "item.barCode", "contains emoji or other non-BMP characters")
    problems.add(frame["_bad_price"], "item.retailPrice", "not a number")
    negative, too_much = money_out_of_range(frame["retail_price"])
    problems.add(negative, "item.retailPrice", "negative")
    problems.add(too_much, "item.retailPrice", f"more than {MAX_MONEY}: not a plausible price")


def _known_by_code(known: pd.DataFrame | None) -> dict[Hashable, tuple[str | None, str | None]]:
    if known is None or known.empty:
        return {}
    codes = clean_text(known["item_code"])
    ids = clean_text(known["wms_item_id"]) if "wms_item_id" in known else pd.Series(pd.NA, index=known.index)
    hashes = known["content_hash"] if "content_hash" in known else pd.Series(None, index=known.index)
    return {
        c: (None if pd.isna(i) else str(i), None if pd.isna(h) else str(h))
        for c, i, h in zip(codes, ids, hashes)
        if not pd.isna(c)
    }


def _document(row: dict, *, warehouse_code: str, owner_code: str) -> dict:
    value = row.get
    return {
        "actionType": "add",
        "warehouseCode": warehouse_code,
        "ownerCode": owner_code,
        "item": {
            "itemCode": value("item_code"),
            "itemId": None,
            "goodsCode": value("goods_code"),
            "itemName": value("item_name"),
            "barCode": value("bar_code"),
            "skuProperty": value("sku_property"),
            "stockUnit": value("stock_unit"),
            "categoryName": value("category_name"),
            "itemType": ITEM_TYPE_NORMAL,
            "retailPrice": value("retail_price"),
            "brandName": value("brand_name"),
        },
    }


__all__ = ["ItemBatch", "TRUNCATABLE_ITEM_FIELDS", "build_item_documents"]
