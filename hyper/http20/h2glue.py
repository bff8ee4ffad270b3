"""What hyper configures in h2, and its one work-around.

h2 moves its connection state machine to CLOSED as soon as a GOAWAY arrives,
and then rejects every later frame as a protocol error. But RFC 9113 section
6.8 lets the server finish the streams up to ``last_stream_id`` after a
graceful GOAWAY: "the sender of the GOAWAY frame ... can still complete
processing of streams with identifiers lower or equal to the last stream
identifier". nginx does exactly that when ``keepalive_requests`` runs out.
So hyper gives each h2 connection a transition table that accepts the frames
of those streams in the CLOSED state; hyper itself never opens a stream after
GOAWAY (it tracks that on its own), and it drops the connection after a
GOAWAY that carries an error.
"""

from __future__ import annotations

import logging
from typing import Any

import h2.config
import h2.connection
import h2.settings
from h2.connection import ConnectionInputs, ConnectionState

from .window import DEFAULT_STREAM_WINDOW

log = logging.getLogger("hyper")

# The frames still exchanged while streams finish after GOAWAY.
_AFTER_GOAWAY = (
    ConnectionInputs.RECV_HEADERS,
    ConnectionInputs.RECV_DATA,
    ConnectionInputs.RECV_WINDOW_UPDATE,
    ConnectionInputs.RECV_PING,
    ConnectionInputs.RECV_SETTINGS,
    ConnectionInputs.RECV_RST_STREAM,
    ConnectionInputs.RECV_PRIORITY,
    ConnectionInputs.RECV_PUSH_PROMISE,
    ConnectionInputs.SEND_DATA,
    ConnectionInputs.SEND_WINDOW_UPDATE,
    ConnectionInputs.SEND_RST_STREAM,
    ConnectionInputs.SEND_PING,
    ConnectionInputs.SEND_SETTINGS,
)

# Our SETTINGS_MAX_HEADER_LIST_SIZE: generous for real responses, small
# enough that a hostile server can't make us buffer megabytes of headers.
MAX_HEADER_LIST_SIZE = 256 * 1024


class _FrameLogger(h2.config.DummyLogger):
    """h2's logger interface, sending h2's frame traces to the ``hyper`` logger."""

    def __init__(self) -> None:
        super().__init__()

    def debug(self, fmtstr: str, *args: Any) -> None:
        log.debug(fmtstr, *args)

    def trace(self, fmtstr: str, *args: Any) -> None:
        log.debug(fmtstr, *args)


def new_h2_connection(enable_push: bool) -> h2.connection.H2Connection:
    """A client-side h2 connection with hyper's settings (not yet initiated)."""
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=True,
        normalize_outbound_headers=True,
        validate_inbound_headers=True,
        normalize_inbound_headers=True,
        logger=_FrameLogger() if log.isEnabledFor(logging.DEBUG) else None,
    )
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: int(enable_push),
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: DEFAULT_STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100 if enable_push else 0,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
        },
    )
    machine = conn.state_machine
    table = dict(machine._transitions)
    for frame_input in _AFTER_GOAWAY:
        table.setdefault((ConnectionState.CLOSED, frame_input), (None, ConnectionState.CLOSED))
    machine._transitions = table
    return conn
