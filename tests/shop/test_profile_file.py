"""Profile files: loading, per-dialect SQL, validation, carrier maps in both directions."""

from __future__ import annotations

import pytest
import yaml

from wmsbridge.shop.carriers import UnknownCarrierError
from wmsbridge.shop.profile import PROFILES_DIR, ProfileError, load_profile


def test_litemall_carriers_both_directions():
    carriers = load_profile("litemall").carriers
    assert carriers.to_qimen("YD") == "YUNDA" and carriers.to_qimen(" yd ") == "YUNDA"
    assert carriers.to_shop("YUNDA") == "YD" and carriers.to_shop("POSTB") == "YZPY"
    with pytest.raises(UnknownCarrierError, match="'XYZ'"):
        carriers.to_qimen("XYZ")
    with pytest.raises(UnknownCarrierError):
        carriers.to_shop("DD")


def test_reference_falls_back_to_other():
    carriers = load_profile("reference").carriers
    assert carriers.to_qimen("YUNDA") == "YUNDA" and carriers.to_qimen("JT") == "OTHER"


def test_profile_by_path_with_dialect_variant(tmp_path):
    data = yaml.safe_load((PROFILES_DIR / "reference.yaml").read_text(encoding="utf-8"))
    data["queries"]["read_stock"] = {"default": "SELECT 1", "postgresql": "SELECT 2"}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    profile = load_profile(path)
    assert profile.sql("read_stock", "postgresql") == "SELECT 2"
    assert profile.sql("read_stock", "mariadb") == profile.sql("read_stock", "sqlite") == "SELECT 1"


def test_invalid_profiles_are_refused(tmp_path):
    data = yaml.safe_load((PROFILES_DIR / "litemall.yaml").read_text(encoding="utf-8"))
    del data["queries"]["ship"]
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError, match="ship"):
        load_profile(tmp_path / "a.yaml")
    with pytest.raises(ProfileError, match="shipped"):
        load_profile("no_such_mall")
