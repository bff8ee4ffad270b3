"""Small helpers shared by the HTTP/1.1 and HTTP/2 connections: no I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, Union

from ..exceptions import InvalidHeaderError, InvalidURLError

HeaderValue = Union[str, bytes]


class RawHeaders(Protocol):
    """What hyper takes from an HTTPHeaderMap given as headers."""

    def iter_raw(self) -> Iterator[tuple[bytes, bytes]]: ...


# (Mapping's key type is invariant: a dict[str, str] is a Mapping[str, ...]
# but not a Mapping[str | bytes, ...], so each key type is listed.)
HeadersArg = Union[
    None,
    RawHeaders,
    Mapping[str, HeaderValue],
    Mapping[bytes, HeaderValue],
    Mapping[HeaderValue, HeaderValue],
    Iterable[tuple[HeaderValue, HeaderValue]],
]

# RFC 9113 section 8.2.2: "An endpoint MUST NOT generate an HTTP/2 message
# containing connection-specific header fields." These are the ones HTTP/1.1
# clients commonly send; hyper drops them (and "te" unless it is "trailers").
CONNECTION_SPECIFIC_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)

# RFC 9110 section 5.5: field values must not contain CR, LF or NUL. Letting
# them through would allow header injection on HTTP/1.1.
_FORBIDDEN_VALUE_BYTES = (b"\r", b"\n", b"\x00")
# What cannot be in an HTTP/1.1 field name whatever the grammar says
# (RFC 9112 section 5.1: "No whitespace is allowed between the field name
# and colon").
_FIELD_LINE_BREAKERS = frozenset(b": \t\r\n\x0b\x0c\x00")
# RFC 9110 section 5.1: a field name is a token.
_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def to_bytestring(value: HeaderValue) -> bytes:
    """Return ``value`` as bytes, encoding a str as UTF-8."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def to_native_string(value: HeaderValue) -> str:
    """Return ``value`` as str, decoding bytes as latin-1 (as http.client does)."""
    if isinstance(value, str):
        return value
    return value.decode("latin-1")


def validate_header(name: bytes, value: bytes, *, http11: bool = False) -> None:
    """Refuse a header that would corrupt the message, before anything is sent.

    With ``http11`` a name need not be a token: like http.client, only what
    would break the field line (a colon, whitespace, CR, LF, NUL) is refused,
    so names such as ``baz[]`` that servers accept go out as given.
    """
    if not name:
        raise InvalidHeaderError("Header name must not be empty")
    if http11 and not _FIELD_LINE_BREAKERS.isdisjoint(name):
        raise InvalidHeaderError(
            f"Invalid header name {name!r}: it holds a colon, whitespace, CR, LF or NUL")
    if not http11 and not _TOKEN_CHARS.issuperset(name):
        raise InvalidHeaderError(f"Invalid header name {name!r}: not an HTTP token")
    for bad in _FORBIDDEN_VALUE_BYTES:
        if bad in value:
            raise InvalidHeaderError(
                f"Invalid value for header {name!r}: it contains {bad!r}"
            )


def normalize_headers(headers: HeadersArg, *, http11: bool = False) -> list[tuple[bytes, bytes]]:
    """Turn any accepted headers argument into validated (name, value) bytes pairs.

    Names keep their case here; the HTTP/2 path lower-cases them. ``http11``:
    see :func:`validate_header`.
    """
    if headers is None:
        return []
    if hasattr(headers, "iter_raw"):
        # An HTTPHeaderMap: keep every field line, in its original case.
        pairs: Iterable[tuple[HeaderValue, HeaderValue]] = headers.iter_raw()
    elif isinstance(headers, Mapping):
        pairs = headers.items()
    else:
        pairs = headers
    out = []
    for name, value in pairs:
        bname = to_bytestring(name).strip()
        bvalue = to_bytestring(value).strip()
        validate_header(bname, bvalue, http11=http11)
        out.append((bname, bvalue))
    return out


def split_host_port(host: str, port: int | None, default_port: int) -> tuple[str, int]:
    """Split ``host`` that may carry ``:port`` ("example.com:8443", "[::1]:443")."""
    if not host:
        raise InvalidURLError("No host given")
    parsed_port: int | None = None
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise InvalidURLError(f"Invalid IPv6 host {host!r}")
        rest = host[end + 1 :]
        name = host[1:end]
        if rest:
            parsed_port = _parse_port(host, rest)
    elif host.count(":") == 1:
        name, _, rest = host.partition(":")
        parsed_port = _parse_port(host, ":" + rest)
    else:
        # A bare IPv6 address ("::1") or a plain name.
        name = host
    final = port if port is not None else parsed_port
    if final is None:
        final = default_port
    if not 0 < int(final) < 65536:
        raise InvalidURLError(f"Port out of range: {final}")
    return name, int(final)


def _parse_port(host: str, rest: str) -> int:
    if not rest.startswith(":") or not rest[1:].isdigit():
        raise InvalidURLError(f"Invalid port in {host!r}")
    return int(rest[1:])


def authority(host: str, port: int, secure: bool) -> str:
    """The ``host[:port]`` form used for :authority and Host, omitting the default port."""
    shown = f"[{host}]" if ":" in host else host
    if port == (443 if secure else 80):
        return shown
    return f"{shown}:{port}"
