"""ExchangeGate: one request/response exchange at a time on an HTTP/1.1 connection.

Theory of operation. Without pipelining an HTTP/1.1 connection carries one
exchange at a time: RFC 9112 section 9.3, "A client that supports persistent
connections MAY 'pipeline' its requests" -- hyper does not, so a request may
go out only once the previous response has been read to its end (or the
connection closed). Several threads can share one connection; the gate
queues them:

* a thread *begins* an exchange (waiting, bounded, while another thread's
  exchange runs), sends its request, takes the response head and hands the
  response on; whoever reads the body to its end or closes it *ends* the
  exchange, from any thread, and the next waiting thread goes on;
* each exchange has a number; a response remembers its number, so a
  response left over from an exchange that was cut short (the connection
  was closed under it) can never read the bytes of a later one;
* the socket is touched only by the thread whose exchange it is (the owner
  sends and takes the head; the body is read by whoever holds the response,
  one reader at a time since the response is read under its exchange).

This module holds the state and the waiting only; no I/O.
"""

from __future__ import annotations

import collections
import enum
import threading

from ..exceptions import ConnectionClosed, LocalProtocolError, PoolTimeout


class Phase(enum.Enum):
    IDLE = "idle"
    SENDING = "sending the request"
    AWAITING = "waiting for the response head"
    BODY = "reading the response body"


class Step(enum.Enum):
    BEGIN = "begin"
    SENT = "the request was sent"
    HEAD = "the response head was taken"
    END = "the exchange ended"


# (phase, step) -> next phase. END is allowed everywhere: the body was read,
# the response closed, the request failed or the connection was closed.
_TRANSITIONS: dict[tuple[Phase, Step], Phase] = {
    (Phase.IDLE, Step.BEGIN): Phase.SENDING,
    (Phase.SENDING, Step.SENT): Phase.AWAITING,
    (Phase.AWAITING, Step.HEAD): Phase.BODY,
    **{(phase, Step.END): Phase.IDLE for phase in Phase},
}


class ExchangeGate:
    """Which exchange owns the connection, and who waits for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.phase = Phase.IDLE
        #: The number of the current (or last) exchange.
        self.number = 0
        self._owner: int | None = None
        # The threads waiting to begin an exchange, in arrival order.
        self._queue: collections.deque[object] = collections.deque()

    def begin(self, wait: float | None) -> int:
        """Start an exchange for the calling thread; its number.

        Waits up to ``wait`` seconds (None: no limit) for another thread's
        exchange to end. The caller's own unfinished exchange is an error at
        once: waiting for it would wait forever.
        """
        me = threading.get_ident()
        ticket = object()
        with self._cond:
            if self.phase is not Phase.IDLE and self._owner == me:
                raise LocalProtocolError(
                    "Read the previous response before sending another request on this "
                    f"connection (it is {self.phase.value})")
            # First come, first served: without the queue a thread that just
            # ended its exchange could start the next one before a thread
            # that has waited long, again and again.
            self._queue.append(ticket)
            try:
                if not self._cond.wait_for(lambda: self._my_turn(ticket), wait):
                    raise PoolTimeout(
                        f"Timed out after {wait} s waiting for another thread's request on "
                        "this HTTP/1.1 connection to finish (one request at a time: read or "
                        "close each response, or give each thread its own connection or "
                        "a pool)")
            finally:
                self._queue.remove(ticket)
                # (The next in line may be able to go now.)
                self._cond.notify_all()
            return self._begin(me)

    def _my_turn(self, ticket: object) -> bool:
        return self.phase is Phase.IDLE and self._queue[0] is ticket

    def try_begin(self) -> int | None:
        """Start an exchange if none runs and no thread waits for one (its
        number), else None at once."""
        with self._cond:
            if self.phase is Phase.IDLE and not self._queue:
                return self._begin(threading.get_ident())
            return None

    def _begin(self, owner: int) -> int:
        self.phase = _TRANSITIONS[(self.phase, Step.BEGIN)]
        self.number += 1
        self._owner = owner
        return self.number

    def advance(self, number: int, step: Step) -> None:
        """Move exchange ``number`` on (to its end: see :meth:`end`);
        ConnectionClosed if it was ended meanwhile (the connection was
        closed under it)."""
        with self._cond:
            self._check_current(number)
            # (The connection only asks for the steps its phase allows.)
            self.phase = _TRANSITIONS[(self.phase, step)]

    def end(self, number: int | None = None) -> bool:
        """End exchange ``number`` (None: whichever runs); False if it had
        already ended."""
        with self._cond:
            if self.phase is Phase.IDLE or (number is not None and number != self.number):
                return False
            self.phase = Phase.IDLE
            self._owner = None
            self._cond.notify_all()
            return True

    def awaiting_mine(self) -> int:
        """The number of the calling thread's exchange waiting for its head."""
        with self._cond:
            if self.phase is not Phase.AWAITING or self._owner != threading.get_ident():
                raise LocalProtocolError(
                    "No request from this thread is waiting for its response on this "
                    f"connection (it is {self.phase.value})")
            return self.number

    def check_current(self, number: int) -> None:
        """Exchange ``number`` still runs, else ConnectionClosed."""
        with self._cond:
            self._check_current(number)

    def _check_current(self, number: int) -> None:
        if number != self.number or self.phase is Phase.IDLE:
            raise ConnectionClosed(
                "The connection is closed: it was closed before this exchange finished")

    @property
    def idle(self) -> bool:
        return self.phase is Phase.IDLE
