"""The market-data field catalogue (protocol.md §6) and value parsing.

:data:`FIELDS` maps each field id to its :class:`FieldInfo` (id, name, meaning, kind);
:func:`field_by_name` looks fields up by name. :func:`parse_value` turns a wire value (mostly a
string, sometimes a number) into a Python value according to the field's kind:

* prices: ``"271.67"`` -> ``271.67``; a ``C`` (prior close) or ``H`` (halted) prefix is stripped
  (the decoder reports it as ``MarketData.closed`` / ``halted``);
* sizes and volumes: thousands separators and ``K``/``M``/``B``/``T`` suffixes
  (``"1,300"`` -> ``1300.0``, ``"24.2M"`` -> ``24200000.0``);
* percentages: ``0.56``, ``"0.56"``, ``"+0.45%"`` -> ``0.45`` (in percent units, as sent);
* ``"N/A"``, ``"-"`` and ``""`` -> ``None``;
* field 6509 -> :class:`Availability`; flags (``"1"``/``"0"``) -> ``bool``;
* unknown field ids: a number when the value parses as one, else the text (never dropped).

A numeric value that cannot be parsed is returned unchanged as text rather than lost; so is one
that parses to something no consumer can carry (``"inf"``, ``"nan"``, ``"1e999"``, an integer
beyond 64 bits): parsers only ever return finite floats and integers within
[:data:`INT64_MIN`, :data:`INT64_MAX`] (contract ids within [1, :data:`CONID_MAX`]).

:func:`checked_float` / :func:`checked_int` are the strict forms the account-side decoders use:
they raise :class:`Unrepresentable` for such a value, so the decoder can drop that one field and
report it (``ValueRejected``) while keeping the rest of the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

__all__ = [
    "FIELDS",
    "FIELD_ALIASES",
    "Availability",
    "FieldInfo",
    "FieldKind",
    "FieldValue",
    "field_by_name",
    "field_name",
    "parse_availability",
    "parse_value",
    "resolve_field",
    "to_float",
    "value_parser",
]

INT64_MIN = -(2**63)
"""Smallest integer a decoded value may hold (what JSON encoders and databases carry)."""
INT64_MAX = 2**63 - 1
"""Largest integer a decoded value may hold."""
CONID_MAX = 2**31 - 1
"""Largest contract id: IBKR's conids are 32-bit signed integers (so is GraphQL's ``Int``)."""
_MAX_INT_TEXT = 24  # longer digit strings are out of range anyway: never handed to int()


class Unrepresentable(ValueError):
    """A numeric value no consumer can carry: not finite, or an integer out of range."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Availability:
    """Field 6509, market-data availability (protocol.md §6.3), e.g. ``"DPB"``.

    ``code`` keeps the raw string. First letter: ``R`` real-time, ``D`` delayed, ``Z`` frozen,
    ``Y`` frozen delayed, ``N`` not subscribed, ``S`` streaming; then ``P`` snapshot available,
    ``p`` consolidated, ``B`` book.
    """

    code: str
    realtime: bool
    delayed: bool
    frozen: bool
    frozen_delayed: bool
    not_subscribed: bool
    streaming: bool
    snapshot: bool
    consolidated: bool
    book: bool


FieldValue: TypeAlias = float | int | str | Availability | None
"""A parsed market-data value (``bool`` for flag fields, which is an ``int``)."""


class FieldKind(Enum):
    """How a field's value is encoded and parsed."""

    PRICE = "price"
    SIZE = "size"
    VOLUME = "volume"
    PERCENT = "percent"
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    FLAG = "flag"
    AVAILABILITY = "availability"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldInfo:
    """One market-data field: numeric ``id``, snake-case ``name``, meaning and value kind."""

    id: int
    name: str
    description: str
    kind: FieldKind


_TABLE: tuple[tuple[int, str, FieldKind, str], ...] = (
    (
        31,
        "last",
        FieldKind.PRICE,
        "Last traded price; may be prefixed C (prior close) or H (halted)",
    ),
    (55, "symbol", FieldKind.TEXT, "Symbol"),
    (58, "text", FieldKind.TEXT, "Text"),
    (70, "high", FieldKind.PRICE, "Day high"),
    (71, "low", FieldKind.PRICE, "Day low"),
    (73, "market_value", FieldKind.NUMBER, "Position market value"),
    (74, "avg_price", FieldKind.PRICE, "Average position price"),
    (75, "unrealized_pnl", FieldKind.NUMBER, "Unrealised P&L"),
    (76, "formatted_position", FieldKind.TEXT, "Formatted position"),
    (77, "formatted_unrealized_pnl", FieldKind.TEXT, "Formatted unrealised P&L"),
    (78, "daily_pnl", FieldKind.NUMBER, "Daily P&L since prior close"),
    (79, "realized_pnl", FieldKind.NUMBER, "Realised P&L"),
    (80, "unrealized_pnl_percent", FieldKind.PERCENT, "Unrealised P&L %"),
    (82, "change", FieldKind.PRICE, "Last minus previous close"),
    (83, "change_percent", FieldKind.PERCENT, "Change % vs previous close (number)"),
    (84, "bid", FieldKind.PRICE, "Best bid"),
    (85, "ask_size", FieldKind.SIZE, "Ask size (US stocks /100)"),
    (86, "ask", FieldKind.PRICE, "Best ask"),
    (87, "volume", FieldKind.VOLUME, "Day volume with K/M suffix"),
    (88, "bid_size", FieldKind.SIZE, "Bid size (US stocks /100)"),
    (201, "right", FieldKind.TEXT, "Option right P/C"),
    (6004, "exchange", FieldKind.TEXT, "Exchange"),
    (6008, "conid", FieldKind.INTEGER, "Contract id"),
    (6070, "sec_type", FieldKind.TEXT, "Asset class"),
    (6072, "months", FieldKind.TEXT, "Months"),
    (6073, "regular_expiry", FieldKind.TEXT, "Regular expiry"),
    (6119, "market_data_marker", FieldKind.TEXT, "Delivery marker, equals server_id (e.g. q1)"),
    (6457, "underlying_conid", FieldKind.INTEGER, "Underlying conid"),
    (6508, "service_params", FieldKind.TEXT, "Service parameters string"),
    (6509, "availability", FieldKind.AVAILABILITY, "Availability code, §6.3"),
    (7051, "company_name", FieldKind.TEXT, "Company name"),
    (7057, "ask_codes", FieldKind.TEXT, "Ask exchange codes"),
    (7058, "last_exch_codes", FieldKind.TEXT, "Last exchange codes"),
    (7059, "last_size", FieldKind.SIZE, "Last trade size"),
    (7068, "bid_codes", FieldKind.TEXT, "Bid exchange codes"),
    (7084, "implied_vol_hist_vol_percent", FieldKind.PERCENT, "IV / HV ratio %"),
    (7085, "put_call_interest", FieldKind.NUMBER, "Put/call open interest ratio"),
    (7086, "put_call_volume", FieldKind.NUMBER, "Put/call volume ratio"),
    (7087, "hist_vol_percent", FieldKind.PERCENT, "30-day real-time historical volatility %"),
    (7088, "hist_vol_close_percent", FieldKind.PERCENT, "HV based on previous close %"),
    (7089, "opt_volume", FieldKind.VOLUME, "Option volume"),
    (7094, "conid_exchange", FieldKind.TEXT, "Conid + exchange"),
    (7184, "can_be_traded", FieldKind.FLAG, "1/0"),
    (7219, "contract_description", FieldKind.TEXT, "Contract description"),
    (7220, "contract_description_alt", FieldKind.TEXT, "Contract description (alternative)"),
    (7221, "listing_exchange", FieldKind.TEXT, "Listing exchange"),
    (7280, "industry", FieldKind.TEXT, "Industry"),
    (7281, "category", FieldKind.TEXT, "Category"),
    (7282, "average_volume_90", FieldKind.VOLUME, "Average daily volume over 90 days"),
    (
        7283,
        "option_implied_vol_percent",
        FieldKind.PERCENT,
        "30-day option implied vol % (underlying)",
    ),
    (7285, "put_call_ratio", FieldKind.NUMBER, "Put/call ratio"),
    (7286, "dividend_amount", FieldKind.PRICE, "Next dividend amount"),
    (7287, "dividend_yield_percent", FieldKind.PERCENT, "Dividend yield %"),
    (7288, "ex_date_dividend", FieldKind.TEXT, "Ex-dividend date"),
    (7289, "market_cap", FieldKind.NUMBER, "Market cap"),
    (7290, "p_e", FieldKind.NUMBER, "P/E"),
    (7291, "eps", FieldKind.PRICE, "EPS"),
    (7292, "cost_basis", FieldKind.PRICE, "Cost basis"),
    (7293, "52_week_high", FieldKind.PRICE, "52-week high"),
    (7294, "52_week_low", FieldKind.PRICE, "52-week low"),
    (7295, "open", FieldKind.PRICE, "Today's open"),
    (7296, "close", FieldKind.PRICE, "Today's close"),
    (7308, "delta", FieldKind.NUMBER, "Option delta"),
    (7309, "gamma", FieldKind.NUMBER, "Option gamma"),
    (7310, "theta", FieldKind.NUMBER, "Option theta"),
    (7311, "vega", FieldKind.NUMBER, "Option vega"),
    (7607, "opt_volume_change_percent", FieldKind.PERCENT, "Option volume vs average %"),
    (7633, "implied_vol_percent", FieldKind.PERCENT, "Strike-specific IV %"),
    (7635, "mark", FieldKind.PRICE, "Mark price"),
    (7636, "shortable_shares", FieldKind.VOLUME, "Shares available to short"),
    (7637, "shortable_fee_rate_percent", FieldKind.PERCENT, "Short fee rate %"),
    (7638, "option_open_interest", FieldKind.VOLUME, "Option open interest"),
    (7639, "percent_of_mark_value", FieldKind.PERCENT, "% of account market value"),
    (7644, "shortable", FieldKind.TEXT, "Short-sale difficulty"),
    (
        7655,
        "morningstar_rating",
        FieldKind.TEXT,
        "Morningstar rating (no longer supported)",
    ),
    (7671, "dividends", FieldKind.NUMBER, "Expected dividends next 12 months"),
    (7672, "dividends_ttm", FieldKind.NUMBER, "Dividends trailing 12 months"),
    (7674, "ema_200", FieldKind.PRICE, "EMA(200)"),
    (7675, "ema_100", FieldKind.PRICE, "EMA(100)"),
    (7676, "ema_50", FieldKind.PRICE, "EMA(50)"),
    (7677, "ema_20", FieldKind.PRICE, "EMA(20)"),
    (7678, "price_to_ema_200_percent", FieldKind.PERCENT, "Price/EMA(200) - 1, %"),
    (7679, "price_to_ema_100_percent", FieldKind.PERCENT, "Price/EMA(100) - 1, %"),
    (7681, "price_to_ema_20_percent", FieldKind.PERCENT, "Price/EMA(20) - 1, %"),
    (7682, "change_since_open", FieldKind.PRICE, "Last minus open"),
    (7683, "upcoming_event", FieldKind.TEXT, "Next company event (WSH)"),
    (7684, "upcoming_event_date", FieldKind.TEXT, "Date of next event (WSH)"),
    (7685, "upcoming_analyst_meeting", FieldKind.TEXT, "(WSH)"),
    (7686, "upcoming_earnings", FieldKind.TEXT, "(WSH)"),
    (7687, "upcoming_misc_event", FieldKind.TEXT, "(WSH)"),
    (7688, "recent_analyst_meeting", FieldKind.TEXT, "(WSH)"),
    (7689, "recent_earnings", FieldKind.TEXT, "(WSH)"),
    (7690, "recent_misc_event", FieldKind.TEXT, "(WSH)"),
    (7694, "probability_of_max_return", FieldKind.NUMBER, "Probability of max return"),
    (7695, "break_even", FieldKind.TEXT, "Break-even points"),
    (7696, "spx_delta", FieldKind.NUMBER, "Beta-weighted delta"),
    (7697, "futures_open_interest", FieldKind.VOLUME, "Futures open interest"),
    (7698, "last_yield", FieldKind.PERCENT, "Bond yield at last"),
    (7699, "bid_yield", FieldKind.PERCENT, "Bond yield at bid"),
    (7702, "probability_of_max_loss", FieldKind.NUMBER, "Probability of max loss"),
    (7703, "profit_probability", FieldKind.NUMBER, "Profit probability"),
    (7704, "organization_type", FieldKind.TEXT, "Organization type"),
    (7705, "debt_class", FieldKind.TEXT, "Debt class"),
    (7706, "ratings", FieldKind.TEXT, "Bond ratings"),
    (7707, "bond_state_code", FieldKind.TEXT, "Bond state code"),
    (7708, "bond_type", FieldKind.TEXT, "Bond type"),
    (7714, "last_trading_date", FieldKind.TEXT, "Last trading date"),
    (7715, "issue_date", FieldKind.TEXT, "Issue date"),
    (7718, "beta", FieldKind.NUMBER, "Beta vs standard index"),
    (7720, "ask_yield", FieldKind.PERCENT, "Bond yield at ask"),
    (7724, "price_to_ema_50_percent", FieldKind.PERCENT, "Price/EMA(50) - 1, %"),
    (7741, "prior_close", FieldKind.PRICE, "Yesterday's close"),
    (7762, "volume_long", FieldKind.VOLUME, "High-precision day volume"),
    (7768, "has_trading_permissions", FieldKind.FLAG, "1/0"),
    (7920, "daily_pnl_raw", FieldKind.NUMBER, "Daily P&L (raw)"),
    (7921, "cost_basis_raw", FieldKind.PRICE, "Cost basis (raw)"),
)

FIELDS: dict[int, FieldInfo] = {
    fid: FieldInfo(id=fid, name=name, description=description, kind=kind)
    for fid, name, kind, description in _TABLE
}
"""The field catalogue of protocol.md §6.2 by id (do not mutate)."""

#: earlier or longer names still accepted on input (the canonical name is ``FieldInfo.name``)
FIELD_ALIASES: dict[str, int] = {
    "last_price": 31,
    "bid_price": 84,
    "ask_price": 86,
    "market_data_availability": 6509,
    "mark_price": 7635,
}

_BY_NAME: dict[str, FieldInfo] = {info.name: info for info in FIELDS.values()}
_BY_NAME.update({alias: FIELDS[fid] for alias, fid in FIELD_ALIASES.items()})


def field_by_name(name: str) -> FieldInfo | None:
    """The field called ``name`` — its canonical short name (``"last"``, ``"bid"``,
    ``"bid_size"``...) or an alias (``"last_price"``) — or ``None``."""
    return _BY_NAME.get(name)


def field_name(field_id: int) -> str:
    """The canonical short name of a field id; the id as text for an id not in the catalogue
    (so a name is always available and never collides with a catalogue name)."""
    info = FIELDS.get(field_id)
    return info.name if info is not None else str(field_id)


def resolve_field(field: int | str) -> int:
    """A field id from ``31``, ``"31"``, ``"last"`` or an alias; ``ValueError`` otherwise."""
    if isinstance(field, int) and not isinstance(field, bool):
        if field > 0:
            return field
    elif isinstance(field, str):
        text = field.strip()
        if text.isascii() and text.isdigit() and text[0] != "0":
            return int(text)
        info = _BY_NAME.get(text.lower())
        if info is not None:
            return info.id
    raise ValueError(f"expected a field id (31) or a field name (last, bid, ...), got {field!r}")


# --- value parsing ----------------------------------------------------------------------------
# Hot path: try float() first, fall back to the slow cleaners only when it fails.

_NONE_STRINGS = frozenset({"", "N/A", "n/a", "NA", "-", "--"})
_SUFFIX_EXPONENT = {"K": "e3", "k": "e3", "M": "e6", "B": "e9", "T": "e12"}


def _other(value: object) -> FieldValue:
    """A value of a type no field uses (list, dict...): kept as its text."""
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def _clean_number(value: object) -> FieldValue:
    """Slow path of the numeric kinds: separators, ``%``, ``K``/``M`` suffixes, placeholders."""
    if not isinstance(value, str):
        return _other(value)
    text = value.strip()
    if text in _NONE_STRINGS:
        return None
    text = text.replace(",", "")
    if text.endswith("%"):
        text = text[:-1]
    exponent = _SUFFIX_EXPONENT.get(text[-1:], "")
    if exponent:
        text = text[:-1] + exponent
    try:
        number = float(text)
    except ValueError:
        return value
    return number if number - number == 0.0 else value  # inf/nan: kept as the text


def _finite(number: float, value: object) -> FieldValue:
    """``number`` when finite, else the wire value (as text when it was not one)."""
    if number - number == 0.0:
        return number
    return value if isinstance(value, str) else repr(number)


def _number(value: object) -> FieldValue:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return _clean_number(value)
    return _finite(number, value)


def _quantity(value: object) -> FieldValue:
    """Sizes and volumes: separators and suffixes are common, so clean before float()."""
    if value.__class__ is str:
        text: str = value
        if "," in text:
            text = text.replace(",", "")
        exponent = _SUFFIX_EXPONENT.get(text[-1:])
        if exponent is not None:
            text = text[:-1] + exponent
        try:
            return _finite(float(text), value)
        except ValueError:
            return _clean_number(value)
    return _number(value)


def _price(value: object) -> FieldValue:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        if isinstance(value, str) and value[:1] in ("C", "H"):
            return _clean_number(value[1:])
        return _clean_number(value)
    return _finite(number, value)


def _integer(value: object) -> FieldValue:
    if type(value) is int:
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    number = _number(value)
    if isinstance(number, float) and number.is_integer():
        if INT64_MIN <= number <= INT64_MAX:
            return int(number)
        return value if isinstance(value, str) else repr(number)
    return number


def _text(value: object) -> FieldValue:
    if isinstance(value, str):
        return None if value in _NONE_STRINGS else value
    return _other(value)


def _flag(value: object) -> FieldValue:
    if value in ("1", 1, True):
        return True
    if value in ("0", 0, False):
        return False
    return _text(value)


_AVAILABILITY_CACHE: dict[str, Availability] = {}


def parse_availability(code: str) -> Availability:
    """Decode a 6509 availability code such as ``"DPB"``, ``"RpB"`` or ``"ZB"``."""
    cached = _AVAILABILITY_CACHE.get(code)
    if cached is not None:
        return cached
    first, rest = code[:1], code[1:]
    result = Availability(
        code=code,
        realtime=first == "R",
        delayed=first == "D",
        frozen=first == "Z",
        frozen_delayed=first == "Y",
        not_subscribed=first == "N",
        streaming=first == "S" or "S" in rest,
        snapshot="P" in rest,
        consolidated="p" in rest,
        book="B" in rest,
    )
    if len(_AVAILABILITY_CACHE) < 256 and len(code) <= 16:  # bounded: codes come from the network
        _AVAILABILITY_CACHE[code] = result
    return result


def _availability(value: object) -> FieldValue:
    if isinstance(value, str) and value not in _NONE_STRINGS:
        return parse_availability(value)
    return _text(value)


def _unknown(value: object) -> FieldValue:
    """Unknown field ids: a number when the value is a finite one, else the text."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return _text(value)
    return _finite(number, value)


_PARSERS: dict[FieldKind, Callable[[object], FieldValue]] = {
    FieldKind.PRICE: _price,
    FieldKind.SIZE: _quantity,
    FieldKind.VOLUME: _quantity,
    FieldKind.PERCENT: _number,
    FieldKind.NUMBER: _number,
    FieldKind.INTEGER: _integer,
    FieldKind.TEXT: _text,
    FieldKind.FLAG: _flag,
    FieldKind.AVAILABILITY: _availability,
}


def value_parser(field_id: int) -> Callable[[object], FieldValue]:
    """The function :func:`parse_value` uses for ``field_id`` (best-effort for unknown ids)."""
    info = FIELDS.get(field_id)
    return _unknown if info is None else _PARSERS[info.kind]


def parse_value(field_id: int, raw: object) -> FieldValue:
    """Parse the wire value ``raw`` of market-data field ``field_id``; never raises."""
    return value_parser(field_id)(raw)


def checked_float(value: object) -> float | None:
    """A finite float from a number or numeric string (thousands separators allowed).

    ``None`` for ``None``, booleans, non-numeric text and other types; raises
    :class:`Unrepresentable` for a numeric value that is not finite (``"inf"``, ``"nan"``,
    ``"1e999"``, an integer too large for a float).
    """
    if type(value) is float:
        number = value
    elif type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            raise Unrepresentable("integer too large for a float") from None
    elif isinstance(value, str):
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    if number - number != 0.0:
        raise Unrepresentable(f"not a finite number: {number!r}")
    return number


def to_float(value: object) -> float | None:
    """A finite float from a number or numeric string (thousands separators allowed), else
    ``None`` (also for ``"inf"``/``"nan"``: see :func:`checked_float` to tell them apart)."""
    if type(value) is float and value - value == 0.0:
        return value
    try:
        return checked_float(value)
    except Unrepresentable:
        return None


def checked_int(value: object, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """An integer within ``[lo, hi]`` from an int, an integral float or a digit string.

    ``None`` for ``None``, booleans, non-integral or non-numeric values; raises
    :class:`Unrepresentable` for an integer value outside ``[lo, hi]`` or a non-finite number.
    Digit strings longer than 24 characters are never handed to ``int()`` (which refuses more
    than 4,300 digits): they are out of range.
    """
    if type(value) is int:
        number = value
    elif type(value) is float:
        if value - value != 0.0:
            raise Unrepresentable(f"not a finite number: {value!r}")
        if not value.is_integer():
            return None
        if not lo <= value <= hi:
            raise Unrepresentable(f"{value!r} is outside {lo}..{hi}")
        return int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in ("-", "+") else text
        if not (digits.isascii() and digits.isdigit()):
            if text:
                checked_float(text)  # raises for "inf", "nan", "1e999"
            return None  # not an integer's text
        if len(text) > _MAX_INT_TEXT:
            raise Unrepresentable(f"integer of {len(digits)} digits is outside {lo}..{hi}")
        number = int(text)
    else:
        return None
    if not lo <= number <= hi:
        raise Unrepresentable(f"{number} is outside {lo}..{hi}")
    return number


def to_int(value: object, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """Like :func:`checked_int`, but ``None`` instead of raising."""
    try:
        return checked_int(value, lo, hi)
    except Unrepresentable:
        return None
