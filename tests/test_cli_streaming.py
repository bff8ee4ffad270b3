"""The ``hyper`` command writes the body as it arrives, in constant memory.

Downloads run the installed script as a subprocess under a small Python
wrapper that reads its stdout and reports the child's peak RSS
(``getrusage(RUSAGE_CHILDREN)`` of the wrapper, whose only child is
``hyper``), so nothing else the test session started counts. A large body
must raise the peak by far less than its size over a small one; a piece the
server sent must reach stdout before the server sends the next.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import hyper.cli
from app import payload
from h2peer import (
    ScriptedPeer,
    close,
    expect_request,
    handshake,
    send_data,
    send_headers,
    wait_event,
)
from hyper.cli import ExitStatus, main, write_body
from test_cli import hyper as run_hyper

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
#: The big download, and how much more the peak RSS may grow than for a
#: small one: a quarter of the body (a buffering client needs the whole).
BIG_BODY = 256 * MiB
RSS_GROWTH_BOUND = 64 * MiB

# Runs ``hyper ARGV`` with stdout piped to it; prints exit status, bytes
# received, how many of them were not zero, and the child's peak RSS in KiB.
_MEASURE = r"""
import resource, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
size = nonzero = 0
while chunk := proc.stdout.read(1 << 20):
    size += len(chunk)
    nonzero += len(chunk) - chunk.count(0)
status = proc.wait()
print(status, size, nonzero, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _download(*argv: str) -> tuple[int, int, int, int]:
    """(exit status, body bytes, non-zero bytes, peak RSS in bytes) of ``hyper ARGV``."""
    command = str(Path(sys.executable).with_name("hyper"))
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, command, "--timeout", "60", *argv],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status, size, nonzero, max_rss_kib = (int(field) for field in proc.stdout.split())
    assert status == 0, proc.stderr
    return status, size, nonzero, max_rss_kib * 1024


@pytest.mark.parametrize("protocol", ["h2", "http/1.1"])
def test_big_download_runs_in_constant_memory(
    nginx_server: Any, certs: Any, protocol: str
) -> None:
    big = nginx_server.htdocs / "zeros.bin"
    with big.open("wb") as file:
        file.truncate(BIG_BODY)  # sparse: no disk used
    try:
        if protocol == "h2":
            base, trust = nginx_server.url, ("--ca-cert", str(certs.ca_path))
        else:
            # nginx's plaintext listener declines Upgrade: h2c.
            base, trust = nginx_server.plain.url, ()
        _, small_size, _, small_rss = _download(*trust, base + "/small.txt")
        _, size, nonzero, big_rss = _download(*trust, base + "/zeros.bin")
    finally:
        big.unlink()
    assert small_size == len(b"a small static file\n")
    assert (size, nonzero) == (BIG_BODY, 0)
    growth = big_rss - small_rss
    print(f"{protocol}: peak RSS {small_rss / MiB:.1f} MiB for 20 bytes, "
          f"{big_rss / MiB:.1f} MiB for {BIG_BODY // MiB} MiB")
    assert growth < RSS_GROWTH_BOUND, (small_rss, big_rss)


def test_each_piece_is_written_before_the_next_arrives() -> None:
    """The server holds the second DATA frame back until the first piece has
    reached hyper's stdout: a buffering client would never print it."""
    release = threading.Event()
    script = [
        handshake(),
        expect_request("r"),
        send_headers("r", [(":status", "200"), ("content-type", "text/plain")]),
        send_data("r", b"first piece\n"),
        wait_event(release, timeout=60),
        send_data("r", b"second piece\n", end_stream=True),
    ]
    command = str(Path(sys.executable).with_name("hyper"))
    with ScriptedPeer(script, step_timeout=60, close_timeout=60) as peer:
        proc = subprocess.Popen(
            [command, "--timeout", "60", "--h2c=prior-knowledge", f"http://127.0.0.1:{peer.port}/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            # Blocks until hyper writes the line; the class timeout bounds it.
            first = proc.stdout.readline()
            release.set()
            rest, err = proc.communicate(timeout=60)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert first == b"first piece\n", err
    assert rest == b"second piece\n"
    assert proc.returncode == ExitStatus.SUCCESS, err


def test_json_above_the_limit_streams_as_received(
    h2_server: Any, certs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact = run_hyper("--ca-cert", str(certs.ca_path), h2_server.url_for("/get"))
    assert compact.status == 0, compact.err
    assert compact.out.startswith(b'{\n  "')  # below the limit: pretty-printed
    monkeypatch.setattr(hyper.cli, "PRETTY_JSON_LIMIT", 16)
    raw = run_hyper("--ca-cert", str(certs.ca_path), h2_server.url_for("/get"))
    assert raw.status == 0, raw.err
    # Above it: the bytes as the server sent them (compact JSON).
    assert raw.out.startswith(b'{"')
    assert json.loads(raw.out) == json.loads(compact.out)


def test_write_body_collects_json_only_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hyper.cli, "PRETTY_JSON_LIMIT", 8)
    pieces = [b'{"a":', b' 1, "b": ', b"[1, 2]}"]
    out = io.BytesIO()
    write_body(iter(pieces), "application/json", out)
    assert out.getvalue() == b"".join(pieces)
    out = io.BytesIO()
    write_body(iter([b"{\"a\":", b"2}"]), "application/vnd.api+json; charset=utf-8", out)
    assert out.getvalue() == b'{\n  "a": 2\n}\n'
    out = io.BytesIO()
    write_body(iter([b"", b"{}"]), "text/plain", out)
    assert out.getvalue() == b"{}"
    out = io.BytesIO()
    write_body(iter([]), "application/json", out)  # a 204, say
    assert out.getvalue() == b""


def test_error_in_the_middle_of_the_body_after_what_arrived() -> None:
    """The pieces that arrived stay on stdout; the error is one line."""
    script = [
        handshake(),
        expect_request("r"),
        send_headers("r", [(":status", "200"), ("content-type", "text/plain")]),
        send_data("r", b"partial\n"),
        close(),
    ]
    with ScriptedPeer(script) as peer:
        out, err = io.BytesIO(), io.StringIO()
        argv = ["--timeout", "10", "--h2c=prior-knowledge", f"http://127.0.0.1:{peer.port}/"]
        status = main(argv, stdout=out, stderr=err, stdin=io.BytesIO())
    assert status == ExitStatus.ERROR
    assert out.getvalue() == b"partial\n"
    assert err.getvalue().startswith(f"hyper: error: connection to 127.0.0.1:{peer.port}")
    assert err.getvalue().count("\n") == 1


def test_reader_that_stops_early_ends_hyper_quietly(h2_server: Any, certs: Any) -> None:
    """``hyper URL | head -c 10``: EPIPE on stdout ends hyper with status 1
    and no message (nor Python's "Exception ignored" at exit)."""
    command = Path(sys.executable).with_name("hyper")
    line = (
        f"set -o pipefail; '{command}' --ca-cert '{certs.ca_path}'"
        f" '{h2_server.url_for('/bytes/1000000')}' | head -c 10"
    )
    proc = subprocess.run(
        ["bash", "-c", line], stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
    )
    assert proc.stdout == payload(10)
    assert (proc.returncode, proc.stderr) == (ExitStatus.ERROR, b"")


class _ClosedPipe(io.BytesIO):
    def write(self, data: Any) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_output_stream_in_process(h2_server: Any, certs: Any) -> None:
    err = io.StringIO()
    argv = ["--ca-cert", str(certs.ca_path), h2_server.url_for("/bytes/100")]
    status = main(argv, stdin=io.BytesIO(), stdout=_ClosedPipe(), stderr=err)
    assert (status, err.getvalue()) == (ExitStatus.ERROR, "")
