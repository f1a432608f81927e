"""Carrier codes between a shop and Qimen, as data from the profile.

Shops use their own or Kdniao codes (litemall: ``YD`` for Yunda) where Qimen says ``YUNDA``. An
unknown code is an error unless the profile names a fallback (Qimen's ``OTHER``): a wrong carrier
on a waybill is worse than an order held back with a clear reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class UnknownCarrierError(ValueError):
    """A carrier code that the profile does not map and has no fallback for."""


@dataclass(frozen=True)
class CarrierMap:
    shop_to_qimen: Mapping[str, str]
    # Fallbacks when a code is not listed; None means "raise UnknownCarrierError".
    unknown_to_qimen: str | None = None
    unknown_to_shop: str | None = None
    qimen_to_shop: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # Reverse map: the first shop code listed for a Qimen code wins (several may share one).
        reverse: dict[str, str] = {}
        for shop_code, qimen_code in self.shop_to_qimen.items():
            reverse.setdefault(qimen_code, shop_code)
        object.__setattr__(self, "qimen_to_shop", reverse)

    @classmethod
    def from_config(cls, config: Mapping | None) -> CarrierMap:
        config = config or {}
        codes = {str(k).strip().upper(): str(v).strip().upper() for k, v in (config.get("codes") or {}).items()}
        return cls(codes, config.get("unknown_to_qimen"), config.get("unknown_to_shop"))

    def to_qimen(self, shop_code: str | None) -> str:
        key = (shop_code or "").strip().upper()
        if key in self.shop_to_qimen:
            return self.shop_to_qimen[key]
        if self.unknown_to_qimen:
            return self.unknown_to_qimen
        raise UnknownCarrierError(f"shop carrier code {shop_code!r} has no Qimen logisticsCode in the profile")

    def to_shop(self, qimen_code: str | None) -> str:
        key = (qimen_code or "").strip().upper()
        if key in self.qimen_to_shop:
            return self.qimen_to_shop[key]
        if self.unknown_to_shop:
            return self.unknown_to_shop
        raise UnknownCarrierError(f"Qimen logisticsCode {qimen_code!r} has no shop carrier code in the profile")
