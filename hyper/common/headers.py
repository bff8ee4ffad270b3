"""``HTTPHeaderMap``: HTTP header fields as hyper 0.7 documented them.

Theory of operation
-------------------
Header fields are kept as a plain list of ``(name, value)`` byte pairs, in
the order and letter case in which they were added, so that ``iter_raw()``
can always reproduce exactly what was sent or received. Everything else is
computed from that list on access:

* names compare case-insensitively (RFC 9110 section 5.1: "Field names are
  case-insensitive"), and are emitted lower-cased;
* ``map[name]`` returns every value of that name, in order, with
  comma-separated list values split into their members (see
  :func:`_split_list_value` for the fields that are never split);
* iterating the map yields hyper 0.7's canonical form, ``(lower-case name,
  value)`` tuples with list values split as ``map[name]`` splits them;
  ``items()``, ``keys()``, ``values()`` and ``len()`` follow those pairs,
  so ``len(map.keys()) == len(map)``.

Strings are encoded as UTF-8 on the way in; bytes always come out. Lookups
are O(n), which is fine for the few dozen fields a message carries.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing import TypeAlias

    # These aliases exist for the type checker only, so that no "X | Y" is
    # evaluated at run time on Python 3.9.

    #: A header name or value as accepted: str (encoded as UTF-8) or bytes.
    _Text: TypeAlias = "str | bytes"
    #: What ``__setitem__`` accepts: one value, or several (as ``map[name]``
    #: returns them).
    _ValueInput: TypeAlias = "_Text | Iterable[_Text]"
    #: What the constructor, ``merge`` and ``==`` accept. Mapping is invariant
    #: in its key type, hence one spelling per key type.
    HeadersInput: TypeAlias = (
        "HTTPHeaderMap | Mapping[str, _ValueInput] | Mapping[bytes, _ValueInput]"
        " | Mapping[_Text, _ValueInput] | Iterable[tuple[_Text, _ValueInput]]"
    )

__all__ = ["HTTPHeaderMap"]

_T = TypeVar("_T")

#: ``pop()`` without a default: a missing name raises KeyError.
_NO_DEFAULT: Any = object()

# RFC 9110 section 5.6.3: optional whitespace is spaces and horizontal tabs.
_OWS = b" \t"

# Fields whose value is not a comma-separated list, or whose commas do not
# separate list members, so that splitting on commas would corrupt them.
#
# RFC 9110 section 5.3 allows combining (and so splitting) field lines only
# for fields defined as a list, and singles out Set-Cookie: "In practice, the
# "Set-Cookie" header field ([COOKIE]) often appears in a response message
# across multiple field lines and does not use the list syntax ... recipients
# ought to handle "Set-Cookie" as a special case". Its Expires attribute is an
# HTTP-date, which contains a comma ("Sun, 06 Nov 1994 08:49:37 GMT").
#
# The same date syntax (RFC 9110 section 5.6.7) makes Date, Expires,
# Last-Modified, If-Modified-Since, If-Unmodified-Since, If-Range and
# Retry-After single values with a comma inside. User-Agent and Server carry
# comments such as "(KHTML, like Gecko)" (section 10.1.5). The authentication
# fields separate auth-params with commas (section 11.2), so a naive split
# would tear one challenge or credential apart.
_NOT_LISTS = frozenset(
    {
        b"set-cookie",
        b"date",
        b"expires",
        b"last-modified",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        b"retry-after",
        b"user-agent",
        b"server",
        b"www-authenticate",
        b"proxy-authenticate",
        b"authorization",
        b"proxy-authorization",
    }
)


def _to_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"Header {what} must be str or bytes, not {type(value).__name__}")


def _values_of(value: object) -> list[bytes]:
    """One value, or an iterable of values (as ``map[name]`` returns), as bytes."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return [_to_bytes(value, "value")]
    if isinstance(value, Iterable):
        return [_to_bytes(item, "value") for item in value]
    return [_to_bytes(value, "value")]


def _split_list_value(name: bytes, value: bytes) -> list[bytes]:
    """Split a field value into its list members (RFC 9110 section 5.6.1).

    Commas inside a quoted-string (section 5.6.4) do not separate members.
    Empty members are dropped, as section 5.6.1 tells recipients to ignore
    them; a value that is empty altogether stays a single empty value.
    """
    if name in _NOT_LISTS:
        return [value]
    members: list[bytes] = []
    start = 0
    in_quotes = False
    escaped = False
    for index, byte in enumerate(value):
        if escaped:
            escaped = False
        elif in_quotes and byte == 0x5C:  # backslash: quoted-pair
            escaped = True
        elif byte == 0x22:  # DQUOTE
            in_quotes = not in_quotes
        elif byte == 0x2C and not in_quotes:  # comma
            members.append(value[start:index])
            start = index + 1
    members.append(value[start:])
    kept = [member.strip(_OWS) for member in members if member.strip(_OWS)]
    return kept or [b""]


class _CanonicalView(abc.ABC):
    """A live view of the canonical pairs: ``(lower-case name, value)`` per
    list member, as iterating the map yields them (hyper 0.7's ``keys()``,
    ``values()`` and ``items()`` all follow these pairs)."""

    def __init__(self, headers: HTTPHeaderMap) -> None:
        self._headers = headers

    def __len__(self) -> int:
        return len(self._headers)

    @abc.abstractmethod
    def __iter__(self) -> Iterator[object]:
        """What the view shows of each canonical pair."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


class _KeysView(_CanonicalView):
    """The lower-case name of each canonical pair (duplicates kept)."""

    def __iter__(self) -> Iterator[bytes]:
        for name, _ in self._headers:
            yield name

    def __contains__(self, key: object) -> bool:
        return key in self._headers


class _ValuesView(_CanonicalView):
    """The value of each canonical pair."""

    def __iter__(self) -> Iterator[bytes]:
        for _, value in self._headers:
            yield value

    def __contains__(self, value: object) -> bool:
        return any(value == stored for stored in self)


class _ItemsView(_CanonicalView):
    """The canonical pairs themselves."""

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self._headers)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        try:
            pair = (_to_bytes(item[0], "name").lower(), _to_bytes(item[1], "value"))
        except TypeError:
            return False
        return pair in list(self)


class HTTPHeaderMap:
    """A structure that contains HTTP headers (hyper 0.7's public API).

    Duplicate names are kept, names compare case-insensitively, and order is
    preserved. ``map[name]`` returns the list of values for ``name`` with
    comma-separated values split; ``map[name] = value`` *appends* a field;
    ``del map[name]`` removes every field of that name.

    As hyper 0.7 documents, iterating the map yields headers in canonical
    form: ``(name, value)`` tuples with the name in lower case and
    comma-separated list values split into their members (one tuple per
    member, values otherwise as received). ``items()`` iterates the same
    tuples, ``keys()`` their names and ``values()`` their values, duplicates
    included, so each has ``len()`` entries. ``iter_raw()`` gives the fields
    exactly as added. Because iteration yields pairs rather than names, the
    map is not a ``collections.abc.Mapping``, though it has the mapping
    methods (``get``, ``pop``, ``setdefault``, ``update``, ...).

    The constructor takes any number of positional sources (a dict, another
    ``HTTPHeaderMap``, or an iterable of ``(name, value)`` pairs) and keyword
    arguments, appended in that order.
    """

    # Mutable, compared by content: not hashable (as a dict is not).
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, *args: HeadersInput, **kwargs: _ValueInput) -> None:
        self._items: list[tuple[bytes, bytes]] = []
        for source in args:
            self.merge(source)
        self.merge(kwargs)

    # -- the mapping methods --------------------------------------------------

    def __getitem__(self, key: _Text) -> list[bytes]:
        """Every value of ``key`` in order, comma-separated lists split."""
        wanted = _to_bytes(key, "name").lower()
        values: list[bytes] = []
        found = False
        for name, value in self._items:
            if name.lower() == wanted:
                found = True
                values.extend(_split_list_value(wanted, value))
        if not found:
            raise KeyError(key)
        return values

    def __setitem__(self, key: _Text, value: _ValueInput) -> None:
        """Append a field (or one field per value, given several values)."""
        name = _to_bytes(key, "name")
        for item in _values_of(value):
            self._items.append((name, item))

    def __delitem__(self, key: _Text) -> None:
        """Remove every field named ``key``; KeyError if there is none."""
        wanted = _to_bytes(key, "name").lower()
        kept = [(name, value) for name, value in self._items if name.lower() != wanted]
        if len(kept) == len(self._items):
            raise KeyError(key)
        self._items = kept

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """The canonical pairs: ``(lower-case name, value)``, lists split."""
        for name, value in list(self._items):
            lower = name.lower()
            for member in _split_list_value(lower, value):
                yield lower, member

    def __len__(self) -> int:
        """The number of canonical pairs (as ``keys()`` has)."""
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        """True if any field is named ``key`` (in any letter case)."""
        try:
            wanted = _to_bytes(key, "name").lower()
        except TypeError:
            return False
        return any(name.lower() == wanted for name, _ in self._items)

    def keys(self) -> _KeysView:
        """The lower-cased names of the canonical pairs, duplicates kept."""
        return _KeysView(self)

    def values(self) -> _ValuesView:
        """The values of the canonical pairs, matching ``keys()``."""
        return _ValuesView(self)

    def items(self) -> _ItemsView:
        """The canonical pairs, as iteration yields them."""
        return _ItemsView(self)

    @overload
    def get(self, key: _Text) -> list[bytes] | None: ...

    @overload
    def get(self, key: _Text, default: _T) -> list[bytes] | _T: ...

    def get(self, key: _Text, default: Any = None) -> Any:
        """Like ``map[key]`` (a list of values), or ``default`` if absent."""
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, other: Any = (), /, **kwargs: _ValueInput) -> None:
        """Append the fields of ``other`` and ``kwargs``; the same as :meth:`merge`.

        The inherited ``MutableMapping.update`` would copy
        ``other[name]`` once per duplicate name, multiplying repeated fields.
        """
        self.merge(other)
        self.merge(kwargs)

    def clear(self) -> None:
        """Remove every field."""
        self._items = []

    @overload
    def pop(self, key: _Text) -> list[bytes]: ...

    @overload
    def pop(self, key: _Text, default: _T) -> list[bytes] | _T: ...

    def pop(self, key: _Text, default: Any = _NO_DEFAULT) -> Any:
        """Remove every field named ``key``; return their values as ``map[key]``
        would, else ``default`` (KeyError without one)."""
        try:
            values = self[key]
        except KeyError:
            if default is _NO_DEFAULT:
                raise
            return default
        del self[key]
        return values

    def popitem(self) -> tuple[bytes, list[bytes]]:
        """Remove every field of the first name; ``(name, map[name])``."""
        if not self._items:
            raise KeyError("popitem(): the header map is empty")
        name = self._items[0][0].lower()
        return name, self.pop(name)

    def setdefault(self, key: _Text, default: _Text) -> list[bytes] | _Text:
        """``map[key]`` if present, else append ``key: default`` and return it."""
        if key in self:
            return self[key]
        self[key] = default
        return default

    # -- hyper's additions ----------------------------------------------------

    def getlist(self, key: _Text) -> list[bytes]:
        """The raw values of ``key`` as they were added (never split); [] if absent."""
        wanted = _to_bytes(key, "name").lower()
        return [value for name, value in self._items if name.lower() == wanted]

    def iter_raw(self) -> Iterator[tuple[bytes, bytes]]:
        """``(name, value)`` pairs exactly as added: original case, in order."""
        return iter(list(self._items))

    def merge(self, other: HeadersInput) -> None:
        """Append the fields of another map, a dict, or an iterable of pairs."""
        if isinstance(other, HTTPHeaderMap):
            # A snapshot, so that merging a map into itself terminates.
            self._items.extend(list(other._items))
            return
        pairs: Iterable[object] = other.items() if isinstance(other, Mapping) else other
        for pair in pairs:
            name, value = _as_pair(pair)
            self[name] = value

    def replace(self, key: _Text, value: _Text) -> None:
        """Remove every field named ``key`` and put one ``value`` in their place.

        The new field takes the position of the first removed one, so the
        order of the other fields is kept; if ``key`` was absent it is
        appended, as ``map[key] = value`` would.
        """
        wanted = _to_bytes(key, "name").lower()
        new = (_to_bytes(key, "name"), _to_bytes(value, "value"))
        position: int | None = None
        kept: list[tuple[bytes, bytes]] = []
        for name, stored in self._items:
            if name.lower() != wanted:
                kept.append((name, stored))
            elif position is None:
                position = len(kept)
        kept.insert(len(kept) if position is None else position, new)
        self._items = kept

    # -- comparison and display ----------------------------------------------

    def _canonical(self) -> dict[bytes, list[bytes]]:
        grouped: dict[bytes, list[bytes]] = {}
        for name, value in self._items:
            grouped.setdefault(name.lower(), []).append(value)
        return grouped

    def __eq__(self, other: object) -> bool:
        """Equal when every name has the same values in the same order.

        Name case and the interleaving of *different* names do not matter
        (RFC 9110 section 5.3: "The order in which field lines with differing
        field names are received in a section is not significant").
        """
        if isinstance(other, HTTPHeaderMap):
            return self._canonical() == other._canonical()
        if isinstance(other, (Mapping, list, tuple)):
            try:
                converted = HTTPHeaderMap(other)
            except (TypeError, ValueError):
                return NotImplemented
            return self._canonical() == converted._canonical()
        return NotImplemented

    def __repr__(self) -> str:
        return f"HTTPHeaderMap({self._items!r})"


def _as_pair(pair: object) -> tuple[_Text, _ValueInput]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"Expected a (name, value) pair, got {pair!r}")
    name, value = pair
    return name, value
