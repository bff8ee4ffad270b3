"""hyper's errors as the urllib3 exceptions requests expects (the one place
this translation is made).

requests' ``HTTPAdapter.send`` and ``Response.iter_content`` catch urllib3's
exception types and turn them into requests' own; urllib3's ``Retry``
decides from the same types whether a failure counts as a connect, read or
other error. So the origin pool (while a request is sent and its head read)
and the raw response (while its body is read) raise exactly what urllib3's
own pool and response raise for the same failure, with urllib3's messages
where users and requests' tests match on them ("Read timed out.").
"""

from __future__ import annotations

from typing import Any

from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    InvalidHeader,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from .. import exceptions as hx
from ..common.timeouts import TimeoutConfig


def request_error(
    exc: hx.HyperError, pool: Any, url: str, timeout: TimeoutConfig, proxied: bool,
) -> Exception:
    """The urllib3 exception for ``exc``, raised while sending a request
    through ``pool`` (an origin pool: its ``str()`` starts the message, as
    urllib3's does) up to the response head."""
    error: Exception
    if isinstance(exc, hx.ConnectTimeout):
        error = ConnectTimeoutError(
            pool, f"Connection to {pool.host} timed out. (connect timeout={timeout.connect})")
    elif isinstance(exc, (hx.ConnectError, hx.ProxyUnreachableError)):
        # (Through a proxy, wrapped in ProxyError below, as urllib3 does.)
        error = NewConnectionError(pool, f"Failed to establish a new connection: {exc}")
    elif isinstance(exc, hx.ProxyError):
        # The CONNECT answer or the proxy's own failure; not a connect
        # error for Retry (urllib3 sees an OSError from http.client here).
        error = ProxyError("Unable to connect to proxy", OSError(str(exc)))
    elif isinstance(exc, hx.TLSError):
        error = SSLError(str(exc))
    elif isinstance(exc, (hx.ReadTimeout, hx.WriteTimeout)):
        what = "Read" if isinstance(exc, hx.ReadTimeout) else "Write"
        error = ReadTimeoutError(
            pool, url, f"{what} timed out. ({what.lower()} timeout={timeout.read})")
    elif isinstance(exc, hx.PoolTimeout):
        error = EmptyPoolError(pool, str(exc))
    elif isinstance(exc, (hx.InvalidHeaderError, hx.InvalidContentLengthError)):
        # urllib3 2 refuses Content-Length values that disagree with
        # InvalidHeader (requests' own tests expect it).
        error = InvalidHeader(str(exc))
    elif isinstance(exc, hx.InvalidURLError):
        error = LocationValueError(str(exc))
    else:
        # Reset, closed, refused stream, protocol errors: what urllib3
        # reports when http.client fails on an open connection.
        error = ProtocolError("Connection aborted.", exc)
    if proxied and isinstance(error, (NewConnectionError, ConnectTimeoutError)):
        # Through a proxy the TCP connection is the proxy's (urllib3 wraps
        # failures before the proxy was reached the same way).
        error = ProxyError("Unable to connect to proxy", error)
    error.__cause__ = exc
    return error


def body_error(exc: hx.HyperError, pool: Any) -> Exception:
    """The urllib3 exception for ``exc``, raised while the body is read
    (urllib3's ``HTTPResponse`` raises these from its own reads)."""
    error: Exception
    if isinstance(exc, hx.ReadTimeout):
        error = ReadTimeoutError(pool, None, "Read timed out.")
    elif isinstance(exc, hx.TLSError):
        error = SSLError(str(exc))
    else:
        error = ProtocolError(f"Connection broken: {exc}", exc)
    error.__cause__ = exc
    return error
