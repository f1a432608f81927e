"""The one-string address splitter: accuracy on real place names, and what it must refuse."""

from __future__ import annotations

import pandas as pd

from address_accuracy import score
from wmsbridge.shop.address import SPLIT_COLUMNS, fill_districtless_areas, split_address, split_addresses

MIN_ACCURACY = 0.97


def test_accuracy_on_real_shaped_addresses():
    accuracy, cases, misses = score()
    print(f"\naddress split accuracy: {accuracy:.1%} of {cases} addresses")
    for miss in misses:
        print("  miss:", miss)
    assert cases >= 250
    assert accuracy >= MIN_ACCURACY, misses


def test_juxing_example_address():
    parts = split_address("浙江省台州市玉环市 楚门镇彭宅村蔡家良志阀门隔壁纸板厂收")
    assert parts == {"province": "浙江省", "city": "台州市", "area": "玉环市", "town": "楚门镇",
                     "detail": "楚门镇彭宅村蔡家良志阀门隔壁纸板厂收", "error": None}


def test_refusals_are_reasons_not_guesses():
    errors = split_addresses(pd.Series([
        "台州市玉环市楚门镇", "浙江省南京市鼓楼区中山路1号", "浙江省杭州市西湖区", "上海市浦东新区张江路1号🎁",
        "江苏省南京市鼓楼区 " + "中" * 300, None,
    ]))["error"].tolist()
    assert errors == [
        "no province in address", "no city of 浙江省 in address", "no street address after the district",
        "address contains emoji or control characters", "street address longer than 200 characters (300)",
        "address is empty",
    ]


def test_keeps_index_and_columns():
    got = split_addresses(pd.Series(["北京市朝阳区建国路1号"], index=[42]))
    assert list(got.columns) == SPLIT_COLUMNS and list(got.index) == [42]
    assert split_addresses(pd.Series([], dtype=object)).empty


def test_district_less_cities_get_the_town_or_the_city_as_area():
    """东莞市 / 嘉峪关市 have no county level: area is the town when named, else the city again."""
    frame = pd.DataFrame({
        "receiver_area": [None, "", None, "余杭区"],
        "receiver_city": ["嘉峪关市", "东莞市", "杭州市", "杭州市"],
        "receiver_town": [None, "虎门镇", None, None],
    })
    filled = fill_districtless_areas(frame).tolist()
    assert filled[:2] == ["嘉峪关市", "虎门镇"]
    assert filled[2] is None or filled[2] != filled[2]  # 杭州市 has districts: a missing one stays missing
    assert filled[3] == "余杭区"
