"""Check a profile against a real shop without writing Python: ``python -m wmsbridge.shop check``.

Runs every read query of the profile against the shop (small samples, nothing written), shows
sample rows as the pipelines will see them (canonical frames) and lists every problem: the file
itself, SQL errors, columns that are no canonical names or are missing, and one-string addresses
the splitter refuses. The two writing queries (``ship``, ``write_stock``) are checked for their
bind parameters only; they are never run here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine

from wmsbridge.errors import ConfigError
from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import ShopReader

WRITING_QUERIES = ("ship", "write_stock")


@dataclass
class CheckResult:
    profile: ShopProfile | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_profile(profile_ref, engine: Engine, *, sample_size: int = 3) -> CheckResult:
    """Run the profile's read queries against ``engine``; every problem is collected, none raised."""
    result = CheckResult()
    try:
        profile = load_profile(profile_ref)
    except ConfigError as err:
        result.problems.append(str(err))
        return result
    result.profile = profile
    reader = ShopReader(profile)

    def step(query: str, run: Callable[[], pd.DataFrame | None]) -> pd.DataFrame | None:
        try:
            frame = run()
        except ConfigError as err:
            result.problems.append(str(err))
            return None
        except Exception as err:  # noqa: BLE001 - shown to the person checking, with the query named
            result.problems.append(f"{profile.source}: query {query!r}: {type(err).__name__}: {err}")
            return None
        if frame is not None:
            result.samples[query] = frame
            if frame.empty:
                result.notes.append(f"query {query!r} returned no rows: its columns could not be checked")
        return frame

    skus = step("changed_skus", lambda: _first(reader.iter_changed_skus(engine, None, sample_size)))
    if skus is not None:
        for col in ("item_code", "item_name"):
            empty = int(skus[col].isna().sum())
            if empty:
                result.problems.append(f"query 'changed_skus': {empty} of {len(skus)} sample SKUs have no {col}")

    holder: dict[str, pd.DataFrame] = {}

    def paid() -> pd.DataFrame | None:
        chunk = _first(reader.iter_paid_orders(engine, chunk_size=sample_size))
        if chunk is None:
            return pd.DataFrame()
        holder["lines"] = chunk[1]
        return chunk[0]

    orders = step("paid_orders", paid)
    if orders is not None and not orders.empty:
        step("order_lines", lambda: holder.get("lines"))
        lines = holder.get("lines")
        if lines is not None:
            lineless = sorted(set(orders["order_id"]) - set(lines["order_id"]))
            if lineless:
                result.problems.append(f"query 'order_lines' returned no lines for sample orders {lineless}")
        for row in orders.itertuples():
            if row.receiver_address_error:
                result.notes.append(f"order {row.order_code}: address refused: {row.receiver_address_error}")
        codes = orders["order_code"].dropna().tolist()
        by_code = step("paid_orders_by_code", lambda: _first_orders(
            reader.iter_paid_orders(engine, order_codes=codes, chunk_size=sample_size)))
        if by_code is not None and set(by_code["order_code"]) != set(codes):
            result.problems.append(f"query 'paid_orders_by_code' did not return the sample orders {sorted(codes)} "
                                   f"(got {sorted(by_code['order_code'])})")
    else:
        result.notes.append("no paid, unshipped orders: 'paid_orders_by_code' and 'order_lines' not run")

    if not profile.has("paid_orders_without_paid_at"):
        result.notes.append("the profile has no 'paid_orders_without_paid_at': a paid order whose payment time is "
                            "empty would never be read (docs/profiles.md)")
    else:
        timeless = step("paid_orders_without_paid_at", lambda: _first_orders(
            reader.iter_paid_orders_without_paid_at(engine, chunk_size=sample_size)))
        if timeless is not None and not timeless.empty:
            result.notes.append(f"paid orders without a payment time, e.g. {sorted(timeless['order_code'].dropna())}: "
                                "every push rejects them until the shop fills it in")

    cancelled = step("cancelled_orders", lambda: _first(reader.iter_cancelled_orders(engine, chunk_size=sample_size)))
    if cancelled is not None and not cancelled.empty:
        unmapped = sorted(set(cancelled.loc[cancelled["cancel_reason"].isna(), "shop_status"].dropna()))
        if unmapped:
            result.problems.append(f"cancelled orders with shop statuses {unmapped} that statuses.cancelled "
                                   "does not map")
        step("cancelled_orders_by_code", lambda: _first(reader.iter_cancelled_orders(
            engine, order_codes=cancelled["order_code"].dropna().tolist(), chunk_size=sample_size)))

    if skus is not None and not skus.empty:
        ids = skus["sku_id"].dropna().tolist()
        stock = step("read_stock", lambda: pd.DataFrame(
            sorted(reader.read_stock(engine, ids).items()), columns=["sku_id", "quantity"]))
        if stock is not None and set(stock["sku_id"]) != set(ids):
            result.problems.append(f"query 'read_stock' has no stock for sample SKUs "
                                   f"{sorted(set(ids) - set(stock['sku_id']))}")
    for query in WRITING_QUERIES:
        result.notes.append(f"query {query!r} writes to the shop: not run (its bind parameters were checked)")
    return result


def _first(iterator):
    for chunk in iterator:
        return chunk
    return None


def _first_orders(iterator):
    chunk = _first(iterator)
    return pd.DataFrame(columns=["order_code"]) if chunk is None else chunk[0]


def render(result: CheckResult, *, width: int = 60) -> str:
    """The check as text: samples (one column per row, canonical names down the side), then notes
    and problems."""
    out = []
    if result.profile is not None:
        out.append(f"profile {result.profile.name!r} from {result.profile.source}")
    for query, frame in result.samples.items():
        out.append(f"\n== {query}: {len(frame)} sample row(s)")
        if not frame.empty:
            shown = frame.astype(object).where(frame.notna(), None).T
            out.append(shown.to_string(max_colwidth=width))
    if result.notes:
        out.append("\nnotes:")
        out.extend(f"  - {n}" for n in result.notes)
    if result.problems:
        out.append(f"\n{len(result.problems)} problem(s):")
        out.extend(f"  - {p}" for p in result.problems)
    else:
        out.append("\nno problems found")
    return "\n".join(out)


__all__ = ["CheckResult", "check_profile", "render"]
