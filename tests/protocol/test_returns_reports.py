"""returnorder.create (strict, we send it) and the warehouse's other messages (lenient, we receive
them): returnorder.confirm, orderprocess.report, itemlack.report, stockchange.report."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from qimen.documents import build_document, build_response
from qimen.errors import QimenProtocolError, QimenValidationError
from qimen.inbound import (
    content_key,
    parse_itemlack_report,
    parse_orderprocess_report,
    parse_returnorder_confirm,
    parse_stockchange_report,
)
from qimen.parsing import parse_request, parse_response
from qimen.rules import DOCUMENTS
from qimen.timeutil import BEIJING
from qimen.validation import validate

FIXTURES = Path(__file__).parent / "fixtures"
RETURN_CONFIRM = "returnorder_confirm_request.xml"
PROCESS = "orderprocess_report_request.xml"
LACK = "itemlack_report_request.xml"
STOCK = "stockchange_report_request.xml"


def sample(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def tags(xml: str, path: str) -> list[str]:
    root = etree.fromstring(xml.encode("utf-8"))
    return [child.tag for child in (root if path == "." else root.find(path))]


def violations(method: str, document) -> list[str]:
    with pytest.raises(QimenValidationError) as exc:
        build_document(method, document)
    return [str(v) for v in exc.value.violations]


# --- returnorder.create: what we send --------------------------------------------------------------


def test_return_create_builds_in_table_order(return_doc):
    assert validate("returnorder.create", return_doc) == []
    xml = build_document("returnorder.create", return_doc)
    assert tags(xml, ".") == ["returnOrder", "orderLines"]
    assert tags(xml, "returnOrder") == [
        "returnOrderCode", "warehouseCode", "ownerCode", "orderType", "preDeliveryOrderCode", "preDeliveryOrderId",
        "sourcePlatformCode", "logisticsCode", "logisticsName", "expressCode", "returnReason", "buyerNick",
        "senderInfo",
    ]
    assert tags(xml, "returnOrder/senderInfo") == ["name", "mobile", "province", "city", "area", "detailAddress"]
    assert tags(xml, "orderLines/orderLine") == [
        "orderLineNo", "sourceOrderCode", "ownerCode", "itemCode", "inventoryType", "planQty",
    ]
    # element order comes from the table, whatever the dict order
    shuffled = {"orderLines": [dict(reversed(line.items())) for line in return_doc["orderLines"]],
                "returnOrder": dict(reversed(return_doc["returnOrder"].items()))}
    assert build_document("taobao.qimen.returnorder.create", shuffled) == xml
    second = etree.fromstring(xml.encode()).findall("orderLines/orderLine")[1]
    assert (second.findtext("planQty"), second.findtext("productDate")) == ("1", "2023-12-01")


def test_return_create_table_is_the_official_one():
    head, lines, _ = DOCUMENTS["returnorder.create"]
    required = [f.name for f in head.children if f.required]
    assert required == ["returnOrderCode", "warehouseCode", "orderType", "preDeliveryOrderCode", "logisticsCode"]
    assert [f.name for f in lines.children if f.required] == ["ownerCode", "itemCode", "planQty"]
    assert (lines.min_items, lines.child("planQty").min_value) == (1, 1)


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["returnOrder"].pop("returnOrderCode"), ["returnOrder.returnOrderCode: required"]),
    (lambda d: d["returnOrder"].update(returnOrderCode="  "), ["returnOrder.returnOrderCode: required"]),
    (lambda d: d["returnOrder"].update(orderType="JYCK"),
     ["returnOrder.orderType: must be one of THRK, HHRK (got 'JYCK')"]),
    (lambda d: d["returnOrder"].pop("orderType"), ["returnOrder.orderType: required"]),
    (lambda d: d["returnOrder"].update(expressCode="Y" * 51),
     ["returnOrder.expressCode: longer than 50 characters (51)"]),
    (lambda d: d["returnOrder"].update(returnReason="长" * 201),
     ["returnOrder.returnReason: longer than 200 characters (201)"]),
    (lambda d: d["returnOrder"]["senderInfo"].pop("mobile"), ["returnOrder.senderInfo.mobile: required"]),
    (lambda d: d["orderLines"][1].update(planQty=0), ["orderLines[1].planQty: must be a positive integer"]),
    (lambda d: d.update(orderLines=[]), ["orderLines: needs at least 1 orderLine"]),
    (lambda d: d["orderLines"][0].update(inventoryType="GOOD"),
     ["orderLines[0].inventoryType: must be one of ZP, CC, JS, XS, ZT (got 'GOOD')"]),
    (lambda d: d["returnOrder"].update(refundId="R1"), ["returnOrder.refundId: unknown field"]),
])
def test_return_create_refusals_name_the_path(return_doc, change, expected):
    change(return_doc)
    assert violations("returnorder.create", return_doc) == expected


def test_return_create_reports_every_problem_at_once(return_doc):
    return_doc["returnOrder"].update(returnOrderCode=None, orderType="TH", logisticsCode="")
    del return_doc["orderLines"][0]["itemCode"]
    assert violations("returnorder.create", return_doc) == [
        "returnOrder.returnOrderCode: required",
        "returnOrder.orderType: must be one of THRK, HHRK (got 'TH')",
        "returnOrder.logisticsCode: required",
        "orderLines[0].itemCode: required",
    ]


def test_return_create_answer_carries_the_return_order_id():
    xml = build_response(fields={"returnOrderId": "TH202401150001"}, method="returnorder.create")
    answer = parse_response(xml, "returnorder.create")
    assert answer.success and answer.fields == {"returnOrderId": "TH202401150001"}


# --- returnorder.confirm -----------------------------------------------------------------------


def test_return_confirm_sample():
    confirm = parse_returnorder_confirm(sample(RETURN_CONFIRM).encode("utf-8"))
    assert (confirm.returnOrderCode, confirm.returnOrderId, confirm.warehouseCode) == (
        "RT2009280017", "TH202009280031", "15")
    assert (confirm.orderType, confirm.outBizCode, confirm.is_final) == ("THRK", "TH202009280031-1", True)
    assert confirm.orderConfirmTime == datetime(2020, 9, 28, 16, 5, 9, tzinfo=BEIJING)
    assert (confirm.logisticsCode, confirm.expressCode, confirm.returnReason) == ("YTO", "YT4815799012347", "尺码不合适")
    first, second = confirm.orderLines
    assert (first.itemCode, first.planQty, first.actualQty, first.snList) == ("S190013", 2, 2, ())
    assert [(b.inventoryType, b.actualQty) for b in first.batchs] == [("ZP", 1), ("CC", 1)]
    assert (second.productDate, second.snList) == (date(2020, 3, 1), ("SN6971278390527001",))
    # the split line counts per batch: one good, one defective
    assert confirm.actual_by_item == {("S190013", "ZP"): 1, ("S190013", "CC"): 1, ("6971278390527", "ZP"): 1}
    assert confirm.notes == ()
    assert confirm.dedup_key == "TH202009280031-1"
    assert confirm.document["returnOrder"]["senderInfo"]["name"] == "金祖飞"
    assert validate("returnorder.confirm", confirm.document) == []


def test_return_confirm_reads_odd_values_with_notes():
    body = (sample(RETURN_CONFIRM)
            .replace("<planQty>2</planQty>", "<planQty>2.0000</planQty>")
            .replace("<actualQty>1</actualQty>\n            <productDate>", "<actualQty>1.5</actualQty><productDate>")
            .replace("2020-09-28 16:05:09", "2020-09-28 16:05:09.0")
            .replace("<productDate>2020-03-01</productDate>", "<productDate>0001-01-01</productDate>")
            .replace("<confirmType>0</confirmType>", "<confirmType>1</confirmType><newField>x</newField>"))
    confirm = parse_returnorder_confirm(body)
    assert confirm.orderLines[0].planQty == 2
    assert confirm.orderLines[1].actualQty == 1
    assert confirm.orderConfirmTime == datetime(2020, 9, 28, 16, 5, 9, tzinfo=BEIJING)
    assert confirm.orderLines[1].productDate is None
    assert not confirm.is_final
    assert confirm.document["returnOrder"]["newField"] == "x"
    assert confirm.notes == (
        "orderLines[1].actualQty: 1.5 is not whole, read as 1",
        "orderLines[1].productDate: '0001-01-01' is out of range, ignored",
    )


def test_return_confirm_one_line_lines_without_item_or_quantity():
    body = ("<request><returnOrder><returnOrderCode>RT1</returnOrderCode></returnOrder><orderLines>"
            "<orderLine><itemCode>A</itemCode><actualQty>3</actualQty></orderLine></orderLines></request>")
    (line,) = parse_returnorder_confirm(body).orderLines
    assert (line.itemCode, line.actualQty, line.inventoryType) == ("A", 3, None)
    body = ("<request><returnOrder><returnOrderCode>RT1</returnOrderCode></returnOrder><orderLines>"
            "<orderLine><actualQty>3</actualQty></orderLine><orderLine><itemCode>B</itemCode></orderLine>"
            "</orderLines></request>")
    confirm = parse_returnorder_confirm(body)
    assert [(line.itemCode, line.actualQty) for line in confirm.orderLines] == [("B", 0)]
    assert confirm.notes == ("orderLines[0]: no itemCode, skipped", "orderLines[1].actualQty: missing, read as 0")
    assert confirm.warehouseCode is None and confirm.actual_by_item == {("B", None): 0}


def test_return_confirm_batches_that_do_not_add_up_leave_the_line_counting():
    body = sample(RETURN_CONFIRM).replace("<inventoryType>CC</inventoryType>\n                    <actualQty>1",
                                          "<inventoryType>CC</inventoryType>\n                    <actualQty>5")
    confirm = parse_returnorder_confirm(body)
    assert "orderLines[0].batchs: add up to 6, not actualQty 2; the line counts" in confirm.notes
    assert confirm.actual_by_item[("S190013", "ZP")] == 2 and ("S190013", "CC") not in confirm.actual_by_item


@pytest.mark.parametrize("body", [
    "<request><returnOrder><returnOrderCode> </returnOrderCode><warehouseCode>15</warehouseCode></returnOrder></request>",
    "<request><orderLines><orderLine><itemCode>A</itemCode></orderLine></orderLines></request>",
])
def test_return_confirm_without_its_code_is_refused(body):
    with pytest.raises(QimenValidationError) as exc:
        parse_returnorder_confirm(body)
    assert [str(v) for v in exc.value.violations] == ["returnOrder.returnOrderCode: required"]
    assert exc.value.request_body == body


def test_return_confirm_round_trip(return_confirm_doc):
    confirm = parse_returnorder_confirm(build_document("returnorder.confirm", return_confirm_doc))
    assert confirm.orderConfirmTime == datetime(2024, 1, 16, 8, 5, 9, tzinfo=timezone.utc)
    assert confirm.dedup_key == "TH202401150001-1"
    assert confirm.actual_by_item == {("SKU-001", "ZP"): 1, ("SKU-001", "CC"): 1, ("SKU-002", None): 1}
    assert confirm.orderLines[1].snList == ("SN002",) and confirm.notes == ()


# --- orderprocess.report -----------------------------------------------------------------------


def test_process_report_sample():
    report = parse_orderprocess_report(sample(PROCESS))
    assert (report.orderCode, report.orderId, report.orderType, report.warehouseCode) == (
        "JY2009260440", "JY202009260122419", "JYCK", "15")
    assert (report.processStatus, report.expressCode) == ("TMSCANCELED", "YT4815765342047")
    assert (report.operatorCode, report.operatorName, report.operateInfo) == ("W0031", "老王", "快递拦截成功,包裹退回仓库")
    assert report.operateTime == datetime(2020, 9, 26, 18, 12, 40, tzinfo=BEIJING)
    assert report.outBizCode is None and report.dedup_key.startswith("sha256:")
    assert report.notes == ()
    assert validate("orderprocess.report", report.document) == []


def test_process_report_is_lenient():
    body = (sample(PROCESS).replace("TMSCANCELED", "tmscanceled")
            .replace("2020-09-26 18:12:40", "2020-09-26 18:12:40.0")
            .replace("</order>", "<outBizCode>LS0001</outBizCode><shop>x</shop></order>"))
    report = parse_orderprocess_report(body.encode("utf-8"))
    assert report.processStatus == "TMSCANCELED"
    assert report.operateTime == datetime(2020, 9, 26, 18, 12, 40, tzinfo=BEIJING)
    assert (report.outBizCode, report.dedup_key) == ("LS0001", "LS0001")  # not official, used when sent
    assert report.document["order"]["shop"] == "x" and report.notes == ()
    odd = parse_orderprocess_report(sample(PROCESS).replace("TMSCANCELED", "SHIPPED_OUT"))
    assert odd.processStatus == "SHIPPED_OUT"
    assert odd.notes == ("process.processStatus: 'SHIPPED_OUT' is not a known status, kept",)
    bare = parse_orderprocess_report("<request><order><orderCode>SO1</orderCode></order></request>")
    assert (bare.orderCode, bare.processStatus, bare.notes) == ("SO1", None, ("process.processStatus: missing",))


def test_process_report_without_order_code_is_refused():
    body = sample(PROCESS).replace("<orderCode>JY2009260440</orderCode>", "")
    with pytest.raises(QimenValidationError) as exc:
        parse_orderprocess_report(body)
    assert [str(v) for v in exc.value.violations] == ["order.orderCode: required"]


def test_process_report_round_trip(process_doc):
    report = parse_orderprocess_report(build_document("orderprocess.report", process_doc))
    assert (report.orderCode, report.processStatus, report.operatorName) == ("SO20240111001", "PACKAGE", "老王")
    assert report.operateTime == datetime(2024, 1, 11, 14, 0, tzinfo=BEIJING)
    process_doc["process"]["processStatus"] = "SHIPPED_OUT"  # the simulator must send a known status
    assert violations("orderprocess.report", process_doc) == [
        "process.processStatus: must be one of " + ", ".join(DOCUMENTS["orderprocess.report"][1].children[0].enum)
        + " (got 'SHIPPED_OUT')"]


# --- itemlack.report ---------------------------------------------------------------------------


def test_lack_report_sample():
    report = parse_itemlack_report(sample(LACK))
    assert (report.deliveryOrderCode, report.deliveryOrderId, report.warehouseCode) == (
        "ps2009260130", "JY202009260122420", "15")
    assert report.createTime == datetime(2020, 9, 26, 14, 2, 11, tzinfo=BEIJING)
    assert [(i.itemCode, i.planQty, i.lackQty, i.reason) for i in report.items] == [
        ("8001436-0", 3, 2, "实物报缺"), ("6971278390565", 1, 1, "系统报缺")]
    assert report.lack_by_item == {"8001436-0": 2, "6971278390565": 1}
    assert report.dedup_key == "QH202009260007" and report.notes == ()
    assert validate("itemlack.report", report.document) == []


def test_lack_report_is_lenient():
    body = ("<request><deliveryOrderCode>SO1</deliveryOrderCode><createTime>2024-01-11 14:02:11.0</createTime>"
            "<items><item><itemCode>A</itemCode><planQty>2.0000</planQty><lackQty>1.0000</lackQty></item>"
            "</items></request>")
    report = parse_itemlack_report(body)
    (item,) = report.items  # one <item> is a list of one
    assert (item.planQty, item.lackQty) == (2, 1)
    assert report.createTime == datetime(2024, 1, 11, 14, 2, 11, tzinfo=BEIJING) and report.notes == ()
    body = ("<request><deliveryOrderCode>SO1</deliveryOrderCode><items><item><lackQty>1</lackQty></item>"
            "<item><itemCode>B</itemCode><lackQty>many</lackQty></item></items></request>")
    report = parse_itemlack_report(body)
    assert [(i.itemCode, i.lackQty) for i in report.items] == [("B", None)]
    assert report.notes == ("items[0]: no itemCode, skipped", "items[1].lackQty: 'many' is not a number, ignored",
                            "items[1].lackQty: missing")
    assert report.lack_by_item == {}


def test_lack_report_without_order_code_is_refused():
    with pytest.raises(QimenValidationError) as exc:
        parse_itemlack_report(sample(LACK).replace("ps2009260130", ""))
    assert [str(v) for v in exc.value.violations] == ["deliveryOrderCode: required"]


def test_lack_report_round_trip(lack_doc):
    report = parse_itemlack_report(build_document("itemlack.report", lack_doc))
    assert report.lack_by_item == {"SKU-001": 1} and report.dedup_key == "QH202401110007"


# --- stockchange.report ------------------------------------------------------------------------


def test_stock_change_sample():
    report = parse_stockchange_report(sample(STOCK))
    assert [(i.itemCode, i.inventoryType, i.quantity, i.orderCode) for i in report.items] == [
        ("S190013", "ZP", -2, "KC2009300002"), ("S190013", "CC", 2, "KC2009300002"),
        ("6971278390527", "ZP", -1, "PD2009300001")]
    assert report.quantity_by_item == {("S190013", "ZP"): -2, ("S190013", "CC"): 2, ("6971278390527", "ZP"): -1}
    third = report.items[2]
    assert (third.batchCode, third.expireDate) == ("B20200301", date(2022, 2, 28))
    assert third.changeTime == datetime(2020, 9, 30, 11, 40, 27, tzinfo=BEIJING)
    # several changes with their own outBizCode: the message is keyed by its content
    assert report.dedup_key.startswith("sha256:") and report.notes == ()
    assert validate("stockchange.report", report.document) == []


def test_stock_change_one_out_biz_code_is_the_key():
    body = ("<request><items><item><outBizCode>YD1</outBizCode><itemCode>A</itemCode><quantity>-1</quantity></item>"
            "<item><outBizCode>YD1</outBizCode><itemCode>B</itemCode><quantity>1</quantity></item></items></request>")
    assert parse_stockchange_report(body).dedup_key == "YD1"


def test_stock_change_reads_signed_odd_numbers_and_skips_unusable_items():
    body = ("<request><items>"
            "<item><itemCode>A</itemCode><inventoryType>ZP</inventoryType><quantity>-2.0000</quantity></item>"
            "<item><itemCode>A</itemCode><inventoryType>ZP</inventoryType><quantity>+3</quantity>"
            "<changeTime>2024-01-12 10:15:00.0</changeTime><unknown>u</unknown></item>"
            "<item><quantity>5</quantity></item>"
            "<item><itemCode>C</itemCode><quantity>abc</quantity></item>"
            "<item><itemCode>D</itemCode><quantity>4 件</quantity><changeTime>9999-12-31 23:59:59</changeTime></item>"
            "</items></request>")
    report = parse_stockchange_report(body)
    assert [(i.itemCode, i.quantity) for i in report.items] == [("A", -2), ("A", 3), ("D", 4)]
    assert report.quantity_by_item == {("A", "ZP"): 1, ("D", None): 4}
    assert report.items[1].changeTime == datetime(2024, 1, 12, 10, 15, tzinfo=BEIJING)
    assert report.notes == (
        "items[2]: no itemCode, skipped",
        "items[3].quantity: 'abc' is not a number, ignored",
        "items[3]: no quantity, skipped",
        "items[4].quantity: '4 件' read as 4",
        "items[4].changeTime: '9999-12-31 23:59:59' is out of range, ignored",
    )


def test_stock_change_single_item():
    (item,) = parse_stockchange_report(
        "<request><items><item><itemCode>A</itemCode><quantity>-1</quantity></item></items></request>").items
    assert (item.itemCode, item.quantity, item.outBizCode) == ("A", -1, None)


@pytest.mark.parametrize("body", [
    "<request><items><item><itemCode>A</itemCode></item><item><quantity>1</quantity></item></items></request>",
    "<request><items/></request>",
    "<request/>",
])
def test_stock_change_without_a_usable_item_is_refused(body):
    with pytest.raises(QimenValidationError) as exc:
        parse_stockchange_report(body)
    assert [str(v) for v in exc.value.violations] == ["items: no item with an itemCode and a quantity"]
    assert exc.value.violations[0].rule == "min_items"


def test_stock_change_round_trip(stockchange_doc):
    report = parse_stockchange_report(build_document("stockchange.report", stockchange_doc))
    assert report.quantity_by_item == {("SKU-001", "ZP"): -2, ("SKU-001", "CC"): 2}
    assert report.items[0].changeTime == datetime(2024, 1, 12, 10, 15, tzinfo=BEIJING)


# --- all four: de-duplication and safety ---------------------------------------------------------

PARSERS = [
    ("returnorder.confirm", RETURN_CONFIRM, parse_returnorder_confirm, "outBizCode"),
    ("orderprocess.report", PROCESS, parse_orderprocess_report, None),
    ("itemlack.report", LACK, parse_itemlack_report, "outBizCode"),
    ("stockchange.report", STOCK, parse_stockchange_report, "outBizCode"),
]


def _reformatted(xml: str, *, lists: bool = True) -> str:
    """The same message as another WMS might write it: no indentation, the children of every
    element in reverse order (with ``lists``, repeated lines and items too), empty elements
    dropped, spaces around values."""
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(remove_blank_text=True))
    for el in root.iter():
        children = [c for c in el if not (len(c) == 0 and not (c.text or "").strip())]
        repeated = len({c.tag for c in children}) < len(children)
        for child in list(el):
            el.remove(child)
        el.extend(children if repeated and not lists else reversed(children))
        if len(el) == 0 and el.text:
            el.text = f"  {el.text.strip()} "
    return etree.tostring(root, encoding="unicode")


@pytest.mark.parametrize("method, name, parse, key", PARSERS)
def test_dedup_key_without_out_biz_code_ignores_layout(method, name, parse, key):
    xml = sample(name)
    if key:  # drop every outBizCode: the key is then the content's
        root = etree.fromstring(xml.encode("utf-8"))
        for el in root.iter(key):
            el.getparent().remove(el)
        xml = etree.tostring(root, encoding="unicode")
    first, second, third = parse(xml), parse(_reformatted(xml)), parse(_reformatted(xml, lists=False))
    assert _reformatted(xml) != xml
    assert first.dedup_key == second.dedup_key == third.dedup_key == content_key(method, first.document)
    assert first.dedup_key.startswith("sha256:") and len(first.dedup_key) == 71
    assert first == third  # the typed values agree too (lines and items in the order sent)
    changed = parse(xml.replace("2020-09-", "2020-10-", 1))  # any real difference is another message
    assert changed.dedup_key != first.dedup_key


def test_content_key_is_per_method_and_ignores_blanks():
    assert content_key("itemlack.report", {"a": " 1", "b": "", "c": {"d": None}}) == content_key(
        "itemlack.report", {"a": "1"})
    assert content_key("itemlack.report", {"a": "1"}) != content_key("stockchange.report", {"a": "1"})
    assert content_key("x", {"l": [{"i": "1"}, {"i": "2"}]}) == content_key("x", {"l": [{"i": "2"}, {"i": "1"}]})


@pytest.mark.parametrize("method, name, parse, key", PARSERS)
def test_inbound_parsers_are_safe(method, name, parse, key):
    with pytest.raises(QimenProtocolError, match="expected <request>"):
        parse("<response><flag>success</flag></response>")
    with pytest.raises(QimenProtocolError, match="DOCTYPE"):
        parse('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><request>&x;</request>')
    with pytest.raises(QimenProtocolError, match="exceeds"):
        parse(sample(name), max_bytes=100)


@pytest.mark.parametrize("method, name, parse, key", PARSERS)
def test_samples_rebuild_byte_for_byte(method, name, parse, key):
    """The simulator builds these messages from the same table: a sample read back builds the
    XML the generic builder writes, and that XML reads back to the same typed message."""
    document = parse_request(method, sample(name))
    xml = build_document(method, document)
    assert parse(xml) == parse(sample(name))
    assert build_document(method, parse_request(method, xml)) == xml
