"""Code as hyper's users write it, checked by ``mypy --strict`` (never run).

hyper ships ``py.typed``, so its annotations are part of its API: what users
write against hyper 0.7's documentation must type-check. ``./scripts/test``
runs mypy over this file with the package.
"""

from __future__ import annotations

import requests

from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.common.headers import HTTPHeaderMap
from hyper.contrib import HTTP20Adapter


def headers_in_every_accepted_form(conn: HTTP20Connection) -> None:
    conn.request("GET", "/", headers={"Accept": "text/plain"})
    conn.request("GET", "/", headers={b"accept": b"text/plain"})
    conn.request("GET", "/", headers={"accept": b"text/plain"})
    conn.request("GET", "/", headers=[("a", "b"), (b"c", b"d")])
    conn.request("GET", "/", headers=HTTPHeaderMap([("a", "b")]))


def documented_usage() -> bytes:
    conn = HTTPConnection("example.org:443", timeout=(3, 10))
    conn.request("GET", "/", headers={"user-agent": "me"})
    body: bytes = conn.get_response().read()
    h1 = HTTP11Connection("example.org", 80, secure=False)
    h1.request("POST", "/form", body="a=1", headers={"content-type": "text/plain"})
    h2 = HTTP20Connection("example.org", enable_push=True)
    stream_id = h2.request("GET", "/")
    for push in h2.get_pushes(stream_id):
        push.cancel()
    return body + h2.get_response(stream_id).read()


def with_requests() -> int:
    session = requests.Session()
    session.mount("https://", HTTP20Adapter())
    status: int = session.get("https://example.org/").status_code
    return status
