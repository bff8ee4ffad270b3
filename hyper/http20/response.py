"""HTTP20Response and HTTP20Push."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ..common.headers import HTTPHeaderMap
from ..common.response import BaseResponse
from ..exceptions import RemoteProtocolError
from .streams import Headers, Stream

if TYPE_CHECKING:
    from .connection import HTTP20Connection


def _split_pseudo(headers: Headers) -> tuple[dict[bytes, bytes], HTTPHeaderMap]:
    pseudo = {name: value for name, value in headers if name.startswith(b":")}
    regular = HTTPHeaderMap((n, v) for n, v in headers if not n.startswith(b":"))
    return pseudo, regular


class HTTP20Response(BaseResponse):
    """The response to one HTTP/2 request, read from its stream.

    ``reason`` is always "" since HTTP/2 carries no reason phrase
    (RFC 9113 section 8.3.2).
    """

    version = 20

    def __init__(self, headers: Headers, connection: HTTP20Connection, stream: Stream) -> None:
        pseudo, regular = _split_pseudo(headers)
        status = pseudo.get(b":status", b"")
        # RFC 9110 section 15: "The status code of a response is a three-digit
        # integer code"; anything else makes the response malformed.
        if len(status) != 3 or not status.isdigit():
            raise RemoteProtocolError(
                f"Invalid :status {status!r} on stream {stream.stream_id}",
                stream_id=stream.stream_id,
            )
        super().__init__(int(status), "", regular)
        self._connection = connection
        self._stream = stream
        self._trailers: HTTPHeaderMap | None = None
        # Dropped unread, the response must not hold its stream (a slot of
        # the server's MAX_CONCURRENT_STREAMS) and its buffers: the
        # connection resets the stream at its next locked section (the
        # finalizer may run anywhere, even where the lock is held).
        weakref.finalize(self, connection._abandoned.append, stream).atexit = False

    @property
    def stream_id(self) -> int:
        return self._stream.stream_id

    @property
    def trailers(self) -> HTTPHeaderMap | None:
        """The trailers, if any. Reading them reads (and buffers) the whole body."""
        if self._trailers is None:
            if not self._body_done and not self._closed:
                self._buffer += self.read(decode_content=True)
            if self._stream.trailers is not None:
                self._trailers = HTTPHeaderMap(self._stream.trailers)
        return self._trailers

    def _next_piece(self) -> bytes | None:
        return self._connection._read_data(self._stream)

    def _abandon(self) -> None:
        self._connection._cancel(self._stream)


class HTTP20Push:
    """A request the server promised to answer (server push, RFC 9113 8.4)."""

    def __init__(self, request_headers: Headers, connection: HTTP20Connection,
                 stream: Stream) -> None:
        pseudo, regular = _split_pseudo(request_headers)
        #: The scheme of the simulated request.
        self.scheme = pseudo.get(b":scheme", b"")
        #: The method of the simulated request (safe and cacheable, e.g. GET).
        self.method = pseudo.get(b":method", b"")
        #: The authority of the simulated request (usually host:port).
        self.authority = pseudo.get(b":authority", b"")
        #: The path of the simulated request.
        self.path = pseudo.get(b":path", b"")
        #: The headers the server attached to the simulated request.
        self.request_headers = regular
        self._connection = connection
        self._stream = stream

    @property
    def stream_id(self) -> int:
        return self._stream.stream_id

    def get_response(self) -> HTTP20Response:
        """The pushed response (waits for its headers, bounded by the read
        timeout). If that fails, the push is cancelled."""
        response: HTTP20Response = self._connection._response_for(
            self._stream, f"pushed response on stream {self._stream.stream_id}")
        return response

    def cancel(self) -> None:
        """Refuse the pushed response: RST_STREAM with CANCEL."""
        self._connection._cancel(self._stream)

    def __repr__(self) -> str:
        return f"<HTTP20Push {self.method!r} {self.scheme!r}://{self.authority!r}{self.path!r}>"
