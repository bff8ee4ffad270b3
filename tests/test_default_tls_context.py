"""Without an ssl_context, connections verify against the system's CAs: a
server with a certificate from the per-run test CA is refused, over HTTP/2
and HTTP/1.1.
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.exceptions import (
    TLSError,
)

pytestmark = pytest.mark.timeout(60)


def test_default_tls_context_refuses_the_test_ca_over_http2(h2_server: Any) -> None:
    conn = HTTP20Connection(h2_server.host, h2_server.port, secure=True, timeout=5)
    with pytest.raises(TLSError, match="verif"):
        conn.request("GET", "/")
    assert isinstance(conn.ssl_context, ssl.SSLContext)


def test_default_tls_context_refuses_the_test_ca_over_http11(h1_tls_server: Any) -> None:
    for conn in (HTTP11Connection(h1_tls_server.host, h1_tls_server.port, secure=True,
                                  timeout=5),
                 HTTPConnection(h1_tls_server.host, h1_tls_server.port, secure=True,
                                timeout=5)):
        with pytest.raises(TLSError, match="verif"):
            conn.request("GET", "/get")
        assert isinstance(conn.ssl_context, ssl.SSLContext)
