"""Pluggable flow-control managers (hyper 0.7's documented interface).

A manager decides when hyper gives the server more receive window. hyper
creates one instance for the connection and one per stream, from the class
passed as ``window_manager=``.

When the manager is consulted (theory of operation):

* The connection's manager is told of every DATA frame as it arrives. The
  connection window is only a guard against a server flooding the socket;
  crediting it on arrival means one unread stream never starves the others
  (the per-stream windows bound what each stream buffers).
* A stream's manager is told when the application *consumes* data from that
  stream. Until then the bytes sit in the stream's buffer, and the stream
  window bounds that buffer: RFC 9113 section 5.2 "flow control ... protects
  a receiver from being overwhelmed".

In both cases ``frame_size`` is the flow-controlled length (payload plus
padding), and ``window_size`` has not been decremented yet when
``increase_window_size`` is called, as hyper 0.7 documented.
"""

from __future__ import annotations

# RFC 9113 section 6.9.1: "The flow-control window can't exceed 2^31-1 octets."
MAX_WINDOW_SIZE = 2**31 - 1

# hyper's defaults. On loopback a 16 MiB stream window lets the server keep
# sending while a refill is in flight, so a large download never waits on a
# WINDOW_UPDATE round trip; the connection window covers many such streams.
DEFAULT_STREAM_WINDOW = 16 * 1024 * 1024
DEFAULT_CONNECTION_WINDOW = 256 * 1024 * 1024


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

    When the window gets below a quarter of its initial size (or below 1 kB),
    it is refilled to the initial size: few WINDOW_UPDATE frames, and the
    server never stops for lack of credit while the reader keeps up.
    """

    def increase_window_size(self, frame_size: int) -> int:
        future_window = self.window_size - frame_size
        if future_window < self.initial_window_size // 4 or future_window < 1024:
            return self.initial_window_size - future_window
        return 0
