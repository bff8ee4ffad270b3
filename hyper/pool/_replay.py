"""Whether a request body can be sent a second time, and rewinding it."""

from __future__ import annotations

from typing import Any


class Replay:
    """Remembers where a body starts so that a retry can send it again.

    In-memory bodies (None, bytes, str) can always be sent again; a file
    only if it is seekable (it is rewound to where it stood before the
    first attempt); an iterator or generator never, since its items are
    gone once sent.
    """

    def __init__(self, body: Any) -> None:
        self._body = body
        self._start: int | None = None
        self.replayable = _in_memory(body)
        if not self.replayable and _seekable(body):
            try:
                self._start = int(body.tell())
                self.replayable = True
            except (OSError, ValueError):
                self.replayable = False

    def rewind(self) -> bool:
        """Prepare to send the body again; False when it cannot be."""
        if not self.replayable:
            return False
        if self._start is not None:
            try:
                self._body.seek(self._start)
            except (OSError, ValueError):
                return False
        return True


def _in_memory(body: Any) -> bool:
    return body is None or isinstance(body, (bytes, bytearray, memoryview, str))


def _seekable(body: Any) -> bool:
    if not (callable(getattr(body, "read", None)) and callable(getattr(body, "seek", None))
            and callable(getattr(body, "tell", None))):
        return False
    seekable = getattr(body, "seekable", None)
    if not callable(seekable):
        return True
    try:
        return bool(seekable())
    except (OSError, ValueError):
        return False
