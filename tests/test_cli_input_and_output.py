"""What the ``hyper`` command reads and prints: a URL without a scheme, a
closed standard input, a status code without a standard phrase, a JSON
response that does not parse.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from h2peer import (
    ScriptedPeer,
    expect_request,
    handshake,
    respond,
)
from hyper.cli import ExitStatus, main
from test_cli import Run, hyper, secure

pytestmark = pytest.mark.timeout(60)


def test_url_without_scheme_is_https(h2_server: Any, certs: Any) -> None:
    run = secure(certs, f"{h2_server.authority}/get")
    assert run.status == ExitStatus.SUCCESS, run.err
    assert run.json()["http_version"] == "2"


def test_closed_stdin_is_no_body(h2_server: Any, certs: Any) -> None:
    stdin = io.BytesIO(b"never read")
    stdin.close()
    out, err = io.BytesIO(), io.StringIO()
    argv = ["--ca-cert", str(certs.ca_path), h2_server.url_for("/anything")]
    status = main(argv, stdin=stdin, stdout=out, stderr=err)
    run = Run(int(status), out.getvalue(), err.getvalue())
    assert run.status == ExitStatus.SUCCESS, run.err
    assert (run.json()["method"], run.json()["body"]) == ("GET", "")


def test_status_without_a_standard_phrase(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "-v", h2_server.url_for("/status/599"))
    assert run.status == ExitStatus.HTTP_5XX
    # HTTP/2 carries no reason phrase and 599 has no standard one.
    assert "< HTTP/2 599\n" in run.err
    assert run.err.endswith("hyper: HTTP 599\n")


def test_json_that_does_not_parse_is_printed_as_received() -> None:
    body = b'{"truncated": '
    script = [
        handshake(),
        expect_request("r"),
        respond("r", body, headers=[("content-type", "application/problem+json")]),
    ]
    with ScriptedPeer(script) as peer:
        run = hyper("--timeout", "10", "--h2c=prior-knowledge", f"http://127.0.0.1:{peer.port}/")
    assert run.status == ExitStatus.SUCCESS, run.err
    assert run.out == body
