"""Pluggable flow-control managers (hyper 0.7's documented interface).

A manager decides when hyper gives the server more receive window. hyper
creates one instance for the connection and one per stream, from the class
passed as ``window_manager=``.

When the manager is consulted (theory of operation):

* The connection's manager is told of the DATA frames as they arrive, those
  of one read from the socket together as one ``frame_size`` (so at most
  one WINDOW_UPDATE per read). The connection window is only a guard
  against a server flooding the socket; crediting it on arrival means one
  unread stream never starves the others (the per-stream windows bound what
  each stream buffers). One exception, decided by hyper whatever the
  manager: while the bytes buffered unread on the connection exceed its cap
  (:data:`DEFAULT_MAX_UNREAD`), arrivals are not reported, so no connection
  WINDOW_UPDATE goes out; they are reported together once the application
  has read the buffers down below the cap.
* A stream's manager is told when the application *consumes* data from that
  stream. Until then the bytes sit in the stream's buffer, and the stream
  window bounds that buffer: RFC 9113 section 5.2 "flow control ... protects
  a receiver from being overwhelmed".

In both cases ``frame_size`` is the flow-controlled length (payload plus
padding), and ``window_size`` has not been decremented yet when
``increase_window_size`` is called, as hyper 0.7 documented.
``buffered_size`` says how much of the window's data is buffered unread at
that moment.

Memory: hyper advertises a small stream window (:data:`DEFAULT_STREAM_WINDOW`,
64 KiB), so a response nobody reads holds at most that much; the default
manager doubles a stream's window each time the application has read three
quarters of it, up to :data:`MAX_STREAM_WINDOW`, so a download that is read
as it comes soon has a window large enough never to wait for a
WINDOW_UPDATE round trip.
"""

from __future__ import annotations

# RFC 9113 section 6.9.1: "The flow-control window can't exceed 2^31-1 octets."
MAX_WINDOW_SIZE = 2**31 - 1

# hyper's defaults. The stream window hyper advertises (SETTINGS_INITIAL_
# WINDOW_SIZE): what a response nobody reads may buffer, so 300 of them
# hold 19 MiB. The default manager grows a stream's window up to
# MAX_STREAM_WINDOW while it is read: on loopback 16 MiB lets the server keep
# sending while a refill is in flight. The connection window covers two such
# streams; DEFAULT_MAX_UNREAD caps what a connection buffers unread (it may
# go over by at most the connection window, already granted).
DEFAULT_STREAM_WINDOW = 64 * 1024
MAX_STREAM_WINDOW = 16 * 1024 * 1024
DEFAULT_CONNECTION_WINDOW = 32 * 1024 * 1024
DEFAULT_MAX_UNREAD = 32 * 1024 * 1024


class BaseFlowControlManager:
    """The abstract base class for flow control managers.

    Subclasses implement :meth:`increase_window_size` (and may override
    :meth:`blocked`). They must not change the attributes set here.
    """

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        #: The initial size of the window in bytes, set at creation time.
        self.initial_window_size = initial_window_size
        #: The current size of the window (the server's remaining credit).
        self.window_size = initial_window_size
        #: The size of the document being retrieved (from Content-Length), if known.
        self.document_size = document_size
        #: Bytes received on this window and buffered, not yet read by the
        #: application (kept by hyper; for the connection, all its streams').
        self.buffered_size = 0

    def increase_window_size(self, frame_size: int) -> int:
        """Return how much to grow the window after a frame of ``frame_size``
        bytes (may be zero); 0 means no WINDOW_UPDATE."""
        raise NotImplementedError

    def blocked(self) -> int:
        """Called when the server reports being blocked by flow control.

        HTTP/2 has no BLOCKED frame any more; hyper calls this when the window
        reaches zero. Return the increment, or 0."""
        return 0

    # -- bookkeeping, called by hyper ----------------------------------------

    def _handle_frame(self, frame_size: int) -> int:
        """Run the policy for one frame, keep ``window_size`` right, return
        the increment to send (clamped to the protocol maximum)."""
        increment = self.increase_window_size(frame_size)
        self.window_size -= frame_size
        if self.window_size <= 0:
            increment = max(increment, self.blocked())
        increment = max(0, min(increment, MAX_WINDOW_SIZE - self.window_size))
        self.window_size += increment
        return increment


class FlowControlManager(BaseFlowControlManager):
    """hyper's default flow control manager.

    When the window gets below a quarter of its target size (or below 1 kB),
    it is refilled to the target: few WINDOW_UPDATE frames, and the server
    never stops for lack of credit while the reader keeps up. The target
    starts at the initial size and doubles at each refill, up to
    :attr:`max_window_size`: a refill is due only once the application has
    read three quarters of the window, so a response read as fast as it
    comes gets a large window within a few round trips, and one left unread
    keeps its small one.
    """

    #: The target never grows beyond this (nor shrinks below the initial size).
    max_window_size = MAX_STREAM_WINDOW

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        super().__init__(initial_window_size, document_size)
        #: What the window is refilled to.
        self.target_window_size = initial_window_size

    def increase_window_size(self, frame_size: int) -> int:
        future_window = self.window_size - frame_size
        if future_window >= self.target_window_size // 4 and future_window >= 1024:
            return 0
        if self.target_window_size < self.max_window_size:
            self.target_window_size = min(2 * self.target_window_size, self.max_window_size)
        return self.target_window_size - future_window
