"""Paid orders (canonical frames) -> ``deliveryorder.create`` documents.

Cleaning, normalisation and the checks the rules table cannot express run over whole columns;
the only per-record loop is the final build (validate, hash, one XML per order). Every order is
validated against ``qimen.rules`` before it becomes a document, and a bad order never stops the
rest of the chunk. Decisions that are not obvious:

* Truncation (to the rules' length, ending in ``…``) only for the fields in
  :data:`SAFE_TO_TRUNCATE`: free text and display names the warehouse does not act on. Codes,
  phones, receiver name and address parts that are too long are rejected: a cut phone number or
  address delivers the parcel to the wrong door.
* Emoji and other non-BMP characters stay in free text (buyer/seller message, remark, item and
  shop names: UTF-8 XML carries them). In the receiver's name, phone and address, and in item
  codes, they are rejected: they cannot be printed on a waybill, a utf8mb3 warehouse database
  cannot store them, and silently dropping them would be guessing at an address.
* Control characters and zero-width marks are removed everywhere (lxml refuses most of them).
* The order code is the key of everything later (cancellations and resends find the order in the
  shop by it), so it must be usable exactly as the shop holds it: an empty or blank code, or one
  with control characters, tabs or spaces around it, is rejected, never cleaned into another code.
  Such a reject has no ``order_code`` (``shop_code`` shows the code as read): the pipeline records
  it by the shop's order id.
* Two orders with the same ``order_code`` in one chunk are both rejected: the warehouse keys
  orders by deliveryOrderCode and would answer the second "already exists", silently losing it.
  The same ``order_id`` twice (overlapping extract windows) is one order; its latest row is kept.
* Carrier: ``carrier_map`` first; a shop code that already is a Qimen logistics code passes as
  is; otherwise ``default_logistics_code`` when configured; otherwise the shop's code itself
  passes with a warning: logisticsCode is an open list in real WMSs (BSKY, DBKY, RRS, ...), and
  the warehouse, not us, knows its carriers. An order with no carrier code and no default is
  rejected. Configured codes outside the SPEC's list are warned about too, never refused.
* Lines carry the warehouse's ``itemId`` when the item sync got one (``item_ids``).
* An order referencing item codes the warehouse does not know (``known_item_codes``) is *held*,
  not rejected, and only when it is otherwise valid: holding an invalid order helps nobody.
* A value the reader could not read (``read_errors``: bytes that are not UTF-8, ``'abc'`` as an
  amount, an impossible date) rejects its order, named at the field it feeds.
* Plausibility: amounts and prices must be within ``[0, MAX_MONEY]`` (a shop's DECIMAL(10,2); a
  price of 1e12 is a typo, not a sale), and the payment time between 2000 and one day after
  ``now`` (1970-01-01 is an unset clock, 2100 a typo).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from qimen import rules
from qimen.compiled import render
from qimen.documents import build_document
from qimen.timeutil import BEIJING, DATETIME_FORMAT, format_datetime
from qimen.validation import validate

from .field_rules import max_len
from .hashing import content_hash
from .keys import latest_per_key, shared_codes
from .numbers import MAX_MONEY, money_out_of_range, to_money, to_positive_int
from .phones import normalize_phone
from .problems import (Problem, RowProblems, add_read_errors, cyclic_gc_paused, merge_violations, python_values, records,
                       unreadable_first)
from .text import ELLIPSIS, clean_text, has_non_bmp, squeeze_spaces, truncate, why_not_a_key

METHOD = "deliveryorder.create"
log = logging.getLogger(__name__)

#: Fields that may be cut to the rules' length (document path -> where the value comes from).
#: Everything else that is too long is rejected by the rules table.
SAFE_TO_TRUNCATE: Mapping[str, str] = {
    "deliveryOrder.buyerMessage": "buyer_message",
    "deliveryOrder.sellerMessage": "seller_message",
    "deliveryOrder.remark": "remark",
    "deliveryOrder.buyerNick": "buyer_nick",
    "deliveryOrder.shopNick": "shop_nick",
    "orderLines.itemName": "item_name",
}

#: Left out of the content hash: they are "now" on every send, so a resend compares equal.
HASH_EXCLUDES = ("createTime", "operateTime")

ORDER_COLUMNS = (
    "order_id", "order_code", "paid_at", "receiver_name", "receiver_mobile", "receiver_tel",
    "receiver_province", "receiver_city", "receiver_area", "receiver_town", "receiver_detail",
    "receiver_address", "receiver_address_error", "receiver_zip", "buyer_nick", "buyer_message",
    "seller_message", "remark", "total_amount", "item_amount", "discount_amount", "freight",
    "carrier_code", "updated_at", "read_errors",
)
LINE_COLUMNS = ("order_id", "line_no", "sku_id", "item_code", "item_name", "quantity", "price", "retail_price",
                "read_errors")
_ORDER_TEXT = (
    "order_id", "order_code", "receiver_name", "receiver_province", "receiver_city", "receiver_area",
    "receiver_town", "receiver_detail", "receiver_address", "receiver_address_error", "receiver_zip",
    "buyer_nick", "buyer_message", "seller_message", "remark", "carrier_code",
)
_AMOUNTS = {"total_amount": "totalAmount", "item_amount": "itemAmount",
            "discount_amount": "discountAmount", "freight": "freight"}
_RECEIVER = "deliveryOrder.receiverInfo"
# Receiver fields where a non-BMP character is rejected (path suffix -> column).
_NO_EMOJI = {"name": "receiver_name", "province": "receiver_province", "city": "receiver_city",
             "area": "receiver_area", "town": "receiver_town", "detailAddress": "receiver_detail",
             "zipCode": "receiver_zip"}
_SPLIT_ADDRESS_PATHS = tuple(f"{_RECEIVER}.{p}" for p in ("province", "city", "area", "town", "detailAddress"))
# Where a shop column lands in the document, to name the field of a value that could not be read.
_ORDER_PATHS = {
    "order_code": "deliveryOrder.deliveryOrderCode", "paid_at": "deliveryOrder.placeOrderTime",
    "receiver_name": f"{_RECEIVER}.name", "receiver_mobile": f"{_RECEIVER}.mobile",
    "receiver_tel": f"{_RECEIVER}.tel", "receiver_province": f"{_RECEIVER}.province",
    "receiver_city": f"{_RECEIVER}.city", "receiver_area": f"{_RECEIVER}.area", "receiver_town": f"{_RECEIVER}.town",
    "receiver_detail": f"{_RECEIVER}.detailAddress", "receiver_address": _RECEIVER,
    "receiver_zip": f"{_RECEIVER}.zipCode", "buyer_nick": "deliveryOrder.buyerNick",
    "buyer_message": "deliveryOrder.buyerMessage", "seller_message": "deliveryOrder.sellerMessage",
    "carrier_code": "deliveryOrder.logisticsCode",
    **{column: f"deliveryOrder.{name}" for column, name in _AMOUNTS.items()},
}
_LINE_PATHS = {"line_no": "orderLineNo", "item_code": "itemCode", "item_name": "itemName", "quantity": "planQty",
               "price": "actualPrice", "retail_price": "retailPrice"}
# A payment before this is an unset clock (1970-01-01), not an order to ship.
_EARLIEST_PAYMENT = pd.Timestamp("2000-01-01", tz="UTC")
_TOO_MUCH = f"more than {MAX_MONEY}: not a plausible amount"

_DOCUMENT_COLUMNS = ["order_code", "order_id", "paid_at", "content_hash", "body"]
# order_code: None when the shop's code cannot key the order (shop_code: the code as read)
_REJECT_COLUMNS = ["order_code", "order_id", "violations", "shop_code"]
_HELD_COLUMNS = ["order_code", "order_id", "missing_item_codes"]


@dataclass(frozen=True)
class OrderSettings:
    """Everything about the warehouse and the shop that is not in the order rows."""

    warehouse_code: str
    owner_code: str
    shop_nick: str
    sender_name: str
    sender_mobile: str
    sender_province: str
    sender_city: str
    sender_area: str | None
    sender_detail: str
    source_platform_code: str = "API"
    order_type: str = "JYCK"
    #: shop carrier code -> Qimen logisticsCode (e.g. Kdniao ``YD`` -> ``YUNDA``)
    carrier_map: Mapping[str, str] = field(default_factory=dict)
    #: used when an order has no carrier code, or one not in ``carrier_map``
    default_logistics_code: str | None = None
    #: the subset of :data:`SAFE_TO_TRUNCATE` actually truncated; the rest is rejected when long
    truncate_fields: frozenset[str] = frozenset(SAFE_TO_TRUNCATE)
    truncation_marker: str = ELLIPSIS

    def __post_init__(self) -> None:
        unsafe = set(self.truncate_fields) - set(SAFE_TO_TRUNCATE)
        if unsafe:
            raise ValueError(f"not safe to truncate: {sorted(unsafe)}; allowed: {sorted(SAFE_TO_TRUNCATE)}")
        codes = set(self.carrier_map.values()) | ({self.default_logistics_code} - {None})
        unknown = sorted(codes - set(rules.LOGISTICS_CODES))
        if unknown:  # an open list: the warehouse may well know them
            log.warning("logistics codes %s are not in the Qimen SPEC's list; sent as configured "
                        "(check that the warehouse knows them)", unknown)
        if self.order_type not in rules.ORDER_TYPES:
            raise ValueError(f"order_type {self.order_type!r} not in {rules.ORDER_TYPES}")


@dataclass(frozen=True)
class OrderBatch:
    """One transformed chunk: ``documents`` to send, ``rejects`` with every violation, ``held``
    orders waiting for their SKUs to reach the warehouse."""

    documents: pd.DataFrame
    rejects: pd.DataFrame
    held: pd.DataFrame


def build_delivery_orders(
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    *,
    settings: OrderSettings,
    now: datetime,
    known_item_codes: set[str] | None = None,
    item_ids: Mapping[str, str] | None = None,
) -> OrderBatch:
    """Build ``deliveryorder.create`` XML per order. ``now`` (aware) is createTime/operateTime;
    ``item_ids``: item code -> the warehouse's itemId, sent on the lines where known."""
    for frame, required, name in ((orders, ("order_id", "order_code", "paid_at"), "order"),
                                  (lines, ("order_id", "line_no", "item_code", "quantity", "price"), "line")):
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} frame lacks required columns {missing}")
    now_text = format_datetime(now)  # refuses a naive datetime
    problems = RowProblems()
    order_frame = _prepare_orders(orders, settings, problems, now)
    line_frame, line_problems = _prepare_lines(lines, settings)
    with cyclic_gc_paused():  # a few acyclic dicts per order; see cyclic_gc_paused
        lines_by_order = _line_documents(line_frame, order_frame, settings, item_ids or {})

        if known_item_codes is not None:
            known_item_codes = set(known_item_codes)  # once, not per order
        documents, rejects, held = [], [], []
        for row in records(order_frame, _RECORD_COLUMNS):
            label = row["_label"]
            order_lines = lines_by_order.get(row["order_id"], [])
            own = list(problems.get(label))
            if not order_lines:
                own.append(Problem("orderLines", "the order has no lines"))
            if line_problems:
                for position, (line_label, _line) in enumerate(order_lines):
                    for problem in line_problems.get(line_label):
                        own.append(Problem(f"orderLines[{position}].{problem.path}", problem.message))
            document = _document(row, [line for _, line in order_lines], settings, now_text)
            body = render(METHOD, document)  # compiled rules; None: the generic validator says why
            if own or body is None:
                violations = merge_violations(unreadable_first(own), validate(METHOD, document) if body is None else ())
            else:
                violations = None
            if violations:
                rejects.append((None if row["_keyless"] else row["order_code"], row["order_id"], violations,
                                row["_shop_code"]))
                continue
            if known_item_codes is not None:
                unknown = sorted({line["itemCode"] for _, line in order_lines} - known_item_codes)
                if unknown:
                    held.append((row["order_code"], row["order_id"], unknown))
                    continue
            body = body or build_document(METHOD, document, validate=False)
            digest = content_hash(METHOD, body, exclude=HASH_EXCLUDES)
            documents.append((row["order_code"], row["order_id"], row["paid_at"], digest, body))

    return OrderBatch(
        documents=pd.DataFrame(documents, columns=_DOCUMENT_COLUMNS),
        rejects=pd.DataFrame(rejects, columns=_REJECT_COLUMNS),
        held=pd.DataFrame(held, columns=_HELD_COLUMNS),
    )


# --- orders, vectorised ---------------------------------------------------------------------------


def _prepare_orders(orders: pd.DataFrame, settings: OrderSettings, problems: RowProblems,
                    now: datetime) -> pd.DataFrame:
    frame = pd.DataFrame(index=orders.index)
    for column in ORDER_COLUMNS:
        frame[column] = orders[column] if column in orders.columns else None
    frame["_shop_code"] = frame["order_code"]  # as the shop holds it: the key must be exactly this
    for column in _ORDER_TEXT:
        frame[column] = clean_text(frame[column])
    for column in ("receiver_province", "receiver_city", "receiver_area", "receiver_zip", "carrier_code"):
        frame[column] = squeeze_spaces(frame[column])
    # A shop with one address string and no split detail: the whole string is still a deliverable
    # detailAddress (Juxing's own sample sends it that way); province/city/area come from the parser.
    frame["receiver_detail"] = frame["receiver_detail"].fillna(frame["receiver_address"])
    frame = latest_per_key(frame, "order_id")
    frame["_label"] = frame.index
    add_read_errors(problems, frame["read_errors"], _ORDER_PATHS, {"receiver_address": _SPLIT_ADDRESS_PATHS})

    _check_order_codes(frame, problems)
    _receiver_phone(frame, problems)
    for suffix, column in _NO_EMOJI.items():
        problems.add(has_non_bmp(frame[column]), f"{_RECEIVER}.{suffix}",
                     "contains emoji or other characters a waybill cannot print")
    problems.add(frame["receiver_address_error"].notna(), _RECEIVER,
                 "address refused: " + frame["receiver_address_error"].fillna(""),
                 covers=_SPLIT_ADDRESS_PATHS)
    _payment_time(frame, problems, now)
    _logistics_code(frame, settings, problems)
    for column, name in _AMOUNTS.items():
        frame[column], bad = to_money(frame[column])
        problems.add(bad, f"deliveryOrder.{name}", "not a number")
        negative, too_much = money_out_of_range(frame[column])
        problems.add(negative, f"deliveryOrder.{name}", "negative")
        problems.add(too_much, f"deliveryOrder.{name}", _TOO_MUCH)
    frame["shop_nick"] = settings.shop_nick
    for path in settings.truncate_fields:
        column = SAFE_TO_TRUNCATE[path]
        if path.startswith("deliveryOrder.") and column in frame:
            frame[column] = truncate(frame[column].astype("string"), max_len(METHOD, path), settings.truncation_marker)
    return frame


def _check_order_codes(frame: pd.DataFrame, problems: RowProblems) -> None:
    code = frame["order_code"]
    unreadable = [bool(found) and any(str(e).startswith("order_code:") for e in found)
                  for found in python_values(frame["read_errors"])]
    why = [None if raw is None else why_not_a_key(str(raw))
           for raw in python_values(frame["_shop_code"])]
    frame["_keyless"] = [bad or reason is not None for bad, reason in zip(unreadable, why)]
    said = pd.Series([reason is not None and not bad for bad, reason in zip(unreadable, why)], index=frame.index)
    if said.any():  # an unreadable one is named by its read error already
        problems.add(said, "deliveryOrder.deliveryOrderCode", pd.Series(
            [f"{raw!r} cannot be the order's code: {reason}; fix the order number in the shop" if reason else ""
             for raw, reason in zip(python_values(frame["_shop_code"]), why)], index=frame.index))
    shared, owners = shared_codes(frame, "order_code", "order_id", "order code shared by orders")
    if shared.any():
        problems.add(shared, "deliveryOrder.deliveryOrderCode", owners[shared])
    problems.add(has_non_bmp(code), "deliveryOrder.deliveryOrderCode", "contains emoji or other non-BMP characters")


def _receiver_phone(frame: pd.DataFrame, problems: RowProblems) -> None:
    """mobile = the mobile, else the landline (Juxing: never empty); tel only when it is valid."""
    mobile, bad_mobile = normalize_phone(clean_text(frame["receiver_mobile"]))
    tel, bad_tel = normalize_phone(clean_text(frame["receiver_tel"]))
    frame["receiver_mobile"] = mobile.fillna(tel)
    frame["receiver_tel"] = tel
    unusable = frame["receiver_mobile"].isna() & (bad_mobile | bad_tel)
    problems.add(unusable, f"{_RECEIVER}.mobile", "no valid phone number in the receiver's mobile or tel")


def _payment_time(frame: pd.DataFrame, problems: RowProblems, now: datetime) -> None:
    """placeOrderTime = payTime = the payment time in Beijing time (Juxing: 传订单付款时间)."""
    paid = pd.to_datetime(frame["paid_at"], errors="coerce")
    if paid.notna().any() and paid.dt.tz is None:
        raise ValueError("paid_at is naive: profiles must return aware UTC datetimes")
    if paid.dt.tz is None:
        paid = paid.dt.tz_localize("UTC")
    frame["paid_at"] = paid
    frame["_paid_text"] = paid.dt.tz_convert(BEIJING).dt.strftime(DATETIME_FORMAT).astype("string")
    problems.add(paid.isna(), "deliveryOrder.placeOrderTime", "the order has no payment time")
    latest = pd.Timestamp(now).tz_convert("UTC") + timedelta(days=1)
    implausible = paid.notna() & ((paid < _EARLIEST_PAYMENT) | (paid > latest))
    problems.add(implausible, "deliveryOrder.placeOrderTime",
                 "payment time " + frame["_paid_text"].fillna("") + " is not plausible (before 2000 or in the future)")


def _logistics_code(frame: pd.DataFrame, settings: OrderSettings, problems: RowProblems) -> None:
    shop_code = frame["carrier_code"].str.upper()
    mapping = {str(k).strip().upper(): v for k, v in settings.carrier_map.items()}
    mapped = shop_code.map(mapping).astype("string")
    as_is = shop_code.where(shop_code.isin(rules.LOGISTICS_CODES))
    code = mapped.fillna(as_is)
    if settings.default_logistics_code is not None:
        code = code.fillna(settings.default_logistics_code)
    # Open list: an unmapped shop code that looks like a code goes out as it is, with a warning.
    code_like = shop_code.str.fullmatch(r"[A-Z0-9_-]{1,50}", na=False)
    passed = code.isna() & code_like
    if passed.any():
        counts = shop_code[passed].value_counts().to_dict()
        log.warning("carrier codes %s are neither in carrier_map nor in the Qimen SPEC's list; sent as they are "
                    "(the warehouse's list is open; map them in the profile's carriers if it does not know them)",
                    counts)
    code = code.fillna(shop_code.where(passed))
    frame["_logistics_code"] = code
    unmapped = code.isna() & shop_code.notna()
    problems.add(unmapped, "deliveryOrder.logisticsCode",
                 "shop carrier code '" + frame["carrier_code"].fillna("") + "' is no carrier code, not in "
                 "carrier_map, and there is no default_logistics_code")
    problems.add(code.isna() & shop_code.isna(), "deliveryOrder.logisticsCode",
                 "the order has no carrier code and there is no default_logistics_code")


# --- lines, vectorised ----------------------------------------------------------------------------


def _prepare_lines(lines: pd.DataFrame, settings: OrderSettings) -> tuple[pd.DataFrame, RowProblems]:
    """Clean lines and find their problems; paths are relative to the line (``planQty``) because
    the line's position in its order is only known when the order is assembled."""
    frame = pd.DataFrame(index=lines.index)
    for column in LINE_COLUMNS:
        frame[column] = lines[column] if column in lines.columns else None
    problems = RowProblems()
    line_no = pd.to_numeric(frame["line_no"], errors="coerce")
    integral = line_no.notna() & (line_no % 1 == 0)
    frame["line_no"] = clean_text(frame["line_no"].astype(object).where(~integral, line_no.astype("Int64")))
    for column in ("order_id", "sku_id", "item_code", "item_name"):
        frame[column] = clean_text(frame[column])
    if "orderLines.itemName" in settings.truncate_fields:
        frame["item_name"] = truncate(frame["item_name"], max_len(METHOD, "orderLines.itemName"),
                                      settings.truncation_marker)
    given = frame["quantity"].notna()
    frame["quantity"], bad_quantity = to_positive_int(frame["quantity"])
    problems.add(bad_quantity & given, "planQty", "must be a positive integer")
    add_read_errors(problems, frame["read_errors"], _LINE_PATHS)
    for column, path in (("price", "actualPrice"), ("retail_price", "retailPrice")):
        frame[column], bad = to_money(frame[column])
        problems.add(bad, path, "not a number")
        negative, too_much = money_out_of_range(frame[column])
        problems.add(negative, path, "negative")
        problems.add(too_much, path, _TOO_MUCH)
    problems.add(has_non_bmp(frame["item_code"]), "itemCode", "contains emoji or other non-BMP characters")
    frame["_label"] = frame.index
    # Lines in their shop order: numeric line numbers numerically, others as they came.
    frame["_sort"] = line_no.where(integral)
    frame = frame.sort_values(["_sort"], kind="stable", na_position="last")
    return frame, problems


def _line_documents(lines: pd.DataFrame, orders: pd.DataFrame, settings: OrderSettings,
                    item_ids: Mapping[str, str]) -> dict[str, list[tuple[object, dict]]]:
    """The ``orderLines`` data of each order, built from whole columns: order id -> [(line label,
    line data)] in line order (the label finds the line's problems)."""
    wanted = lines[lines["order_id"].isin(orders["order_id"].dropna())]
    code_of = dict(zip(python_values(orders["order_id"]), python_values(orders["order_code"])))
    columns = [python_values(wanted[c]) for c in ("order_id", "_label", "line_no", "item_code", "item_name",
                                                   "quantity", "retail_price", "price")]
    owner = settings.owner_code
    grouped: dict[str, list[tuple[object, dict]]] = {}
    for order_id, label, line_no, item_code, item_name, quantity, retail, price in zip(*columns):
        grouped.setdefault(order_id, []).append((label, {
            "orderLineNo": line_no,
            "sourceOrderCode": code_of[order_id],
            "ownerCode": owner,
            "itemCode": item_code,
            "itemId": item_ids.get(item_code) if item_ids else None,
            "itemName": item_name,
            "planQty": quantity,
            "retailPrice": retail,
            "actualPrice": price,
        }))
    return grouped


# --- the per-record build ---------------------------------------------------------------------------

#: The order columns the document is built from (records() reads only these).
_RECORD_COLUMNS = [
    "_label", "_keyless", "_shop_code", "order_id", "order_code", "paid_at", "_paid_text", "shop_nick", "buyer_nick", "total_amount",
    "item_amount", "discount_amount", "freight", "_logistics_code", "buyer_message", "seller_message", "remark",
    "receiver_name", "receiver_zip", "receiver_tel", "receiver_mobile", "receiver_province", "receiver_city",
    "receiver_area", "receiver_town", "receiver_detail",
]


def _document(row: dict, order_lines: list[dict], settings: OrderSettings, now_text: str) -> dict:
    """Document data for one order."""
    return {
        "deliveryOrder": {
            "deliveryOrderCode": row["order_code"],
            "orderType": settings.order_type,
            "warehouseCode": settings.warehouse_code,
            "sourcePlatformCode": settings.source_platform_code,
            "createTime": now_text,
            "placeOrderTime": row["_paid_text"],
            "payTime": row["_paid_text"],
            "operateTime": now_text,
            "shopNick": row["shop_nick"],
            "buyerNick": row["buyer_nick"],
            "totalAmount": row["total_amount"],
            "itemAmount": row["item_amount"],
            "discountAmount": row["discount_amount"],
            "freight": row["freight"],
            "logisticsCode": row["_logistics_code"],
            "buyerMessage": row["buyer_message"],
            "sellerMessage": row["seller_message"],
            "remark": row["remark"],
            "senderInfo": {
                "name": settings.sender_name,
                "mobile": settings.sender_mobile,
                "province": settings.sender_province,
                "city": settings.sender_city,
                "area": settings.sender_area,
                "detailAddress": settings.sender_detail,
            },
            "receiverInfo": {
                "name": row["receiver_name"],
                "zipCode": row["receiver_zip"],
                "tel": row["receiver_tel"],
                "mobile": row["receiver_mobile"],
                "province": row["receiver_province"],
                "city": row["receiver_city"],
                "area": row["receiver_area"],
                "town": row["receiver_town"],
                "detailAddress": row["receiver_detail"],
            },
        },
        "orderLines": order_lines,
    }


__all__ = ["HASH_EXCLUDES", "SAFE_TO_TRUNCATE", "OrderBatch", "OrderSettings", "build_delivery_orders"]
