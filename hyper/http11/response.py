"""HTTP11Response."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..common.headers import HTTPHeaderMap
from ..common.response import BaseResponse

if TYPE_CHECKING:
    from .connection import HTTP11Connection


class HTTP11Response(BaseResponse):
    """The response to an HTTP/1.1 request; h11 has already removed the
    chunked framing, so ``read(decode_content=False)`` gives the body as the
    server encoded it (Content-Encoding still applied).

    ``version`` is 11, or 10 when the server answered as HTTP/1.0 (as
    http.client's ``HTTPResponse.version``).
    """

    version = 11

    def __init__(
        self,
        code: int,
        reason: str,
        headers: Iterable[tuple[bytes, bytes]],
        connection: HTTP11Connection,
        exchange: int,
        version: int = 11,
        *,
        ended: bool = False,
    ) -> None:
        super().__init__(code, reason, HTTPHeaderMap(headers))
        self._connection = connection
        # Which exchange on the connection this response belongs to: once
        # that exchange is over, this response reads nothing more from it.
        self._exchange = exchange
        self.version = version
        # A response without a body (see HTTP11Connection._empty_body): its
        # exchange ended with its head; read() still finds the end (and
        # releases the response) as for any other.
        self._ended = ended
        #: The trailers, set once the body has been read (None before).
        self.trailers: HTTPHeaderMap | None = None

    def _next_piece(self) -> bytes | None:
        if self._ended:
            return None
        piece = self._connection._read_body_piece(self._exchange)
        if isinstance(piece, bytes):
            return piece
        if piece:
            self.trailers = HTTPHeaderMap(piece)
        return None

    def _abandon(self) -> None:
        self._connection._abandon_response(self._exchange)

    def close(self, socket_close: bool = False) -> None:
        """Close the response; with ``socket_close`` the connection too."""
        super().close()
        if socket_close:
            self._connection.close()
