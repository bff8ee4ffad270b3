"""The scripted TCP peer (tests/tcppeer.py) itself: failures and stuck
scripts are raised by join, connections beyond the scripts are refused.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tcppeer import (
    OK,
    PeerFailure,
    Peers,
    TcpPeer,
    hang_up,
    head,
    reply,
    signal,
    wait,
)

pytestmark = pytest.mark.timeout(60)


def test_peer_failure_is_raised_by_join() -> None:
    """A script the client does not follow fails the test, once."""
    peer = TcpPeer([head(), reply(OK)])
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    with pytest.raises(PeerFailure, match="EOF before a request head"):
        peer.join()
    peer.join()  # already reported: the fixture's join must not report it again


def test_stuck_peer_is_raised_by_join() -> None:
    reached, release = threading.Event(), threading.Event()
    peer = TcpPeer([signal(reached), wait(release)])
    client = socket.create_connection(("127.0.0.1", peer.port), timeout=5)
    try:
        assert reached.wait(10)
        with pytest.raises(PeerFailure, match="stuck"):
            peer.join(timeout=0.1)
    finally:
        release.set()
        client.close()
    peer.join()


def test_scripted_connection_never_made_is_raised_by_join() -> None:
    peer = TcpPeer([hang_up()], [hang_up()], timeout=2)
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    with pytest.raises(PeerFailure, match="connection 2 of 2 never came"):
        peer.join()
    assert peer.connections == 1


def test_connection_beyond_the_scripts_is_refused() -> None:
    peer = TcpPeer([hang_up()])
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    peer.join()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", peer.port), timeout=5)


def test_join_all_joins_every_peer_and_reports_all_failures() -> None:
    started = Peers("whole")
    started([hang_up()], timeout=0.5)
    started([hang_up()], timeout=0.5)
    with pytest.raises(PeerFailure, match=r"never came.*; .*never came"):
        started.join_all()
    assert not any(peer.thread.is_alive() for peer in started.started)
