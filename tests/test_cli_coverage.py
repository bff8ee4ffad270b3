"""The ``hyper`` command on the paths test_cli.py leaves out: a URL without
a scheme, a closed standard input, a status code without a standard
phrase, a JSON response that does not parse, a protocol error over TLS,
and Ctrl-C while it waits for the answer.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from h2peer import (
    ErrorCodes,
    ScriptedPeer,
    call,
    expect_request,
    handshake,
    respond,
    send_goaway,
    server_tls_context,
    wait_event,
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


def test_protocol_error_over_tls_has_no_h2c_hint(certs: Any) -> None:
    context = server_tls_context(str(certs.server_cert_path), str(certs.server_key_path))
    script = [
        handshake(),
        expect_request("r"),
        send_goaway("r", ErrorCodes.PROTOCOL_ERROR, b"bad"),
    ]
    with ScriptedPeer(script, tls=context) as peer:
        run = secure(certs, "--timeout", "10", f"https://127.0.0.1:{peer.port}/")
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith(f"hyper: error: protocol error from 127.0.0.1:{peer.port}: ")
    assert "--h2c" not in run.err
    assert run.err.count("\n") == 1


def test_ctrl_c_while_waiting_for_the_response() -> None:
    """SIGINT to the installed script once the server has the request: exit
    130 and one line, as HTTPie does."""
    arrived, release = threading.Event(), threading.Event()
    script = [
        handshake(),
        expect_request("r"),
        call(lambda session: arrived.set()),
        wait_event(release, timeout=30),
    ]
    command = Path(sys.executable).with_name("hyper")
    # A new Python process may take a while to connect on a loaded machine.
    with ScriptedPeer(script, step_timeout=30, close_timeout=30) as peer:
        proc = subprocess.Popen(
            [str(command), "--timeout", "30", "--h2c=prior-knowledge", f"http://127.0.0.1:{peer.port}/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert arrived.wait(30), "the request never arrived"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert (out, err) == (b"", b"hyper: interrupted\n")
