"""Content-Encoding decoders: gzip, deflate, and br or zstd when installed.

Theory of operation
-------------------
:func:`get_decoder` reads a Content-Encoding value and returns one object
with three members: ``decompress(data, max_length=-1)``, fed each piece of
the body as it arrives (any size, down to one byte, or b""), ``has_pending``,
and ``flush()``, called once at the end of the body. Any failure, including a
body that ends in the middle of a compressed stream, raises
:class:`~hyper.exceptions.ContentDecodingError` naming the coding, raised
from the library's own error.

Bounded output. A few kilobytes of compressed data can decode to gigabytes
(a "decompression bomb"), so ``decompress`` returns at most ``max_length``
decoded bytes (everything when it is negative) and keeps the input it has not
decoded yet for the next call; ``has_pending`` says that calling
``decompress(b"", n)`` may give more before new input is needed. The caller
asks for what it can hold: ``read(amt)`` asks for ``amt`` bytes. Each
library's way of stopping early:

* zlib (gzip, deflate): ``decompressobj().decompress(data, max_length)``
  leaves the rest of the input in ``unconsumed_tail``.
* brotli >= 1.2: ``Decompressor.process(data, output_buffer_limit=n)``; the
  limit stops the output buffer from growing but may be passed by up to one
  growth step (about 32 KiB, or the size of the limit), so the surplus is kept
  here. Older brotli and brotlicffi cannot stop early: br is then not offered.
* zstd: ``ZstdDecompressor.decompress(data, max_length)`` of
  ``compression.zstd`` (Python 3.14) or its backport ``backports.zstd``. The
  ``zstandard`` package's decompressors cannot stop early, so it is not used.

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

#: How much one coding of a chain (``gzip, br``) decodes at a time for the
#: next one: the bound on what a chain holds between its codings.
CHAIN_STEP = 64 * 1024


class ContentDecoder(Protocol):
    """What :func:`get_decoder` returns."""

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Take the next piece of the body; return at most ``max_length``
        decoded bytes (all there are when negative), keeping the rest."""
        ...

    @property
    def has_pending(self) -> bool:
        """True when ``decompress(b"", n)`` may give more without new input."""
        ...

    def flush(self) -> bytes:
        """Finish at the end of the body: the rest of the output, all of it.
        Raises if the data ended too early."""
        ...


def _import_first(*names: str) -> ModuleType | None:
    """The first of ``names`` that imports, or None: the codecs are optional."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _bounded_brotli(module: ModuleType | None) -> ModuleType | None:
    """``module`` if its decompressor can stop early (brotli >= 1.2), else None."""
    if module is None or not hasattr(module.Decompressor, "can_accept_more_data"):
        return None
    return module


_brotli = _bounded_brotli(_import_first("brotli"))
# The standard library's module first (Python 3.14), then its backport.
_zstd = _import_first("compression.zstd", "backports.zstd")


def _failure(coding: str, exc: BaseException) -> ContentDecodingError:
    return ContentDecodingError(f"Failed to decode {coding}-encoded body: {exc}")


def _truncated(coding: str) -> ContentDecodingError:
    return ContentDecodingError(
        f"Failed to decode {coding}-encoded body: the body ended inside the compressed data"
    )


def _after_end(coding: str) -> ContentDecodingError:
    return _failure(coding, ValueError("data after the end of the stream"))


class _ZlibStream:
    """One zlib decompressor that stops at ``max_length`` and keeps its input.

    zlib may also keep output it had no room for once the whole input is
    taken (the rest of a long back-reference), so a call that filled its
    limit counts as pending until one that did not.
    """

    def __init__(self, wbits: int) -> None:
        self.stream = zlib.decompressobj(wbits)
        self.input = b""
        self.full = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        """At most ``max_length`` (> 0, or < 0 for all) bytes of output."""
        data, self.input = self.input + data, b""
        # zlib's own max_length 0 means "no limit".
        output = self.stream.decompress(data, max(max_length, 0))
        self.input = self.stream.unconsumed_tail
        self.full = len(output) == max_length
        return output

    @property
    def has_pending(self) -> bool:
        return bool(self.input) or self.full


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
        self._input = b""  # bytes after a member, not given to the next one yet

    @staticmethod
    def _new_member() -> _ZlibStream:
        # wbits 16 + MAX_WBITS: expect and check the gzip header and trailer.
        return _ZlibStream(16 + zlib.MAX_WBITS)

    @property
    def has_pending(self) -> bool:
        return bool(self._input) or self._member.has_pending

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        data, self._input = self._input + data, b""
        output: list[bytes] = []
        remaining = max_length
        while (data or self._member.has_pending) and remaining != 0:
            if self._after_member and not self._started:
                data = data.lstrip(b"\x00")
                if not data:
                    break
            self._started = True
            try:
                piece = self._member.decompress(data, remaining)
            except zlib.error as exc:
                raise _failure(self.coding, exc) from exc
            output.append(piece)
            remaining -= len(piece)
            data = b""
            if self._member.stream.eof:
                data = self._member.stream.unused_data
                self._member = self._new_member()
                self._started = False
                self._after_member = True
        self._input = data
        return b"".join(output)

    def flush(self) -> bytes:
        output = self.decompress(b"")
        if self._started:
            raise _truncated(self.coding)
        return output


class _DeflateDecoder:
    """deflate: the zlib format (RFC 1950), or raw deflate (RFC 1951).

    RFC 9110 section 8.4.1.2 defines "deflate" as the zlib format, but some
    servers send raw deflate data. The first two bytes tell them apart: a
    zlib header names method 8 with a window of at most 32 KiB and makes a
    multiple of 31 (RFC 1950 section 2.2).
    """

    coding = "deflate"

    def __init__(self) -> None:
        self._stream: _ZlibStream | None = None
        self._head = b""  # bytes held until the format is known

    @staticmethod
    def _is_zlib_header(head: bytes) -> bool:
        cmf, flg = head[0], head[1]
        return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0

    @property
    def has_pending(self) -> bool:
        return self._stream is not None and self._stream.has_pending

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._stream is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            wbits = zlib.MAX_WBITS if self._is_zlib_header(self._head) else -zlib.MAX_WBITS
            self._stream = zlib_stream = _ZlibStream(wbits)
            data, self._head = self._head, b""
        else:
            zlib_stream = self._stream
        if zlib_stream.stream.eof and data:
            raise _after_end(self.coding)
        if max_length == 0:
            zlib_stream.input += data
            return b""
        try:
            output = zlib_stream.decompress(data, max_length)
        except zlib.error as exc:
            raise _failure(self.coding, exc) from exc
        if zlib_stream.stream.unused_data:
            raise _after_end(self.coding)
        return output

    def flush(self) -> bytes:
        if self._stream is None:
            if self._head:
                raise _truncated(self.coding)
            return b""
        output = self.decompress(b"")
        if not self._stream.stream.eof:
            raise _truncated(self.coding)
        return output


class _BrotliDecoder:
    """br (RFC 7932), through the brotli package (1.2 or later).

    ``process`` must be given only b"" until ``can_accept_more_data()``
    says the output it held back is out, so new input waits here meanwhile.
    """

    coding = "br"

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._stream = module.Decompressor()
        self._started = False
        self._input = b""
        self._surplus = b""  # output past the caller's limit (see the module doc)

    @property
    def has_pending(self) -> bool:
        return bool(self._surplus or self._input) or not self._stream.can_accept_more_data()

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        self._input += data
        output = [self._surplus]
        self._surplus = b""
        if 0 <= max_length <= len(output[0]):
            output[0], self._surplus = output[0][:max_length], output[0][max_length:]
            return output[0]
        remaining = max_length - len(output[0]) if max_length > 0 else -1
        while remaining != 0:
            accepting = self._stream.can_accept_more_data()
            if accepting and not self._input:
                break
            feed = b""
            if accepting:
                feed, self._input = self._input, b""
                self._started = True
            try:
                if remaining > 0:
                    piece = self._stream.process(feed, output_buffer_limit=remaining)
                else:
                    piece = self._stream.process(feed)
            except self._module.error as exc:
                raise _failure(self.coding, exc) from exc
            if remaining > 0:
                piece, self._surplus = piece[:remaining], piece[remaining:]
                remaining -= len(piece)
            output.append(piece)
            if self._surplus:
                break
        return b"".join(output)

    def flush(self) -> bytes:
        output = self.decompress(b"")
        if self._started and not self._stream.is_finished():
            raise _truncated(self.coding)
        return output


class _ZstdDecoder:
    """zstd (RFC 8878), through compression.zstd or backports.zstd, frame
    after frame.

    RFC 8878 section 3.1: "Zstandard compressed data is made up of one or
    more frames", so a new frame may start where one ends.
    """

    coding = "zstd"

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._frame = module.ZstdDecompressor()
        self._started = False  # any byte of the current frame seen
        self._input = b""  # bytes after a frame, not given to the next one yet

    @property
    def has_pending(self) -> bool:
        return bool(self._input) or not self._frame.needs_input

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        data, self._input = self._input + data, b""
        output: list[bytes] = []
        remaining = max_length
        while (data or not self._frame.needs_input) and remaining != 0:
            self._started = True
            try:
                piece = self._frame.decompress(data, remaining)
            except self._module.ZstdError as exc:
                raise _failure(self.coding, exc) from exc
            output.append(piece)
            remaining -= len(piece)
            data = b""
            if self._frame.eof:
                data = self._frame.unused_data
                self._frame = self._module.ZstdDecompressor()
                self._started = False
        self._input = data
        return b"".join(output)

    def flush(self) -> bytes:
        output = self.decompress(b"")
        if self._started:
            raise _truncated(self.coding)
        return output


class _ChainDecoder:
    """Several codings, undone in the order given (the reverse of the header's).

    With a limit, output is pulled from the last coding; each coding before
    it is asked for :data:`CHAIN_STEP` bytes only when the next one has
    nothing left to work on, so no stage holds a bomb's worth of output.
    """

    def __init__(self, decoders: list[ContentDecoder]) -> None:
        self._decoders = decoders

    @property
    def has_pending(self) -> bool:
        return any(decoder.has_pending for decoder in self._decoders)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if max_length < 0:
            for decoder in self._decoders:
                data = decoder.decompress(data)
            return data
        # Queue the new input in the first coding without decoding any yet.
        self._decoders[0].decompress(data, 0)
        return self._pull(len(self._decoders) - 1, max_length)

    def _pull(self, index: int, limit: int) -> bytes:
        """Up to ``limit`` bytes out of decoder ``index``, feeding it from the
        ones before as it runs dry; b"" when they all need new input."""
        decoder = self._decoders[index]
        output = decoder.decompress(b"", limit)
        while not output and not decoder.has_pending and index > 0:
            feed = self._pull(index - 1, CHAIN_STEP)
            if not feed:
                break
            output = decoder.decompress(feed, limit)
        return output

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
    brotli, zstd = _brotli, _zstd
    if brotli is not None:
        factories["br"] = lambda: _BrotliDecoder(brotli)
    if zstd is not None:
        factories["zstd"] = lambda: _ZstdDecoder(zstd)
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
