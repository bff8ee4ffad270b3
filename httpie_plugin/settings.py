"""From HTTPie's parsed arguments to HTTP20Adapter's constructor arguments.

requests hands the adapter ``verify``, ``cert`` (HTTPie's 3-field
``HTTPieCertificate`` with the key password included), ``proxies`` and
``timeout`` on every ``send()``. ``--ssl`` and ``--ciphers`` are different:
HTTPie gives them only to its own HTTPS adapter's constructor, which ours
replaces, so they are read here from the parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import ssl
from typing import Any

from .options import Mode

__all__ = ["AdapterSettings", "adapter_settings", "tls_version"]

# HTTPie's --ssl choices (httpie/ssl_.py) and the TLS version each pins.
# "ssl2.3" is OpenSSL's old name for "any version": no pin.
_TLS_VERSIONS: dict[str, ssl.TLSVersion | None] = {
    "ssl2.3": None,
    "ssl3": ssl.TLSVersion.SSLv3,
    "tls1": ssl.TLSVersion.TLSv1,
    "tls1.1": ssl.TLSVersion.TLSv1_1,
    "tls1.2": ssl.TLSVersion.TLSv1_2,
    "tls1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclasses.dataclass(frozen=True)
class AdapterSettings:
    """Keyword arguments for ``hyper.contrib.HTTP20Adapter`` (see :meth:`kwargs`)."""

    h2c: str
    ssl_version: ssl.TLSVersion | None = None
    ciphers: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"h2c": self.h2c, "ssl_version": self.ssl_version, "ciphers": self.ciphers}


def tls_version(choice: str | None) -> ssl.TLSVersion | None:
    """The TLS version HTTPie's ``--ssl=CHOICE`` asks for (None: no pin).

    :raises ValueError: HTTPie offered a choice this plugin does not know.
    """
    if choice is None:
        return None
    try:
        return _TLS_VERSIONS[choice]
    except KeyError:
        raise ValueError(f"unknown --ssl choice {choice!r}") from None


def adapter_settings(scheme: str, mode: Mode, args: argparse.Namespace | None) -> AdapterSettings:
    """The adapter for ``scheme`` ("http" or "https") in ``mode`` (not OFF)."""
    if scheme == "http":
        # RFC 9113 section 3.3 (prior knowledge) or RFC 7540 section 3.2
        # (Upgrade, which falls back to HTTP/1.1 when the server declines).
        h2c = "prior-knowledge" if mode is Mode.PRIOR_KNOWLEDGE else "upgrade"
        return AdapterSettings(h2c=h2c)
    ciphers = getattr(args, "ciphers", None)
    return AdapterSettings(
        h2c="upgrade",
        ssl_version=tls_version(getattr(args, "ssl_version", None)),
        ciphers=ciphers if isinstance(ciphers, str) and ciphers else None,
    )
