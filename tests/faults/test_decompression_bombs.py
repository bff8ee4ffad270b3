"""Decompression bombs from a real server: reading in small pieces keeps
memory small, over HTTP/2 and HTTP/1.1, bare and through requests.

The app's ``/bomb/{coding}`` sends 1 GiB of zeros compressed to about 1 MB
(gzip) or less. A client reading 1 KiB at a time must not decode a whole
network read at once: the peak RSS of a child Python, measured before the
request and after a hundred 1 KiB reads, may grow by less than 16 MiB.
Before hyper bounded its decoders, three such reads grew it by 142 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servers import Certs, Server

READS = 100
PIECE = 1024
#: The bound the child's peak RSS growth must stay under.
GROWTH_LIMIT_KIB = 16 * 1024

CHILD = r"""
import json, resource, sys
from urllib.parse import urlsplit

how, base, path, ca = sys.argv[1:5]
reads, piece = int(sys.argv[5]), int(sys.argv[6])

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

if how == "bare":
    from hyper import HTTPConnection
    from hyper.tls import init_context
    url = urlsplit(base)
    secure = url.scheme == "https"
    context = init_context(cert_path=ca) if secure else None
    conn = HTTPConnection(url.hostname, url.port, secure=secure, ssl_context=context, timeout=60)
    conn.get_response(conn.request("GET", "/get")).read()  # everything imported and warm
    before = peak_kib()
    response = conn.get_response(conn.request("GET", path))
    pieces = [response.read(piece) for _ in range(reads)]
    after = peak_kib()
    version = response.version
    response.close()
    conn.close()
else:
    import requests
    from hyper.contrib import HTTP20Adapter
    adapter = HTTP20Adapter()
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = ca
    session.get(base + "/get", verify=ca).content
    before = peak_kib()
    response = session.get(base + path, stream=True, timeout=60, verify=ca)
    chunks = response.iter_content(piece)
    pieces = [next(chunks) for _ in range(reads)]
    after = peak_kib()
    version = response.raw.version
    response.close()
    adapter.close()
print(json.dumps({
    "growth_kib": after - before,
    "sizes": sorted({len(p) for p in pieces}),
    "zeros": not any(b"".join(pieces)),
    "version": version,
}))
"""


def run_child(how: str, server: Server, coding: str, certs: Certs) -> dict[str, object]:
    """Read the bomb in a child Python; what it measured."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, how, server.url, f"/bomb/{coding}", str(certs.ca_path),
         str(READS), str(PIECE)],
        capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("how", ["bare", "adapter"])
@pytest.mark.parametrize(("fixture", "version"), [("h2_server", 20), ("h1_server", 11)],
                         ids=["http2", "http11"])
def test_a_gzip_bomb_read_in_small_pieces_stays_small(
    how: str, fixture: str, version: int, certs: Certs, request: pytest.FixtureRequest,
) -> None:
    server: Server = request.getfixturevalue(fixture)

    result = run_child(how, server, "gzip", certs)

    assert result["version"] == version
    assert result["sizes"] == [PIECE]
    assert result["zeros"] is True
    assert isinstance(result["growth_kib"], int)
    assert result["growth_kib"] < GROWTH_LIMIT_KIB, result


@pytest.mark.parametrize("coding", ["deflate", "br", "zstd"])
def test_other_codings_are_bounded_too(coding: str, h2_server: Server, certs: Certs) -> None:
    result = run_child("bare", h2_server, coding, certs)

    assert result["sizes"] == [PIECE]
    assert result["zeros"] is True
    assert isinstance(result["growth_kib"], int)
    assert result["growth_kib"] < GROWTH_LIMIT_KIB, result
