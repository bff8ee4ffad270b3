"""Keep a downstream test run on loopback.

On PYTHONPATH as ``sitecustomize`` during the downstream test runs, so every
Python process of a run (pytest and what it spawns) has it. requests'
and HTTPie's suites contain tests that reach for the internet or for
deliberately unroutable addresses (requests' TARPIT, 10.255.255.1). Here
only loopback may be contacted: a name other than localhost does not
resolve and a connection elsewhere is refused at once, in the plain run and
the mounted run alike, so such tests fail the same way in both and the
comparison stays fair.
"""

from __future__ import annotations

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name == "":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if not _is_loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, f"downstream run: {host!r} is not loopback")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check(sock: socket.socket, address: object) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(address, tuple) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(
                f"downstream run: connection to {address[0]!r} refused (loopback only)")


def _guarded_connect(self, address):  # type: ignore[no-untyped-def]
    _check(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):  # type: ignore[no-untyped-def]
    _check(self, address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
