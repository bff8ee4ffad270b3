"""hyper's HTTP20Adapter as HTTPie needs it.

Imported only when HTTP/2 is on, so that ``http`` without ``--http2`` does
not pay for importing h2.
"""

from __future__ import annotations

from typing import Any

import requests

from hyper.contrib import HTTP20Adapter

from .settings import AdapterSettings

try:
    from httpie.cli.dicts import HTTPHeadersDict  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - a later HTTPie may move it
    HTTPHeadersDict = None

__all__ = ["HTTPieHTTP20Adapter"]


class HTTPieHTTP20Adapter(HTTP20Adapter):
    """HTTP20Adapter whose responses keep repeated headers apart for HTTPie.

    requests folds repeated response headers into one comma-joined value.
    HTTPie's adapter for http:// (``HTTPieHTTPAdapter``) replaces them with
    its multi-valued ``HTTPHeadersDict`` so that every ``Set-Cookie`` and
    every repeated header prints on its own line; this does the same, for
    http:// and https:// alike (HTTPie's own https:// adapter does not).
    """

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(**settings.kwargs())

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response: requests.Response = super().build_response(req, resp)
        if HTTPHeadersDict is not None:
            # As HTTPie's HTTPieHTTPAdapter does, from urllib3's header dict.
            response.headers = HTTPHeadersDict(response.raw.headers)
        return response
