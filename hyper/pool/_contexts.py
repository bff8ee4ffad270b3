"""TLS contexts made from :class:`TLSSettings`, one per distinct settings.

Loading a CA bundle takes milliseconds and an SSLContext may be shared by
any number of connections, so each distinct settings value gets one
context, made on first use and kept.
"""

from __future__ import annotations

import ssl
import threading

from ..exceptions import TLSError
from ..tls import H2_ALPN_PROTOCOLS, HTTP11_PROTOCOL, create_context
from ._key import TLSSettings


class ContextCache:
    """Thread-safe map from TLS settings to their SSLContext."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[TLSSettings, ssl.SSLContext] = {}

    def get(self, settings: TLSSettings) -> ssl.SSLContext:
        """The context for ``settings``, made if needed.

        :raises OSError: the CA path does not exist.
        :raises hyper.exceptions.TLSError: the client certificate cannot be
            loaded, or the ciphers or TLS version are not available.
        """
        with self._lock:
            context = self._contexts.get(settings)
            if context is None:
                context = self._contexts[settings] = make_context(settings)
            return context

    def clear(self) -> None:
        with self._lock:
            self._contexts.clear()


def make_context(settings: TLSSettings) -> ssl.SSLContext:
    version = settings.ssl_version
    # RFC 9113 section 9.2: "Implementations of HTTP/2 MUST use TLS version
    # 1.2 or higher": below it, offer HTTP/1.1 alone.
    old = version is not None and version < ssl.TLSVersion.TLSv1_2
    alpn = (HTTP11_PROTOCOL,) if old else H2_ALPN_PROTOCOLS
    try:
        context = create_context(settings.verify, settings.cert, alpn=alpn)
    except ssl.SSLError as exc:
        # A CA file or directory OpenSSL finds no certificate in.
        raise TLSError(f"Could not load the TLS CA certificates from {settings.verify}: "
                       f"{exc}") from exc
    try:
        if settings.ciphers is not None:
            context.set_ciphers(settings.ciphers)
        if version is not None:
            # Lower the minimum first: TLS 1.2 is the default floor.
            context.minimum_version = version
            context.maximum_version = version
    except (ssl.SSLError, ValueError) as exc:
        raise TLSError(f"TLS settings not supported by this OpenSSL: {exc}") from exc
    return context
