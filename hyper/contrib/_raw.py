"""The urllib3-compatible face of a hyper response, for ``requests.Response.raw``.

requests and the code built on it (HTTPie, shutil.copyfileobj(r.raw, f),
cookie extraction) expect ``raw`` to be a urllib3 ``HTTPResponse``. So it is
one, built over :class:`BodyReader` (urllib3 reads the undecoded body from
it and does the Content-Encoding decoding itself, exactly as with
http.client) and carrying an :class:`OriginalResponse`, the small stand-in
for http.client's response that urllib3, requests' cookie code and HTTPie
read.

The reader raises urllib3's exception types, which requests' ``iter_content``
maps to its own: ProtocolError to ChunkedEncodingError, ReadTimeoutError to
ConnectionError, SSLError to SSLError.
"""

from __future__ import annotations

import http
import http.client
from collections.abc import Generator
from typing import Any

from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from ..common.response import BaseResponse
from ..exceptions import HyperError
from ._errors import body_error

_VERSION_TEXT = {20: "HTTP/2", 11: "HTTP/1.1", 10: "HTTP/1.0"}


def reason_phrase(status: int, given: str, version: int) -> str:
    """The reason phrase to show. HTTP/1.x: the server's, even empty (what
    http.client, and so HTTPAdapter, gives). HTTP/2 carries none (RFC 9113
    section 8.3.2): the standard phrase of the code, "" for an unknown code.
    Never None: HTTPie prints it."""
    if version != 20:
        return given
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class BodyReader:
    """A file-like view of a hyper response body, undecoded, for urllib3.

    Every read takes the body piece by piece as it arrives (HTTP/2 DATA
    frames, HTTP/1.1 chunks or socket reads) from one ``read_chunked``
    iterator, keeping the rest of a piece a read did not ask for:
    ``read(amt)`` waits for ``amt`` bytes (or the end), as http.client's
    does; ``read1(amt)`` returns what has arrived, waiting only when nothing
    has (b"" means the end of the body).
    """

    def __init__(self, response: BaseResponse, pool: Any = None) -> None:
        self._response = response
        self._pool = pool
        self._pieces = response.read_chunked(decode_content=False)
        self._piece = b""
        self._offset = 0

    def _next_piece(self) -> bool:
        """Wait for the next non-empty piece; False at the end of the body."""
        try:
            for piece in self._pieces:
                if piece:
                    self._piece, self._offset = piece, 0
                    return True
        except HyperError as exc:
            raise body_error(exc, self._pool) from exc
        return False

    def _take(self, amt: int | None) -> bytes:
        """Up to ``amt`` bytes (None: all) of the current piece."""
        start = self._offset
        end = len(self._piece) if amt is None else min(len(self._piece), start + amt)
        self._offset = end
        return self._piece if start == 0 and end == len(self._piece) else self._piece[start:end]

    def _has_data(self) -> bool:
        return self._offset < len(self._piece)

    def read(self, amt: int | None = None) -> bytes:
        wanted = None if amt is None or amt < 0 else amt
        parts = []
        while wanted is None or wanted > 0:
            if not self._has_data() and not self._next_piece():
                break
            part = self._take(wanted)
            parts.append(part)
            if wanted is not None:
                wanted -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, amt: int | None = None) -> bytes:
        if amt == 0 or (not self._has_data() and not self._next_piece()):
            return b""
        return self._take(None if amt is None or amt < 0 else amt)

    def isclosed(self) -> bool:
        return self._response.closed and not self._has_data()

    @property
    def closed(self) -> bool:
        return self.isclosed()

    def close(self) -> None:
        """Close the response; an unread rest of the body is abandoned."""
        self._piece, self._offset = b"", 0
        self._response.close()

    def fileno(self) -> int:
        raise OSError("a hyper response has no file descriptor of its own")

    def flush(self) -> None:
        """Nothing is buffered for writing."""


class HyperHTTPResponse(HTTPResponse):
    """urllib3's HTTPResponse over a hyper response, differing in one
    place: ``stream()`` gives a body of unknown length (HTTP/1.1 chunked, or
    HTTP/2 without Content-Length) piece by piece as it arrives, at most
    ``amt`` bytes at a time, as urllib3 streams a chunked body it reads from
    http.client. So ``iter_lines()`` on an event stream yields each event
    when it comes, not once ``amt`` bytes have gathered. Other bodies are
    streamed by urllib3 itself, ``amt`` bytes at a time."""

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None,
    ) -> Generator[bytes, None, None]:
        by_piece = self.chunked or (self.version == 20 and "content-length" not in self.headers)
        if amt == 0 or not by_piece:
            yield from super().stream(amt, decode_content)
            return
        while data := self.read1(amt, decode_content=decode_content):
            yield data


class OriginalResponse:
    """What code reads from ``raw._original_response``: ``msg`` (every header,
    repeats kept, where requests' cookie extraction looks for Set-Cookie),
    ``version`` (HTTPie prints it: 20 is ``HTTP/2.0``), ``status``,
    ``reason``, ``isclosed()`` and ``close()``."""

    def __init__(self, response: BaseResponse, reason: str) -> None:
        self._response = response
        self.msg = http.client.HTTPMessage()
        for name, value in response.headers.iter_raw():
            # email.message.Message adds a field on each assignment.
            self.msg[name.decode("latin-1")] = value.decode("latin-1")
        #: http.client.HTTPResponse offers the message under both names.
        self.headers = self.msg
        self.version: int = response.version
        self.status: int = response.status
        self.reason = reason

    def isclosed(self) -> bool:
        return self._response.closed

    def close(self) -> None:
        self._response.close()

    def getheader(self, name: str, default: str | None = None) -> str | None:
        values = self.msg.get_all(name)
        return ", ".join(values) if values else default

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.msg.items())

    def __repr__(self) -> str:
        return f"<OriginalResponse {self.status} version={self.version}>"


def response_headers(response: BaseResponse) -> HTTPHeaderDict:
    """The headers as urllib3 holds them: str, latin-1 (as http.client
    decodes them), every repeated field kept."""
    headers = HTTPHeaderDict()
    for name, value in response.headers.iter_raw():
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def make_raw(
    response: BaseResponse,
    request_method: str | None = None,
    request_url: str | None = None,
    *,
    pool: Any = None,
    preload_content: bool = False,
    decode_content: bool = False,
    retries: Any = None,
) -> HTTPResponse:
    """A genuine urllib3 HTTPResponse reading ``response``'s body lazily
    (all of it at once with ``preload_content``, as urllib3's pool does).
    ``pool`` names the origin in read timeout messages."""
    reason = reason_phrase(response.status, response.reason, response.version)
    return HyperHTTPResponse(
        body=BodyReader(response, pool),  # type: ignore[arg-type]
        headers=response_headers(response),
        status=response.status,
        version=response.version,
        version_string=_VERSION_TEXT.get(response.version, "HTTP/?"),
        reason=reason,
        preload_content=preload_content,
        decode_content=decode_content,
        original_response=OriginalResponse(response, reason),  # type: ignore[arg-type]
        request_method=request_method,
        request_url=request_url,
        retries=retries,
    )
