"""Carrier codes between a shop and Qimen, as data from the profile.

Shops use their own or Kdniao codes (litemall: ``YD`` for Yunda) where Qimen says ``YUNDA``. An
unknown code is an error unless the profile names a fallback (Qimen's ``OTHER``): a wrong carrier
on a waybill is worse than an order held back with a clear reason.

Strict in what we send, lenient in what we receive: a warehouse's confirmation may name a carrier by
another code (``aliases``: ``JT`` for the shop's ``JTSD``) or only recognisably by name (``names``:
``菜鸟-极兔速递`` contains ``极兔``); both map back to the shop's code.
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
    # What a warehouse may call a carrier besides the Qimen code: other codes, parts of its name
    aliases: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
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
        aliases = {str(k).strip().upper(): str(v).strip().upper() for k, v in (config.get("aliases") or {}).items()}
        names = {str(k).strip(): str(v).strip().upper() for k, v in (config.get("names") or {}).items()}
        for kind, mapping in (("aliases", aliases), ("names", names)):
            unknown = sorted(set(mapping.values()) - set(codes))
            if unknown:
                raise ValueError(f"{kind} map to shop codes that are not in codes: {unknown}")
        return cls(codes, config.get("unknown_to_qimen"), config.get("unknown_to_shop"), aliases, names)

    def to_qimen(self, shop_code: str | None) -> str:
        key = (shop_code or "").strip().upper()
        if key in self.shop_to_qimen:
            return self.shop_to_qimen[key]
        if self.unknown_to_qimen:
            return self.unknown_to_qimen
        raise UnknownCarrierError(f"shop carrier code {shop_code!r} has no Qimen logisticsCode in the profile")

    def to_shop(self, qimen_code: str | None, name: str | None = None) -> str:
        """The shop's code for the carrier a warehouse names: by its Qimen code, another code it uses
        for it, or a part of its name (``logisticsName``)."""
        key = (qimen_code or "").strip().upper()
        if key in self.qimen_to_shop:
            return self.qimen_to_shop[key]
        if key in self.aliases:
            return self.aliases[key]
        if key in self.shop_to_qimen:  # the warehouse answered with the shop's own (Kdniao) code
            return key
        for part in sorted(self.names, key=len, reverse=True):  # 中通快运 before 中通
            if name and part in name:
                return self.names[part]
        if self.unknown_to_shop:
            return self.unknown_to_shop
        raise UnknownCarrierError(f"Qimen logisticsCode {qimen_code!r}" + (f" ({name})" if name else "")
                                  + " has no shop carrier code in the profile")
