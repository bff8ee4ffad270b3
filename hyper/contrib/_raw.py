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
    """A file-like view of a hyper response body, undecoded, for urllib3."""

    def __init__(self, response: BaseResponse, pool: Any = None) -> None:
        self._response = response
        self._pool = pool

    def read(self, amt: int | None = None) -> bytes:
        try:
            return self._response.read(amt, decode_content=False)
        except HyperError as exc:
            raise body_error(exc, self._pool) from exc

    def read1(self, amt: int | None = None) -> bytes:
        return self.read(amt if amt is not None and amt >= 0 else None)

    def isclosed(self) -> bool:
        return self._response.closed

    @property
    def closed(self) -> bool:
        return self._response.closed

    def close(self) -> None:
        """Close the response; an unread rest of the body is abandoned."""
        self._response.close()

    def fileno(self) -> int:
        raise OSError("a hyper response has no file descriptor of its own")

    def flush(self) -> None:
        """Nothing is buffered for writing."""


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
    return HTTPResponse(
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
