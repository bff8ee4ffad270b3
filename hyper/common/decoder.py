"""Content-Encoding decoders: gzip, deflate, and br or zstd when installed.

Theory of operation
-------------------
:func:`get_decoder` reads a Content-Encoding value and returns one object
with two methods: ``decompress(data)``, fed each piece of the body as it
arrives (any size, down to one byte), and ``flush()``, called once at the end
of the body. Both return decoded bytes. Any failure, including a body that
ends in the middle of a compressed stream, raises
:class:`~hyper.exceptions.ContentDecodingError` naming the coding, raised
from the library's own error.

RFC 9110 section 8.4: "If one or more encodings have been applied to a
representation, the sender that applied the encodings MUST generate a
Content-Encoding header field that lists the content codings in the order in
which they were applied." So ``gzip, br`` is undone br first, then gzip.

Codings hyper cannot undo (or ``identity`` alone) give ``None``: the caller
then passes the body through untouched rather than half-decoded.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from ..exceptions import ContentDecodingError

if TYPE_CHECKING:
    from typing import TypeAlias

    _Codings: TypeAlias = "str | bytes | None"

__all__ = ["ContentDecoder", "get_decoder", "supported_encodings"]


class ContentDecoder(Protocol):
    """What :func:`get_decoder` returns."""

    def decompress(self, data: bytes) -> bytes:
        """Decode the next piece of the body."""
        ...

    def flush(self) -> bytes:
        """Finish at the end of the body; raise if the data ended too early."""
        ...


def _import_first(*names: str) -> ModuleType | None:
    """The first of ``names`` that imports, or None: the codecs are optional."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# Both packages offer Decompressor().process(), .is_finished() and .error.
_brotli = _import_first("brotli", "brotlicffi")
_zstandard = _import_first("zstandard")


def _failure(coding: str, exc: BaseException) -> ContentDecodingError:
    return ContentDecodingError(f"Failed to decode {coding}-encoded body: {exc}")


def _truncated(coding: str) -> ContentDecodingError:
    return ContentDecodingError(
        f"Failed to decode {coding}-encoded body: the body ended inside the compressed data"
    )


class _GzipDecoder:
    """gzip (RFC 1952), including several members one after another.

    RFC 1952 section 2.2: "A gzip file consists of a series of "members"
    (compressed data sets)", so a new member may start where one ends. NUL
    bytes after a member are padding, as the gzip tool treats them.
    """

    coding = "gzip"

    def __init__(self) -> None:
        self._member = self._new_member()
        self._started = False  # any byte of the current member seen
        self._after_member = False  # a member has ended: padding may follow

    @staticmethod
    def _new_member() -> zlib._Decompress:
        # wbits 16 + MAX_WBITS: expect and check the gzip header and trailer.
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decompress(self, data: bytes) -> bytes:
        output = []
        while data:
            if self._after_member and not self._started:
                data = data.lstrip(b"\x00")
                if not data:
                    break
            self._started = True
            try:
                output.append(self._member.decompress(data))
            except zlib.error as exc:
                raise _failure(self.coding, exc) from exc
            if not self._member.eof:
                break
            data = self._member.unused_data
            self._member = self._new_member()
            self._started = False
            self._after_member = True
        return b"".join(output)

    def flush(self) -> bytes:
        if self._started:
            raise _truncated(self.coding)
        return b""


class _DeflateDecoder:
    """deflate: the zlib format (RFC 1950), or raw deflate (RFC 1951).

    RFC 9110 section 8.4.1.2 defines "deflate" as the zlib format, but some
    servers send raw deflate data. The first two bytes tell them apart: a
    zlib header names method 8 with a window of at most 32 KiB and makes a
    multiple of 31 (RFC 1950 section 2.2).
    """

    coding = "deflate"

    def __init__(self) -> None:
        self._stream: zlib._Decompress | None = None
        self._head = b""  # bytes held until the format is known

    @staticmethod
    def _is_zlib_header(head: bytes) -> bool:
        cmf, flg = head[0], head[1]
        return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0

    def decompress(self, data: bytes) -> bytes:
        if self._stream is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            wbits = zlib.MAX_WBITS if self._is_zlib_header(self._head) else -zlib.MAX_WBITS
            self._stream = zlib.decompressobj(wbits)
            data, self._head = self._head, b""
        if self._stream.eof and data:
            raise _failure(self.coding, ValueError("data after the end of the stream"))
        try:
            output = self._stream.decompress(data)
        except zlib.error as exc:
            raise _failure(self.coding, exc) from exc
        if self._stream.unused_data:
            raise _failure(self.coding, ValueError("data after the end of the stream"))
        return output

    def flush(self) -> bytes:
        if self._stream is None:
            if self._head:
                raise _truncated(self.coding)
            return b""
        if not self._stream.eof:
            raise _truncated(self.coding)
        return b""


class _BrotliDecoder:
    """br (RFC 7932), through the brotli or brotlicffi package."""

    coding = "br"

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._stream = module.Decompressor()
        self._started = False

    def decompress(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._started = True
        try:
            return bytes(self._stream.process(data))
        except self._module.error as exc:
            raise _failure(self.coding, exc) from exc

    def flush(self) -> bytes:
        if self._started and not self._stream.is_finished():
            raise _truncated(self.coding)
        return b""


class _ZstdDecoder:
    """zstd (RFC 8878), through the zstandard package, frame after frame.

    RFC 8878 section 3.1: "Zstandard compressed data is made up of one or
    more frames", so a new frame may start where one ends.
    """

    coding = "zstd"

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._frame = module.ZstdDecompressor().decompressobj()
        self._started = False  # any byte of the current frame seen

    def decompress(self, data: bytes) -> bytes:
        output = []
        while data:
            self._started = True
            try:
                output.append(bytes(self._frame.decompress(data)))
            except self._module.ZstdError as exc:
                raise _failure(self.coding, exc) from exc
            if not self._frame.eof:
                break
            data = bytes(self._frame.unused_data)
            self._frame = self._module.ZstdDecompressor().decompressobj()
            self._started = False
        return b"".join(output)

    def flush(self) -> bytes:
        if self._started:
            raise _truncated(self.coding)
        return b""


class _ChainDecoder:
    """Several codings, undone in the order given (the reverse of the header's)."""

    def __init__(self, decoders: list[ContentDecoder]) -> None:
        self._decoders = decoders

    def decompress(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.decompress(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = decoder.decompress(data) + decoder.flush()
        return data


def _factories() -> dict[str, Callable[[], ContentDecoder]]:
    factories: dict[str, Callable[[], ContentDecoder]] = {
        "gzip": _GzipDecoder,
        # RFC 9110 section 8.4.1.3: "A recipient SHOULD consider "x-gzip" to
        # be equivalent to "gzip"."
        "x-gzip": _GzipDecoder,
        "deflate": _DeflateDecoder,
    }
    brotli, zstandard = _brotli, _zstandard
    if brotli is not None:
        factories["br"] = lambda: _BrotliDecoder(brotli)
    if zstandard is not None:
        factories["zstd"] = lambda: _ZstdDecoder(zstandard)
    return factories


def supported_encodings() -> list[str]:
    """The codings hyper can decode, for an Accept-Encoding header."""
    return [name for name in _factories() if name != "x-gzip"]


def get_decoder(content_encoding: _Codings) -> ContentDecoder | None:
    """A decoder for a Content-Encoding value, or None if there is nothing to do.

    None means: no header, only ``identity``, or a coding hyper cannot undo
    (then the body is best delivered as it came).
    """
    if content_encoding is None:
        return None
    if isinstance(content_encoding, bytes):
        content_encoding = content_encoding.decode("latin-1")
    # RFC 9110 section 8.4.1: "All content codings are case-insensitive".
    codings = [c.strip(" \t").lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    factories = _factories()
    if not codings or any(c not in factories for c in codings):
        return None
    decoders = [factories[c]() for c in reversed(codings)]
    return decoders[0] if len(decoders) == 1 else _ChainDecoder(decoders)
