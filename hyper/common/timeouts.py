"""Timeouts: how long hyper waits to connect and for the server.

The default is None, as in requests and http.client: without a timeout a
connection waits as long as the server takes (a server that accepts and
then says nothing holds the caller forever). Pass ``timeout=`` (a number
or a ``(connect, read)`` pair) to bound every wait. hyper's own
housekeeping writes (resets, GOAWAY on close) are always bounded.

The read timeout bounds the server's *silence*: the longest time without
a byte from it (requests' definition), not the time a whole response may
take. On HTTP/2 any byte received on the connection counts as progress
for every stream waiting on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Union

TimeoutArg = Union[None, float, int, tuple[Optional[float], Optional[float]], "TimeoutConfig"]


@dataclass(frozen=True)
class TimeoutConfig:
    """How long to wait to connect, and then for the server.

    ``read`` bounds every wait for the server once connected (the response
    headers, each piece of the body, flow-control window updates while
    uploading) as the longest time without a byte from it. None means
    wait indefinitely, as with requests.
    """

    connect: float | None = None
    read: float | None = None

    @classmethod
    def from_arg(cls, value: TimeoutArg) -> TimeoutConfig:
        """Accept a number, a ``(connect, read)`` pair, None or a TimeoutConfig."""
        if value is None:
            return cls()
        if isinstance(value, TimeoutConfig):
            return value
        if isinstance(value, tuple):
            if len(value) != 2:
                raise ValueError(
                    f"Invalid timeout {value!r}: pass a number or a (connect, read) tuple"
                )
            return cls(_check(value[0]), _check(value[1]))
        number = _check(value)
        return cls(number, number)


def _check(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Invalid timeout {value!r}: must be a number or None")
    if value <= 0:
        raise ValueError(f"Invalid timeout {value!r}: must be greater than zero")
    return float(value)


class Deadline:
    """A point in time after which a wait has failed; None means never.

    A *renewable* deadline bounds a silence rather than a whole wait: each
    :meth:`renew` (the caller's sign of progress, e.g. bytes received)
    moves it ``seconds`` past now. That is requests' read timeout: the
    longest time without a byte from the server.
    """

    __slots__ = ("_at", "_renewable", "_seconds")

    def __init__(self, seconds: float | None, renewable: bool = False) -> None:
        self._seconds = seconds
        self._renewable = renewable
        self._at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None for no limit."""
        if self._at is None:
            return None
        return max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return self._at is not None and time.monotonic() >= self._at

    def renew(self) -> None:
        """Progress was made: a renewable deadline starts over."""
        if self._renewable and self._seconds is not None:
            self._at = time.monotonic() + self._seconds
