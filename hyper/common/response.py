"""What HTTP/1.1 and HTTP/2 responses share: buffering, decoding, release.

A protocol-specific response only says how to get the next raw piece of the
body (``_next_piece``) and how to abandon the rest (``_abandon``). Everything
a user calls (``read``, ``read_chunked``, iteration, ``close``) lives here.

Decoded bytes held in memory are bounded: ``read(amt)`` asks the decoder for
at most what is missing to make ``amt``, and ``read_chunked`` for at most
:data:`DECODED_PIECE` per piece, so a few kilobytes of a decompression bomb
never become gigabytes in memory (the decoder keeps the compressed rest).
Only ``read()`` with no amount, which asks for the whole body, holds it whole.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Callable

from .decoder import ContentDecoder, get_decoder
from .headers import HTTPHeaderMap

#: The most decoded bytes ``read_chunked`` yields at once.
DECODED_PIECE = 64 * 1024


class BaseResponse(abc.ABC):
    """A response whose body is read lazily from its connection."""

    #: 20 for HTTP/2, 11 for HTTP/1.1 (the numbers urllib3 and HTTPie use).
    version: int = 0

    def __init__(self, status: int, reason: str, headers: HTTPHeaderMap) -> None:
        #: The status code returned by the server.
        self.status = status
        #: The reason phrase ("" on HTTP/2, which carries none).
        self.reason = reason
        #: The response headers (HTTPHeaderMap), assigned once.
        self.headers = headers
        self._decoder: ContentDecoder | None = None
        self._decoder_made = False
        self._buffer = bytearray()
        self._body_done = False
        self._closed = False
        self._released = False
        self._release_lock = threading.Lock()
        self._release_callbacks: list[Callable[[], None]] = []

    # -- to be provided by the protocol ----------------------------------

    @abc.abstractmethod
    def _next_piece(self) -> bytes | None:
        """The next piece of the raw body (may be b""), or None at its end."""

    @abc.abstractmethod
    def _abandon(self) -> None:
        """Stop receiving the body: the caller no longer wants it."""

    # -- public API -------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the body has been read to its end or the response closed."""
        return self._closed or (self._body_done and not self._buffer)

    def isclosed(self) -> bool:
        """http.client's name for :attr:`closed`."""
        return self.closed

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        """Read the body, or up to ``amt`` bytes of it.

        With ``decode_content`` the Content-Encoding (gzip, deflate, br, zstd)
        is undone, so fewer or more bytes than ``amt`` may come back before
        the end: b"" alone means the body is over.
        """
        if amt is not None and amt < 0:
            amt = None
        if amt is None:
            # Collected and joined once: appending each piece to the buffer
            # and copying that out would copy the whole body twice.
            pieces = [bytes(self._buffer)]
            self._buffer.clear()
            while (piece := self._take_piece(decode_content, -1)) is not None:
                pieces.append(piece)
            self._maybe_release()
            return b"".join(pieces)
        while len(self._buffer) < amt:
            piece = self._take_piece(decode_content, amt - len(self._buffer))
            if piece is None:
                break
            self._buffer += piece
        data = bytes(self._buffer[:amt])
        del self._buffer[:amt]
        self._maybe_release()
        return data

    def read_chunked(self, decode_content: bool = True) -> Iterator[bytes]:
        """Yield the body piece by piece as it arrives (HTTP/2 DATA frames or
        HTTP/1.1 chunks). A piece may be b"" without the body being over."""
        if self._buffer:
            yield bytes(self._buffer)
            self._buffer.clear()
        while True:
            piece = self._take_piece(decode_content, DECODED_PIECE)
            if piece is None:
                self._maybe_release()
                return
            yield piece

    def __iter__(self) -> Iterator[bytes]:
        """Iterating a response yields its (decoded) body in pieces."""
        return (chunk for chunk in self.read_chunked() if chunk)

    def close(self) -> None:
        """Close the response; an unread body is abandoned (HTTP/2: the
        stream is reset with CANCEL; HTTP/1.1: the connection is closed)."""
        if self._closed:
            return
        self._closed = True
        if not self._body_done:
            self._abandon()
        self._buffer.clear()
        self._release()

    def fileno(self) -> int:
        """Responses share one socket on HTTP/2; there is no per-response fd."""
        raise OSError("hyper responses have no file descriptor of their own")

    def add_release_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once, when the body is read to its end or the
        response is closed (at once if that already happened)."""
        with self._release_lock:
            if not self._released:
                self._release_callbacks.append(callback)
                return
        callback()

    def __enter__(self) -> BaseResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _take_piece(self, decode_content: bool, limit: int) -> bytes | None:
        """The next piece of the body (at most ``limit`` decoded bytes when
        decoding and ``limit`` >= 0), b"" for nothing yet, None at its end."""
        if self._body_done or self._closed:
            return None
        decoder = self._get_decoder() if decode_content else None
        if decoder is None:
            raw = self._next_piece()
            self._body_done = raw is None
            return raw
        if decoder.has_pending:
            # What the decoder holds goes out before more is read.
            return decoder.decompress(b"", limit)
        raw = self._next_piece()
        if raw is None:
            self._body_done = True
            return decoder.flush()
        return decoder.decompress(raw, limit)

    def _get_decoder(self) -> ContentDecoder | None:
        if not self._decoder_made:
            self._decoder_made = True
            codings = b", ".join(self.headers.getlist(b"content-encoding"))
            self._decoder = get_decoder(codings or None)
        return self._decoder

    def _maybe_release(self) -> None:
        if self._body_done and not self._buffer:
            self._release()

    def _release(self) -> None:
        with self._release_lock:
            if self._released:
                return
            self._released = True
            callbacks, self._release_callbacks = self._release_callbacks, []
        for callback in callbacks:
            callback()
