"""hyper's connection pool: which connection serves which request.

>>> from hyper.pool import ConnectionPool
>>> with ConnectionPool() as pool:
...     response = pool.urlopen("GET", "https://example.com/")
...     body = response.read()

``_key`` says what makes connections interchangeable, ``_state`` holds the
decisions (no I/O), ``_pool`` the thread-safe shell that does the I/O,
``_contexts`` the TLS contexts and ``_replay`` whether a body can be resent.
"""

from __future__ import annotations

from ..common.settings import H2CMode
from ._contexts import ContextCache, make_context
from ._key import PoolKey, ProxySettings, TLSSettings, request_target
from ._pool import (
    IDEMPOTENT_METHODS,
    ConnectionFactory,
    ConnectionPool,
    PoolConnection,
    default_connection_factory,
)
from ._replay import Replay
from ._state import EntryState, PoolStateError

__all__ = [
    "IDEMPOTENT_METHODS",
    "ConnectionFactory",
    "ConnectionPool",
    "ContextCache",
    "EntryState",
    "H2CMode",
    "PoolConnection",
    "PoolKey",
    "PoolStateError",
    "ProxySettings",
    "Replay",
    "TLSSettings",
    "default_connection_factory",
    "make_context",
    "request_target",
]
