"""The ONE table of Qimen field rules (from /work/shared/qimen/SPEC.md and Juxing's own note).

Everything that knows about fields reads this module: the validator, the XML builder (element
order = tuple order = SPEC order), the parsers (which elements are lists) and the generated field
reference ``docs/qimen-fields.md`` (``python -m qimen > docs/qimen-fields.md``), so the docs
are never a second, drifting copy.

Where the Qimen SDK and Juxing disagree, Juxing wins (it is the warehouse we talk to); every such
choice carries a ``# Juxing:`` comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "int", "decimal", "datetime", "date", "enum", "yn", "struct", "list", "map"]
KINDS: tuple[str, ...] = ("str", "int", "decimal", "datetime", "date", "enum", "yn", "struct", "list", "map")


@dataclass(frozen=True)
class Field:
    """One XML element.

    ``max_len`` counts characters (not bytes) of the text as sent. ``struct`` has ``children``;
    ``list`` is a wrapper element whose repeated ``item_tag`` elements have ``children`` (or are
    plain text when ``children`` is empty, e.g. ``snList/sn``); ``map`` takes any child names
    (``extendProps``). ``enum`` may also restrict an ``int`` field. ``min_value`` applies to ints,
    ``min_items`` to lists.
    """

    name: str
    kind: Kind = "str"
    required: bool = False
    max_len: int | None = None
    enum: tuple[str, ...] = ()
    scale: int | None = None
    children: tuple["Field", ...] = ()
    item_tag: str | None = None
    min_value: int | None = None
    min_items: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if self.kind == "list" and not self.item_tag:
            raise ValueError(f"{self.name}: a list needs an item_tag")
        if self.kind == "enum" and not self.enum:
            raise ValueError(f"{self.name}: an enum needs values")
        if self.kind == "decimal" and self.scale is None:
            raise ValueError(f"{self.name}: a decimal needs a scale")

    def child(self, name: str) -> "Field | None":
        return next((c for c in self.children if c.name == name), None)


# --- small constructors, so the tables below read like the SPEC -------------------------------


def s(name: str, max_len: int | None = None, *, required: bool = False, note: str = "") -> Field:
    return Field(name, "str", required, max_len, note=note)


def r(name: str, max_len: int | None = None, *, note: str = "") -> Field:
    """A required string."""
    return Field(name, "str", True, max_len, note=note)


def dec(name: str, scale: int = 2, *, required: bool = False, note: str = "") -> Field:
    return Field(name, "decimal", required, scale=scale, note=note)


def integer(name: str, *, required: bool = False, min_value: int | None = None, enum: tuple[str, ...] = (),
            note: str = "") -> Field:
    return Field(name, "int", required, enum=enum, min_value=min_value, note=note)


def dt(name: str, *, required: bool = False, note: str = "") -> Field:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time; 19 characters."""
    return Field(name, "datetime", required, 19, note=note)


def day(name: str, *, required: bool = False, note: str = "") -> Field:
    """``yyyy-MM-dd``; 10 characters."""
    return Field(name, "date", required, 10, note=note)


def yn(name: str, *, required: bool = False, note: str = "") -> Field:
    return Field(name, "yn", required, 1, enum=YES_NO, note=note)


def enum(name: str, values: tuple[str, ...], max_len: int | None = None, *, required: bool = False,
         note: str = "") -> Field:
    return Field(name, "enum", required, max_len, enum=tuple(values), note=note)


def struct(name: str, *children: Field, required: bool = False, note: str = "") -> Field:
    return Field(name, "struct", required, children=children, note=note)


def listof(name: str, item_tag: str, *children: Field, required: bool = False, min_items: int = 0,
           note: str = "") -> Field:
    return Field(name, "list", required, children=children, item_tag=item_tag, min_items=min_items, note=note)


def extend_props() -> Field:
    return Field("extendProps", "map", note="free key/value pairs, any element names")


# --- enumerations (data, so transforms and the simulator can use them too) ---------------------

YES_NO = ("Y", "N")
ACTION_TYPES = ("add", "update")
ORDER_TYPES = ("JYCK", "HHCK", "BFCK", "QTCK")  # deliveryorder.create; JYCK = ordinary sale
INVENTORY_TYPES = ("ZP", "CC", "JS", "XS", "ZT")  # good, defective, damaged in storage/transit, in transit
ITEM_TYPES = ("ZC", "FX", "ZH", "ZP", "BC", "HC", "FL", "XN", "FS", "CC", "OTHER")
#: The SPEC's logistics codes. Real warehouses accept more (BSKY, DBKY, RRS, ...): not enforced.
LOGISTICS_CODES = (
    "SF", "EMS", "EYB", "ZJS", "YTO", "ZTO", "HTKY", "UC", "STO", "TTKDEX", "QFKD", "FAST", "POSTB",
    "GTO", "YUNDA", "JD", "DD", "DBKD", "OTHER",
)
CONFIRM_STATUSES = (
    "NEW", "ACCEPT", "PARTDELIVERED", "DELIVERED", "EXCEPTION", "CANCELED", "CLOSED", "REJECT", "CANCELEDFAIL",
)
CONFIRM_TYPES = ("0", "1")  # 0 = final confirmation, 1 = partial / intermediate
ID_TYPES = ("1", "2", "3", "4")  # ID card, officer's card, passport, other
# Open lists (SPEC ends them with "..."), kept as data but not enforced as enums.
SOURCE_PLATFORM_CODES = ("API", "TB", "TM", "JD", "DD", "PP", "YX", "WPH", "1688", "POS", "OTHER")
ORDER_FLAGS = ("COD", "LIMIT", "PRESELL", "COMPLAIN", "SPLIT", "EXCHANGE", "VISIT", "MODIFYTRANSPORT", "CONSIGN")
RESPONSE_FLAGS = ("success", "failure")
# The standard family beyond Juxing's note (returns and the WMS's reports), from the official
# Qimen pages (jaq-doc.alibaba.com / open.fliggy.com "奇门仓储API"); see the tables below.
RETURN_ORDER_TYPES = ("THRK", "HHRK")  # return into stock, exchange return
RETURN_ORDER_FLAGS = ("VISIT", "SELLER_AFFORD", "SYNC_RETURN_BILL")  # joined by '^'; open, not enforced
#: orderprocess.report processStatus: the official list, plus NEW and CANCELEDFAIL (bububa/opentaobao
#: model/qimen/Process.go) and the customs states CUSTOMSCLEARANCE/CUSTOMSREFUND some WMSs send.
PROCESS_STATUSES = (
    "NEW", "ACCEPT", "PARTFULFILLED", "FULFILLED", "PRINT", "PICK", "CHECK", "PACKAGE", "WEIGH", "READY",
    "DELIVERED", "PARTDELIVERED", "REFUSE", "EXCEPTION", "CLOSED", "CANCELED", "CANCELEDFAIL", "REJECT", "SIGN",
    "TMSCANCELED", "TMSCANCELFAILED", "OTHER", "CUSTOMSCLEARANCE", "CUSTOMSREFUND",
)
LACK_REASONS = ("系统报缺", "实物报缺")  # itemlack.report reason: system shortage, physical shortage; open
#: Document types a WMS report can name (orderprocess.report, stockchange.report orderType); open.
DOCUMENT_ORDER_TYPES = (
    "JYCK", "HHCK", "BFCK", "PTCK", "DBCK", "B2BRK", "B2BCK", "QTCK", "SCRK", "LYRK", "CCRK", "CGRK", "DBRK",
    "QTRK", "XTRK", "THRK", "HHRK", "CNJG", "CGTH",
)


# --- singleitem.synchronize --------------------------------------------------------------------

ITEM = struct(
    "item",
    r("itemCode", 50, note="unique per SKU"),
    s("itemId", 50, note="the WMS's id; once returned, send it in later calls"),
    s("goodsCode", 50),
    r("itemName", 200, note="product name or spec name such as 黑色XL"),
    s("shortName", 200),
    s("englishName", 200),
    # Juxing: barCode is optional ("有就传没有可不传"); the Qimen SDK marks it required.
    s("barCode", 500, note="several joined by ';'"),
    s("skuProperty", 200),
    s("stockUnit", 50),
    dec("length", 2, note="cm"),
    dec("width", 2, note="cm"),
    dec("height", 2, note="cm"),
    dec("volume", 3, note="L"),
    dec("grossWeight", 3, note="kg"),
    dec("netWeight", 3, note="kg"),
    s("color", 50),
    s("size", 50),
    s("title", 200),
    s("categoryId", 50),
    s("categoryName", 200),
    integer("safetyStock", min_value=0),
    enum("itemType", ITEM_TYPES, 10, required=True, note="ZC = normal"),
    dec("tagPrice"),
    dec("retailPrice"),
    dec("costPrice"),
    dec("purchasePrice"),
    s("brandCode", 50),
    s("brandName", 50),
    yn("isSNMgmt"),
    yn("isShelfLifeMgmt"),
    yn("isBatchMgmt"),
    yn("isFragile"),
    yn("isHazardous"),
    yn("isValid"),
    yn("isSku"),
    # Not in SPEC.md; present in the Qimen SDK item model and sent in Juxing's own sample.
    yn("isAreaSale", note="area sale (Juxing's sample sends N)"),
    integer("shelfLife", min_value=0, note="hours"),
    s("remark", 500),
    dt("createTime"),
    dt("updateTime"),
    # The SPEC does not mark item R, but a synchronisation without an item carries nothing.
    required=True,
)

SINGLEITEM_SYNCHRONIZE = (
    enum("actionType", ACTION_TYPES, 10, required=True),
    r("warehouseCode", 50),
    r("ownerCode", 50, note="货主ID, given by Juxing"),
    s("supplierCode", 50),
    s("supplierName", 200),
    ITEM,
    extend_props(),
)

# --- deliveryorder.create ----------------------------------------------------------------------


def _address(name: str, *, receiver: bool, remark: bool = False) -> Field:
    """senderInfo / receiverInfo; ``remark`` adds the trailing ``remark`` returnorder.confirm has."""
    fields = [
        s("company", 200),
        r("name", 50),
        s("zipCode", 50),
        s("tel", 50),
        r("mobile", 50),
        s("email", 50),
        s("countryCode", 50),
        r("province", 50),
        r("city", 50),
        # Juxing: province/city/area of the receiver must be proper ("省市区要规范"); one SDK copy
        # also marks the receiver's area R. The sender's area stays optional as in the SPEC.
        s("area", 50, required=receiver),
        s("town", 50),
        r("detailAddress", 200),
    ]
    if receiver:
        fields += [enum("idType", ID_TYPES, 50, note="1 ID card, 2 officer, 3 passport, 4 other"), s("idNumber", 50)]
    if remark:
        fields.append(s("remark", 500))
    # Juxing: receiver name and phone must never be empty (required above; blank counts as empty).
    return struct(name, *fields, required=receiver)


INVOICE_FIELDS = (
    s("type", 50),
    s("header", 200),
    dec("amount"),
    s("content", 500),
    struct(
        "detail",
        listof("items", "item", s("itemName", 200), s("unit", 50), dec("price"), integer("quantity", min_value=0),
               dec("amount")),
    ),
    s("code", 50),
    s("number", 50),
)

DELIVERY_REQUIREMENTS = struct(
    "deliveryRequirements",
    # Children as in the Qimen SDK model; the SPEC names the element only.
    integer("scheduleType"),
    day("scheduleDay"),
    s("scheduleStartTime", 10),
    s("scheduleEndTime", 10),
    s("deliveryType", 50),
)

DELIVERY_ORDER = struct(
    "deliveryOrder",
    r("deliveryOrderCode", 50, note="our order number"),
    s("preDeliveryOrderCode", 50, note="exchange orders (HHCK) only"),
    s("preDeliveryOrderId", 50, note="exchange orders (HHCK) only"),
    enum("orderType", ORDER_TYPES, 50, required=True, note="JYCK = ordinary sale"),
    r("warehouseCode", 50),
    s("orderFlag", 200, note="flags joined by '^'"),
    r("sourcePlatformCode", 50, note="Juxing asks for API"),
    s("sourcePlatformName", 200),
    dt("createTime", required=True),
    dt("placeOrderTime", required=True, note="Juxing: the payment time"),
    dt("payTime"),
    s("payNo", 50),
    s("operatorCode", 50),
    s("operatorName", 50),
    dt("operateTime", required=True),
    r("shopNick", 200),
    s("sellerNick", 200),
    s("buyerNick", 200),
    dec("totalAmount", note="yuan"),
    dec("itemAmount"),
    dec("discountAmount"),
    dec("freight"),
    dec("arAmount"),
    dec("gotAmount"),
    dec("serviceFee"),
    # An open list in real WMSs (BSKY, DBKY, RRS, ...): LOGISTICS_CODES are the SPEC's, not a limit.
    # The transform warns about a code outside them; a shop's own code (e.g. YD) is mapped first.
    r("logisticsCode", 50),
    s("logisticsName", 200),
    s("expressCode", 50),
    s("logisticsAreaCode", 50),
    yn("isUrgency"),
    yn("invoiceFlag"),
    yn("insuranceFlag"),
    s("buyerMessage", 500),
    s("sellerMessage", 500),
    s("remark", 500),
    DELIVERY_REQUIREMENTS,
    _address("senderInfo", receiver=False),
    _address("receiverInfo", receiver=True),
    listof("invoices", "invoice", *INVOICE_FIELDS),
    required=True,
)

ORDER_LINE = (
    s("orderLineNo", 50),
    s("sourceOrderCode", 50),
    s("subSourceOrderCode", 50),
    s("payNo", 50),
    r("ownerCode", 50),
    r("itemCode", 50),
    s("itemId", 50),
    enum("inventoryType", INVENTORY_TYPES, 50),
    s("extCode", 50),
    # Juxing: itemName is in its list of required fields; the SDK has it optional.
    r("itemName", 200),
    integer("planQty", required=True, min_value=1),
    dec("retailPrice"),
    dec("actualPrice", required=True, note="actual unit price"),
    dec("discountAmount"),
    s("batchCode", 50),
    day("productDate"),
    day("expireDate"),
)

DELIVERYORDER_CREATE = (
    DELIVERY_ORDER,
    listof("orderLines", "orderLine", *ORDER_LINE, required=True, min_items=1),
    extend_props(),
)

# --- order.cancel ------------------------------------------------------------------------------

ORDER_CANCEL = (
    r("warehouseCode", 50),
    s("ownerCode", 50),
    r("orderCode", 50, note="our order number (deliveryOrderCode)"),
    s("orderId", 50, note="the WMS's id"),
    # Cancel covers every document type (JYCK, CGRK, ...), so not restricted to ORDER_TYPES.
    s("orderType", 50),
    s("cancelReason", 500),
    extend_props(),
)

# --- inventory.query ---------------------------------------------------------------------------

INVENTORY_QUERY = (
    listof(
        "criteriaList",
        "criteria",
        s("warehouseCode", 50),
        s("ownerCode", 50),
        r("itemCode", 50),
        s("itemId", 50),
        enum("inventoryType", INVENTORY_TYPES, 50),
        required=True,
        min_items=1,
    ),
    s("remark", 500),
    extend_props(),
)

# --- deliveryorder.confirm (the warehouse calls us) --------------------------------------------
# What we RECEIVE: the parser is lenient about unknown elements and lengths (see parsing.py), but
# the simulator builds it with these rules, so they are as complete as Juxing's sample.

CONFIRM_DELIVERY_ORDER = struct(
    "deliveryOrder",
    r("deliveryOrderCode", 50),
    s("deliveryOrderId", 50),
    r("warehouseCode", 50),
    r("orderType", 50),
    enum("status", CONFIRM_STATUSES, 50),
    s("outBizCode", 50, note="idempotency key: same value = same message again"),
    integer("confirmType", enum=CONFIRM_TYPES, note="0 final, 1 partial/intermediate"),
    dt("orderConfirmTime"),
    s("operatorCode", 50),
    s("operatorName", 50),
    dt("operateTime"),
    dec("storageFee"),
    listof("invoices", "invoice", *INVOICE_FIELDS),
    required=True,
)

CONFIRM_PACKAGE = (
    r("logisticsCode", 50),
    s("logisticsName", 200),
    s("expressCode", 50, note="tracking number"),
    s("packageCode", 50),
    dec("length", 2),
    dec("width", 2),
    dec("height", 2),
    dec("theoreticalWeight", 3),
    dec("weight", 3),
    dec("volume", 3),
    s("invoiceNo", 50),
    listof("packageMaterialList", "packageMaterial", s("type", 50), integer("quantity", min_value=0)),
    listof("items", "item", r("itemCode", 50), s("itemId", 50), integer("quantity", required=True, min_value=0)),
)

CONFIRM_LINE = (
    s("orderLineNo", 50),
    s("orderSourceCode", 50, note="create's sourceOrderCode"),
    s("subSourceCode", 50, note="create's subSourceOrderCode"),
    s("ownerCode", 50),
    r("itemCode", 50),
    s("itemId", 50),
    enum("inventoryType", INVENTORY_TYPES, 50),
    s("itemName", 200),
    s("extCode", 50),
    integer("planQty", min_value=0),
    integer("actualQty", required=True, min_value=0),
    dec("retailPrice"),
    dec("actualPrice"),
    dec("discountAmount"),
    s("batchCode", 50),
    day("productDate"),
    day("expireDate"),
    s("produceCode", 50),
    listof("snList", "sn", note="serial numbers, plain text items"),
    s("qrCode", 500),
)

DELIVERYORDER_CONFIRM = (
    CONFIRM_DELIVERY_ORDER,
    listof("packages", "package", *CONFIRM_PACKAGE),
    listof("orderLines", "orderLine", *CONFIRM_LINE),
    extend_props(),
)

# --- returnorder.create (a customer return announced to the warehouse) ------------------------
# Official: jaq-doc.alibaba.com/docs/api.htm?apiId=25989 (R flags); lengths from a C# copy of that
# page (Wms.Request.QM.QMReturnOrderCreateRequest: [Required]/[MaxLength]); ownerCode,
# sourcePlatform*, shopNick, sellerNick from bububa/opentaobao model/qimen/ReturnOrder.go and
# yellbuy/go-ec-openapi qimen/returnorder_create.go. What we SEND: strict where unsure.

RETURN_ORDER = struct(
    "returnOrder",
    r("returnOrderCode", 50, note="our return number, unique"),
    r("warehouseCode", 50),
    s("ownerCode", 50),
    # Official: optional; required here (strict for what we send): THRK return, HHRK exchange.
    enum("orderType", RETURN_ORDER_TYPES, 50, required=True, note="THRK return, HHRK exchange"),
    s("orderFlag", 50, note="VISIT, SELLER_AFFORD, SYNC_RETURN_BILL joined by '^'"),
    r("preDeliveryOrderCode", 50, note="the original deliveryOrderCode"),
    s("preDeliveryOrderId", 50, note="the original deliveryOrderId (the WMS's)"),
    s("sourcePlatformCode", 50),
    s("sourcePlatformName", 200),
    s("shopNick", 200),
    s("sellerNick", 200),
    # Official: required. An open list like deliveryorder's; OTHER when the buyer has not said.
    r("logisticsCode", 50, note="the return parcel's courier; OTHER when unknown"),
    s("logisticsName", 200),
    s("expressCode", 50, note="the return parcel's tracking number"),
    s("returnReason", 200),
    s("buyerNick", 50),
    _address("senderInfo", receiver=False),  # the buyer; the same rules as deliveryorder's sender
    s("remark", 500),
    required=True,
)

RETURN_ORDER_LINE = (
    s("orderLineNo", 50),
    s("sourceOrderCode", 50),
    s("subSourceOrderCode", 50),
    r("ownerCode", 50),
    r("itemCode", 50),
    s("itemId", 50, note="the WMS's id, when it gave one"),
    enum("inventoryType", INVENTORY_TYPES, 50, note="ZP (default) or CC"),
    integer("planQty", required=True, min_value=1),
    s("batchCode", 50),
    day("productDate"),
    day("expireDate"),
    s("produceCode", 50),
)

RETURNORDER_CREATE = (
    RETURN_ORDER,
    listof("orderLines", "orderLine", *RETURN_ORDER_LINE, required=True, min_items=1),
    extend_props(),
)

# --- the warehouse's messages beyond deliveryorder.confirm --------------------------------------
# R marks what the official page marks, so the simulator builds complete messages; the parsers
# (qimen.inbound) refuse only a message without the key that says what it is about.

# returnorder.confirm: jaq-doc.alibaba.com/docs/api.htm?apiId=25997; the R flags of its lines and
# senderInfo as copied in yellbuy/go-ec-openapi qimen/entryorder_confirm.go (ReturnOrderConfirmRequest);
# confirmType from bububa/opentaobao model/qimen/ReturnOrder.go.

BATCH_FIELDS = (s("batchCode", 50), day("productDate"), day("expireDate"), s("produceCode", 50))

RETURN_CONFIRM_ORDER = struct(
    "returnOrder",
    r("returnOrderCode", 50),
    s("returnOrderId", 50),
    r("warehouseCode", 50),
    s("ownerCode", 50),
    s("outBizCode", 50, note="idempotency key: same value = same message again"),
    enum("orderType", RETURN_ORDER_TYPES, 50),
    dt("orderConfirmTime"),
    r("logisticsCode", 50),
    s("logisticsName", 200),
    s("expressCode", 50),
    s("returnReason", 200),
    s("remark", 500),
    _address("senderInfo", receiver=False, remark=True),
    integer("confirmType", enum=CONFIRM_TYPES, note="0 final, 1 partial (several receipts)"),
    required=True,
)

RETURN_CONFIRM_LINE = (
    s("orderLineNo", 50),
    s("sourceOrderCode", 50),
    s("subSourceOrderCode", 50),
    r("ownerCode", 50),
    r("itemCode", 50),
    s("itemId", 50),
    enum("inventoryType", INVENTORY_TYPES, 50, note="ZP good, CC defective"),
    integer("planQty", required=True, min_value=0),
    integer("actualQty", required=True, min_value=0),
    s("batchCode", 50),
    day("productDate"),
    day("expireDate"),
    s("produceCode", 50),
    listof("batchs", "batch", *BATCH_FIELDS, enum("inventoryType", INVENTORY_TYPES, 50),
           integer("actualQty", min_value=0), note="the line's actualQty split per batch"),
    s("qrCode", 500),
    listof("snList", "sn", note="serial numbers, plain text items"),
    s("remark", 500),
)

RETURNORDER_CONFIRM = (
    RETURN_CONFIRM_ORDER,
    listof("orderLines", "orderLine", *RETURN_CONFIRM_LINE),
    extend_props(),
)

# orderprocess.report: open.fliggy.com/docs/api.htm?apiId=26003 (official); lengths from a Java
# copy (string (50)/(19)/(500)); process.expressCode from bububa/opentaobao model/qimen/Process.go.
# The official message has no outBizCode: qimen.inbound reads one if a WMS adds it anyway.

ORDERPROCESS_REPORT = (
    struct(
        "order",
        r("orderCode", 50, note="our document number (deliveryOrderCode, returnOrderCode ...)"),
        s("orderId", 50, note="the WMS's id"),
        s("orderType", 50, note="JYCK, THRK ... (DOCUMENT_ORDER_TYPES, open)"),
        s("warehouseCode", 50),
        s("remark", 500),
        s("ownerCode", 50),
        extend_props(),
        required=True,
    ),
    struct(
        "process",
        enum("processStatus", PROCESS_STATUSES, 50, required=True),
        s("operatorCode", 50),
        s("operatorName", 50),
        dt("operateTime"),
        s("operateInfo", 500),
        s("remark", 500),
        s("expressCode", 50),
        required=True,
    ),
    s("remark", 500),
    extend_props(),
)

# itemlack.report: jaq-doc.alibaba.com/docs/api.htm?apiId=27275 (official; names also in the
# official .NET SDK Qimen.Api.Request.ItemlackReportRequest).

ITEMLACK_REPORT = (
    r("warehouseCode", 50),
    r("deliveryOrderCode", 50, note="our order number"),
    s("deliveryOrderId", 50),
    dt("createTime", required=True),
    r("outBizCode", 50, note="idempotency key: same value = same message again"),
    listof(
        "items",
        "item",
        r("itemCode", 50),
        s("itemId", 50),
        enum("inventoryType", INVENTORY_TYPES, 50),
        *BATCH_FIELDS,
        integer("planQty", required=True, min_value=0),
        integer("lackQty", required=True, min_value=0),
        s("reason", note="系统报缺 (system) or 实物报缺 (physical): LACK_REASONS, open"),
        s("remark", 500),
    ),
    s("remark", 500),
    extend_props(),
)

# stockchange.report: jaq-doc.alibaba.com/docs/api.htm?apiId=25996 (official); batchs and isLocked
# as copied in yellbuy/go-ec-openapi qimen/stockchange_report.go. outBizCode is per item.

STOCKCHANGE_REPORT = (
    listof(
        "items",
        "item",
        r("ownerCode", 50),
        r("warehouseCode", 50),
        r("orderCode", 50, note="the document that moved the stock"),
        s("orderType", 50, note="DOCUMENT_ORDER_TYPES, open"),
        r("outBizCode", 50, note="idempotency key of the change"),
        r("itemCode", 50),
        s("itemId", 50),
        enum("inventoryType", INVENTORY_TYPES, 50),
        integer("quantity", required=True, note="signed: negative = out of stock"),
        *BATCH_FIELDS,
        dt("changeTime"),
        listof("batchs", "batch", *BATCH_FIELDS, enum("inventoryType", INVENTORY_TYPES, 50), integer("quantity"),
               note="the item's quantity split per batch"),
        s("remark", 500),
        yn("isLocked"),
        required=True,
        min_items=1,
    ),
    extend_props(),
)

DOCUMENTS: dict[str, tuple[Field, ...]] = {
    "singleitem.synchronize": SINGLEITEM_SYNCHRONIZE,
    "deliveryorder.create": DELIVERYORDER_CREATE,
    "order.cancel": ORDER_CANCEL,
    "inventory.query": INVENTORY_QUERY,
    "deliveryorder.confirm": DELIVERYORDER_CONFIRM,
    "returnorder.create": RETURNORDER_CREATE,
    "returnorder.confirm": RETURNORDER_CONFIRM,
    "orderprocess.report": ORDERPROCESS_REPORT,
    "itemlack.report": ITEMLACK_REPORT,
    "stockchange.report": STOCKCHANGE_REPORT,
}

# --- responses: <response><flag/><code/><message/> then the method's own fields ------------------

RESPONSE_HEAD = (
    enum("flag", RESPONSE_FLAGS, required=True),
    s("code"),
    s("message"),
)

RESPONSES: dict[str, tuple[Field, ...]] = {
    "singleitem.synchronize": (s("itemId", 50),),
    "deliveryorder.create": (
        dt("createTime"),
        s("deliveryOrderId", 50),
        s("warehouseCode", 50),
        s("logisticsCode", 50),
        listof(
            "deliveryOrders",
            "deliveryOrder",
            s("deliveryOrderId", 50),
            s("warehouseCode", 50),
            s("logisticsCode", 50),
            dt("createTime"),
            listof("orderLines", "orderLine", s("orderLineNo", 50), s("itemCode", 50), s("itemId", 50),
                   integer("quantity")),
            note="only for split orders",
        ),
    ),
    "order.cancel": (),
    "inventory.query": (
        listof(
            "items",
            "item",
            s("warehouseCode", 50),
            s("itemCode", 50),
            s("itemId", 50),
            enum("inventoryType", INVENTORY_TYPES, 50),
            integer("quantity", note="not frozen"),
            integer("lockQuantity", note="frozen"),
            s("batchCode", 50),
            day("productDate"),
            day("expireDate"),
            s("produceCode", 50),
            note="several rows per item are possible (per inventory type, per batch)",
        ),
    ),
    "deliveryorder.confirm": (),
    "returnorder.create": (s("returnOrderId", 50, note="the WMS's id of the return"),),
    # Our answers to the warehouse's messages: flag, code and message only.
    "returnorder.confirm": (),
    "orderprocess.report": (),
    "itemlack.report": (),
    "stockchange.report": (),
}

ERROR_RESPONSE = (s("code"), s("msg"), s("sub_code"), s("sub_msg"))


def document_fields(method: str) -> tuple[Field, ...]:
    """The request document's top-level fields; short or ``taobao.qimen.`` long method names."""
    from .transport import normalize_method

    try:
        return DOCUMENTS[normalize_method(method)]
    except KeyError:
        raise ValueError(f"unknown Qimen method {method!r}; expected one of {', '.join(DOCUMENTS)}") from None


def response_fields(method: str) -> tuple[Field, ...]:
    from .transport import normalize_method

    try:
        return RESPONSES[normalize_method(method)]
    except KeyError:
        raise ValueError(f"unknown Qimen method {method!r}; expected one of {', '.join(RESPONSES)}") from None


# --- the generated Markdown reference ----------------------------------------------------------


def _kind_text(f: Field) -> str:
    if f.kind == "decimal":
        return f"decimal({f.scale})"
    if f.kind == "datetime":
        return "datetime `yyyy-MM-dd HH:mm:ss`"
    if f.kind == "date":
        return "date `yyyy-MM-dd`"
    if f.kind == "list":
        return f"list of `{f.item_tag}`" + (f" (>= {f.min_items})" if f.min_items else "")
    if f.kind == "yn":
        return "Y/N"
    return f.kind


def _rows(fields: tuple[Field, ...], prefix: str = ""):
    for f in fields:
        path = f"{prefix}{f.name}"
        values = " ".join(f.enum) if f.enum and f.kind != "yn" else ""
        if f.min_value is not None:
            values = (values + " " if values else "") + f">= {f.min_value}"
        yield path, _kind_text(f), "R" if f.required else "", str(f.max_len or ""), values, f.note
        if f.kind == "struct":
            yield from _rows(f.children, path + ".")
        elif f.kind == "list":
            yield from _rows(f.children, f"{path}[].")


def render_markdown() -> str:
    """Every document's rules as Markdown tables (the committed docs/qimen-fields.md)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = [
        "# Qimen field rules",
        "",
        "Generated from `include/qimen/rules.py` by `python -m qimen > docs/qimen-fields.md`;"
        " edit the rules, not this file. Order = element order in the XML. `R` = required"
        " (blank counts as empty); max = characters.",
        "",
    ]
    sections = [(f"Request `{m}`", fields) for m, fields in DOCUMENTS.items()]
    sections.append(("Response head (every `<response>`)", RESPONSE_HEAD))
    sections += [(f"Response `{m}`", fields) for m, fields in RESPONSES.items() if fields]
    for title, fields in sections:
        out += [f"## {title}", "", "| field | kind | R | max | values | note |", "|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in _rows(fields)]
        out.append("")
    enums = [
        ("ORDER_TYPES", ORDER_TYPES), ("INVENTORY_TYPES", INVENTORY_TYPES), ("ITEM_TYPES", ITEM_TYPES),
        ("LOGISTICS_CODES", LOGISTICS_CODES), ("CONFIRM_STATUSES", CONFIRM_STATUSES),
        ("CONFIRM_TYPES", CONFIRM_TYPES), ("ID_TYPES", ID_TYPES),
        ("SOURCE_PLATFORM_CODES (open, not enforced)", SOURCE_PLATFORM_CODES),
        ("ORDER_FLAGS (open, not enforced)", ORDER_FLAGS),
        ("RETURN_ORDER_TYPES", RETURN_ORDER_TYPES),
        ("RETURN_ORDER_FLAGS (open, not enforced)", RETURN_ORDER_FLAGS),
        ("PROCESS_STATUSES", PROCESS_STATUSES),
        ("LACK_REASONS (open, not enforced)", LACK_REASONS),
        ("DOCUMENT_ORDER_TYPES (open, not enforced)", DOCUMENT_ORDER_TYPES),
    ]
    out += ["## Enumerations", ""] + [f"- `{name}`: {', '.join(values)}" for name, values in enums]
    return "\n".join(out) + "\n"

