"""Which connection serves which request: the pool's decisions, without I/O.

Theory of operation
-------------------
Every connection in the pool is an :class:`Entry` whose :class:`EntryState`
changes only through :data:`TRANSITIONS`; a pair missing from the table is
a bug and raises :class:`PoolStateError`. :class:`PoolState` makes every
decision and is called under the pool's one lock; it never touches the
network. It answers a request with one :class:`Decision`:

* :class:`Use` an entry now: an HTTP/2 connection with a free stream slot
  (shared by any number of requests) or a connection just connected;
* :class:`Check` an idle entry first (``check_alive()``, outside the lock),
  because the server may have closed it while it sat in the pool;
* :class:`Connect` a new entry (outside the lock);
* :class:`Wait` for another thread: for a connection being opened or
  checked that may soon be shared, or (``block=True``) for a free one.

A request holds a :class:`Lease` on its entry from the decision until its
response is released. An entry is only ever closed with no lease on it:
an entry that must go while requests use it is DRAINING and closes when
the last one lets go. HTTP/1.1 entries (and plaintext ones whose version
is not known yet, during an h2c upgrade) take one lease at a time.

Connections to close are queued and handed to the caller
(:meth:`PoolState.take_closable`), who closes them after leaving the lock.
"""

from __future__ import annotations

import enum
import itertools
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, Union


class PooledConnection(Protocol):
    """What the decisions read from a connection (no I/O: no socket use)."""

    @property
    def version(self) -> int | None: ...

    def stream_capacity(self) -> int: ...

    def is_usable(self) -> bool: ...


C = TypeVar("C", bound=PooledConnection)


class PoolStateError(RuntimeError):
    """The pool was asked to make a transition its table forbids (a bug)."""


class EntryState(enum.Enum):
    """The life of a pooled connection."""

    #: Being opened by the thread of the request it was created for.
    CONNECTING = "connecting"
    #: Serving at least one request.
    ACTIVE = "active"
    #: Open, serving nothing.
    IDLE = "idle"
    #: Idle until now; the thread that will use it checks it is still alive.
    CHECKING = "checking"
    #: Takes no new request; closes when its last request is released.
    DRAINING = "draining"
    #: Out of the pool (closed, or being closed outside the lock).
    CLOSED = "closed"


class EntryEvent(enum.Enum):
    CONNECTED = "connected"
    CONNECT_FAILED = "connect failed"
    #: Another request shares an active HTTP/2 connection.
    ASSIGN = "assign"
    CHECK = "check"
    CHECK_OK = "check ok"
    CHECK_FAILED = "check failed"
    #: A request let go; others still use the entry.
    RELEASE = "release"
    #: The last request let go.
    RELEASE_LAST = "release last"
    #: The entry must go: dead, going away, surplus, evicted or pool closed.
    RETIRE = "retire"
    #: Idle for longer than the idle timeout.
    EXPIRE = "expire"


S, E = EntryState, EntryEvent

TRANSITIONS: dict[tuple[EntryState, EntryEvent], EntryState] = {
    (S.CONNECTING, E.CONNECTED): S.ACTIVE,
    (S.CONNECTING, E.CONNECT_FAILED): S.CLOSED,
    (S.ACTIVE, E.ASSIGN): S.ACTIVE,
    (S.ACTIVE, E.RELEASE): S.ACTIVE,
    (S.ACTIVE, E.RELEASE_LAST): S.IDLE,
    (S.ACTIVE, E.RETIRE): S.DRAINING,
    (S.IDLE, E.CHECK): S.CHECKING,
    (S.IDLE, E.RETIRE): S.CLOSED,
    (S.IDLE, E.EXPIRE): S.CLOSED,
    (S.CHECKING, E.CHECK_OK): S.ACTIVE,
    (S.CHECKING, E.CHECK_FAILED): S.CLOSED,
    (S.DRAINING, E.RELEASE): S.DRAINING,
    (S.DRAINING, E.RELEASE_LAST): S.CLOSED,
    (S.DRAINING, E.RETIRE): S.DRAINING,
}

del S, E


@dataclass(eq=False)
class Entry(Generic[C]):
    """One pooled connection and what the pool knows about it."""

    conn: C
    home: KeyState[C]
    ident: int
    state: EntryState = EntryState.CONNECTING
    #: 20, 11, or None before it is known (not connected, h2c upgrade pending).
    version: int | None = None
    #: Leases held on this entry.
    assigned: int = 0
    #: Leases whose request has not opened its stream yet: the connection
    #: does not count them in ``stream_capacity()`` yet, so the pool does.
    reserved: int = 0
    idle_since: float = 0.0
    #: Retire as soon as the thread connecting or checking it is done.
    retire_requested: bool = False

    def fire(self, event: EntryEvent) -> EntryState:
        """Apply ``event``; return the new state."""
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise PoolStateError(
                f"Connection {self.ident}: no transition for {event.name} in {self.state.name}"
            ) from None
        return self.state

    @property
    def multiplexed(self) -> bool:
        """True for HTTP/2: several requests may share the connection."""
        return self.version == 20

    def free_streams(self) -> int:
        """Requests this entry can take now (HTTP/2 only)."""
        if not self.multiplexed:
            return 0
        return self.conn.stream_capacity() - self.reserved


@dataclass(eq=False)
class KeyState(Generic[C]):
    """The entries of one pool key."""

    key: Hashable
    entries: list[Entry[C]] = field(default_factory=list)
    #: The version the last connection for this key negotiated.
    learned_version: int | None = None
    #: Whether a new connection may be HTTP/2 as soon as it is open.
    h2_on_connect: bool = True

    def in_state(self, *states: EntryState) -> list[Entry[C]]:
        return [e for e in self.entries if e.state in states]


@dataclass(eq=False)
class Lease(Generic[C]):
    """One request's hold on one entry, from the decision to the release."""

    entry: Entry[C]
    #: The request's stream is open (or the HTTP/1.1 request was sent).
    opened: bool = False
    released: bool = False

    @property
    def conn(self) -> C:
        return self.entry.conn


class WaitReason(enum.Enum):
    #: A connection that may soon be shared is being opened or checked.
    PENDING = "pending"
    #: ``block=True`` and the key already has ``maxsize`` connections.
    FULL = "full"


@dataclass(frozen=True)
class Use(Generic[C]):
    lease: Lease[C]


@dataclass(frozen=True)
class Check(Generic[C]):
    lease: Lease[C]


@dataclass(frozen=True)
class Connect(Generic[C]):
    lease: Lease[C]


@dataclass(frozen=True)
class Wait:
    reason: WaitReason


Decision = Union[Use[C], Check[C], Connect[C], Wait]


class PoolState(Generic[C]):
    """The decision table. Not thread-safe: the caller holds one lock.

    ``maxsize`` connections per key are kept once idle (more may be open at
    once unless ``block``). At most ``max_keys`` keys are kept; the least
    recently used one is evicted. ``idle_timeout`` (seconds, or None for
    never) retires connections idle for longer.
    """

    def __init__(
        self,
        maxsize: int = 10,
        block: bool = False,
        max_keys: int = 10,
        idle_timeout: float | None = None,
    ) -> None:
        if maxsize < 1 or max_keys < 1:
            raise ValueError("maxsize and max_keys must be at least 1")
        self.maxsize = maxsize
        self.block = block
        self.max_keys = max_keys
        self.idle_timeout = idle_timeout
        self._keys: OrderedDict[Hashable, KeyState[C]] = OrderedDict()
        self._closable: list[C] = []
        self._ids = itertools.count(1)

    # -- a request asks for a connection ------------------------------------

    def decide(
        self,
        key: Hashable,
        now: float,
        new_connection: Callable[[], C],
        avoid: Iterable[int] = (),
        h2_on_connect: bool = True,
        fresh: bool = False,
    ) -> Decision[C]:
        """Pick a connection for one request.

        ``avoid`` lists the idents of entries that failed this request
        before. ``fresh`` asks for a new connection (a retry: on a new
        connection the request is among the first streams, which a server
        that stops after N requests still processes); a blocking pool that
        is full falls back to the others.
        """
        home = self._key_state(key, h2_on_connect)
        self._sweep(home, now)
        full = self.block and len(home.entries) >= self.maxsize
        if fresh and not full:
            return self._connect_new(home, new_connection)
        avoided = set(avoid)
        candidates = [e for e in home.entries if e.ident not in avoided]

        shared = self._best_shared(candidates)
        if shared is not None:
            shared.fire(EntryEvent.ASSIGN)
            return Use(self._lease(shared))

        idle = [e for e in candidates if e.state is EntryState.IDLE and
                (not e.multiplexed or e.free_streams() > 0)]
        if idle:
            # Most recently used first: the likeliest to be still open.
            entry = max(idle, key=lambda e: e.idle_since)
            entry.fire(EntryEvent.CHECK)
            return Check(self._lease(entry))

        if any(self._soon_shared(home, e) for e in candidates):
            return Wait(WaitReason.PENDING)

        if full:
            return Wait(WaitReason.FULL)
        return self._connect_new(home, new_connection)

    def _connect_new(self, home: KeyState[C], new_connection: Callable[[], C]) -> Connect[C]:
        entry = Entry(new_connection(), home, next(self._ids))
        home.entries.append(entry)
        return Connect(self._lease(entry))

    def _best_shared(self, candidates: list[Entry[C]]) -> Entry[C] | None:
        """The active HTTP/2 entry with most requests that still has room:
        packing requests onto few connections is what HTTP/2 is for."""
        best: Entry[C] | None = None
        for entry in candidates:
            if entry.state is not EntryState.ACTIVE or entry.free_streams() <= 0:
                continue
            if best is None or entry.assigned > best.assigned:
                best = entry
        return best

    def _soon_shared(self, home: KeyState[C], entry: Entry[C]) -> bool:
        if entry.state is EntryState.CONNECTING:
            return home.h2_on_connect and home.learned_version != 11
        return entry.state is EntryState.CHECKING and entry.multiplexed

    def _lease(self, entry: Entry[C]) -> Lease[C]:
        entry.assigned += 1
        entry.reserved += 1
        return Lease(entry)

    # -- reports from the thread that did the I/O -------------------------------

    def connected(self, lease: Lease[C]) -> None:
        """``connect()`` succeeded: the entry serves its lease."""
        entry = lease.entry
        entry.fire(EntryEvent.CONNECTED)
        self._learn_version(entry)
        if entry.retire_requested:
            entry.fire(EntryEvent.RETIRE)

    def connect_failed(self, lease: Lease[C]) -> None:
        entry = lease.entry
        lease.released = True
        entry.assigned = entry.reserved = 0
        entry.fire(EntryEvent.CONNECT_FAILED)
        self._remove(entry)

    def checked(self, lease: Lease[C], alive: bool) -> bool:
        """``check_alive()`` answered; True if the lease can be used."""
        entry = lease.entry
        if alive:
            entry.fire(EntryEvent.CHECK_OK)
            if entry.retire_requested:
                entry.fire(EntryEvent.RETIRE)
            return True
        lease.released = True
        entry.assigned = entry.reserved = 0
        entry.fire(EntryEvent.CHECK_FAILED)
        self._remove(entry)
        return False

    def opened(self, lease: Lease[C]) -> None:
        """The lease's request was sent: the connection counts its stream now."""
        if not lease.opened:
            lease.opened = True
            lease.entry.reserved -= 1

    def release(self, lease: Lease[C], now: float, failed: bool = False) -> None:
        """The lease's request is over (response read or closed, or an error).

        ``failed``: the request ended in an error. An HTTP/1.1 connection is
        then retired (its state is unknown); an HTTP/2 one only if the
        connection itself is no longer usable.
        """
        if lease.released:
            return
        self.opened(lease)
        lease.released = True
        entry = lease.entry
        entry.assigned -= 1
        self._learn_version(entry)
        retire = (
            entry.retire_requested
            or (failed and not entry.multiplexed)
            or not entry.conn.is_usable()
        )
        if entry.assigned > 0:
            if retire and entry.state is EntryState.ACTIVE:
                entry.fire(EntryEvent.RETIRE)
            entry.fire(EntryEvent.RELEASE)
            return
        if entry.state is EntryState.ACTIVE and (retire or self._idle_is_full(entry.home)):
            entry.fire(EntryEvent.RETIRE)
        if entry.fire(EntryEvent.RELEASE_LAST) is EntryState.CLOSED:
            self._remove(entry)
        else:
            entry.idle_since = now

    def _idle_is_full(self, home: KeyState[C]) -> bool:
        return len(home.in_state(EntryState.IDLE)) >= self.maxsize

    def _learn_version(self, entry: Entry[C]) -> None:
        if entry.version is None:
            entry.version = entry.conn.version
        if entry.version is not None:
            entry.home.learned_version = entry.version

    # -- housekeeping -----------------------------------------------------------

    def expire(self, now: float) -> float | None:
        """Retire entries idle too long; return when the next one expires
        (None when no entry is idle)."""
        next_at: float | None = None
        for home in list(self._keys.values()):
            self._sweep(home, now)
            for entry in home.in_state(EntryState.IDLE):
                if self.idle_timeout is not None:
                    at = entry.idle_since + self.idle_timeout
                    next_at = at if next_at is None else min(next_at, at)
        return next_at

    def has_idle(self) -> bool:
        return any(home.in_state(EntryState.IDLE) for home in self._keys.values())

    def close_all(self) -> None:
        """Retire every entry: idle ones now, busy ones when released."""
        for home in self._keys.values():
            self._retire_key(home)
        self._keys.clear()

    def take_closable(self) -> list[C]:
        """The connections to close, now that they are out of the pool."""
        closable, self._closable = self._closable, []
        return closable

    def entries(self, key: Hashable) -> list[Entry[C]]:
        home = self._keys.get(key)
        return list(home.entries) if home is not None else []

    def keys(self) -> list[Hashable]:
        return list(self._keys)

    def _key_state(self, key: Hashable, h2_on_connect: bool) -> KeyState[C]:
        home = self._keys.get(key)
        if home is None:
            home = self._keys[key] = KeyState(key, h2_on_connect=h2_on_connect)
            while len(self._keys) > self.max_keys:
                _, evicted = self._keys.popitem(last=False)
                self._retire_key(evicted)
        else:
            self._keys.move_to_end(key)
        return home

    def _sweep(self, home: KeyState[C], now: float) -> None:
        """Retire what can no longer serve: dead or expired idle entries
        close now, active ones that went away drain."""
        for entry in list(home.entries):
            if entry.state is EntryState.IDLE:
                event = None
                if not entry.conn.is_usable():
                    event = EntryEvent.RETIRE
                elif self.idle_timeout is not None and \
                        now - entry.idle_since >= self.idle_timeout:
                    event = EntryEvent.EXPIRE
                if event is not None and entry.fire(event) is EntryState.CLOSED:
                    self._remove(entry)
            elif entry.state is EntryState.ACTIVE and not entry.conn.is_usable():
                entry.fire(EntryEvent.RETIRE)

    def _retire_key(self, home: KeyState[C]) -> None:
        for entry in list(home.entries):
            if entry.state in (EntryState.CONNECTING, EntryState.CHECKING):
                entry.retire_requested = True
            elif entry.fire(EntryEvent.RETIRE) is EntryState.CLOSED:
                self._remove(entry)

    def _remove(self, entry: Entry[C]) -> None:
        # Called once per entry, right after its move to CLOSED (CLOSED is
        # final), and an entry leaves its key's list only here.
        entry.home.entries.remove(entry)
        self._closable.append(entry.conn)

    # -- invariants (checked by the tests after every step) -------------------------

    def check_invariants(self) -> None:
        for home in self._keys.values():
            for entry in home.entries:
                _check_entry(entry)


def _check_entry(entry: Entry[C]) -> None:
    problems = []
    if entry.state is EntryState.CLOSED:
        problems.append("a closed entry is still in the pool")
    if not 0 <= entry.reserved <= entry.assigned:
        problems.append(f"reserved {entry.reserved} outside 0..assigned {entry.assigned}")
    if entry.state is EntryState.IDLE and entry.assigned:
        problems.append("an idle entry has leases")
    if entry.state in (EntryState.ACTIVE, EntryState.CONNECTING, EntryState.CHECKING) \
            and entry.assigned == 0:
        problems.append(f"a {entry.state.name} entry has no lease")
    if not entry.multiplexed and entry.assigned > 1:
        problems.append(f"{entry.assigned} requests share a connection of version {entry.version}")
    if problems:
        raise PoolStateError(f"Connection {entry.ident} ({entry.state.name}): "
                             + "; ".join(problems))
