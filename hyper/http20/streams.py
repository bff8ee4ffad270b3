"""Per-stream bookkeeping for the HTTP/2 client: no I/O here.

Theory of operation: one thread at a time reads the socket and feeds h2;
h2's events are applied to the :class:`Stream` they belong to, under the
connection's lock. Threads waiting on a stream check its state after every
batch of events. A stream's response moves through the states of
:class:`ResponseState` by the table :data:`TRANSITIONS`; a pair missing from
the table is a protocol error of the server (h2 already rejects most of them).
"""

from __future__ import annotations

import enum
from collections import deque

from ..exceptions import HyperError, RemoteProtocolError
from .window import BaseFlowControlManager

Headers = list[tuple[bytes, bytes]]


class ResponseState(enum.Enum):
    AWAITING_HEADERS = "awaiting headers"
    RECEIVING_BODY = "receiving body"
    COMPLETE = "complete"
    FAILED = "failed"


class StreamInput(enum.Enum):
    HEADERS = "headers"
    DATA = "data"
    TRAILERS = "trailers"
    END = "end of stream"
    FAIL = "failure"


_A, _R, _C, _F = (
    ResponseState.AWAITING_HEADERS,
    ResponseState.RECEIVING_BODY,
    ResponseState.COMPLETE,
    ResponseState.FAILED,
)

TRANSITIONS: dict[tuple[ResponseState, StreamInput], ResponseState] = {
    (_A, StreamInput.HEADERS): _R,
    (_A, StreamInput.FAIL): _F,
    (_R, StreamInput.DATA): _R,
    (_R, StreamInput.TRAILERS): _R,
    (_R, StreamInput.END): _C,
    (_R, StreamInput.FAIL): _F,
    # A failure after completion (connection lost later) changes nothing:
    # the whole response is already buffered.
    (_C, StreamInput.FAIL): _C,
    (_F, StreamInput.FAIL): _F,
}


class Stream:
    """One request/response exchange (or one pushed response)."""

    def __init__(
        self,
        stream_id: int,
        window: BaseFlowControlManager,
        read_timeout: float | None,
        request_headers: Headers,
    ) -> None:
        self.stream_id = stream_id
        self.state = ResponseState.AWAITING_HEADERS
        self.window = window
        self.read_timeout = read_timeout
        self.request_headers = request_headers
        self.headers: Headers | None = None
        self.trailers: Headers | None = None
        # (payload, flow-controlled length) pairs not yet consumed.
        self.data: deque[tuple[bytes, int]] = deque()
        # The sum of the flow-controlled lengths in ``data``.
        self.unread = 0
        self.error: HyperError | None = None
        self.response_taken = False
        # Our side of the stream: True once END_STREAM was sent.
        self.request_complete = False

    def apply(self, event: StreamInput) -> None:
        """Move to the next state, or fail if the server sent this out of order."""
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            self.fail(
                RemoteProtocolError(
                    f"Server sent {event.value} on stream {self.stream_id} "
                    f"while {self.state.value}",
                    stream_id=self.stream_id,
                )
            )

    def fail(self, error: HyperError) -> None:
        if self.state is ResponseState.COMPLETE:
            return
        if self.error is None:
            self.error = error
        self.state = TRANSITIONS[(self.state, StreamInput.FAIL)]

    @property
    def headers_ready(self) -> bool:
        return self.headers is not None or self.state is ResponseState.FAILED

    @property
    def data_ready(self) -> bool:
        return bool(self.data) or self.state in (ResponseState.COMPLETE, ResponseState.FAILED)
