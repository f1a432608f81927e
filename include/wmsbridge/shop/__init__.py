"""Shop side: profiles (SQL + mapping per mall schema), readers/writers, address splitting, carriers."""

from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import ShopReader
from wmsbridge.shop.writer import ShopWriter

__all__ = ["ShopProfile", "ShopReader", "ShopWriter", "load_profile"]
