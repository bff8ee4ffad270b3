"""SOCKS 4, 4a and 5 client handshakes, without I/O.

Theory of operation: :class:`SocksHandshake` is told where the tunnel
should lead; :meth:`~SocksHandshake.start` gives the first message for the
proxy, and every piece of the proxy's answer goes to
:meth:`~SocksHandshake.receive`, which returns what to send next (possibly
nothing) until :attr:`~SocksHandshake.done`. The bytes after the proxy's
last reply, if any, already belong to the tunnel (:attr:`trailing`). A reply
the protocol does not allow, or a refusal, raises
:class:`~hyper.exceptions.ProxyError`.

The states, by version::

    SOCKS5: METHOD --(0x00)--> REPLY --> DONE
            METHOD --(0x02)--> AUTH --(0x00)--> REPLY --> DONE
    SOCKS4: REPLY --> DONE

The protocols: SOCKS 4 and its 4a extension (the NEC documents "SOCKS: A
protocol for TCP proxy across firewalls" and "SOCKS 4A"), SOCKS 5 (RFC 1928)
with username/password authentication (RFC 1929). Whether the proxy or the
client resolves the host name is the caller's choice: give this class an IP
address to send an address, a name to send the name (4a, 5).
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Callable

from ..exceptions import InvalidURLError, ProxyError

__all__ = ["SocksHandshake", "SocksVersion"]


class SocksVersion(enum.Enum):
    SOCKS4 = 4
    SOCKS5 = 5


class _State(enum.Enum):
    METHOD = "the authentication method choice"
    AUTH = "the authentication result"
    REPLY = "the reply to CONNECT"
    DONE = "nothing (the tunnel is open)"


# RFC 1928 section 3: "X'00' NO AUTHENTICATION REQUIRED", "X'02'
# USERNAME/PASSWORD", "X'FF' NO ACCEPTABLE METHODS".
_NO_AUTH, _USER_PASS, _NO_ACCEPTABLE = 0x00, 0x02, 0xFF
# RFC 1928 section 5: address types.
_IPV4, _DOMAIN, _IPV6 = 0x01, 0x03, 0x04
_CONNECT = 0x01

# RFC 1928 section 6: the REP field.
_SOCKS5_REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
# SOCKS 4: CD 90 is "request granted", the others are refusals.
_SOCKS4_GRANTED = 90
_SOCKS4_REPLIES = {
    91: "request rejected or failed",
    92: "request rejected: the proxy cannot reach the client's identd",
    93: "request rejected: identd reports a different user id",
}


class SocksHandshake:
    """One client handshake asking ``proxy`` (its name, for messages) for a
    tunnel to ``host:port``.

    ``host`` is an IP address or a name; SOCKS 4 without the 4a extension
    can only send an IPv4 address. ``username`` and ``password`` are used by
    SOCKS 5 (RFC 1929); SOCKS 4 sends ``username`` as its USERID.
    """

    def __init__(
        self,
        version: SocksVersion,
        proxy: str,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        resolve: Callable[[str, int], str] | None = None,
    ) -> None:
        self.version = version
        self.proxy = proxy
        self.target = f"{host}:{port}"
        self._host = host
        self._port = port
        # Local name resolution (socks4, socks5), done when the request is
        # built: for SOCKS5 after the greeting, as PySocks and urllib3 do.
        self._resolve = resolve
        self._username = (username or "").encode("utf-8")
        self._password = (password or "").encode("utf-8")
        self._auth = username is not None or password is not None
        if version is SocksVersion.SOCKS5 and self._auth:
            # RFC 1929: ULEN and PLEN are one byte each, from 1 to 255.
            for what, value in (("username", self._username), ("password", self._password)):
                if not 1 <= len(value) <= 255:
                    raise InvalidURLError(
                        f"The SOCKS5 {what} for {proxy} must be 1 to 255 bytes long")
        self._state = _State.REPLY if version is SocksVersion.SOCKS4 else _State.METHOD
        self._buffer = b""
        #: Bytes received after the proxy's last reply: the tunnel's first bytes.
        self.trailing = b""

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def awaiting(self) -> str:
        """What the handshake waits for, for messages."""
        return self._state.value

    def start(self) -> bytes:
        """The first message to the proxy."""
        if self.version is SocksVersion.SOCKS4:
            return self._socks4_request()
        # RFC 1928 section 3: VER, NMETHODS, METHODS.
        methods = bytes([_NO_AUTH, _USER_PASS]) if self._auth else bytes([_NO_AUTH])
        return bytes([5, len(methods)]) + methods

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the proxy; return what to send it next (maybe b"")."""
        self._buffer += data
        out = b""
        while self._state is not _State.DONE:
            size = self._wanted()
            if size is None or len(self._buffer) < size:
                break
            message, self._buffer = self._buffer[:size], self._buffer[size:]
            out += _HANDLERS[self._state](self, message)
        if self._state is _State.DONE:
            self.trailing, self._buffer = self.trailing + self._buffer, b""
        return out

    # -- framing ----------------------------------------------------------------

    def _wanted(self) -> int | None:
        """The length of the message awaited, None until it can be known."""
        if self._state is _State.REPLY and self.version is SocksVersion.SOCKS5:
            # RFC 1928 section 6: VER REP RSV ATYP BND.ADDR BND.PORT, where
            # the address is 4 or 16 bytes, or a length byte and a name.
            if len(self._buffer) < 5:
                return None
            atyp = self._buffer[3]
            if atyp == _IPV4:
                return 10
            if atyp == _IPV6:
                return 22
            if atyp == _DOMAIN:
                return 7 + self._buffer[4]
            raise self._error(f"an unknown address type {atyp} in its reply")
        return {_State.METHOD: 2, _State.AUTH: 2, _State.REPLY: 8}[self._state]

    # -- the messages -----------------------------------------------------------

    def _socks4_request(self) -> bytes:
        # VN=4, CD=1 (CONNECT), DSTPORT, DSTIP, USERID, NUL; 4a: DSTIP
        # 0.0.0.x (x non-zero) and the name after the USERID's NUL.
        address = self._address()
        if isinstance(address, ipaddress.IPv4Address):
            return struct.pack("!BBH", 4, 1, self._port) + address.packed + self._username + b"\0"
        if address is not None:
            raise InvalidURLError(
                f"SOCKS4 cannot reach the IPv6 address {self._host} (use socks5 or socks5h)")
        return (struct.pack("!BBH", 4, 1, self._port) + b"\0\0\0\1" + self._username + b"\0"
                + self._name() + b"\0")

    def _socks5_request(self) -> bytes:
        address = self._address()
        if isinstance(address, ipaddress.IPv4Address):
            where = bytes([_IPV4]) + address.packed
        elif address is not None:
            where = bytes([_IPV6]) + address.packed
        else:
            name = self._name()
            where = bytes([_DOMAIN, len(name)]) + name
        return bytes([5, _CONNECT, 0]) + where + struct.pack("!H", self._port)

    def _address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The target as an IP address, or None to send the name."""
        address = _ip(self._host)
        if address is None and self._resolve is not None:
            address = ipaddress.ip_address(self._resolve(self._host, self._port))
        return address

    def _name(self) -> bytes:
        name = self._host.encode("idna")
        if not 1 <= len(name) <= 255:
            raise InvalidURLError(f"The host name {self._host!r} is too long for SOCKS")
        return name

    def _on_method(self, message: bytes) -> bytes:
        version, method = message
        if version != 5:
            raise self._error(f"a version {version} answer to a SOCKS5 greeting")
        if method == _NO_AUTH:
            self._state = _State.REPLY
            return self._socks5_request()
        if method == _USER_PASS and self._auth:
            # RFC 1929 section 2: VER=1, ULEN, UNAME, PLEN, PASSWD.
            self._state = _State.AUTH
            return (bytes([1, len(self._username)]) + self._username
                    + bytes([len(self._password)]) + self._password)
        if method == _NO_ACCEPTABLE:
            raise self._refused(
                "it requires authentication: give the username and password in the proxy"
                " URL (socks5://user:password@host:port)" if not self._auth else
                "it accepts none of the offered authentication methods")
        raise self._error(f"authentication method {method}, which was not offered")

    def _on_auth(self, message: bytes) -> bytes:
        # RFC 1929 section 2: "A STATUS field of X'00' indicates success."
        if message[1] != 0:
            raise self._refused("it rejected the username and password")
        self._state = _State.REPLY
        return self._socks5_request()

    def _on_reply(self, message: bytes) -> bytes:
        if self.version is SocksVersion.SOCKS4:
            version, code = message[0], message[1]
            if version != 0:
                raise self._error(f"a reply of version {version} (SOCKS4 replies have 0)")
            if code != _SOCKS4_GRANTED:
                raise self._refused(_SOCKS4_REPLIES.get(code, f"reply code {code}"))
        else:
            version, code = message[0], message[1]
            if version != 5:
                raise self._error(f"a reply of version {version} to a SOCKS5 request")
            if code != 0:
                raise self._refused(_SOCKS5_REPLIES.get(code, f"reply code {code}"))
        self._state = _State.DONE
        return b""

    # -- errors -------------------------------------------------------------------

    def _error(self, what: str) -> ProxyError:
        return ProxyError(f"The SOCKS proxy {self.proxy} sent {what}")

    def _refused(self, why: str) -> ProxyError:
        return ProxyError(
            f"The SOCKS proxy {self.proxy} refused the tunnel to {self.target}: {why}")


_HANDLERS: dict[_State, Callable[[SocksHandshake, bytes], bytes]] = {
    _State.METHOD: SocksHandshake._on_method,
    _State.AUTH: SocksHandshake._on_auth,
    _State.REPLY: SocksHandshake._on_reply,
}


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
