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
    HTTPie's own adapters replace the headers with its multi-valued
    ``HTTPHeadersDict`` so that ``-h`` prints every ``Set-Cookie`` and every
    repeated header on its own line; this does the same.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(**settings.kwargs())

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        headers = getattr(resp, "headers", None)
        if HTTPHeadersDict is not None and headers is not None:
            response.headers = HTTPHeadersDict(headers)
        return response
