"""Which CAs the ``hyper`` command trusts: ``--ca-cert``, then the
environment as requests (and so HTTPie) reads it (REQUESTS_CA_BUNDLE,
CURL_CA_BUNDLE), then OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR, then
certifi; ``--insecure`` turns verification off whatever is set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from hyper.cli import CA_ENV_VARS, ExitStatus, ca_bundle
from test_cli import _subject_hash, hyper

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_ca_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _args(ca_cert: str | None = None, insecure: bool = False) -> argparse.Namespace:
    return argparse.Namespace(ca_cert=ca_cert, insecure=insecure)


@pytest.mark.parametrize(
    ("ca_cert", "insecure", "environ", "expected"),
    [
        (None, False, {}, True),
        (None, False, {"SSL_CERT_DIR": "/d"}, "/d"),
        (None, False, {"SSL_CERT_FILE": "/f", "SSL_CERT_DIR": "/d"}, "/f"),
        (None, False, {"CURL_CA_BUNDLE": "/c", "SSL_CERT_FILE": "/f"}, "/c"),
        (None, False, {"REQUESTS_CA_BUNDLE": "/r", "CURL_CA_BUNDLE": "/c"}, "/r"),
        # requests skips an empty variable (os.environ.get(...) or ...).
        (None, False, {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "/c"}, "/c"),
        ("/flag", False, {"REQUESTS_CA_BUNDLE": "/r"}, "/flag"),
        ("/flag", True, {"REQUESTS_CA_BUNDLE": "/r"}, False),
        (None, True, {"SSL_CERT_FILE": "/f"}, False),
    ],
)
def test_precedence(
    ca_cert: str | None, insecure: bool, environ: dict[str, str], expected: bool | str
) -> None:
    assert ca_bundle(_args(ca_cert, insecure), environ) == expected


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_ca_file_from_the_environment(
    h2_server: Any, certs: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    assert hyper(h2_server.url_for("/get")).status == ExitStatus.ERROR  # certifi alone
    monkeypatch.setenv(variable, str(certs.ca_path))
    run = hyper(h2_server.url_for("/get"))
    assert run.status == ExitStatus.SUCCESS, run.err
    assert run.json()["http_version"] == "2"


def test_ca_directory_from_ssl_cert_dir(
    h2_server: Any, certs: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / f"{_subject_hash(certs.ca_path)}.0").write_bytes(certs.ca_path.read_bytes())
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    run = hyper(h2_server.url_for("/get"))
    assert run.status == ExitStatus.SUCCESS, run.err


def test_flag_wins_over_the_environment(
    h2_server: Any, certs: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    failed = hyper(h2_server.url_for("/get"))
    assert failed.status == ExitStatus.ERROR
    assert str(missing) in failed.err
    run = hyper("--ca-cert", str(certs.ca_path), h2_server.url_for("/get"))
    assert run.status == ExitStatus.SUCCESS, run.err
    insecure = hyper("-k", h2_server.url_for("/get"))
    assert insecure.status == ExitStatus.SUCCESS, insecure.err


def test_ca_file_without_a_certificate(h2_server: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "empty.pem"
    bundle.write_text("no certificate in here\n")
    run = hyper("--ca-cert", str(bundle), h2_server.url_for("/get"))
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith(f"hyper: error: Could not load CA certificates from {bundle}: ")
    assert run.err.count("\n") == 1
