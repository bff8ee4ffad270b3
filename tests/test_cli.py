"""The ``hyper`` console script against real servers on loopback.

Most tests call :func:`hyper.cli.main` in-process with their own streams;
one runs the installed script as a subprocess. Servers: hypercorn over TLS
(h2 and HTTP/1.1), TLS with HTTP/1.1 only, plaintext with h2c, the
HTTP/1.1-only stdlib server, and the scripted h2 peer for a misbehaving one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import payload
from h2peer import ErrorCodes, ScriptedPeer, expect_request, handshake, send_goaway
from hyper.cli import CA_ENV_VARS, ExitStatus, main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_ca_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CA bundle variables of the environment the tests run in stay out."""
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclasses.dataclass
class Run:
    status: int
    out: bytes
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class _Stdin(io.BytesIO):
    """Standard input that is a pipe (not a terminal)."""

    def isatty(self) -> bool:
        return False


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


def hyper(*argv: str, stdin: bytes | None = None) -> Run:
    """Run ``hyper ARGV`` in-process; stdin is a terminal unless given."""
    stream: io.BytesIO = _Terminal() if stdin is None else _Stdin(stdin)
    out, err = io.BytesIO(), io.StringIO()
    status = main(list(argv), stdin=stream, stdout=out, stderr=err)
    return Run(int(status), out.getvalue(), err.getvalue())


def secure(certs: Any, *argv: str, stdin: bytes | None = None) -> Run:
    return hyper("--ca-cert", str(certs.ca_path), *argv, stdin=stdin)


def received_headers(data: Any) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in data["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return headers


# ---------------------------------------------------------------------------
# hyper 0.7's documented syntax


def test_get_over_h2_prints_pretty_json(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "GET", h2_server.url_for("/get"))
    assert run.status == ExitStatus.SUCCESS, run.err
    data = run.json()
    assert data["http_version"] == "2"
    assert data["method"] == "GET"
    # Pretty-printed: exactly json.dumps with an indent, and a final newline.
    assert run.out.decode() == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert run.err == ""


def test_method_is_optional(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/get"), "search==hyper")
    assert run.status == 0, run.err
    assert run.json()["method"] == "GET"
    assert run.json()["query"] == "search=hyper"


def test_headers_and_query_parameters(h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get?a=1")
    run = secure(certs, "GET", url, "User-Agent:hyper/0.2.0", "X-Expr:a=b", "q==x:y", "s==a b")
    assert run.status == 0, run.err
    data = run.json()
    headers = received_headers(data)
    assert headers["user-agent"] == ["hyper/0.2.0"]
    assert headers["x-expr"] == ["a=b"]
    assert data["query"] == "a=1&q=x%3Ay&s=a+b"


def test_default_user_agent(h2_server: Any, certs: Any) -> None:
    import hyper

    run = secure(certs, h2_server.url_for("/get"))
    assert received_headers(run.json())["user-agent"] == [f"hyper/{hyper.__version__}"]


def test_json_fields_post_by_default(h2_server: Any, certs: Any) -> None:
    run = secure(
        certs, h2_server.url_for("/anything"), "name=Hyper", "language=Python", "expr=a==b"
    )
    assert run.status == 0, run.err
    data = run.json()
    assert data["method"] == "POST"
    assert data["json"] == {"name": "Hyper", "language": "Python", "expr": "a==b"}
    assert received_headers(data)["content-type"] == ["application/json; charset=utf-8"]


def test_explicit_method_with_fields(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "put", h2_server.url_for("/anything"), "a=1")
    assert run.status == 0, run.err
    assert run.json()["method"] == "PUT"
    assert run.json()["json"] == {"a": "1"}


def test_binary_body_is_written_as_received(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/bytes/100000"))
    assert run.status == 0, run.err
    assert run.out == payload(100000)


def test_gzip_body_is_decoded(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/gzip"))
    assert run.status == 0, run.err
    assert run.json()["gzip"] is True


def test_debug_logs_frames(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "--debug", h2_server.url_for("/get"))
    assert run.status == 0, run.err
    assert "HeadersFrame" in run.err
    assert "DataFrame" in run.err
    # --debug is for this run only: nothing stays attached to hyper's logger.
    quiet = secure(certs, h2_server.url_for("/get"))
    assert quiet.err == ""


def test_version_and_help() -> None:
    import hyper

    out = io.StringIO()
    sys_stdout = sys.stdout
    try:
        sys.stdout = out
        assert main(["--version"]) == 0
        assert main(["--help"]) == 0
    finally:
        sys.stdout = sys_stdout
    text = out.getvalue()
    assert f"hyper {hyper.__version__}" in text
    assert "[METHOD] URL [REQUEST_ITEM ...]" in text
    assert "--ca-cert" in text and "--insecure" in text and "--timeout" in text


def test_console_script(h2_server: Any, certs: Any) -> None:
    script = Path(sys.executable).with_name("hyper")
    proc = subprocess.run(
        [str(script), "--ca-cert", str(certs.ca_path), h2_server.url_for("/get"), "x==1"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["query"] == "x=1"


# ---------------------------------------------------------------------------
# Protocols: ALPN, fallback, h2c


def test_verbose_shows_protocol_and_headers(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "-v", h2_server.url_for("/headers/repeat"))
    assert run.status == 0, run.err
    assert "protocol: h2 " in run.err
    assert "> GET /headers/repeat HTTP/2\n" in run.err
    assert "< HTTP/2 200 OK\n" in run.err
    # Repeated headers stay apart, in order.
    assert "< set-cookie: first=1; Path=/\n< set-cookie: second=2; Path=/\n" in run.err
    assert "< x-multi: one\n< x-multi: two\n" in run.err
    assert run.out == b"repeated headers\n"


def test_tls_falls_back_to_http11(h1_tls_server: Any, certs: Any) -> None:
    run = secure(certs, "-v", h1_tls_server.url_for("/get"))
    assert run.status == 0, run.err
    assert run.json()["http_version"] == "1.1"
    assert "protocol: http/1.1" in run.err
    assert "< HTTP/1.1 200 OK\n" in run.err


def test_http_url_asks_for_h2c_with_upgrade_by_default(h2c_server: Any, h1_server: Any) -> None:
    # The same default as HTTPConnection and `http --http2`: Upgrade: h2c.
    upgraded = hyper("-v", h2c_server.url_for("/get"))
    assert upgraded.status == 0, upgraded.err
    assert upgraded.json()["http_version"] == "2"
    assert "protocol: h2c (HTTP/2 over plain TCP, after Upgrade: h2c)" in upgraded.err
    assert "> GET /get HTTP/1.1\n" in upgraded.err
    assert "< HTTP/2 200 OK\n" in upgraded.err
    declined = hyper("-v", h1_server.url_for("/get"))
    assert declined.status == 0, declined.err
    assert declined.json()["http_version"] == "1.1"
    assert "< HTTP/1.1 200 OK\n" in declined.err
    # The explicit option says the same.
    assert hyper("--h2c=upgrade", h2c_server.url_for("/get")).json()["http_version"] == "2"


def test_h2c_prior_knowledge_option(h2c_server: Any) -> None:
    run = hyper("-v", "--h2c=prior-knowledge", h2c_server.url_for("/get"))
    assert run.status == 0, run.err
    assert run.json()["http_version"] == "2"
    assert "protocol: h2c (HTTP/2 over plain TCP (h2c))" in run.err
    assert "> GET /get HTTP/2\n" in run.err


def test_post_to_http_url_goes_over_http11(h2c_server: Any) -> None:
    # RFC 7540 section 3.2: hyper upgrades only a request without a body.
    run = hyper("-v", h2c_server.url_for("/anything"), "a=1")
    assert run.status == 0, run.err
    assert run.json()["http_version"] == "1.1"
    assert run.json()["json"] == {"a": "1"}


def test_h2c_off_option(h2c_server: Any) -> None:
    run = hyper("--h2c=off", h2c_server.url_for("/get"))
    assert run.status == 0, run.err
    assert run.json()["http_version"] == "1.1"


def test_prior_knowledge_to_http11_only_server_fails_clearly(h1_server: Any) -> None:
    run = hyper("--h2c=prior-knowledge", h1_server.url_for("/get"))
    assert run.status == ExitStatus.ERROR
    assert run.out == b""
    assert run.err.startswith("hyper: error: ")
    assert "--h2c=upgrade" in run.err
    assert run.err.count("\n") == 1


# ---------------------------------------------------------------------------
# TLS verification


def test_untrusted_certificate_fails(h2_server: Any) -> None:
    run = hyper(h2_server.url_for("/get"))
    assert run.status == ExitStatus.ERROR
    assert "TLS failed" in run.err
    assert "--insecure" in run.err
    assert run.out == b""


def test_insecure_skips_verification(h2_server: Any) -> None:
    for flag in ("--insecure", "-k"):
        run = hyper(flag, h2_server.url_for("/get"))
        assert run.status == 0, run.err
        assert run.json()["http_version"] == "2"


def test_ca_cert_directory(h2_server: Any, certs: Any, tmp_path: Path) -> None:
    # A CA directory holds certificates under their subject hash (openssl rehash).
    ca_file = certs.ca_path
    (tmp_path / f"{_subject_hash(ca_file)}.0").write_bytes(ca_file.read_bytes())
    run = hyper("--ca-cert", str(tmp_path), h2_server.url_for("/get"))
    assert run.status == 0, run.err
    assert run.json()["http_version"] == "2"


def _subject_hash(ca_file: Path) -> str:
    proc = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", str(ca_file)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip("openssl is not installed")
    return proc.stdout.strip()


def test_missing_ca_cert_path(h2_server: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    run = hyper("--ca-cert", str(missing), h2_server.url_for("/get"))
    assert run.status == ExitStatus.ERROR
    assert str(missing) in run.err
    assert run.err.startswith("hyper: error: ")


# ---------------------------------------------------------------------------
# Bodies from standard input


def test_dash_sends_stdin(h2_server: Any, certs: Any) -> None:
    body = b"\x00binary\xffbody\n" * 1000
    run = secure(certs, h2_server.url_for("/echo"), "-", stdin=body)
    assert run.status == 0, run.err
    assert run.out == body


def test_piped_stdin_is_the_body(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/anything"), "Content-Type:text/plain", stdin=b"hi")
    assert run.status == 0, run.err
    data = run.json()
    assert data["method"] == "POST"
    assert data["body"] == "hi"
    assert received_headers(data)["content-type"] == ["text/plain"]


def test_empty_piped_stdin_means_no_body(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/anything"), stdin=b"")
    assert run.status == 0, run.err
    assert run.json()["method"] == "GET"


def test_ignore_stdin(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "--ignore-stdin", h2_server.url_for("/anything"), stdin=b"unread")
    assert run.status == 0, run.err
    assert run.json()["method"] == "GET"
    assert run.json()["body"] == ""


def test_fields_win_over_piped_stdin(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/anything"), "a=b", stdin=b"ignored")
    assert run.status == 0, run.err
    assert run.json()["json"] == {"a": "b"}


def test_fields_and_dash_conflict(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/anything"), "a=b", "-", stdin=b"x")
    assert run.status == ExitStatus.ERROR
    assert "either JSON fields or '-'" in run.err


# ---------------------------------------------------------------------------
# Errors and exit statuses


@pytest.mark.parametrize(("code", "expected"), [(404, 4), (418, 4), (500, 5), (503, 5)])
def test_http_error_status(h2_server: Any, certs: Any, code: int, expected: int) -> None:
    run = secure(certs, h2_server.url_for(f"/status/{code}"))
    assert run.status == expected
    assert run.err.startswith(f"hyper: HTTP {code} ")


def test_redirect_is_not_an_error(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "-v", h2_server.url_for("/redirect/1"))
    assert run.status == 0, run.err
    assert "< location: /get\n" in run.err


def test_timeout(h2_server: Any, certs: Any) -> None:
    run = secure(certs, "--timeout", "0.5", h2_server.url_for("/delay/5"))
    assert run.status == ExitStatus.TIMEOUT
    assert "timed out after 0.5s" in run.err


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # Bound but not listening: connections to it are refused.
        run = hyper(f"http://127.0.0.1:{port}/get")
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith(f"hyper: error: cannot connect to 127.0.0.1:{port}")


def test_protocol_error_from_server() -> None:
    peer = ScriptedPeer(
        [handshake(), expect_request("r"), send_goaway("r", ErrorCodes.PROTOCOL_ERROR, b"bad")]
    )
    with peer:
        run = hyper("--timeout", "5", "--h2c=prior-knowledge", f"http://127.0.0.1:{peer.port}/")
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith(f"hyper: error: protocol error from 127.0.0.1:{peer.port}")
    assert run.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["GET", "https://localhost/", "nonsense"], "is not a request item"),
        (["GET", "ftp://localhost/"], "unsupported URL scheme"),
        (["GET", "https://localhost:99999/"], "bad port"),
        (["GET", "http:///path"], "no host"),
        (["GET", "--timeout", "0", "https://localhost/"], "must be greater than zero"),
        (["GET", "--timeout", "soon", "https://localhost/"], "not a number"),
        (["GET", "https://localhost/", "-"], "standard input is closed"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    stdin = io.BytesIO()
    stdin.close()
    out, err = io.BytesIO(), io.StringIO()
    run = Run(int(main(argv, stdin=stdin, stdout=out, stderr=err)), out.getvalue(), err.getvalue())
    assert run.status == ExitStatus.ERROR
    assert message in run.err
    assert run.out == b""


def test_invalid_header_value_is_refused_locally(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/get"), "X-Bad:a\rb")
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith("hyper: error: invalid request: ")


def test_debug_adds_the_traceback(h2_server: Any) -> None:
    run = hyper("--debug", h2_server.url_for("/get"))
    assert run.status == ExitStatus.ERROR
    assert "Traceback (most recent call last)" in run.err
    assert run.err.rstrip("\n").splitlines()[-1].startswith("hyper: error: TLS failed")
