"""Request bodies: every accepted form becomes an iterator of bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any, Union

BodyArg = Union[None, bytes, bytearray, memoryview, str, IO[Any], Iterable[Union[bytes, str]]]

# How much of a file is read at a time: large enough to fill an HTTP/2 frame
# of the default maximum size several times over.
FILE_CHUNK = 64 * 1024


def iter_body(body: BodyArg) -> Iterator[bytes]:
    """Yield the body as bytes: bytes, str (UTF-8), a file-like object, or an
    iterable of bytes or str."""
    if body is None:
        return
    if isinstance(body, (bytes, bytearray, memoryview)):
        yield bytes(body)
        return
    if isinstance(body, str):
        yield body.encode("utf-8")
        return
    read = getattr(body, "read", None)
    if callable(read):
        while True:
            chunk = read(FILE_CHUNK)
            if not chunk:
                return
            yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
    for item in body:
        if item:
            yield item.encode("utf-8") if isinstance(item, str) else bytes(item)


def known_length(body: BodyArg) -> int | None:
    """The body's length when it can be known without reading it."""
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray, memoryview)):
        return len(body)
    if isinstance(body, str):
        return len(body.encode("utf-8"))
    return None
