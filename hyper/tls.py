"""TLS contexts set up for HTTP/2 (RFC 9113 section 9.2), with ALPN.

:func:`init_context` is hyper 0.7's documented entry point;
:func:`create_context` takes the ``verify`` and ``cert`` arguments the way
requests passes them to a transport adapter. Both return a fresh
``ssl.SSLContext`` the caller may adjust further.
"""

from __future__ import annotations

import os
import ssl
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import certifi

from .exceptions import TLSError

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    #: A key password: str (UTF-8), bytes, or a callable returning either,
    #: called only if the key is encrypted (as ``ssl`` does).
    _Password: TypeAlias = (
        "str | bytes | bytearray | Callable[[], str | bytes | bytearray] | None"
    )
    #: A client certificate: one PEM file holding certificate and key, a
    #: ``(cert, key)`` pair, or ``(cert, key, password)`` as HTTPie passes it.
    _ClientCert: TypeAlias = (
        "str | tuple[str, str] | tuple[str, str, str | bytes | None] | None"
    )

__all__ = [
    "CIPHERS",
    "H2_ALPN_PROTOCOLS",
    "H2_CIPHERS",
    "H2_PROTOCOL",
    "HTTP11_PROTOCOL",
    "create_context",
    "h2_allowed",
    "http11_twin",
    "init_context",
]

#: The ALPN protocol ID of HTTP/2 over TLS (RFC 9113 section 3.2).
H2_PROTOCOL = "h2"
#: The ALPN protocol ID of HTTP/1.1 (RFC 7301 section 6).
HTTP11_PROTOCOL = "http/1.1"
#: What hyper offers in ALPN, in order of preference.
H2_ALPN_PROTOCOLS: tuple[str, ...] = (H2_PROTOCOL, HTTP11_PROTOCOL)

# RFC 9113 section 9.2.2: "A deployment of HTTP/2 over TLS 1.2 SHOULD NOT use
# any of the prohibited cipher suites listed in Appendix A", and Appendix A
# prohibits every suite without ephemeral key exchange and every suite that
# is not an AEAD cipher. What is left is (EC)DHE key exchange with AES-GCM or
# ChaCha20-Poly1305; section 9.2.2 also requires
# TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, which this list includes. This string
# governs TLS 1.2 only: every TLS 1.3 suite is ephemeral and AEAD already.
H2_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"

# What the context offers: HTTP/2's suites first, so that a server choosing
# by the client's order picks one, then the rest of Python's default list
# (what requests and urllib3 offer), so that a TLS 1.2 server with CBC suites
# only is still reached, over HTTP/1.1 (see h2_allowed). OpenSSL keeps a suite
# where it was first named; the exclusions apply to the whole list.
CIPHERS = f"{H2_CIPHERS}:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"

_MISSING_CA = "Could not find a suitable TLS CA certificate bundle, invalid path: "


def init_context(
    cert_path: str | None = None,
    cert: str | tuple[str, str] | None = None,
    cert_password: _Password = None,
) -> ssl.SSLContext:
    """Create a new SSLContext correctly set up for an HTTP/2 connection.

    :param cert_path: CA certificates to trust instead of certifi's bundle: a
        PEM file, or a directory prepared with ``openssl rehash``. Relative
        paths are relative to the working directory.
    :param cert: the client certificate: a path to one PEM file holding the
        certificate (and any intermediate certificates) and, unless a key is
        given, the private key; or a ``(cert, key)`` pair of paths.
    :param cert_password: the password of an encrypted private key: str
        (encoded as UTF-8), bytes, or a callable returning one of those,
        called only if the key is encrypted.
    :raises OSError: ``cert_path`` does not exist.
    :raises hyper.exceptions.TLSError: the client certificate or key cannot
        be loaded (missing, malformed, wrong password, or not matching).
    """
    verify: bool | str = True if cert_path is None else cert_path
    context = _base_context(verify, H2_ALPN_PROTOCOLS)
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        _load_client_cert(context, certfile, keyfile, cert_password)
    return context


def create_context(
    verify: bool | str = True,
    cert: _ClientCert = None,
    alpn: Sequence[str] = H2_ALPN_PROTOCOLS,
) -> ssl.SSLContext:
    """Create a context from requests-style ``verify`` and ``cert`` arguments.

    :param verify: True for certifi's bundle, False to verify nothing at all
        (neither the chain nor the host name), or a path to a CA file or
        directory.
    :param cert: a path to one PEM file with certificate and key, a
        ``(cert, key)`` pair, or ``(cert, key, password)``.
    :param alpn: the protocols to offer, in order of preference.
    :raises OSError: the ``verify`` path does not exist; the message is the
        one requests' HTTPAdapter gives.
    :raises hyper.exceptions.TLSError: the client certificate or key cannot
        be loaded.
    """
    context = _base_context(verify, alpn)
    if cert is not None:
        if isinstance(cert, str):
            _load_client_cert(context, cert, None, None)
        elif len(cert) == 2:
            _load_client_cert(context, cert[0], cert[1], None)
        else:
            _load_client_cert(context, cert[0], cert[1], cert[2])
    return context


def _base_context(verify: bool | str, alpn: Sequence[str]) -> ssl.SSLContext:
    # PROTOCOL_TLS_CLIENT starts with CERT_REQUIRED and check_hostname on.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # RFC 9113 section 9.2: "Implementations of HTTP/2 MUST use TLS version
    # 1.2 [TLS12] or higher for HTTP/2 over TLS."
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 9113 section 9.2.1: "Deployments of HTTP/2 that use TLS 1.2 MUST
    # disable compression" and "MUST disable renegotiation".
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(CIPHERS)
    context.set_alpn_protocols(list(alpn))
    _trust[context] = verify
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        _load_trust(context, certifi.where() if verify is True else verify)
    return context


def _load_trust(context: ssl.SSLContext, path: str) -> None:
    if os.path.isdir(path):
        # A directory is read lazily, during handshakes.
        context.load_verify_locations(capath=path)
    elif os.path.isfile(path):
        try:
            context.load_verify_locations(cafile=path)
        except ssl.SSLError as exc:
            # OpenSSL says "no certificate or crl found" for an empty file or
            # one without a PEM certificate.
            raise TLSError(
                f"Could not load CA certificates from {path}: {exc.reason or exc}"
                " (the file must hold one or more PEM certificates,"
                " -----BEGIN CERTIFICATE-----)"
            ) from exc
    else:
        raise OSError(f"{_MISSING_CA}{path}")


def _load_client_cert(
    context: ssl.SSLContext,
    certfile: str,
    keyfile: str | None,
    password: _Password,
) -> None:
    for role, path in (("certificate", certfile), ("key", keyfile)):
        if path is not None and not os.path.isfile(path):
            raise TLSError(f"Could not find the TLS client {role} file, invalid path: {path}")
    where = certfile if keyfile is None else f"{certfile} with key {keyfile}"

    def no_password() -> bytes:
        # Without a password argument OpenSSL would prompt on the terminal,
        # which a library must never do.
        raise TLSError(
            f"The private key of the TLS client certificate {where} is encrypted"
            " and no password was given"
        )

    try:
        context.load_cert_chain(certfile, keyfile, no_password if password is None else password)
        _client_certs[context] = (certfile, keyfile, password)
    except (ssl.SSLError, ValueError, TypeError) as exc:
        # ssl reports a file that is not PEM, a wrong password and a key that
        # does not match the certificate as SSLError; a password that is too
        # long or of a wrong type as ValueError or TypeError.
        raise TLSError(
            f"Could not load the TLS client certificate {where}: {exc}"
            " (check that the files are PEM, that the key matches the certificate"
            " and, for an encrypted key, the password)"
        ) from exc


# -- HTTP/2 over TLS 1.2 with a suite RFC 9113 forbids --------------------------------


def h2_allowed(version: str | None, cipher: str | None) -> bool:
    """Whether HTTP/2 may run over a connection that negotiated ``version``
    (e.g. ``"TLSv1.3"``) and ``cipher`` (its OpenSSL name), as
    ``SSLSocket.version()`` and ``SSLSocket.cipher()[0]`` report them.

    RFC 9113 section 9.2: "Implementations of HTTP/2 MUST use TLS version 1.2
    or higher"; section 9.2.2: over TLS 1.2 it "SHOULD NOT use any of the
    prohibited cipher suites" (every TLS 1.3 suite is allowed).
    """
    if version == "TLSv1.3":
        return True
    return version == "TLSv1.2" and cipher in _h2_suites()


def _h2_suites() -> frozenset[str]:
    # The TLS 1.2 suites H2_CIPHERS names, as this OpenSSL spells them.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers(H2_CIPHERS)
    return frozenset(c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2")


# A server may pick "h2" by ALPN over a suite HTTP/2 forbids (nginx does):
# HTTP/1.1 then needs a new handshake that does not offer h2, so a context
# this module made remembers how it was made, and http11_twin() makes its
# HTTP/1.1-only twin. Weak keys: the recipe goes with the context.
_trust: weakref.WeakKeyDictionary[ssl.SSLContext, bool | str] = weakref.WeakKeyDictionary()
_client_certs: weakref.WeakKeyDictionary[
    ssl.SSLContext, tuple[str, str | None, _Password]] = weakref.WeakKeyDictionary()
_twins: weakref.WeakKeyDictionary[ssl.SSLContext, ssl.SSLContext] = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


def http11_twin(context: ssl.SSLContext) -> ssl.SSLContext | None:
    """A context like ``context`` that offers only ``http/1.1`` by ALPN, or
    None when ``context`` was not made by this module.

    The twin is made once per context from the same trust and client
    certificate; verification, versions, options and cipher suites are
    copied from ``context`` as it is now (so changes made after creating it
    carry over).
    """
    with _twins_lock:
        twin = _twins.get(context)
        verify = _trust.get(context)
        if twin is None and verify is not None:
            twin = _twins[context] = _make_twin(context, verify)
        return twin


def _make_twin(context: ssl.SSLContext, verify: bool | str) -> ssl.SSLContext:
    twin = _base_context(verify, (HTTP11_PROTOCOL,))
    cert = _client_certs.get(context)
    if cert is not None:
        _load_client_cert(twin, *cert)
    twin.check_hostname = context.check_hostname
    twin.verify_mode = context.verify_mode
    twin.options = context.options
    twin.minimum_version = context.minimum_version
    twin.maximum_version = context.maximum_version
    twin.set_ciphers(":".join(c["name"] for c in context.get_ciphers()
                              if c["protocol"] != "TLSv1.3"))
    return twin
