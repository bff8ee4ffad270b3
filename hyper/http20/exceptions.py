"""hyper 0.7's documented HTTP/2 exception names.

They are defined once, in :mod:`hyper.exceptions`, and re-exported here so
that ``from hyper.http20.exceptions import ConnectionError`` keeps working.
"""

from __future__ import annotations

from ..exceptions import (
    ConnectionError,  # noqa: A004 - hyper 0.7's documented name
    HPACKDecodingError,
    HPACKEncodingError,
    HTTP2ConnectionError,
    HTTP20Error,
    StreamNotProcessedError,
    StreamResetError,
)

__all__ = [
    "ConnectionError",
    "HPACKDecodingError",
    "HPACKEncodingError",
    "HTTP2ConnectionError",
    "HTTP20Error",
    "StreamNotProcessedError",
    "StreamResetError",
]
