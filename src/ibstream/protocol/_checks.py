"""Argument checks of the subscription specs (each raises ``InvalidArgument`` naming the
argument and what is allowed). Private to :mod:`ibstream.protocol.specs`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.fields import CONID_MAX, resolve_field

_FORMAT_TOKENS = frozenset({"%o", "%c", "%h", "%l", "%v"})
# unit -> (min, max); protocol.md §4.2
_PERIOD_UNITS: dict[str, int] = {"min": 30, "h": 8, "d": 1000, "w": 792, "m": 182, "y": 15}
_PERIOD_ALLOWED = "{1-30}min, {1-8}h, {1-1000}d, {1-792}w, {1-182}m or {1-15}y, e.g. '1d'"
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9._-]+")
_UPPER_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _check_conid(conid: object, name: str = "conid") -> int:
    if type(conid) is not int or not 0 < conid <= CONID_MAX:
        big = type(conid) is int and conid.bit_length() > 64
        shown = "an integer beyond 64 bits" if big else repr(conid)[:60]
        raise InvalidArgument(
            name, f"must be a contract id, an int in 1..{CONID_MAX} (32 bits), got {shown}"
        )
    return conid


def _check_exchange(exchange: object) -> str | None:
    if exchange is None:
        return None
    if (
        not isinstance(exchange, str)
        or not exchange
        or not _UPPER_ALNUM.issuperset(exchange)
        or exchange.isdigit()
    ):
        raise InvalidArgument(
            "exchange",
            f"must be None or an upper-case alphanumeric code like 'NASDAQ', got {exchange!r}",
        )
    return exchange


def _check_account(account: object) -> str:
    if not isinstance(account, str) or _ACCOUNT_RE.fullmatch(account) is None:
        raise InvalidArgument(
            "account", f"must be a non-empty account id of [A-Za-z0-9._-], got {account!r}"
        )
    return account


def _check_names(values: object, name: str) -> tuple[str, ...]:
    """A tuple of non-empty strings without '+', de-duplicated in order."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidArgument(name, f"must be a sequence of strings, got {values!r}")
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v or "+" in v:
            raise InvalidArgument(name, f"items must be non-empty strings without '+', got {v!r}")
        if v not in out:
            out.append(v)
    return tuple(out)


def _check_fields(fields: object) -> tuple[str, ...]:
    """Field ids or names (``"last"``, ``"bid"``, ``31``, ``"84"``) -> de-duplicated id strings."""
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise InvalidArgument("fields", f"must be a sequence of field ids or names, got {fields!r}")
    out: list[str] = []
    for f in fields:
        try:
            s = str(resolve_field(f))
        except ValueError:
            raise InvalidArgument(
                "fields",
                f"items must be positive field ids like 31 or '31', or field names like 'last', "
                f"got {f!r}",
            ) from None
        if s not in out:
            out.append(s)
    if not out:
        raise InvalidArgument("fields", "must name at least one field id")
    return tuple(out)


def _check_period(period: object) -> str:
    if isinstance(period, str):
        for unit, high in _PERIOD_UNITS.items():
            if period.endswith(unit):
                number = period[: -len(unit)]
                if (
                    number.isascii()
                    and number.isdigit()
                    and number[0] != "0"
                    and 1 <= int(number) <= high
                ):
                    return period
                break
    raise InvalidArgument("period", f"must be {_PERIOD_ALLOWED}, got {period!r}")


def _check_format(fmt: object) -> str:
    if isinstance(fmt, str):
        tokens = fmt.split("/")
        if _FORMAT_TOKENS.issuperset(tokens) and len(set(tokens)) == len(tokens):
            return fmt
    raise InvalidArgument(
        "format", f"must be distinct tokens %o %c %h %l %v joined by '/', got {fmt!r}"
    )


def _check_bool(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise InvalidArgument(name, f"must be True or False, got {value!r}")
    return value
