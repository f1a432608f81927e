"""Fixtures of the transform tests; the frame builders live in transform_frames.py."""

from __future__ import annotations

import pytest

from wmsbridge.transforms import OrderSettings


@pytest.fixture
def settings() -> OrderSettings:
    return OrderSettings(
        warehouse_code="WH15",
        owner_code="OWNER50",
        shop_nick="四海母婴专营店",
        sender_name="四海",
        sender_mobile="010-56133684",
        sender_province="北京",
        sender_city="北京市",
        sender_area="朝阳区",
        sender_detail="北京市朝阳区建国路1号",
        carrier_map={"YD": "YUNDA"},
    )
