"""The HTTPie plugin: the real ``http`` command over HTTP/2, h2c and HTTP/1.1.

Most tests run HTTPie in-process through ``httpie.core.main`` (so that
coverage sees the plugin); the ones about the installed command, its help,
the environment variable and the warning line run ``.venv/bin/http`` as a
subprocess. Each run gets its own HTTPie config directory (update checks
off: HTTPie would otherwise reach out to the internet).

Where it makes sense a run with ``--http2`` is compared with the same run
without it: same status, headers and body; only the status line's version
(``HTTP/2.0`` against ``HTTP/1.1``), ``date`` and ``server`` may differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from app import payload

pytestmark = pytest.mark.timeout(90)

HTTP = str(Path(sys.executable).with_name("http"))
#: Response headers that legitimately differ between two runs or protocols.
VOLATILE = {"date", "server"}


@dataclasses.dataclass
class Result:
    status: int
    stdout: bytes
    stderr: str

    @property
    def head(self) -> str:
        return self.stdout.partition(b"\r\n\r\n")[0].decode("latin-1")

    @property
    def body(self) -> bytes:
        return self.stdout.partition(b"\r\n\r\n")[2]

    @property
    def status_line(self) -> str:
        return self.head.split("\r\n", 1)[0]

    @property
    def version_and_code(self) -> str:
        """``HTTP/1.1 200``: hypercorn sends no reason phrase over HTTP/1.1."""
        return " ".join(self.status_line.split(" ")[:2])

    def headers(self, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        lines = self.head.split("\r\n")[1:]
        pairs = [tuple(line.split(": ", 1)) for line in lines]
        ignored = VOLATILE.union(skip)
        return [(n.lower(), v) for n, v in pairs if n.lower() not in ignored]

    def json(self) -> Any:
        return json.loads(self.body)


class HTTPie:
    """Runs ``http ARGS``: ``run`` in-process, ``spawn`` as a subprocess."""

    def __init__(self, config_dir: Path, workdir: Path) -> None:
        self.config_dir = config_dir
        self.workdir = workdir

    def run(self, *args: str, stdin: bytes | None = None) -> Result:
        from httpie.context import Environment
        from httpie.core import main
        from httpie.plugins.registry import plugin_manager

        # HTTPie registers the installed plugins again on every main() call.
        registered = list(plugin_manager)
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(tempfile.TemporaryFile("w+b"))
            err = stack.enter_context(tempfile.TemporaryFile("w+t"))
            stdin_file = None
            if stdin is not None:
                stdin_file = stack.enter_context(tempfile.TemporaryFile("w+b"))
                stdin_file.write(stdin)
                stdin_file.seek(0)
            env = Environment(
                stdout=out,
                stdout_isatty=False,
                stderr=err,
                stderr_isatty=False,
                stdin=stdin_file,
                stdin_isatty=stdin_file is None,
                config_dir=self.config_dir,
            )
            try:
                with warnings.catch_warnings():
                    # HTTPie never closes its requests session: the pooled
                    # sockets of every adapter (its own and ours) are left
                    # to the garbage collector, which warns.
                    warnings.simplefilter("ignore", ResourceWarning)
                    # What HTTPie's urllib3.disable_warnings() at import time
                    # does, undone by pytest's per-test warning filters.
                    warnings.simplefilter("ignore", urllib3.exceptions.HTTPWarning)
                    # HTTPie builds its own HTTPS adapter with --ssl even when
                    # ours replaces it, and urllib3 2 deprecates that argument.
                    warnings.filterwarnings(
                        "ignore", "'ssl_version' option is deprecated", FutureWarning
                    )
                    status = main(args=["http", *args], env=env)
                    gc.collect()
            finally:
                plugin_manager[:] = registered
            out.seek(0)
            err.seek(0)
            return Result(int(status), out.read(), err.read())

    def spawn(
        self,
        *args: str,
        stdin: bytes = b"",
        extra_env: dict[str, str] | None = None,
        program: str = HTTP,
    ) -> Result:
        env = {k: v for k, v in os.environ.items() if k != "HTTPIE_HTTP2"}
        env["HTTPIE_CONFIG_DIR"] = str(self.config_dir)
        env.update(extra_env or {})
        proc = subprocess.run(
            [program, *args],
            input=stdin,
            capture_output=True,
            env=env,
            cwd=self.workdir,
            timeout=60,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))

    def python(self, code: str, *args: str, extra_env: dict[str, str] | None = None) -> Result:
        """Run ``code`` in a fresh Python with ``sys.argv[1:] == args``."""
        env = {k: v for k, v in os.environ.items() if k != "HTTPIE_HTTP2"}
        env["HTTPIE_CONFIG_DIR"] = str(self.config_dir)
        env.update(extra_env or {})
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            cwd=self.workdir,
            timeout=60,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def write_config(directory: Path, **options: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    config = {"disable_update_warnings": True, **options}
    (directory / "config.json").write_text(json.dumps(config))


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPie]:
    monkeypatch.delenv("HTTPIE_HTTP2", raising=False)
    config_dir = tmp_path / "httpie-config"
    write_config(config_dir)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    yield HTTPie(config_dir, workdir)


def server_log(server: Any) -> str:
    return "".join(path.read_text() for path in server.log_paths)


def wait_for_log(read: Callable[[], str], line: str, timeout: float = 10.0) -> str:
    """The log once ``line`` is in it (bounded): servers write their access
    log after the last byte of the response went out."""
    deadline = time.monotonic() + timeout
    text = read()
    while line not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        text = read()
    return text


def verify(certs: Any) -> str:
    return f"--verify={certs.ca_path}"


def assert_same_exchange(h2: Result, h1: Result) -> None:
    """The --http2 run equals the HTTP/1.1 run but for the protocol version."""
    assert h2.status == h1.status == 0, (h2.stderr, h1.stderr)
    assert h2.status_line.startswith("HTTP/2.0 "), h2.head
    assert h1.status_line.startswith("HTTP/1.1 "), h1.head
    assert h2.version_and_code.split(" ")[1] == h1.version_and_code.split(" ")[1]
    assert h2.headers() == h1.headers()
    assert h2.body == h1.body


def app_view(result: Result) -> dict[str, Any]:
    """What the app saw, without what differs between protocols."""
    data = result.json()
    headers = {
        name.lower(): value
        for name, value in data.pop("headers")
        if name.lower() not in ("host", "connection")
    }
    data.pop("http_version")
    data["headers"] = headers
    return dict(data)


# ---------------------------------------------------------------------------
# The options and how they choose the protocol


def test_help_lists_the_options(http: HTTPie) -> None:
    result = http.spawn("--help")
    assert result.status == 0, result.stderr
    text = result.stdout.decode()
    assert "--http2\n" in text
    assert "--http2-prior-knowledge\n" in text
    assert "HTTPIE_HTTP2=1" in text
    assert result.stderr == ""


def test_without_the_flag_httpie_is_unchanged(http: HTTPie, h2_server: Any, certs: Any) -> None:
    result = http.run("--print=hb", verify(certs), h2_server.url_for("/get"))
    assert result.status == 0, result.stderr
    assert result.version_and_code == "HTTP/1.1 200"
    assert result.json()["http_version"] == "1.1"


def test_get_over_h2_matches_http11(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/anything?x=1")
    h2 = http.run("--http2", "--print=hb", verify(certs), url, "a=b")
    h1 = http.run("--print=hb", verify(certs), url, "a=b")
    assert h2.json()["http_version"] == "2"
    assert h2.status_line == "HTTP/2.0 200 OK"
    assert app_view(h2) == app_view(h1)
    # The body echoes the request headers, so its length differs.
    assert h2.headers(skip=("content-length",)) == h1.headers(skip=("content-length",))


@pytest.mark.parametrize("path", ["/bytes/70000", "/gzip", "/status/204", "/redirect/1"])
def test_responses_match_http11(http: HTTPie, h2_server: Any, certs: Any, path: str) -> None:
    url = h2_server.url_for(path)
    h2 = http.run("--http2", "--print=hb", verify(certs), url)
    h1 = http.run("--print=hb", verify(certs), url)
    if path == "/gzip":
        # The body echoes the request's headers and protocol.
        assert h2.json()["http_version"] == "2"
        assert h2.headers(skip=("content-length",)) == h1.headers(skip=("content-length",))
        assert h2.status_line == "HTTP/2.0 200 OK"
        return
    assert_same_exchange(h2, h1)


REPEATED = [
    ("set-cookie", "first=1; Path=/"),
    ("set-cookie", "second=2; Path=/"),
    ("x-multi", "one"),
    ("x-multi", "two"),
]


def test_repeated_headers_h2(http: HTTPie, h2_server: Any, certs: Any) -> None:
    # Each on its own line, as HTTPie prints them for http:// (its https://
    # adapter joins them with commas; HTTPie means to keep them apart).
    result = http.run("--http2", "--headers", verify(certs), h2_server.url_for("/headers/repeat"))
    assert result.status_line == "HTTP/2.0 200 OK", result.stderr
    assert [h for h in result.headers() if h[0] in ("set-cookie", "x-multi")] == REPEATED


def test_repeated_headers_h2c_match_http11(http: HTTPie, h2c_server: Any) -> None:
    url = h2c_server.url_for("/headers/repeat")
    h2 = http.run("--http2-prior-knowledge", "--headers", url)
    h1 = http.run("--headers", url)
    assert h2.status_line == "HTTP/2.0 200 OK", h2.stderr
    assert h2.headers() == h1.headers()
    assert [h for h in h2.headers() if h[0] in ("set-cookie", "x-multi")] == REPEATED


def test_tls_server_without_h2_falls_back(http: HTTPie, h1_tls_server: Any, certs: Any) -> None:
    result = http.run("--http2", "--print=hb", verify(certs), h1_tls_server.url_for("/get"))
    assert result.status == 0, result.stderr
    assert result.version_and_code == "HTTP/1.1 200"
    assert result.json()["http_version"] == "1.1"


def test_http_url_upgrades_to_h2c(http: HTTPie, h2c_server: Any) -> None:
    url = h2c_server.url_for("/get")
    h2 = http.run("--http2", "--print=hb", url)
    h1 = http.run("--print=hb", url)
    assert h2.status_line == "HTTP/2.0 200 OK", h2.stderr
    assert h2.json()["http_version"] == "2"
    assert h1.json()["http_version"] == "1.1"
    assert h2.headers(skip=("content-length",)) == h1.headers(skip=("content-length",))


def test_http_url_without_h2c_falls_back(http: HTTPie, h1_server: Any) -> None:
    result = http.run("--http2", "--print=hb", h1_server.url_for("/get"))
    assert result.status == 0, result.stderr
    assert result.version_and_code == "HTTP/1.1 200"


def test_upgrade_needs_a_bodiless_request(http: HTTPie, h2c_server: Any) -> None:
    # RFC 7540 section 3.2: hyper upgrades only a first request without a
    # body, so a POST goes over HTTP/1.1; prior knowledge has no such limit.
    url = h2c_server.url_for("/anything")
    upgraded = http.run("--http2", "--print=hb", url, "a=b")
    assert upgraded.json()["http_version"] == "1.1"
    direct = http.run("--http2-prior-knowledge", "--print=hb", url, "a=b")
    assert direct.status_line == "HTTP/2.0 200 OK", direct.stderr
    assert direct.json()["http_version"] == "2"
    assert direct.json()["json"] == {"a": "b"}


def test_prior_knowledge_on_https_uses_alpn(http: HTTPie, h2_server: Any, certs: Any) -> None:
    result = http.run(
        "--http2-prior-knowledge", "--print=hb", verify(certs), h2_server.url_for("/get")
    )
    assert result.status_line == "HTTP/2.0 200 OK", result.stderr


def test_prior_knowledge_to_http11_server_is_an_error(http: HTTPie, h1_server: Any) -> None:
    result = http.run("--http2-prior-knowledge", h1_server.url_for("/get"))
    assert result.status == 1
    assert "http: error: " in result.stderr


def test_no_http2_after_http2(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    result = http.run("--http2", "--no-http2", "--print=h", verify(certs), url)
    assert result.version_and_code == "HTTP/1.1 200", result.stderr


def test_default_options_in_config(http: HTTPie, h2_server: Any, certs: Any) -> None:
    write_config(http.config_dir, default_options=["--http2"])
    url = h2_server.url_for("/get")
    assert http.run("--print=h", verify(certs), url).status_line == "HTTP/2.0 200 OK"
    off = http.run("--no-http2", "--print=h", verify(certs), url)
    assert off.version_and_code == "HTTP/1.1 200"


def test_environment_variable(
    http: HTTPie, monkeypatch: pytest.MonkeyPatch, h2_server: Any, h2c_server: Any, certs: Any
) -> None:
    monkeypatch.setenv("HTTPIE_HTTP2", "1")
    https_url, http_url = h2_server.url_for("/get"), h2c_server.url_for("/get")
    assert http.run("--print=h", verify(certs), https_url).status_line == "HTTP/2.0 200 OK"
    assert http.run("--print=h", http_url).status_line == "HTTP/2.0 200 OK"
    assert http.run("--no-http2", "--print=h", http_url).version_and_code == "HTTP/1.1 200"
    monkeypatch.setenv("HTTPIE_HTTP2", "0")
    assert http.run("--print=h", verify(certs), https_url).version_and_code == "HTTP/1.1 200"


def test_environment_variable_falls_back(
    http: HTTPie, h1_server: Any, h1_tls_server: Any, certs: Any
) -> None:
    on = {"HTTPIE_HTTP2": "1"}
    plain = http.spawn("--print=h", h1_server.url_for("/get"), extra_env=on)
    assert plain.version_and_code == "HTTP/1.1 200", plain.stderr
    tls = http.spawn("--print=h", verify(certs), h1_tls_server.url_for("/get"), extra_env=on)
    assert tls.version_and_code == "HTTP/1.1 200", tls.stderr
    assert plain.stderr == tls.stderr == ""


def test_bad_environment_value_warns_once(http: HTTPie, h2_server: Any, certs: Any) -> None:
    result = http.spawn(
        "--print=h", verify(certs), h2_server.url_for("/get"), extra_env={"HTTPIE_HTTP2": "maybe"}
    )
    assert result.status == 0
    assert result.version_and_code == "HTTP/1.1 200"
    assert result.stderr == (
        "hyper HTTP/2 plugin: warning: ignoring HTTPIE_HTTP2='maybe'"
        " (use 1 to turn HTTP/2 on, 0 to turn it off)\n"
    )


def test_installed_commands_over_h2(http: HTTPie, h2_server: Any, certs: Any) -> None:
    result = http.spawn("--http2", "--print=hb", verify(certs), h2_server.url_for("/get"))
    assert result.status == 0, result.stderr
    assert result.status_line == "HTTP/2.0 200 OK"
    assert result.stderr == ""
    # `https` is `http` with https:// as the default scheme.
    https = str(Path(HTTP).with_name("https"))
    url = f"{h2_server.authority}/get"
    result = http.spawn("--http2", "--print=h", verify(certs), url, program=https)
    assert result.status_line == "HTTP/2.0 200 OK", result.stderr


# ---------------------------------------------------------------------------
# When the plugin cannot attach itself

_WITHOUT_PARSER = """
import sys
import httpie.cli.definition as definition
real = definition.parser
del definition.parser          # a later HTTPie keeps its parser elsewhere
import httpie_plugin
definition.parser = real
from httpie.core import main
sys.exit(main(["http", *sys.argv[1:]]))
"""

_WITHOUT_PARSED_ARGS = """
import sys
import httpie.cli.definition as definition
import httpie_plugin
parser = definition.parser
parse = parser.parse_args
def parse_args(*args, **kwargs):  # a later HTTPie does not leave parser.args
    namespace = parse(*args, **kwargs)
    del parser.args
    return namespace
parser.parse_args = parse_args
from httpie.core import main
sys.exit(main(["http", *sys.argv[1:]]))
"""

_WITH_NATIVE_HTTP2 = """
import sys
import httpie.cli.definition as definition
definition.parser.add_argument("--http2", action="store_true")  # HTTPie's own
import httpie_plugin
from httpie.core import main
sys.exit(main(["http", *sys.argv[1:]]))
"""


def _one_warning(stderr: str, what: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hyper HTTP/2 plugin: warning: ")
    assert what in lines[0]
    assert lines[0].endswith("; HTTPie runs without --http2")


def test_no_parser_to_attach_to(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    result = http.python(_WITHOUT_PARSER, "--print=h", verify(certs), url)
    assert result.status == 0
    assert result.version_and_code == "HTTP/1.1 200"
    _one_warning(result.stderr, "httpie.cli.definition.parser")
    # HTTPIE_HTTP2 cannot turn it on either.
    on = http.python(
        _WITHOUT_PARSER, "--print=h", verify(certs), url, extra_env={"HTTPIE_HTTP2": "1"}
    )
    assert on.version_and_code == "HTTP/1.1 200"
    _one_warning(on.stderr, "httpie.cli.definition.parser")


def test_no_parsed_arguments(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    result = http.python(_WITHOUT_PARSED_ARGS, "--http2", "--print=h", verify(certs), url)
    assert result.status == 0
    assert result.version_and_code == "HTTP/1.1 200"
    _one_warning(result.stderr, "parser.args")


def test_httpie_with_its_own_http2_option(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    result = http.python(_WITH_NATIVE_HTTP2, "--http2", "--print=h", verify(certs), url)
    assert result.status == 0
    assert result.version_and_code == "HTTP/1.1 200"
    _one_warning(result.stderr, "HTTPie already has this option")


# ---------------------------------------------------------------------------
# TLS options


def test_verify_options(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    for option in (verify(certs), "--verify=no"):
        result = http.run("--http2", "--print=h", option, url)
        assert result.status_line == "HTTP/2.0 200 OK", result.stderr
    untrusted = http.run("--http2", url)
    assert untrusted.status == 1
    assert "SSLError" in untrusted.stderr
    assert "SSLError" in http.run(url).stderr


def test_verify_with_missing_ca_path(http: HTTPie, h2_server: Any, tmp_path: Path) -> None:
    url = h2_server.url_for("/get")
    missing = f"--verify={tmp_path / 'missing.pem'}"
    h2, h1 = http.run("--http2", missing, url), http.run(missing, url)
    assert h2.status == h1.status == 1
    assert "invalid path" in h2.stderr and "invalid path" in h1.stderr


@pytest.fixture
def client_cert_server(start_hypercorn: Any, certs: Any) -> Any:
    # hypercorn asks for a client certificate and refuses a handshake without one.
    return start_hypercorn(
        True,
        alpn_protocols=["h2", "http/1.1"],
        ca_certs=str(certs.ca_path),
        verify_mode=int(ssl.CERT_REQUIRED),
    )


def test_client_certificate(http: HTTPie, client_cert_server: Any, certs: Any) -> None:
    url = client_cert_server.url_for("/get")
    pair = ("--cert", str(certs.client_cert_path), "--cert-key", str(certs.client_key_path))
    combined = ("--cert", str(certs.client_combined_path))
    for cert_args in (pair, combined):
        result = http.run("--http2", "--print=h", verify(certs), *cert_args, url)
        assert result.status_line == "HTTP/2.0 200 OK", result.stderr
    refused = http.run("--http2", verify(certs), url)
    assert refused.status == 1


def test_client_key_with_password(
    http: HTTPie, client_cert_server: Any, certs: Any, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.client_key_path.read_bytes(), password=None)
    encrypted = tmp_path / "client-encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    url = client_cert_server.url_for("/get")
    cert_args = ("--cert", str(certs.client_cert_path), "--cert-key", str(encrypted))
    ok = http.run("--http2", "--print=h", verify(certs), *cert_args, "--cert-key-pass=s3cret", url)
    assert ok.status_line == "HTTP/2.0 200 OK", ok.stderr
    wrong = http.run("--http2", verify(certs), *cert_args, "--cert-key-pass=wrong", url)
    assert wrong.status == 1


def test_ssl_version(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/get")
    # HTTPie offers no tls1.3 (the ssl module has no PROTOCOL_TLSv1_3);
    # "ssl2.3" means any version.
    for version in ("tls1.2", "ssl2.3"):
        result = http.run("--http2", f"--ssl={version}", "--print=h", verify(certs), url)
        assert result.status_line == "HTTP/2.0 200 OK", result.stderr


@pytest.mark.parametrize(
    ("ciphers", "works"),
    [
        # The test server (hypercorn) allows only ECDHE+AESGCM with TLS 1.2.
        ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", False),
    ],
)
def test_ssl_and_ciphers_reach_the_adapter(
    http: HTTPie, h2_server: Any, certs: Any, ciphers: str, works: bool
) -> None:
    # With --ssl=tls1.2 the cipher list decides; if either option were lost,
    # TLS 1.3 (or another TLS 1.2 suite) would succeed where it must not.
    url = h2_server.url_for("/get")
    args = ("--ssl=tls1.2", f"--ciphers={ciphers}", "--print=h", verify(certs), url)
    h2, h1 = http.run("--http2", *args), http.run(*args)
    if works:
        assert h2.status_line == "HTTP/2.0 200 OK", h2.stderr
        assert h1.version_and_code == "HTTP/1.1 200", h1.stderr
    else:
        assert h2.status == h1.status == 1, (h2.stdout, h1.stdout)
        assert "SSLError" in h2.stderr


# ---------------------------------------------------------------------------
# Request options


def test_proxy_connect_tunnel(
    http: HTTPie, tinyproxy_server: Any, h2_server: Any, certs: Any
) -> None:
    proxy = f"--proxy=https:{tinyproxy_server.url}"
    result = http.run("--http2", proxy, "--print=hb", verify(certs), h2_server.url_for("/get"))
    assert result.status_line == "HTTP/2.0 200 OK", result.stderr
    assert result.json()["http_version"] == "2"


def test_proxy_plain_http(http: HTTPie, tinyproxy_server: Any, h2c_server: Any) -> None:
    # Through a plain HTTP proxy the proxy speaks to the origin: HTTP/1.1.
    proxy = f"--proxy=http:{tinyproxy_server.url}"
    url = h2c_server.url_for("/get")
    h2, h1 = http.run("--http2", proxy, "--print=hb", url), http.run(proxy, "--print=hb", url)
    assert h2.status == h1.status == 0, (h2.stderr, h1.stderr)
    assert h2.version_and_code == h1.version_and_code
    assert h2.json()["http_version"] == h1.json()["http_version"]


def test_timeout(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/delay/5")
    h2 = http.run("--http2", "--timeout=0.5", verify(certs), url)
    h1 = http.run("--timeout=0.5", verify(certs), url)
    assert h2.status == h1.status == 2
    assert "Request timed out (0.5s)" in h2.stderr


def test_session_keeps_cookies(http: HTTPie, h2_server: Any, certs: Any) -> None:
    set_url = h2_server.url_for("/cookies/set?flavour=oat&size=big")
    first = http.run("--http2", "--session=s", "--print=h", verify(certs), set_url)
    assert first.status_line == "HTTP/2.0 302 Found", first.stderr
    second = http.run(
        "--http2", "--session=s", "--print=hb", verify(certs), h2_server.url_for("/cookies")
    )
    assert second.status_line == "HTTP/2.0 200 OK"
    assert second.json() == {"cookies": {"flavour": "oat", "size": "big"}}


def test_follow_redirects(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/redirect/3")
    result = http.run("--http2", "--follow", "--all", "--print=hb", verify(certs), url)
    assert result.status == 0, result.stderr
    status_lines = [
        line for line in result.stdout.decode().splitlines() if line.startswith("HTTP/")
    ]
    assert status_lines == ["HTTP/2.0 302 Found"] * 3 + ["HTTP/2.0 200 OK"]
    final_body = result.stdout.rpartition(b"\r\n\r\n")[2]
    assert json.loads(final_body)["path"] == "/get"


def test_follow_cookie_redirect(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/cookies/set?a=1")
    result = http.run("--http2", "--follow", "--print=b", verify(certs), url)
    assert json.loads(result.stdout) == {"cookies": {"a": "1"}}


def test_download(http: HTTPie, h2_server: Any, certs: Any, tmp_path: Path) -> None:
    size = 3 * 1024 * 1024 + 17
    target = tmp_path / "download.bin"
    result = http.run(
        "--http2",
        "--download",
        f"--output={target}",
        verify(certs),
        h2_server.url_for(f"/bytes/{size}"),
    )
    assert result.status == 0, result.stderr
    assert target.read_bytes() == payload(size)
    assert "Downloading" in result.stderr and "Done" in result.stderr
    line = f'"GET /bytes/{size} 2"'
    assert line in wait_for_log(lambda: server_log(h2_server), line)


def test_download_continue(http: HTTPie, nginx_server: Any, certs: Any, tmp_path: Path) -> None:
    whole = payload(1024 * 1024)
    target = tmp_path / "big.bin"
    target.write_bytes(whole[:300_000])
    result = http.run(
        "--http2",
        "--download",
        "--continue",
        f"--output={target}",
        verify(certs),
        nginx_server.url_for("/big.bin"),
    )
    assert result.status == 0, result.stderr
    assert target.read_bytes() == whole
    access_log = nginx_server.conf_path.parent / "access.log"
    line = '"GET /big.bin HTTP/2.0" 206 '
    assert line in wait_for_log(access_log.read_text, line)


def test_stream(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/stream/50000")
    h2 = http.run("--http2", "--stream", "--print=b", verify(certs), url)
    h1 = http.run("--stream", "--print=b", verify(certs), url)
    assert h2.status == h1.status == 0, (h2.stderr, h1.stderr)
    assert h2.stdout == h1.stdout == payload(50000)


@pytest.mark.parametrize(
    "args",
    [
        (("--chunked",), ("a=b",)),
        (("--form",), ("a=b", "c=d")),
        (("--raw", "raw body \u00e9"), ()),
        (("--json",), ("n:=1", "list:=[1,2]")),
    ],
    ids=["chunked", "form", "raw", "json"],
)
def test_request_bodies(
    http: HTTPie, h2_server: Any, certs: Any, args: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    url = h2_server.url_for("/anything")
    options, items = args
    h2 = http.run("--http2", "--print=hb", verify(certs), *options, url, *items)
    h1 = http.run("--print=hb", verify(certs), *options, url, *items)
    assert h2.status_line == "HTTP/2.0 200 OK", h2.stderr
    view2, view1 = app_view(h2), app_view(h1)
    # HTTP/2 has no Transfer-Encoding (RFC 9113 section 8.2.2): DATA frames
    # carry the body, so only HTTP/1.1 shows the chunked header.
    view1["headers"].pop("transfer-encoding", None)
    assert view2 == view1
    assert view2["body"]


def test_multipart_file_upload(http: HTTPie, h2_server: Any, certs: Any, tmp_path: Path) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload(200_000))
    url = h2_server.url_for("/anything")
    options = ("--multipart", "--boundary=hyper-test-boundary")
    items = ("name=value", f"file@{upload}")
    h2 = http.run("--http2", "--print=hb", verify(certs), *options, url, *items)
    h1 = http.run("--print=hb", verify(certs), *options, url, *items)
    assert h2.status_line == "HTTP/2.0 200 OK", h2.stderr
    assert app_view(h2) == app_view(h1)
    assert payload(200_000).decode("latin-1") in h2.json()["body"]


def test_stdin_body(http: HTTPie, h2_server: Any, certs: Any) -> None:
    body = payload(100_000)
    url = h2_server.url_for("/echo")
    result = http.run("--http2", "--print=hb", verify(certs), url, stdin=body)
    assert result.status_line == "HTTP/2.0 200 OK", result.stderr
    assert result.body == body


def test_verbose_prints_both_messages(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/anything")
    h2 = http.run("--http2", "-v", verify(certs), url, "a=b")
    h1 = http.run("-v", verify(certs), url, "a=b")
    assert h2.status == 0, h2.stderr
    request2, _, response2 = h2.stdout.decode().partition("\r\n\r\n{")
    request1 = h1.stdout.decode().partition("\r\n\r\n{")[0]
    # The request HTTPie prints is the same: it shows what it prepared.
    assert request2 == request1
    assert "HTTP/2.0 200 OK" in response2


def test_headers_and_body_options(http: HTTPie, h2_server: Any, certs: Any) -> None:
    url = h2_server.url_for("/bytes/100")
    headers_only = http.run("--http2", "--headers", verify(certs), url)
    assert headers_only.status_line == "HTTP/2.0 200 OK"
    assert headers_only.body == b""
    body_only = http.run("--http2", "--body", verify(certs), url)
    assert body_only.stdout == payload(100)


@pytest.mark.parametrize(
    ("path", "expected"), [("/status/404", 4), ("/status/503", 5), ("/redirect/1", 3)]
)
def test_check_status(http: HTTPie, h2_server: Any, certs: Any, path: str, expected: int) -> None:
    url = h2_server.url_for(path)
    h2 = http.run("--http2", "--check-status", "--print=h", verify(certs), url)
    h1 = http.run("--check-status", "--print=h", verify(certs), url)
    assert h2.status == h1.status == expected
    assert h2.status_line.startswith("HTTP/2.0 ")


# ---------------------------------------------------------------------------
# The pieces, without HTTPie around them


@pytest.mark.parametrize(
    ("argv", "environ", "mode"),
    [
        ([], {}, "off"),
        (["--http2"], {}, "negotiate"),
        (["--http2-prior-knowledge"], {}, "prior-knowledge"),
        (["--http2", "--no-http2"], {}, "off"),
        (["--no-http2", "--http2"], {}, "negotiate"),
        ([], {"HTTPIE_HTTP2": "1"}, "negotiate"),
        ([], {"HTTPIE_HTTP2": " On "}, "negotiate"),
        ([], {"HTTPIE_HTTP2": "0"}, "off"),
        ([], {"HTTPIE_HTTP2": ""}, "off"),
        (["--no-http2"], {"HTTPIE_HTTP2": "yes"}, "off"),
        (["--http2-prior-knowledge"], {"HTTPIE_HTTP2": "true"}, "prior-knowledge"),
    ],
)
def test_mode_from_options_and_environment(
    argv: list[str], environ: dict[str, str], mode: str
) -> None:
    import argparse

    from httpie_plugin.options import Mode, add_options, mode_from

    parser = argparse.ArgumentParser()
    add_options(parser)
    assert mode_from(parser.parse_args(argv), environ) is Mode(mode)


def test_bad_environment_value() -> None:
    from httpie_plugin.options import EnvValueError, mode_from

    with pytest.raises(EnvValueError, match="HTTPIE_HTTP2='2'"):
        mode_from(None, {"HTTPIE_HTTP2": "2"})


def test_options_refuse_a_parser_that_has_them() -> None:
    import argparse

    from httpie_plugin.options import add_options

    parser = argparse.ArgumentParser()
    parser.add_argument("--http2")
    with pytest.raises(argparse.ArgumentError):
        add_options(parser)


def test_adapter_settings() -> None:
    import argparse

    from httpie_plugin.options import Mode
    from httpie_plugin.settings import adapter_settings, tls_version

    args = argparse.Namespace(ssl_version="tls1.2", ciphers="ECDHE+AESGCM")
    https = adapter_settings("https", Mode.NEGOTIATE, args)
    assert https.kwargs() == {
        "h2c": "upgrade",
        "ssl_version": ssl.TLSVersion.TLSv1_2,
        "ciphers": "ECDHE+AESGCM",
    }
    # HTTPie leaves --ciphers None or "" when not given.
    plain = argparse.Namespace(ssl_version=None, ciphers="")
    assert adapter_settings("https", Mode.NEGOTIATE, plain).kwargs()["ciphers"] is None
    assert adapter_settings("http", Mode.NEGOTIATE, args).h2c == "upgrade"
    assert adapter_settings("http", Mode.PRIOR_KNOWLEDGE, args).h2c == "prior-knowledge"
    assert tls_version("ssl2.3") is None
    assert tls_version("tls1.1") is ssl.TLSVersion.TLSv1_1
    with pytest.raises(ValueError, match="tls9"):
        tls_version("tls9")
