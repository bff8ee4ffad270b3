"""The pool's decision table (hyper.pool._state) with fake connections.

The fakes implement the three queries PoolState makes (version,
stream_capacity, is_usable); everything the pool does on the network is
tested against real servers in test_pool.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hyper.pool._state import (
    TRANSITIONS,
    Check,
    Connect,
    EntryEvent,
    EntryState,
    Lease,
    PoolState,
    PoolStateError,
    Use,
    Wait,
    WaitReason,
)


class FakeConn:
    """A connection as PoolState sees it. ``version`` is what connecting
    will negotiate; ``limit`` is the server's MAX_CONCURRENT_STREAMS."""

    names = itertools.count(1)

    def __init__(self, version: int | None = 20, limit: int = 100) -> None:
        self.name = next(self.names)
        self.negotiates = version
        self.connected = False
        self.limit = limit
        self.open_streams = 0
        self.usable = True
        self.closed = False

    @property
    def version(self) -> int | None:
        return self.negotiates if self.connected else None

    def stream_capacity(self) -> int:
        if not self.usable or self.closed:
            return 0
        if self.version != 20:
            return 1 if self.open_streams == 0 else 0
        return max(0, self.limit - self.open_streams)

    def is_usable(self) -> bool:
        return self.usable and not self.closed

    def __repr__(self) -> str:
        return f"<FakeConn {self.name} v={self.version} open={self.open_streams}>"


class Harness:
    """Drives a PoolState as the pool's shell does, recording closes."""

    def __init__(self, version: int | None = 20, limit: int = 100, **kwargs: Any) -> None:
        self.state: PoolState[FakeConn] = PoolState(**kwargs)
        self.version = version
        self.limit = limit
        self.now = 0.0
        self.closed: list[FakeConn] = []

    def make(self) -> FakeConn:
        return FakeConn(self.version, self.limit)

    def decide(self, key: str = "a", avoid: tuple[int, ...] = (), h2: bool = True) -> Any:
        decision = self.state.decide(key, self.now, self.make, avoid, h2)
        self.collect()
        return decision

    def lease(self, key: str = "a") -> Lease[FakeConn]:
        """A lease ready to send on: connects or checks as decided."""
        decision = self.decide(key)
        if isinstance(decision, Connect):
            decision.lease.conn.connected = True
            self.state.connected(decision.lease)
        elif isinstance(decision, Check):
            assert self.state.checked(decision.lease, True)
        else:
            assert isinstance(decision, Use), decision
        self.open(decision.lease)
        return decision.lease

    def open(self, lease: Lease[FakeConn]) -> None:
        lease.conn.open_streams += 1
        self.state.opened(lease)
        self.state.check_invariants()

    def release(self, lease: Lease[FakeConn], failed: bool = False) -> None:
        if not lease.released and lease.opened:
            lease.conn.open_streams -= 1
        self.state.release(lease, self.now, failed)
        self.collect()

    def collect(self) -> None:
        for conn in self.state.take_closable():
            conn.closed = True
            self.closed.append(conn)
        self.state.check_invariants()

    def states(self, key: str = "a") -> list[EntryState]:
        return [e.state for e in self.state.entries(key)]


# -- the transition table -----------------------------------------------------------


@pytest.mark.parametrize("state", list(EntryState))
@pytest.mark.parametrize("event", list(EntryEvent))
def test_pairs_missing_from_the_table_are_errors(state: EntryState, event: EntryEvent) -> None:
    harness = Harness()
    entry = harness.lease().entry
    entry.state = state
    if (state, event) in TRANSITIONS:
        assert entry.fire(event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(PoolStateError, match=event.name):
            entry.fire(event)


def test_closed_is_final() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] is EntryState.CLOSED]


# -- HTTP/2: one connection, shared -------------------------------------------------------


def test_http2_requests_share_one_connection() -> None:
    harness = Harness(version=20)
    leases = [harness.lease() for _ in range(5)]
    assert len({id(lease.conn) for lease in leases}) == 1
    assert leases[0].entry.assigned == 5
    for lease in leases:
        harness.release(lease)
    assert harness.states() == [EntryState.IDLE]
    assert harness.closed == []


def test_others_wait_for_a_connection_that_may_be_http2() -> None:
    harness = Harness(version=20)
    first = harness.decide()
    assert isinstance(first, Connect)
    assert harness.decide() == Wait(WaitReason.PENDING)
    first.lease.conn.connected = True
    harness.state.connected(first.lease)
    second = harness.decide()
    assert isinstance(second, Use) and second.lease.conn is first.lease.conn


def test_no_wait_when_the_key_cannot_be_http2_at_connect() -> None:
    harness = Harness(version=None)
    assert isinstance(harness.decide(h2=False), Connect)
    assert isinstance(harness.decide(h2=False), Connect)


def test_no_wait_once_the_origin_is_known_to_speak_http11() -> None:
    harness = Harness(version=11)
    harness.release(harness.lease())
    busy = harness.lease()
    assert isinstance(harness.decide(), Connect)
    assert busy.entry.state is EntryState.ACTIVE


def test_a_full_connection_makes_the_pool_open_another() -> None:
    harness = Harness(version=20, limit=2)
    leases = [harness.lease() for _ in range(5)]
    conns = [lease.conn for lease in leases]
    assert conns[0] is conns[1] and conns[2] is conns[3] and conns[4] not in conns[:4]
    assert all(conn.open_streams <= 2 for conn in conns)


def test_streams_not_yet_opened_count_against_the_limit() -> None:
    harness = Harness(version=20, limit=2)
    harness.lease()
    # Decided but not yet sent: the connection cannot count it yet.
    second = harness.decide()
    assert isinstance(second, Use)
    assert second.lease.conn.stream_capacity() == 1
    third = harness.decide()
    assert isinstance(third, Connect)


def test_requests_pack_onto_the_busiest_connection() -> None:
    harness = Harness(version=20, limit=3)
    a = [harness.lease() for _ in range(3)]
    b = harness.lease()
    assert b.conn is not a[0].conn
    harness.release(a[2])
    # a (2 requests, 1 free slot) is busier than b (1 request, 2 free slots).
    assert harness.lease().conn is a[0].conn


# -- HTTP/1.1: one request per connection --------------------------------------------------


def test_http11_connection_serves_one_request_at_a_time() -> None:
    harness = Harness(version=11)
    first, second = harness.lease(), harness.lease()
    assert first.conn is not second.conn
    harness.release(first)
    third = harness.decide()
    assert isinstance(third, Check) and third.lease.conn is first.conn


def test_idle_connection_failing_its_check_is_closed_and_replaced() -> None:
    harness = Harness(version=11)
    old = harness.lease()
    harness.release(old)
    check = harness.decide()
    assert isinstance(check, Check)
    assert not harness.state.checked(check.lease, False)
    harness.collect()
    assert harness.closed == [old.conn]
    assert isinstance(harness.decide(), Connect)


def test_surplus_idle_connections_close_beyond_maxsize() -> None:
    harness = Harness(version=11, maxsize=2)
    leases = [harness.lease() for _ in range(3)]
    for lease in leases:
        harness.release(lease)
    assert harness.states() == [EntryState.IDLE, EntryState.IDLE]
    assert harness.closed == [leases[2].conn]


def test_block_waits_for_a_free_connection() -> None:
    harness = Harness(version=11, maxsize=1, block=True)
    busy = harness.lease()
    assert harness.decide() == Wait(WaitReason.FULL)
    harness.release(busy)
    decision = harness.decide()
    assert isinstance(decision, Check) and decision.lease.conn is busy.conn


def test_failed_http11_request_retires_its_connection() -> None:
    harness = Harness(version=11)
    lease = harness.lease()
    harness.release(lease, failed=True)
    assert harness.closed == [lease.conn]
    assert harness.states() == []


def test_failed_http2_stream_keeps_a_usable_connection() -> None:
    harness = Harness(version=20)
    lease = harness.lease()
    harness.release(lease, failed=True)
    assert harness.states() == [EntryState.IDLE]


def test_h2c_upgrade_entry_is_exclusive_until_its_version_is_known() -> None:
    harness = Harness(version=None)
    first = harness.decide(h2=False)
    assert isinstance(first, Connect)
    first.lease.conn.connected = True
    harness.state.connected(first.lease)
    harness.open(first.lease)
    # Version unknown (upgrade pending): not shared.
    assert isinstance(harness.decide(h2=False), Connect)
    # The answer to the first request switched the connection to HTTP/2.
    first.lease.conn.negotiates = 20
    harness.release(first.lease)
    assert first.lease.entry.version == 20
    assert harness.state.entries("a")[0].multiplexed


# -- going away, idle timeout, eviction, close ------------------------------------------------


def test_connection_going_away_drains_and_closes_after_its_last_request() -> None:
    harness = Harness(version=20)
    one, two = harness.lease(), harness.lease()
    one.conn.usable = False
    fresh = harness.decide()
    assert isinstance(fresh, Connect)
    assert one.entry.state is EntryState.DRAINING
    harness.release(one)
    assert harness.closed == []
    harness.release(two)
    assert harness.closed == [one.conn]


def test_retry_goes_to_a_fresh_connection() -> None:
    harness = Harness(version=20)
    lease = harness.lease()
    harness.release(lease, failed=True)
    again = harness.state.decide("a", 0.0, harness.make, (lease.entry.ident,), fresh=True)
    assert isinstance(again, Connect)


def test_retry_in_a_full_blocking_pool_uses_another_connection() -> None:
    harness = Harness(version=20, maxsize=2, block=True)
    first = harness.lease()
    second = harness.state.decide("a", 0.0, harness.make, (first.entry.ident,), fresh=True)
    assert isinstance(second, Connect)
    second.lease.conn.connected = True
    harness.state.connected(second.lease)
    third = harness.state.decide("a", 0.0, harness.make, (first.entry.ident,), fresh=True)
    assert isinstance(third, Use) and third.lease.conn is second.lease.conn


def test_idle_connections_expire() -> None:
    harness = Harness(version=11, idle_timeout=5.0)
    lease = harness.lease()
    harness.now = 10.0
    harness.release(lease)
    assert harness.state.expire(12.0) == 15.0
    harness.collect()
    assert harness.closed == []
    assert harness.state.expire(15.0) is None
    harness.collect()
    assert harness.closed == [lease.conn]


def test_expired_connection_is_not_reused() -> None:
    harness = Harness(version=11, idle_timeout=5.0)
    lease = harness.lease()
    harness.release(lease)
    harness.now = 6.0
    assert isinstance(harness.decide(), Connect)
    assert harness.closed == [lease.conn]


def test_least_recently_used_key_is_evicted() -> None:
    harness = Harness(version=11, max_keys=2)
    a = harness.lease("a")
    harness.release(a)
    busy_b = harness.lease("b")
    harness.release(harness.lease("a"))
    harness.lease("c")
    assert harness.state.keys() == ["a", "c"]
    assert busy_b.entry.state is EntryState.DRAINING
    harness.release(busy_b)
    assert busy_b.conn in harness.closed


def test_close_all_closes_idle_now_and_busy_later() -> None:
    harness = Harness(version=11)
    idle, busy = harness.lease(), harness.lease()
    connecting = harness.decide()
    assert isinstance(connecting, Connect)
    harness.release(idle)
    harness.state.close_all()
    harness.collect()
    assert harness.closed == [idle.conn]
    harness.release(busy)
    assert harness.closed == [idle.conn, busy.conn]
    connecting.lease.conn.connected = True
    harness.state.connected(connecting.lease)
    assert connecting.lease.entry.state is EntryState.DRAINING
    harness.release(connecting.lease)
    assert connecting.lease.conn in harness.closed


def test_releasing_twice_is_harmless() -> None:
    harness = Harness(version=20)
    lease, other = harness.lease(), harness.lease()
    harness.release(lease)
    harness.release(lease)
    assert other.entry.assigned == 1


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PoolState(maxsize=0)


def test_idle_connection_gone_dead_is_closed_before_any_decision() -> None:
    harness = Harness(version=11)
    lease = harness.lease()
    harness.release(lease)
    lease.conn.usable = False
    # No check needed: the connection already says it cannot serve.
    assert isinstance(harness.decide(), Connect)
    assert harness.closed == [lease.conn]


def test_without_idle_timeout_nothing_expires() -> None:
    harness = Harness(version=11, idle_timeout=None)
    lease = harness.lease()
    harness.release(lease)
    assert harness.state.expire(1e9) is None
    harness.collect()
    assert harness.states() == [EntryState.IDLE]
    assert harness.closed == []


def test_close_all_during_a_check_retires_the_connection_after_its_request() -> None:
    harness = Harness(version=11)
    harness.release(harness.lease())
    check = harness.decide()
    assert isinstance(check, Check)
    harness.state.close_all()
    harness.collect()
    # The check is under way: the connection still serves its request...
    assert harness.closed == []
    assert harness.state.checked(check.lease, True)
    assert check.lease.entry.state is EntryState.DRAINING
    harness.open(check.lease)
    # ...and closes as soon as that request is over.
    harness.release(check.lease)
    assert harness.closed == [check.lease.conn]


@pytest.mark.parametrize(
    ("state", "assigned", "reserved", "version", "problem"),
    [
        (EntryState.CLOSED, 1, 0, 20, "a closed entry is still in the pool"),
        (EntryState.ACTIVE, 1, 2, 20, "reserved 2 outside 0..assigned 1"),
        (EntryState.ACTIVE, 1, -1, 20, "reserved -1 outside 0..assigned 1"),
        (EntryState.IDLE, 1, 0, 20, "an idle entry has leases"),
        (EntryState.ACTIVE, 0, 0, 20, "a ACTIVE entry has no lease"),
        (EntryState.CHECKING, 0, 0, 20, "a CHECKING entry has no lease"),
        (EntryState.ACTIVE, 2, 0, 11, "2 requests share a connection of version 11"),
        (EntryState.ACTIVE, 2, 0, None, "2 requests share a connection of version None"),
    ],
)
def test_invariant_check_reports_each_broken_rule(
    state: EntryState, assigned: int, reserved: int, version: int | None, problem: str,
) -> None:
    """The invariants the state machine test relies on do catch breakage."""
    harness = Harness(version=20)
    entry = harness.lease().entry
    harness.state.check_invariants()
    entry.state, entry.assigned, entry.reserved, entry.version = (
        state, assigned, reserved, version)
    with pytest.raises(PoolStateError) as info:
        harness.state.check_invariants()
    assert problem in str(info.value)
    assert str(info.value).startswith(f"Connection {entry.ident} ({state.name}): ")


# -- every interleaving keeps the invariants -------------------------------------------------------


class PoolMachine(RuleBasedStateMachine):
    """Random interleavings of requests, connects, checks, releases, going
    away, time passing and closing: no lease may ever sit on a closed
    connection, and no HTTP/1.1 connection may carry two leases."""

    def __init__(self) -> None:
        super().__init__()
        self.harness = Harness(version=20, limit=2, maxsize=2, max_keys=2, idle_timeout=3.0)
        self.connecting: list[Lease[FakeConn]] = []
        self.checking: list[Lease[FakeConn]] = []
        self.leases: list[Lease[FakeConn]] = []

    @rule(key=st.sampled_from("ab"), version=st.sampled_from([20, 11, None]),
          block=st.booleans())
    def request(self, key: str, version: int | None, block: bool) -> None:
        self.harness.version = version
        self.harness.state.block = block
        decision = self.harness.decide(key, h2=version == 20)
        if isinstance(decision, Connect):
            self.connecting.append(decision.lease)
        elif isinstance(decision, Check):
            self.checking.append(decision.lease)
        elif isinstance(decision, Use):
            self.leases.append(decision.lease)

    @precondition(lambda self: self.connecting)
    @rule(data=st.data(), ok=st.booleans())
    def finish_connect(self, data: st.DataObject, ok: bool) -> None:
        lease = self.connecting.pop(data.draw(st.integers(0, len(self.connecting) - 1)))
        if ok:
            lease.conn.connected = True
            self.harness.state.connected(lease)
            self.leases.append(lease)
        else:
            self.harness.state.connect_failed(lease)
        self.harness.collect()

    @precondition(lambda self: self.checking)
    @rule(data=st.data(), alive=st.booleans())
    def finish_check(self, data: st.DataObject, alive: bool) -> None:
        lease = self.checking.pop(data.draw(st.integers(0, len(self.checking) - 1)))
        if self.harness.state.checked(lease, alive):
            self.leases.append(lease)
        self.harness.collect()

    @precondition(lambda self: any(not lease.opened for lease in self.leases))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        waiting = [lease for lease in self.leases if not lease.opened]
        self.harness.open(data.draw(st.sampled_from(waiting)))

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), failed=st.booleans())
    def release(self, data: st.DataObject, failed: bool) -> None:
        lease = self.leases.pop(data.draw(st.integers(0, len(self.leases) - 1)))
        self.harness.release(lease, failed)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def go_away(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self.leases)).conn.usable = False

    @rule(seconds=st.floats(0, 5))
    def time_passes(self, seconds: float) -> None:
        self.harness.now += seconds
        self.harness.state.expire(self.harness.now)
        self.harness.collect()

    @rule()
    def close_all(self) -> None:
        self.harness.state.close_all()
        self.harness.collect()

    @invariant()
    def no_lease_on_a_closed_connection(self) -> None:
        for lease in self.leases + self.connecting + self.checking:
            assert not lease.conn.closed, lease

    @invariant()
    def http11_connections_carry_one_request(self) -> None:
        per_conn: dict[int, int] = {}
        for lease in self.leases + self.connecting + self.checking:
            per_conn[id(lease.conn)] = per_conn.get(id(lease.conn), 0) + 1
            if lease.conn.version != 20:
                assert per_conn[id(lease.conn)] == 1, lease

    @invariant()
    def http2_streams_within_the_limit(self) -> None:
        for lease in self.leases:
            assert lease.conn.open_streams <= lease.conn.limit


PoolMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                         deadline=None)
test_pool_machine = PoolMachine.TestCase
