"""Money and quantities as the warehouse reads them.

Money is ``Decimal`` rounded half-up to fen (2 places): floats would print ``39.900000000000006``
and banker's rounding would disagree with the shop's own totals. Quantities are whole, positive
numbers; ``2.0`` from a float column is 2, ``2.5`` is an error, never rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd

_FEN = Decimal("0.01")
#: The largest amount or price a shop's DECIMAL(10,2) holds; beyond it is a typo, not a sale.
MAX_MONEY = Decimal("99999999.99")


def _money(value: object) -> object:
    if type(value) is Decimal:  # what DECIMAL columns read as: the common case first
        number = value
    elif value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    else:
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            return _INVALID
    if not number.is_finite():
        return _INVALID
    try:
        return number.quantize(_FEN, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: far above MAX_MONEY, said so there
        return number


_INVALID = object()


def to_money(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return ``(amounts, invalid)``: Decimals with 2 places (None where missing or unreadable)
    and a mask of values that were present but are not numbers."""
    money = [_money(v) for v in values.astype(object).tolist()]
    bad = [v is _INVALID for v in money]
    converted = pd.Series([None if b else v for v, b in zip(money, bad)], index=values.index, dtype=object)
    return converted, pd.Series(bad, index=values.index, dtype=bool)


def to_positive_int(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return ``(quantities, invalid)``: nullable Int64, and a mask of missing, fractional, zero or
    negative values."""
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric % 1 == 0) & (numeric > 0)
    quantities = numeric.where(whole).astype("Int64")
    return quantities, ~whole.astype(bool)


def money_out_of_range(amounts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Masks of amounts (from :func:`to_money`) that are negative, and above :data:`MAX_MONEY`."""
    values = amounts.tolist()
    negative = [type(v) is Decimal and v < 0 for v in values]
    too_much = [type(v) is Decimal and v > MAX_MONEY for v in values]
    return pd.Series(negative, index=amounts.index, dtype=bool), pd.Series(too_much, index=amounts.index, dtype=bool)
