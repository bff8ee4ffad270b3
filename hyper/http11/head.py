"""The request head, written as the caller gave it (no I/O here).

h11 refuses field names that are not RFC 9110 tokens, but http.client --
and so every server requests and HTTPie were tested against -- sends any
name without a colon, whitespace, CR or LF (``baz[]``, say). So hyper writes
the request head itself, and gives h11 a copy holding only the fields that
decide the framing and the connection's fate; h11 keeps tracking the
exchange's state, frames the request body and reads the response.
"""

from __future__ import annotations

# The fields h11 needs to know about the request: RFC 9112 section 6
# (Content-Length, Transfer-Encoding: how the body is framed), section 9.6
# (Connection: close), section 3.2 (Host: required), RFC 9110 section
# 10.1.1 (Expect: 100-continue) and 7.8 (Upgrade). The names are tokens, so
# h11 accepts them.
FRAMING_FIELDS = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"})


def for_h11(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The fields h11 must see (see FRAMING_FIELDS)."""
    return [(name, value) for name, value in headers if name.lower() in FRAMING_FIELDS]


def request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request line and the header section, Host first.

    RFC 9110 section 7.2: "a user agent SHOULD generate Host as the first
    field line following the request-line" (as http.client does).
    """
    hosts = [field for field in headers if field[0].lower() == b"host"]
    others = [field for field in headers if field[0].lower() != b"host"]
    lines = [b"%s %s HTTP/1.1" % (method, target)]
    lines.extend(b"%s: %s" % field for field in hosts + others)
    return b"\r\n".join(lines) + b"\r\n\r\n"
