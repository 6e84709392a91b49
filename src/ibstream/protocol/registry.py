"""The topic registry: one table from each topic to its spec class, arguments and stream key.

Everything that reads or prints a spec or a stream key as text goes through this module, so the
CLI, the service's JSON protocol, its query-string filters and GraphQL accept the same names and
print the same forms:

* spec **words** (the CLI and anywhere a spec fits in one token)::

      md:265598                    md:AAPL:31,84,86         mh:265598:1d:5min
      ladder:DU1234567:265598      orders  trades  pnl      summary:DU1234567
      md:265598:exchange=NASDAQ    trades:days=3            orders:filters=Submitted,Filled

  The topic, then its positional arguments (:attr:`TopicEntry.positional`), then any other member
  as ``name=value``; lists are comma-separated, booleans ``true``/``false``.
  :func:`format_spec_word` prints the shortest word that :func:`parse_spec_word` reads back.
* spec **objects** (the service's JSON, GraphQL inputs): ``{"topic": "md", "conid": 265598}``,
  :func:`spec_from_args` / :func:`spec_to_args`.
* stream **keys** as text: ``md:265598``, ``sd:DU1234567``, ``or`` (:func:`parse_key`, the
  inverse of ``str(key)``), and the key a frame's wire topic refers to
  (:func:`key_from_topic`: ``smd+265598@NASDAQ`` -> ``md:265598``, protocol.md §1.5).

Topic names are the two-letter codes of :class:`Topic`; :func:`parse_topic` also takes the
subscribe codes (``smd``...) and the long names of :data:`TOPICS` (``orders``, ``summary``...).
Every mistake raises :class:`~ibstream.exceptions.InvalidArgument` naming what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass
from dataclasses import fields as dataclass_fields
from types import MappingProxyType
from typing import Any, Literal

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.combo import is_combo_text
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    MarketData,
    MarketHistory,
    OrderUpdate,
    Pnl,
    PriceLadder,
    Trade,
)
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    StreamKey,
    Topic,
    TradesSpec,
)
from ibstream.protocol.symbols import parse_instrument

__all__ = [
    "TOPICS",
    "SpecWord",
    "TopicEntry",
    "format_spec_word",
    "key_from_topic",
    "parse_key",
    "parse_spec_word",
    "parse_topic",
    "spec_from_args",
    "spec_from_dict",
    "spec_to_args",
    "topic_entry",
]

MemberKind = Literal["int", "str", "bool", "list"]

# Every spec member, once: how its value is written in a word and read from JSON.
_MEMBER_KINDS: dict[str, MemberKind] = {
    "conid": "int",
    "account": "str",
    "fields": "list",
    "exchange": "str",
    "period": "str",
    "bar": "str",
    "outside_rth": "bool",
    "source": "str",
    "format": "str",
    "filters": "list",
    "realtime_only": "bool",
    "days": "int",
    "keys": "list",
}
# IBKR's camel-case spellings (protocol.md §4.2, §4.5) accepted for the snake-case members.
_CAMEL = {"outsideRth": "outside_rth", "realtimeOnly": "realtime_only"}


@dataclass(frozen=True, slots=True)
class TopicEntry:
    """What the registry knows about one topic."""

    topic: Topic
    spec: type[Spec]
    event: type
    """The class of the stream's data events (``MarketData``, ``OrderUpdate``...)."""
    name: str
    """The long name: ``market_data``, ``orders``, ``summary``... (a word's alias)."""
    word: str
    """The first token of a spec word as printed (``md``, ``ladder``, ``orders``...)."""
    ident: Literal["conid", "account", None]
    """The spec member that is the stream key's ident (``None``: one stream per socket)."""
    positional: tuple[str, ...]
    """Members a word gives by position, in order."""
    required: tuple[str, ...]
    """Members without a default (the spec's positional arguments)."""
    members: tuple[str, ...]
    """Every member of the spec, in declaration order."""
    aliases: tuple[str, ...]
    """Other names :func:`parse_topic` accepts for this topic."""

    def key_of(self, ident: str) -> StreamKey:
        """The stream key of this topic for ``ident``, checked (see :func:`parse_key`)."""
        if self.ident is None:
            if ident:
                raise InvalidArgument("key", f"{self.topic.value!r} streams have no ident")
        elif not ident:
            what = "an account" if self.ident == "account" else "a conid"
            raise InvalidArgument("key", f"{self.topic.value!r} needs {what}")
        elif self.ident == "conid" and not (
            ident.isascii() and ident.isdigit() and ident[0] != "0"
        ):
            raise InvalidArgument(
                "key", f"the {self.topic.value!r} ident is a conid, got {ident!r}"
            )
        return StreamKey.of(self.topic, ident)


def _entry(
    spec: type[Spec],
    event: type,
    name: str,
    word: str,
    ident: Literal["conid", "account", None],
    positional: tuple[str, ...],
    aliases: tuple[str, ...],
) -> TopicEntry:
    members = tuple(f.name for f in dataclass_fields(spec))
    required = tuple(
        f.name
        for f in dataclass_fields(spec)
        if f.default is MISSING and f.default_factory is MISSING
    )
    return TopicEntry(
        spec.topic, spec, event, name, word, ident, positional, required, members, aliases
    )


_ENTRIES: tuple[TopicEntry, ...] = (
    _entry(MarketDataSpec, MarketData, "market_data", "md", "conid", ("conid", "fields"), ("smd",)),
    _entry(
        MarketHistorySpec,
        MarketHistory,
        "history",
        "mh",
        "conid",
        ("conid", "period", "bar"),
        ("smh",),
    ),
    _entry(
        PriceLadderSpec, PriceLadder, "ladder", "ladder", "account", ("account", "conid"), ("sbd",)
    ),
    _entry(OrdersSpec, OrderUpdate, "orders", "orders", None, (), ("sor",)),
    _entry(TradesSpec, Trade, "trades", "trades", None, (), ("str",)),
    _entry(PnlSpec, Pnl, "pnl", "pnl", None, (), ("spl",)),
    _entry(
        AccountSummarySpec, AccountSummary, "summary", "summary", "account", ("account",), ("ssd",)
    ),
    _entry(AccountLedgerSpec, AccountLedger, "ledger", "ledger", "account", ("account",), ("sld",)),
)

TOPICS: Mapping[Topic, TopicEntry] = MappingProxyType({e.topic: e for e in _ENTRIES})
"""Every topic's entry, in :class:`Topic` order."""

_BY_NAME: dict[str, TopicEntry] = {}
for _e in _ENTRIES:
    for _n in (_e.topic.value, _e.name, _e.word, *_e.aliases):
        _BY_NAME[_n] = _e
_CODES = frozenset(e.topic.value for e in _ENTRIES)
_NAMES = ", ".join(e.topic.value for e in _ENTRIES)
_WORDS = ", ".join(e.word for e in _ENTRIES)


def topic_entry(topic: Topic | str, *, aliases: bool = True) -> TopicEntry:
    """The entry of ``topic``: a :class:`Topic`, its code, or (``aliases``) any other name."""
    if isinstance(topic, Topic):
        return TOPICS[topic]
    text = str(topic).strip().lower()
    entry = _BY_NAME.get(text) if aliases or text in _CODES else None
    if entry is None:
        allowed = f"{_NAMES} or {_WORDS}" if aliases else _NAMES
        raise InvalidArgument("topic", f"must be one of {allowed}, got {topic!r}")
    return entry


def parse_topic(text: Topic | str, *, aliases: bool = True) -> Topic:
    """``"md"``, ``"smd"``, ``"market_data"`` -> ``Topic.MARKET_DATA`` (see :func:`topic_entry`)."""
    return topic_entry(text, aliases=aliases).topic


# -- stream keys -------------------------------------------------------------------------------


def parse_key(text: str) -> StreamKey:
    """``"md:265598"`` / ``"sd:DU1234567"`` / ``"or"`` -> :class:`StreamKey` (``str(key)`` back).

    The ident is checked against the topic: a conid for ``md``/``mh``, an account for
    ``bd``/``sd``/``ld``, nothing for ``or``/``tr``/``pl``.
    """
    if not isinstance(text, str):
        raise InvalidArgument("key", f"must be a string like 'md:265598', got {text!r}")
    topic, _, ident = text.strip().partition(":")
    return topic_entry(topic, aliases=False).key_of(ident)


def key_from_topic(topic: str | None) -> StreamKey | None:
    """The stream key a frame's wire topic refers to (``smd+265598`` -> ``md:265598``), if any.

    ``sbd+ACCT+CONID[+EXCH]`` maps to the account; ``smd+CONID@EXCH`` to the conid (§1.5, §4.0).
    """
    if not topic or len(topic) < 3 or topic[0] not in "su":
        return None
    try:
        kind = Topic(topic[1:3])
    except ValueError:
        return None
    rest = topic[3:]
    if TOPICS[kind].ident is None:
        return StreamKey.of(kind, "") if rest == "" or rest.startswith("+") else None
    if not rest.startswith("+") or len(rest) < 2:
        return None
    ident = rest[1:].split("+", 1)[0]
    if kind is Topic.MARKET_DATA or kind is Topic.MARKET_HISTORY:
        ident = ident.split("@", 1)[0]
    return StreamKey.of(kind, ident) if ident else None


# -- spec objects ------------------------------------------------------------------------------


def spec_from_args(topic: Topic | str, args: Mapping[str, Any]) -> Spec:
    """The spec of ``topic`` (any name :func:`parse_topic` takes) from its members; unknown
    members are an error (typos fail loudly).

    ``None`` values count as absent; lists may be any iterable (items become strings), and
    IBKR's camel-case spellings ``outsideRth``/``realtimeOnly`` are accepted.
    """
    entry = topic_entry(topic)
    values: dict[str, Any] = {
        _CAMEL.get(str(k), str(k)): v for k, v in args.items() if v is not None
    }
    unknown = set(values) - set(entry.members)
    if unknown:
        allowed = ", ".join(entry.members) or "nothing else"
        raise InvalidArgument(
            "spec",
            f"unknown member(s) {', '.join(sorted(unknown))} for topic "
            f"{entry.topic.value!r} (allowed: {allowed})",
        )
    for name, value in values.items():
        if (
            _MEMBER_KINDS[name] == "list"
            and not isinstance(value, str)
            and isinstance(value, Iterable)
        ):
            values[name] = tuple(str(v) for v in value)
    for name in entry.required:
        if name not in values:
            raise InvalidArgument(name, f"is required for topic {entry.topic.value!r}")
    positional = [values.pop(name) for name in entry.required]
    return entry.spec(*positional, **values)


def spec_from_dict(obj: object) -> Spec:
    """A spec from ``{"topic": ..., ...}`` (the service's JSON form of :func:`spec_to_args`)."""
    if not isinstance(obj, Mapping):
        raise InvalidArgument("spec", f"must be an object with a 'topic', got {obj!r}")
    args = dict(obj)
    topic = args.pop("topic", None)
    if topic is None:
        raise InvalidArgument("topic", f"must be one of {_NAMES}, got None")
    return spec_from_args(str(topic), args)


def spec_to_args(spec: Spec) -> dict[str, Any]:
    """``{"topic": ..., member: value...}`` with every member, tuples as lists (JSON-ready)."""
    out: dict[str, Any] = {"topic": spec.topic.value}
    for name in TOPICS[spec.topic].members:
        value = getattr(spec, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


# -- spec words --------------------------------------------------------------------------------


def _word_value(name: str, text: str) -> Any:
    kind = _MEMBER_KINDS[name]
    if kind == "int":
        if not (text.isascii() and text.lstrip("-").isdigit()):
            raise InvalidArgument(name, f"must be an integer, got {text!r}")
        return int(text)
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidArgument(name, f"must be true or false, got {text!r}")
        return lowered in ("true", "1", "yes")
    if kind == "list":
        items = tuple(i.strip() for i in text.split(",") if i.strip())
        if not items:
            raise InvalidArgument(name, "must name at least one comma-separated item")
        return items
    return text


@dataclass(frozen=True, slots=True)
class SpecWord:
    """A parsed spec word: the topic's entry and its arguments as text, not yet a spec.

    ``instrument`` is the conid argument as written: a symbol there (``md:AAPL``) is resolved by
    the caller and passed to :meth:`to_spec` as ``conid``.
    """

    text: str
    entry: TopicEntry
    args: tuple[tuple[str, str], ...]

    @property
    def instrument(self) -> str | None:
        return dict(self.args).get("conid")

    @property
    def symbol(self) -> str | None:
        """The instrument when it is a symbol the caller must resolve (not a conid, not a
        combo's ``SPREAD;;;LEG/RATIO,...`` string)."""
        inst = self.instrument
        if inst is None or inst.isdigit() or is_combo_text(inst):
            return None
        return inst

    def to_spec(self, conid: int | None = None) -> Spec:
        """The spec; ``conid`` replaces the written instrument (a resolved symbol)."""
        values: dict[str, Any] = {}
        for name, text in self.args:
            if name == "conid" and conid is not None:
                values[name] = conid
            elif name == "conid" and is_combo_text(text):
                values[name] = text  # MarketDataSpec takes the combo string itself
            else:
                values[name] = _word_value(name, text)
        return spec_from_args(self.entry.topic, values)


def parse_spec_word(text: str, *, symbols: bool = False) -> SpecWord:
    """Check the shape of a spec word (``md:265598:31,84``); see the module docstring.

    With ``symbols`` the conid argument may be a symbol (``md:AAPL``, resolved by the caller);
    otherwise the word is also turned into a spec once, so every argument is checked here.
    """
    if not isinstance(text, str):
        raise InvalidArgument("spec", f"must be a string like 'md:265598', got {text!r}")
    parts = [p.strip() for p in text.strip().split(":")]
    head = parts[0].lower()
    entry = _BY_NAME.get(head)
    if entry is None:
        raise InvalidArgument("spec", f"unknown stream {parts[0]!r}; one of {_WORDS}")
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in parts[1:]:
        if not part:
            raise InvalidArgument("spec", "empty argument")
        name, eq, value = part.partition("=")
        if not eq:
            if named:
                raise InvalidArgument("spec", f"argument {part!r} after a name=value option")
            positional.append(part)
            continue
        name = _CAMEL.get(name.strip(), name.strip())
        options = [
            m
            for m in entry.members
            if m not in entry.required and m not in entry.positional[: len(positional)]
        ]
        if name not in options:
            allowed = ", ".join(options) or "none"
            raise InvalidArgument(
                "spec", f"{entry.word} has no option {name!r} (allowed: {allowed})"
            )
        if name in named:
            raise InvalidArgument("spec", f"option {name!r} given twice")
        named[name] = value.strip()
    lo, hi = len(entry.required), len(entry.positional)
    if not lo <= len(positional) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise InvalidArgument("spec", f"{entry.word} takes {want} argument(s) after ':'")
    word = SpecWord(text, entry, (*zip(entry.positional, positional, strict=False), *named.items()))
    inst = word.instrument
    if inst is not None and is_combo_text(inst):
        if entry.topic is not Topic.MARKET_DATA:
            raise InvalidArgument("spec", f"a combo ({inst!r}) streams market data only (md:)")
    elif inst is not None and not (inst.isascii() and inst.isdigit() and inst[0] != "0"):
        if not symbols:
            raise InvalidArgument("conid", f"must be a positive contract id, got {inst!r}")
        try:
            parse_instrument(inst)  # the shared instrument grammar (ibstream.protocol.symbols)
        except InvalidArgument as exc:
            raise InvalidArgument(
                "spec", f"{inst!r} is neither a conid nor an instrument ({exc})"
            ) from None
    word.to_spec(1 if word.symbol is not None else None)  # check every other argument now
    return word


def format_spec_word(spec: Spec) -> str:
    """The shortest word :func:`parse_spec_word` reads back into ``spec``.

    Positional arguments are printed while they are needed (a default one is left out unless a
    later one differs), the other members only when they differ from their default.
    """
    entry = TOPICS[spec.topic]
    default: dict[str, Any] = {}
    for f in dataclass_fields(entry.spec):
        if f.name not in entry.required:
            default[f.name] = f.default
    positional: list[str] = []
    for name in entry.positional:
        value = getattr(spec, name)
        positional.append(_word_text(value))
    # drop trailing positional arguments that have their default value
    while positional and len(positional) > len(entry.required):
        name = entry.positional[len(positional) - 1]
        if getattr(spec, name) != default.get(name):
            break
        positional.pop()
    named = [
        f"{name}={_word_text(getattr(spec, name))}"
        for name in entry.members
        if name not in entry.positional and getattr(spec, name) != default.get(name)
    ]
    return ":".join([entry.word, *positional, *named])


def _word_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)
