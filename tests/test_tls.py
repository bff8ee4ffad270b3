"""hyper.tls against a real TLS server on loopback.

The server is the standard library's ``ssl`` module in a thread: it accepts
one connection, does the handshake, records what was negotiated (ALPN
protocol, TLS version, cipher, the client's certificate) and answers b"ok".
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import certifi
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from hyper.exceptions import HyperError, TLSError
from hyper.tls import (
    CIPHERS,
    H2_ALPN_PROTOCOLS,
    H2_CIPHERS,
    H2_PROTOCOL,
    HTTP11_PROTOCOL,
    create_context,
    h2_allowed,
    init_context,
)

TIMEOUT = 10.0
PASSWORD = "correct horse"


# -- certificates ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Files:
    ca: trustme.CA
    ca_pem: str
    server: trustme.LeafCert
    client_cert: str  # chain only
    client_key: str  # unencrypted
    client_combined: str  # chain + key in one file
    client_key_encrypted: str  # encrypted with PASSWORD
    other_key: str  # a key that matches no certificate here
    other_ca: trustme.CA
    other_server: trustme.LeafCert  # issued by other_ca


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    other_ca = trustme.CA()
    client = ca.issue_cert("client.example.org")
    stranger = ca.issue_cert("stranger.example.org")

    def write(name: str, data: bytes) -> str:
        path = directory / name
        path.write_bytes(data)
        return str(path)

    chain = b"".join(blob.bytes() for blob in client.cert_chain_pems)
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    return Files(
        ca=ca,
        ca_pem=write("ca.pem", ca.cert_pem.bytes()),
        server=ca.issue_cert("localhost", "127.0.0.1"),
        client_cert=write("client.pem", chain),
        client_key=write("client.key", client.private_key_pem.bytes()),
        client_combined=write("combined.pem", chain + client.private_key_pem.bytes()),
        client_key_encrypted=write("client-encrypted.key", encrypted),
        other_key=write("other.key", stranger.private_key_pem.bytes()),
        other_ca=other_ca,
        other_server=other_ca.issue_cert("localhost", "127.0.0.1"),
    )


# -- the server ----------------------------------------------------------------------


@dataclasses.dataclass
class Handshake:
    """What the server saw: either the negotiated parameters or an error."""

    alpn: str | None = None
    version: str | None = None
    cipher: str | None = None
    client_cert: dict[str, Any] | None = None
    error: BaseException | None = None


class OneShotTLSServer:
    """Accept one TLS connection on 127.0.0.1 and record the handshake."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        self._results: queue.Queue[Handshake] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError as exc:
            self._results.put(Handshake(error=exc))
            return
        conn.settimeout(TIMEOUT)
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            conn.close()
            self._results.put(Handshake(error=exc))
            return
        with tls:
            cipher = tls.cipher()
            self._results.put(
                Handshake(
                    alpn=tls.selected_alpn_protocol(),
                    version=tls.version(),
                    cipher=cipher[0] if cipher else None,
                    client_cert=tls.getpeercert() or None,
                )
            )
            try:
                tls.sendall(b"ok")
                tls.unwrap()
            except (ssl.SSLError, OSError):
                pass

    def result(self) -> Handshake:
        return self._results.get(timeout=TIMEOUT)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(TIMEOUT)


def server_context(
    cert: trustme.LeafCert,
    alpn: list[str] | None = None,
    client_ca: trustme.CA | None = None,
    configure: Callable[[ssl.SSLContext], None] | None = None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    if configure is not None:
        configure(context)
    return context


@pytest.fixture
def serve() -> Iterator[Callable[[ssl.SSLContext], OneShotTLSServer]]:
    servers: list[OneShotTLSServer] = []

    def start(context: ssl.SSLContext) -> OneShotTLSServer:
        server = OneShotTLSServer(context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def talk(
    client: ssl.SSLContext, server: OneShotTLSServer, hostname: str = "localhost"
) -> tuple[str | None, bytes]:
    """Connect, read the server's answer; return (ALPN protocol, answer)."""
    # Two statements: a parenthesised "with" needs Python 3.10.
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:  # noqa: SIM117
        with client.wrap_socket(sock, server_hostname=hostname) as tls:
            return tls.selected_alpn_protocol(), tls.recv(16)


# -- the context's settings ------------------------------------------------------------


def test_constants() -> None:
    assert H2_PROTOCOL == "h2"
    assert HTTP11_PROTOCOL == "http/1.1"
    assert H2_ALPN_PROTOCOLS == ("h2", "http/1.1")


@pytest.mark.parametrize("make", [init_context, create_context])
def test_defaults_follow_rfc_9113(make: Callable[[], ssl.SSLContext]) -> None:
    context = make()

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION


def test_http2s_cipher_suites_come_first_then_pythons_defaults() -> None:
    # RFC 9113 section 9.2.2 and Appendix A: HTTP/2 over TLS 1.2 wants an
    # ephemeral AEAD suite, so those are offered first; the rest of Python's
    # default list follows, so that servers requests reaches are reached.
    ciphers = init_context().get_ciphers()
    tls12 = [c for c in ciphers if c["protocol"] == "TLSv1.2"]
    aead = [c["aead"] and c["kea"] in ("kx-ecdhe", "kx-dhe") for c in tls12]

    assert aead == sorted(aead, reverse=True)
    assert aead.count(False) > 0
    names = [cipher["name"] for cipher in ciphers]
    # The suite RFC 9113 section 9.2.2 makes mandatory for TLS 1.2.
    assert "ECDHE-RSA-AES128-GCM-SHA256" in names
    default = {c["name"] for c in ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).get_ciphers()}
    assert default <= set(names)
    for cipher in ciphers:
        assert cipher["kea"] in ("kx-any", "kx-ecdhe", "kx-dhe"), cipher["name"]
    assert CIPHERS.startswith(H2_CIPHERS)


def test_default_trust_is_certifis_bundle() -> None:
    expected = ssl.create_default_context(cafile=certifi.where()).get_ca_certs()

    assert init_context().get_ca_certs() == expected
    assert create_context().get_ca_certs() == expected


# -- handshakes ------------------------------------------------------------------------


def test_h2_is_negotiated_over_tls_1_2_or_better(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server, alpn=["h2", "http/1.1"]))

    alpn, answer = talk(init_context(cert_path=files.ca_pem), server)

    seen = server.result()
    assert seen.error is None
    assert alpn == seen.alpn == "h2"
    assert answer == b"ok"
    assert seen.version in ("TLSv1.2", "TLSv1.3")


def test_http_1_1_is_offered_too(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server, alpn=["http/1.1"]))

    alpn, _ = talk(init_context(cert_path=files.ca_pem), server)

    assert alpn == server.result().alpn == "http/1.1"


def test_a_server_without_alpn_selects_nothing(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server))

    alpn, answer = talk(init_context(cert_path=files.ca_pem), server)

    assert alpn is None
    assert answer == b"ok"


def test_custom_alpn_list(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server, alpn=["h2", "http/1.1"]))

    alpn, _ = talk(create_context(verify=files.ca_pem, alpn=["http/1.1"]), server)

    assert alpn == "http/1.1"


def _tls12_only(context: ssl.SSLContext) -> None:
    context.maximum_version = ssl.TLSVersion.TLSv1_2


def test_tls_1_2_uses_an_ephemeral_aead_suite(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server, alpn=["h2"], configure=_tls12_only))

    talk(init_context(cert_path=files.ca_pem), server)

    seen = server.result()
    assert seen.version == "TLSv1.2"
    assert seen.cipher is not None
    assert seen.cipher.startswith(("ECDHE-", "DHE-"))
    assert "GCM" in seen.cipher or "CHACHA20" in seen.cipher


def _cbc_only(context: ssl.SSLContext) -> None:
    _tls12_only(context)
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:AES128-SHA")


def test_a_server_with_only_cbc_suites_is_reached(files: Files, serve: Any) -> None:
    # requests reaches such a server, so hyper must too (over HTTP/1.1: see
    # tests/test_tls_fallback.py).
    server = serve(server_context(files.server, alpn=["http/1.1"], configure=_cbc_only))

    alpn, answer = talk(init_context(cert_path=files.ca_pem), server)

    assert (alpn, answer) == ("http/1.1", b"ok")
    assert server.result().cipher == "ECDHE-ECDSA-AES128-SHA256"
    assert not h2_allowed("TLSv1.2", "ECDHE-ECDSA-AES128-SHA256")


def _tls11_only(context: ssl.SSLContext) -> None:
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        # Asking for TLS 1.1 is deprecated, which is the point of this test.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1


def test_a_tls_1_1_server_is_refused(files: Files, serve: Any) -> None:
    # Control: this OpenSSL can speak TLS 1.1 at all when both sides allow it.
    control = serve(server_context(files.server, configure=_tls11_only))
    permissive = ssl.create_default_context(cafile=files.ca_pem)
    _tls11_only(permissive)
    talk(permissive, control)
    assert control.result().version == "TLSv1.1"

    server = serve(server_context(files.server, configure=_tls11_only))
    with pytest.raises(ssl.SSLError):
        talk(init_context(cert_path=files.ca_pem), server)


# -- verification ----------------------------------------------------------------------


def test_a_certificate_from_another_ca_fails_verification(files: Files, serve: Any) -> None:
    server = serve(server_context(files.other_server))

    with pytest.raises(ssl.SSLCertVerificationError):
        talk(init_context(cert_path=files.ca_pem), server)


def test_the_default_bundle_does_not_trust_the_test_ca(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server))

    with pytest.raises(ssl.SSLCertVerificationError):
        talk(init_context(), server)


def test_the_host_name_is_checked(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server))

    with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
        talk(init_context(cert_path=files.ca_pem), server, hostname="example.org")


def test_verify_false_checks_nothing(files: Files, serve: Any) -> None:
    server = serve(server_context(files.other_server, alpn=["h2"]))

    alpn, answer = talk(create_context(verify=False), server, hostname="example.org")

    assert (alpn, answer) == ("h2", b"ok")
    context = create_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


def test_verify_with_a_ca_file(files: Files, serve: Any) -> None:
    server = serve(server_context(files.server))

    assert talk(create_context(verify=files.ca_pem), server)[1] == b"ok"


def test_a_ca_directory_is_accepted(files: Files, serve: Any, tmp_path: Path) -> None:
    # OpenSSL finds CA files in a directory by the hash of their subject.
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command is needed to hash the CA directory"
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", files.ca_pem],
        capture_output=True,
        check=True,
        text=True,
        timeout=TIMEOUT,
    ).stdout.strip()
    (tmp_path / f"{subject_hash}.0").write_bytes(Path(files.ca_pem).read_bytes())

    server = serve(server_context(files.server))
    assert talk(create_context(verify=str(tmp_path)), server)[1] == b"ok"
    server = serve(server_context(files.server))
    assert talk(init_context(cert_path=str(tmp_path)), server)[1] == b"ok"


def test_an_empty_ca_directory_trusts_nothing(files: Files, serve: Any, tmp_path: Path) -> None:
    server = serve(server_context(files.server))

    with pytest.raises(ssl.SSLCertVerificationError):
        talk(create_context(verify=str(tmp_path)), server)


@pytest.mark.parametrize(
    "make",
    [lambda path: create_context(verify=path), lambda path: init_context(cert_path=path)],
)
def test_a_missing_ca_path_raises_oserror_like_requests(
    make: Callable[[str], ssl.SSLContext], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.pem")

    with pytest.raises(OSError) as info:
        make(missing)

    assert str(info.value) == (
        f"Could not find a suitable TLS CA certificate bundle, invalid path: {missing}"
    )


# -- client certificates ---------------------------------------------------------------


def _client_cert_names(seen: Handshake) -> str:
    assert seen.error is None, seen.error
    assert seen.client_cert is not None
    return str(seen.client_cert["subjectAltName"])


def test_without_a_client_certificate_the_server_refuses(files: Files, serve: Any) -> None:
    # Shows that the server below really requires one.
    server = serve(server_context(files.server, client_ca=files.ca))

    with pytest.raises((ssl.SSLError, ConnectionError)):
        _, answer = talk(init_context(cert_path=files.ca_pem), server)
        if answer == b"":  # TLS 1.3: the refusal may arrive as a plain close
            raise ConnectionError("closed")

    assert server.result().client_cert is None


def _client_contexts(files: Files) -> dict[str, Callable[[], ssl.SSLContext]]:
    return {
        "combined file": lambda: init_context(files.ca_pem, cert=files.client_combined),
        "cert and key": lambda: init_context(
            files.ca_pem, cert=(files.client_cert, files.client_key)
        ),
        "password str": lambda: init_context(
            files.ca_pem,
            cert=(files.client_cert, files.client_key_encrypted),
            cert_password=PASSWORD,
        ),
        "password bytes": lambda: init_context(
            files.ca_pem,
            cert=(files.client_cert, files.client_key_encrypted),
            cert_password=PASSWORD.encode(),
        ),
        "password callable": lambda: init_context(
            files.ca_pem,
            cert=(files.client_cert, files.client_key_encrypted),
            cert_password=lambda: PASSWORD,
        ),
        "create, combined": lambda: create_context(files.ca_pem, cert=files.client_combined),
        "create, pair": lambda: create_context(
            files.ca_pem, cert=(files.client_cert, files.client_key)
        ),
        "create, triple": lambda: create_context(
            files.ca_pem, cert=(files.client_cert, files.client_key_encrypted, PASSWORD)
        ),
        "create, triple without password": lambda: create_context(
            files.ca_pem, cert=(files.client_cert, files.client_key, None)
        ),
    }


@pytest.mark.parametrize(
    "variant",
    [
        "combined file",
        "cert and key",
        "password str",
        "password bytes",
        "password callable",
        "create, combined",
        "create, pair",
        "create, triple",
        "create, triple without password",
    ],
)
def test_the_client_certificate_is_presented(files: Files, serve: Any, variant: str) -> None:
    server = serve(server_context(files.server, alpn=["h2"], client_ca=files.ca))

    alpn, answer = talk(_client_contexts(files)[variant](), server)

    assert (alpn, answer) == ("h2", b"ok")
    assert "client.example.org" in _client_cert_names(server.result())


def test_the_password_callable_is_not_called_for_a_plain_key(files: Files) -> None:
    calls: list[int] = []

    def password() -> str:
        calls.append(1)
        return PASSWORD

    init_context(files.ca_pem, cert=(files.client_cert, files.client_key), cert_password=password)

    assert calls == []


def test_an_encrypted_key_without_password_raises_tls_error_without_prompting(
    files: Files,
) -> None:
    # Without care OpenSSL would prompt "Enter PEM pass phrase:" on the terminal.
    with pytest.raises(TLSError, match="is encrypted and no password was given"):
        init_context(files.ca_pem, cert=(files.client_cert, files.client_key_encrypted))
    with pytest.raises(TLSError, match="is encrypted and no password was given"):
        create_context(files.ca_pem, cert=(files.client_cert, files.client_key_encrypted, None))


@pytest.mark.parametrize("password", ["wrong", b"wrong", lambda: "wrong"])
def test_a_wrong_password_raises_tls_error(files: Files, password: Any) -> None:
    with pytest.raises(TLSError, match="Could not load the TLS client certificate") as info:
        init_context(
            files.ca_pem,
            cert=(files.client_cert, files.client_key_encrypted),
            cert_password=password,
        )

    assert "password" in str(info.value)
    assert info.value.__cause__ is not None
    assert isinstance(info.value, HyperError)


def test_a_password_of_the_wrong_type_raises_tls_error(files: Files) -> None:
    with pytest.raises(TLSError):
        init_context(
            files.ca_pem,
            cert=(files.client_cert, files.client_key_encrypted),
            cert_password=lambda: 42,  # type: ignore[arg-type,return-value]
        )


def test_a_key_that_does_not_match_raises_tls_error(files: Files) -> None:
    with pytest.raises(TLSError, match="key matches") as info:
        create_context(files.ca_pem, cert=(files.client_cert, files.other_key))

    assert isinstance(info.value.__cause__, ssl.SSLError)


def test_a_file_that_is_not_pem_raises_tls_error(files: Files, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")

    with pytest.raises(TLSError, match=str(junk)):
        create_context(cert=str(junk))


def test_a_certificate_without_its_key_raises_tls_error(files: Files) -> None:
    with pytest.raises(TLSError):
        init_context(cert=files.client_cert)


@pytest.mark.parametrize("role", ["certificate", "key"])
def test_a_missing_client_file_raises_tls_error(files: Files, tmp_path: Path, role: str) -> None:
    missing = str(tmp_path / "missing.pem")
    cert = (missing, files.client_key) if role == "certificate" else (files.client_cert, missing)

    with pytest.raises(TLSError) as info:
        create_context(cert=cert)

    assert str(info.value) == f"Could not find the TLS client {role} file, invalid path: {missing}"


def test_relative_paths_are_relative_to_the_working_directory(
    files: Files, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(os.path.dirname(files.ca_pem))
    server = serve(server_context(files.server, client_ca=files.ca))

    context = init_context("ca.pem", cert=("client.pem", "client.key"))

    assert talk(context, server)[1] == b"ok"
    assert "client.example.org" in _client_cert_names(server.result())
