"""hyper's one exception tree.

Every failure a user of hyper can meet is an instance of :class:`HyperError`.
The tree is split two ways:

* by *phase*: connecting (:class:`ConnectError`, :class:`TLSError`,
  :class:`ProxyError`), waiting (:class:`Timeout` and its phase-specific
  subclasses), and reading or writing on an open connection
  (:class:`ConnectionClosed`);
* by *who broke the rules*: the caller (:class:`LocalProtocolError`, e.g. a
  header value containing CR or LF) or the peer (:class:`RemoteProtocolError`,
  :class:`HTTP20Error` and its subclasses).

Errors raised by h2, h11, ``ssl`` and ``socket`` are translated into this tree
at one boundary per connection type, with ``raise ... from`` so the original
cause stays on ``__cause__``. Nothing from those libraries leaks raw.

Each class has exactly one parent. Whether a failed request may be sent again
is a property (:attr:`HyperError.retry_safe`), not a second base class.
"""

from __future__ import annotations

import builtins

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionError",
    "ContentDecodingError",
    "HPACKDecodingError",
    "HPACKEncodingError",
    "HTTP2ConnectionError",
    "HTTP11Error",
    "HTTP20Error",
    "HyperError",
    "InvalidChunkedBodyError",
    "InvalidContentLengthError",
    "InvalidHeaderError",
    "InvalidURLError",
    "LocalProtocolError",
    "PoolTimeout",
    "ProxyError",
    "ReadTimeout",
    "RemoteProtocolError",
    "StreamNotProcessedError",
    "StreamResetError",
    "TLSError",
    "Timeout",
    "WriteTimeout",
]


class HyperError(Exception):
    """The root of every exception hyper raises.

    ``stream_id`` is the HTTP/2 stream the error concerns (None when it
    concerns a whole connection or HTTP/1.1). ``error_code`` is the HTTP/2
    error code where the peer or hyper sent one.
    """

    #: True when the request that failed was certainly not processed by the
    #: server, so that sending it again cannot repeat a side effect.
    retry_safe: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        stream_id: int | None = None,
        error_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stream_id = stream_id
        self.error_code = error_code

    def __str__(self) -> str:
        return self.message


# --- the caller broke the rules ------------------------------------------------


class LocalProtocolError(HyperError):
    """The request cannot be sent as given; nothing was sent."""


class InvalidHeaderError(LocalProtocolError):
    """A header name or value is not allowed (for example it holds CR, LF or NUL)."""


class InvalidURLError(LocalProtocolError):
    """The URL, host or port cannot be used."""


# --- phases of the connection ---------------------------------------------------


class ConnectError(HyperError):
    """The TCP connection could not be opened (refused, unreachable, DNS)."""


class TLSError(HyperError):
    """The TLS handshake failed, e.g. the certificate did not verify."""


class ProxyError(HyperError):
    """The proxy refused the connection or answered CONNECT with an error."""


class ProxyUnreachableError(ProxyError):
    """No connection to the proxy itself could be opened (refused, no route,
    name not found). Nothing was sent, so the request may be retried."""

    retry_safe = True


class Timeout(HyperError):
    """A wait ran past its timeout. hyper never waits without one."""


class ConnectTimeout(Timeout):
    """Opening the connection (TCP, proxy or TLS) took longer than allowed."""

    # Nothing reached the server's application.
    retry_safe = True


class ReadTimeout(Timeout):
    """The server sent nothing for longer than the read timeout."""


class WriteTimeout(Timeout):
    """The request could not be written within the timeout (flow control or TCP)."""


class PoolTimeout(Timeout):
    """No pooled connection became free within the timeout (or, on an
    HTTP/1.1 connection shared by threads, another thread's exchange did not
    end in time)."""


class ConnectionClosed(HyperError):
    """The connection closed before the exchange was complete."""


# --- the peer broke the rules -----------------------------------------------------


class RemoteProtocolError(HyperError):
    """The server sent something HTTP forbids."""


class HTTP11Error(RemoteProtocolError):
    """The server broke HTTP/1.1's message syntax."""


class InvalidContentLengthError(HTTP11Error):
    """The response's Content-Length is invalid or given twice with different
    values (RFC 9112 section 6.3: "the recipient MUST treat it as an
    unrecoverable error"). urllib3 2.x raises InvalidHeader ("Content-Length
    contained multiple unmatching values"), which requests turns into
    ``requests.exceptions.InvalidHeader``."""


class InvalidChunkedBodyError(HTTP11Error):
    """The chunked response body is malformed (a bad chunk size line or
    chunk end). urllib3 raises ProtocolError (InvalidChunkLength); requests
    turns it into ChunkedEncodingError while streaming."""


class ContentDecodingError(RemoteProtocolError):
    """The body could not be decoded by its Content-Encoding."""


class HTTP20Error(RemoteProtocolError):
    """The base class for all of hyper's HTTP/2-related exceptions (hyper 0.7 name)."""


class HPACKEncodingError(HTTP20Error):
    """An error has been encountered while performing HPACK encoding."""


class HPACKDecodingError(HTTP20Error):
    """An error has been encountered while performing HPACK decoding."""


class ConnectionError(HTTP20Error):  # noqa: A001 - hyper 0.7's documented name
    """The HTTP/2 connection as a whole failed and is closed.

    Raised when the server sends GOAWAY with an error code, breaks the
    protocol, or when hyper itself must end the connection. The name shadows
    the builtin because hyper 0.7 documented it as
    ``hyper.http20.exceptions.ConnectionError``; it is defined here once and
    also exported as :data:`HTTP2ConnectionError`, the name to prefer.
    """


HTTP2ConnectionError = ConnectionError

# The builtin, for code in this package that must name it.
BuiltinConnectionError = builtins.ConnectionError


class StreamResetError(HTTP20Error):
    """The stream was reset (RST_STREAM); the other streams are unaffected.

    RFC 9113 section 8.7: a stream reset with REFUSED_STREAM was not
    processed, so the request may be retried.
    """


class StreamNotProcessedError(HTTP20Error):
    """The server sent GOAWAY before this stream was processed.

    RFC 9113 section 6.8: streams with identifiers above the GOAWAY's
    ``last_stream_id`` "were not processed by the sender of the GOAWAY
    frame", so the request is safe to send again on a new connection.
    """

    retry_safe = True
