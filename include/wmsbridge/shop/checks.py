"""What a profile's queries must return, and its SQL mistakes as ProfileErrors.

"A YAML file, no Python" only holds when a mistake in that file says where it is: a column alias
that is no canonical name would otherwise be silently dropped (or crash far away with a KeyError),
and a typo in the SQL would be retried by Airflow as if the database were down. Both name the
profile file and the query, and are ConfigErrors (the task fails at once).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from string import Formatter

from sqlalchemy import exc

from wmsbridge.shop import frames
from wmsbridge.shop.profile import ProfileError, ShopProfile

_CANCELLED = ("order_id", "order_code", "shop_status", "updated_at")

#: query -> the canonical columns it may return (item_code template fields come on top).
RESULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "changed_skus": tuple(frames.SKU_COLUMNS),
    "paid_orders": tuple(c for c in frames.ORDER_COLUMNS if c != "receiver_address_error"),
    "paid_orders_by_code": tuple(c for c in frames.ORDER_COLUMNS if c != "receiver_address_error"),
    "paid_orders_without_paid_at": tuple(c for c in frames.ORDER_COLUMNS if c != "receiver_address_error"),
    "order_lines": tuple(frames.LINE_COLUMNS),
    "cancelled_orders": _CANCELLED,
    "cancelled_orders_by_code": _CANCELLED,
    "read_stock": ("sku_id", "quantity"),
    "held_stock": ("order_code", "sku_id", "item_code", "quantity"),
    "approved_returns": tuple(frames.RETURN_COLUMNS),
    "return_lines": tuple(frames.RETURN_LINE_COLUMNS),
    "refunded_returns": tuple(frames.REFUNDED_COLUMNS),
    "withdrawn_returns": tuple(frames.WITHDRAWN_COLUMNS),
}
#: query -> the columns it must return.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "changed_skus": ("sku_id", "item_name"),
    "paid_orders": ("order_id", "order_code", "paid_at"),
    "paid_orders_by_code": ("order_id", "order_code", "paid_at"),
    "paid_orders_without_paid_at": ("order_id", "order_code", "paid_at"),
    "order_lines": ("order_id", "sku_id", "quantity", "price"),
    "cancelled_orders": ("order_id", "order_code", "shop_status"),
    "cancelled_orders_by_code": ("order_id", "order_code", "shop_status"),
    "read_stock": ("sku_id", "quantity"),
    "held_stock": ("order_code", "sku_id", "quantity"),
    "approved_returns": ("return_id", "return_code", "order_code"),
    "return_lines": ("return_id", "sku_id", "quantity"),
    "refunded_returns": ("return_id",),
    "withdrawn_returns": ("return_id",),
}
_ADDRESS_COLUMNS = {"one_string": ("receiver_address",), "split": ("receiver_province", "receiver_city")}
_ORDER_QUERIES = ("paid_orders", "paid_orders_by_code", "paid_orders_without_paid_at")
_CODE_QUERIES = ("changed_skus", "order_lines", "held_stock", "return_lines")


def template_fields(profile: ShopProfile) -> tuple[str, ...]:
    """The columns the profile's ``item_code`` template reads (``{goods_code}-{sku_id}``)."""
    if not profile.item_code:
        return ()
    return tuple(name for _, name, _, _ in Formatter().parse(profile.item_code) if name)


def column_problems(profile: ShopProfile, query: str, columns) -> list[str]:
    """Every problem with the columns ``query`` returned (empty when they are right)."""
    columns = [str(c) for c in columns]
    allowed = set(RESULT_COLUMNS[query])
    required = list(REQUIRED_COLUMNS[query])
    if query in _CODE_QUERIES:
        allowed |= set(template_fields(profile))
        required += list(template_fields(profile)) or ["item_code"]
    if query in _ORDER_QUERIES:
        required += list(_ADDRESS_COLUMNS[profile.address_mode])
    problems = []
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        names = ", ".join(sorted(allowed))
        problems.append(f"columns {unknown} are no canonical names (alias them to one of: {names})")
    missing = [c for c in dict.fromkeys(required) if c not in columns]
    if missing:
        why = f" (address_mode {profile.address_mode})" if query in _ORDER_QUERIES else ""
        problems.append(f"missing columns {missing}{why}")
    return problems


def check_columns(profile: ShopProfile, query: str, columns) -> None:
    """Raise a ProfileError naming the file and the query when its result columns are wrong."""
    problems = column_problems(profile, query, columns)
    if problems:
        raise ProfileError(f"{profile.source}: query {query!r}: " + "; ".join(problems))


# MySQL/MariaDB error numbers that are mistakes in the SQL text, not a database that is down.
_MYSQL_SQL_MISTAKES = frozenset({1054, 1064, 1052, 1146, 1060, 1066, 1248, 1305, 1140, 1055, 1241, 1222})
_SQLITE_SQL_MISTAKE = re.compile(r"no such (column|table|function)|syntax error|ambiguous column|"
                                 r"unrecognized token|incomplete input|misuse of aggregate", re.I)


def is_sql_mistake(err: exc.DBAPIError) -> bool:
    """A mistake in the profile's SQL (unknown column, syntax), as opposed to an unreachable or
    failing database, which Airflow should retry."""
    if getattr(err, "connection_invalidated", False):
        return False
    if isinstance(err, exc.ProgrammingError):
        return True
    orig = getattr(err, "orig", None)
    code = orig.args[0] if orig is not None and getattr(orig, "args", None) else None
    if isinstance(code, int) and code in _MYSQL_SQL_MISTAKES:
        return True
    return isinstance(err, exc.OperationalError) and bool(_SQLITE_SQL_MISTAKE.search(str(orig or err)))


_MYSQL_SIGNAL = 1644  # ER_SIGNAL_EXCEPTION: a trigger's SIGNAL SQLSTATE '45000'


def is_refused_by_trigger(err: BaseException) -> bool:
    """MySQL/MariaDB report a trigger's ``SIGNAL`` (error 1644) as an OperationalError, like a lost
    server; it is one row the shop refuses, not a database that cannot be used."""
    orig = getattr(err, "orig", None)
    return bool(getattr(orig, "args", None)) and orig.args[0] == _MYSQL_SIGNAL


@contextmanager
def profile_sql(profile: ShopProfile, query: str):
    """Run one of the profile's queries: its SQL mistakes become a ProfileError naming the file and
    the query; anything else (the database is down) raises as it is."""
    try:
        yield
    except exc.DBAPIError as err:
        if not is_sql_mistake(err):
            raise
        first = str(err.orig or err).strip().splitlines()[0]
        raise ProfileError(f"{profile.source}: query {query!r} failed: {first}") from err
    except (exc.StatementError, exc.ArgumentError) as err:  # e.g. a bind parameter the query does not receive
        first = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise ProfileError(f"{profile.source}: query {query!r}: {first}") from err


__all__ = ["REQUIRED_COLUMNS", "RESULT_COLUMNS", "check_columns", "column_problems", "is_sql_mistake",
           "profile_sql", "template_fields"]
