"""SOCKS proxies: the sans-IO handshake, fed whole and byte by byte, and
real tunnels through microsocks (SOCKS5) to real HTTP/2 and HTTP/1.1
servers. microsocks speaks SOCKS5 only: SOCKS4 and 4a are tested against a
scripted SOCKS4 proxy that relays to the same real servers.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require_binary
from hyper import HTTPConnection
from hyper.common.socks import SocksHandshake, SocksVersion
from hyper.exceptions import ConnectError, ConnectTimeout, InvalidURLError, ProxyError
from hyper.pool import ConnectionPool, PoolKey, ProxySettings, TLSSettings
from proxy_servers import Socks, nothing_listens, start_microsocks
from tcppeer import PeerConn, Peers, Step, fin, hang_up, relay, reply

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "sockuser", "s0cks-pass"
TIMEOUT = (10.0, 20.0)
FEEDS = ["whole", "bytewise"]


# -- the handshake without I/O ---------------------------------------------------------


def feed(handshake: SocksHandshake, data: bytes, how: str) -> bytes:
    """Give ``data`` to the handshake whole or one byte at a time; return
    everything it answered."""
    if how == "whole":
        return handshake.receive(data)
    return b"".join(handshake.receive(data[i:i + 1]) for i in range(len(data)))


def socks5_reply(code: int = 0, atyp: int = 1, address: bytes = b"\x7f\0\0\1") -> bytes:
    return bytes([5, code, 0, atyp]) + address + b"\x1f\x90"


@pytest.mark.parametrize("how", FEEDS)
def test_socks5_without_credentials_sends_a_name_for_the_proxy_to_resolve(how: str) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "socks5h://p:1080", "example.org", 443)

    assert handshake.start() == b"\x05\x01\x00"
    assert handshake.awaiting == "the authentication method choice"
    request = feed(handshake, b"\x05\x00", how)
    assert request == b"\x05\x01\x00\x03\x0bexample.org\x01\xbb"
    assert not handshake.done
    assert feed(handshake, socks5_reply(), how) == b""
    assert handshake.done
    assert handshake.trailing == b""


@pytest.mark.parametrize("how", FEEDS)
def test_socks5_resolves_locally_after_the_greeting(how: str) -> None:
    """socks5:// resolves the name here, once the proxy has chosen a method
    (as PySocks and urllib3 do): the proxy hears from us even if the name
    then fails to resolve."""
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> str:
        asked.append((host, port))
        return "192.0.2.7"

    handshake = SocksHandshake(SocksVersion.SOCKS5, "socks5://p:1080", "example.org", 443,
                               resolve=resolve)
    assert handshake.start() == b"\x05\x01\x00"
    assert asked == []
    assert feed(handshake, b"\x05\x00", how) == b"\x05\x01\x00\x01\xc0\x00\x02\x07\x01\xbb"
    assert asked == [("example.org", 443)]


def test_socks4_resolves_locally_for_its_first_message() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS4, "socks4://p:1080", "example.org", 80,
                               resolve=lambda host, port: "192.0.2.7")
    assert handshake.start() == b"\x04\x01\x00\x50\xc0\x00\x02\x07\x00"


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("atyp", "address"), [
    (1, b"\x01\x02\x03\x04"), (4, bytes(16)), (3, b"\x09localhost")])
def test_every_kind_of_bound_address_in_the_reply(how: str, atyp: int, address: bytes) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "p", "10.0.0.1", 80)
    handshake.start()
    assert feed(handshake, b"\x05\x00", how) == b"\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50"

    feed(handshake, socks5_reply(atyp=atyp, address=address) + b"early", how)

    assert handshake.done
    assert handshake.trailing == b"early"


def test_socks5_sends_ipv6_addresses_as_addresses() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "p", "::1", 443)
    handshake.start()

    assert handshake.receive(b"\x05\x00") == b"\x05\x01\x00\x04" + bytes(15) + b"\x01\x01\xbb"


@pytest.mark.parametrize("how", FEEDS)
def test_socks5_username_and_password(how: str) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "p", "example.org", 80, "us", "pw")

    assert handshake.start() == b"\x05\x02\x00\x02"
    assert feed(handshake, b"\x05\x02", how) == b"\x01\x02us\x02pw"
    assert handshake.awaiting == "the authentication result"
    assert feed(handshake, b"\x01\x00", how).startswith(b"\x05\x01\x00\x03")
    feed(handshake, socks5_reply(), how)
    assert handshake.done


def test_socks5_proxy_may_skip_authentication_offered() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "p", "example.org", 80, "us", "pw")
    handshake.start()

    assert handshake.receive(b"\x05\x00").startswith(b"\x05\x01\x00\x03")


@pytest.mark.parametrize(("credentials", "answer", "match"), [
    (None, b"\x05\xff", "requires authentication: give the username and password"),
    (("u", "p"), b"\x05\xff", "accepts none of the offered authentication methods"),
    (None, b"\x05\x02", "authentication method 2, which was not offered"),
    (None, b"\x04\x00", "a version 4 answer to a SOCKS5 greeting"),
    (("u", "p"), b"\x05\x02\x01\x01", "rejected the username and password"),
    (None, b"\x05\x00\x05\x05\x00\x01" + bytes(6), "refused the tunnel to example.org:80:"
                                                   " connection refused"),
    (None, b"\x05\x00\x05\x63\x00\x01" + bytes(6), "reply code 99"),
    (None, b"\x05\x00\x04\x00\x00\x01" + bytes(6), "a reply of version 4 to a SOCKS5 request"),
    (None, b"\x05\x00\x05\x00\x00\x07\x00", "an unknown address type 7"),
])
def test_socks5_refusals_and_broken_answers(
    credentials: tuple[str, str] | None, answer: bytes, match: str
) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "socks5://proxy:1080", "example.org", 80,
                               *(credentials or (None, None)))
    handshake.start()

    with pytest.raises(ProxyError, match=match) as info:
        handshake.receive(answer)
    assert "socks5://proxy:1080" in str(info.value)


@pytest.mark.parametrize(("username", "password", "what"), [
    ("", "pw", "username"), ("u" * 256, "pw", "username"), ("us", "", "password")])
def test_socks5_credentials_must_fit_rfc_1929(username: str, password: str, what: str) -> None:
    with pytest.raises(InvalidURLError, match=rf"SOCKS5 {what} .* 1 to 255 bytes"):
        SocksHandshake(SocksVersion.SOCKS5, "p", "example.org", 80, username, password)


def test_host_names_longer_than_255_bytes_cannot_be_sent() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "p", "a" * 60 + "." + "b" * 60 + "."
                               + "c" * 60 + "." + "d" * 60 + "." + "e" * 20, 80)
    handshake.start()
    with pytest.raises(InvalidURLError, match=r"too long for SOCKS"):
        handshake.receive(b"\x05\x00")


@pytest.mark.parametrize("how", FEEDS)
def test_socks4_sends_the_address_and_user_id(how: str) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS4, "p", "127.0.0.1", 8080, "me")

    assert handshake.awaiting == "the reply to CONNECT"
    assert handshake.start() == b"\x04\x01\x1f\x90\x7f\x00\x00\x01me\x00"
    feed(handshake, b"\x00\x5a" + bytes(6), how)
    assert handshake.done


def test_socks4a_sends_the_name_after_an_invalid_address() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS4, "p", "example.org", 443)

    assert handshake.start() == b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00example.org\x00"


def test_socks4_cannot_send_ipv6_addresses() -> None:
    with pytest.raises(InvalidURLError, match=r"SOCKS4 cannot reach the IPv6 address"):
        SocksHandshake(SocksVersion.SOCKS4, "p", "::1", 443).start()


@pytest.mark.parametrize(("answer", "match"), [
    (b"\x00\x5b" + bytes(6), "request rejected or failed"),
    (b"\x00\x5c" + bytes(6), "cannot reach the client's identd"),
    (b"\x00\x5d" + bytes(6), "identd reports a different user id"),
    (b"\x00\x01" + bytes(6), "reply code 1"),
    (b"\x04\x5a" + bytes(6), "a reply of version 4 .SOCKS4 replies have 0."),
])
def test_socks4_refusals_and_broken_answers(answer: bytes, match: str) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS4, "socks4://proxy:1080", "127.0.0.1", 80)
    handshake.start()

    with pytest.raises(ProxyError, match=match):
        handshake.receive(answer)


# -- through microsocks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def microsocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Socks]:
    binary = require_binary("microsocks")
    with start_microsocks(binary, tmp_path_factory.mktemp("microsocks")) as server:
        yield server


@pytest.fixture(scope="module")
def microsocks_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Socks]:
    binary = require_binary("microsocks")
    with start_microsocks(binary, tmp_path_factory.mktemp("microsocks-auth"),
                          USER, PASSWORD) as server:
        yield server


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with ConnectionPool() as pool:
        yield pool


def get(pool: ConnectionPool, url: str, proxy: ProxySettings, ca: Path,
        path: str = "/get") -> Any:
    tls = TLSSettings(verify=str(ca)) if url.startswith("https") else None
    key = PoolKey.for_url(url, tls=tls, proxy=proxy)
    return pool.request(key, "GET", path, timeout=TIMEOUT)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_http2_through_a_socks5_tunnel(pool: ConnectionPool, microsocks: Socks, h2_server: Any,
                                       certs: Any, scheme: str) -> None:
    proxy = ProxySettings.from_url(microsocks.url(scheme))

    response = get(pool, h2_server.url, proxy, certs.ca_path, "/token/socks")

    # ALPN after the SOCKS hop chose HTTP/2.
    assert response.version == 20
    assert response.read() == b"socks"


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_http11_origins_through_a_socks5_tunnel(
    pool: ConnectionPool, microsocks: Socks, h1_tls_server: Any, h1_server: Any, certs: Any,
    scheme: str
) -> None:
    proxy = ProxySettings.from_url(microsocks.url(scheme))

    tls = get(pool, h1_tls_server.url, proxy, certs.ca_path, "/token/tls")
    plain = get(pool, h1_server.url, proxy, certs.ca_path, "/token/plain")

    assert (tls.version, tls.read()) == (11, b"tls")
    assert (plain.version, plain.read()) == (11, b"plain")


def test_socks5_with_the_right_credentials(pool: ConnectionPool, microsocks_auth: Socks,
                                           h2_server: Any, certs: Any) -> None:
    proxy = ProxySettings.from_url(microsocks_auth.url("socks5h", (USER, PASSWORD)))

    assert get(pool, h2_server.url, proxy, certs.ca_path, "/token/auth").read() == b"auth"
    assert (proxy.username, proxy.password) == (USER, PASSWORD)
    assert PASSWORD not in repr(proxy)


@pytest.mark.parametrize(("credentials", "match"), [
    ((USER, "wrong"), "rejected the username and password"),
    (None, "requires authentication"),
])
def test_socks5_with_wrong_or_missing_credentials(
    pool: ConnectionPool, microsocks_auth: Socks, h2_server: Any, certs: Any,
    credentials: tuple[str, str] | None, match: str
) -> None:
    proxy = ProxySettings.from_url(microsocks_auth.url("socks5h", credentials))

    with pytest.raises(ProxyError, match=match) as info:
        get(pool, h2_server.url, proxy, certs.ca_path)
    assert f"socks5h://127.0.0.1:{microsocks_auth.port}" in str(info.value)
    assert "wrong" not in str(info.value)


def test_socks5_proxy_that_cannot_reach_the_origin(microsocks: Socks, certs: Any,
                                                   pool: ConnectionPool) -> None:
    proxy = ProxySettings.from_url(microsocks.url("socks5"))

    with pytest.raises(ProxyError, match=r"refused the tunnel to 127.0.0.1:"):
        get(pool, f"http://127.0.0.1:{nothing_listens()}", proxy, certs.ca_path)


@pytest.mark.parametrize("scheme", ["socks5h", "socks4a"])
def test_an_unreachable_socks_proxy(pool: ConnectionPool, h2_server: Any, certs: Any,
                                    scheme: str) -> None:
    port = nothing_listens()
    proxy = ProxySettings.from_url(f"{scheme}://127.0.0.1:{port}")

    with pytest.raises(ProxyError, match=rf"Failed to connect to the proxy {scheme}://127.0.0.1:"
                                         f"{port}: .*refused"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def test_socks_url_given_to_http_connection(microsocks: Socks, h2_server: Any,
                                            ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(h2_server.host, h2_server.port, secure=True, ssl_context=ssl_context,
                        proxy_host=microsocks.url("socks5h"), timeout=TIMEOUT) as conn:
        stream = conn.request("GET", "/token/direct")
        assert conn.get_response(stream).read() == b"direct"
        assert conn.negotiated_protocol == "h2"


# -- SOCKS4 and 4a: a scripted SOCKS4 proxy relaying to the real server --------------------


def socks4_server(seen: list[bytes], code: int = 90) -> Step:
    """Read a SOCKS4 request (and a 4a name), record it, answer ``code``."""

    def step(c: PeerConn) -> None:
        head = c.read_exact(8, "a SOCKS4 request")
        user = c.read_until(b"\0", "the user id")
        name = c.read_until(b"\0", "the host name") if head[4:7] == b"\0\0\0" else b""
        seen.append(head + user + b"\0" + name)
        c.buffer = b""
        c.sock.sendall(bytes([0, code]) + bytes(6))

    return step


@pytest.mark.parametrize(("scheme", "sent_host"), [
    ("socks4", b"\x7f\x00\x00\x01"), ("socks4a", b"\x00\x00\x00\x01")])
def test_http2_through_socks4(tcp_peers: Peers, h2_server: Any, certs: Any,
                              pool: ConnectionPool, scheme: str, sent_host: bytes) -> None:
    seen: list[bytes] = []
    peer = tcp_peers([socks4_server(seen), relay("127.0.0.1", h2_server.port)])
    proxy = ProxySettings.from_url(f"{scheme}://{USER}@127.0.0.1:{peer.port}")

    response = get(pool, h2_server.url, proxy, certs.ca_path, "/token/four")

    assert (response.version, response.read()) == (20, b"four")
    pool.close()
    # socks4 resolved "localhost" here; socks4a left it to the proxy.
    assert seen[0][:8] == b"\x04\x01" + struct.pack("!H", h2_server.port) + sent_host
    assert seen[0][8:].startswith(USER.encode() + b"\0")
    assert seen[0].endswith(b"localhost" if scheme == "socks4a" else b"\0")


def test_socks4_refusal(tcp_peers: Peers, h2_server: Any, certs: Any,
                        pool: ConnectionPool) -> None:
    peer = tcp_peers([socks4_server([], code=91)])
    proxy = ProxySettings.from_url(f"socks4://127.0.0.1:{peer.port}")

    with pytest.raises(ProxyError, match=r"refused the tunnel to localhost:.*rejected or failed"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def test_socks_proxy_hanging_up_mid_handshake(tcp_peers: Peers, h2_server: Any, certs: Any,
                                              pool: ConnectionPool) -> None:
    peer = tcp_peers([hang_up()])
    proxy = ProxySettings.from_url(f"socks5h://127.0.0.1:{peer.port}")

    with pytest.raises(ProxyError, match=r"closed the connection while hyper awaited the"
                                         " authentication method choice|handshake"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def test_socks_proxy_talking_after_its_reply(tcp_peers: Peers, h2_server: Any, certs: Any,
                                             pool: ConnectionPool) -> None:
    # One send: the junk must arrive with the reply, whatever the feed.
    peer = tcp_peers([send_raw(b"\x05\x00" + socks5_reply() + b"junk")])
    proxy = ProxySettings.from_url(f"socks5h://127.0.0.1:{peer.port}")

    with pytest.raises(ProxyError, match=r"sent unexpected data after its reply"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def test_silent_socks_proxy_is_a_connect_timeout(tcp_peers: Peers, h2_server: Any,
                                                 ssl_context: ssl.SSLContext) -> None:
    peer = tcp_peers([reply(b"", tolerate_close=True)])
    conn = HTTPConnection(h2_server.host, h2_server.port, secure=True, ssl_context=ssl_context,
                          proxy_host=f"socks5h://127.0.0.1:{peer.port}", timeout=(0.5, 5))

    with pytest.raises(ConnectTimeout, match=r"the authentication method choice") as info:
        conn.request("GET", "/")
    assert info.value.retry_safe
    conn.close()


def test_local_resolution_failure(pool: ConnectionPool, tcp_peers: Peers, certs: Any,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # socks5:// resolves here, after the greeting. A name that does not
    # resolve, without asking a real resolver: only this one name fails.
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "no-such-host.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    peer = tcp_peers([reply(b"\x05\x00")])
    proxy = ProxySettings.from_url(f"socks5://127.0.0.1:{peer.port}")

    with pytest.raises(ConnectError, match=r"Failed to resolve no-such-host.test"):
        get(pool, "https://no-such-host.test:443", proxy, certs.ca_path)


def test_socks4_cannot_reach_an_ipv6_literal(pool: ConnectionPool, tcp_peers: Peers,
                                             certs: Any) -> None:
    peer = tcp_peers([send_raw(b"")])
    proxy = ProxySettings.from_url(f"socks4://127.0.0.1:{peer.port}")

    with pytest.raises(InvalidURLError, match=r"SOCKS4 cannot reach the IPv6 address ::1"):
        get(pool, "https://[::1]:443", proxy, certs.ca_path)


def test_socks_proxy_closing_mid_handshake(tcp_peers: Peers, h2_server: Any, certs: Any,
                                          pool: ConnectionPool) -> None:
    # The proxy answers the method choice, then closes its side (a FIN).
    peer = tcp_peers([reply(b"\x05\x00"), fin()])
    proxy = ProxySettings.from_url(f"socks5h://127.0.0.1:{peer.port}")

    with pytest.raises(ProxyError, match=r"closed the connection while hyper awaited the reply"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def test_socks_proxy_resetting_mid_handshake(tcp_peers: Peers, h2_server: Any, certs: Any,
                                             pool: ConnectionPool) -> None:
    peer = tcp_peers([reply(b"\x05\x00"), _reset_after_read()])
    proxy = ProxySettings.from_url(f"socks5h://127.0.0.1:{peer.port}")

    with pytest.raises(ProxyError, match=r"failed during its handshake|closed the connection"):
        get(pool, h2_server.url, proxy, certs.ca_path)


def _reset_after_read() -> Step:
    def step(c: PeerConn) -> None:
        c.sock.recv(512)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
        c.closed = True

    return step


def send_raw(data: bytes) -> Step:
    """Send ``data`` in one piece, whatever the feed."""

    def step(c: PeerConn) -> None:
        c.sock.sendall(data)

    return step
