"""How the ``hyper`` command fails: a protocol error over TLS (no h2c hint),
and Ctrl-C while it waits for the answer.
"""

from __future__ import annotations

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
    send_goaway,
    server_tls_context,
    wait_event,
)
from hyper.cli import ExitStatus
from test_cli import secure

pytestmark = pytest.mark.timeout(60)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
            [str(command), "--timeout", "30", "--h2c=prior-knowledge",
             f"http://127.0.0.1:{peer.port}/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Ctrl-C as at a terminal: a test run started in the background
            # by a shell ignores SIGINT, and children inherit that (Python
            # then installs no KeyboardInterrupt handler).
            preexec_fn=_default_sigint,
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
