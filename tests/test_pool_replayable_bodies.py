"""Which request bodies the pool may send again on a retry: files rewound to
where they started, files whose position cannot be told, closed files and
pipes.
"""

from __future__ import annotations

import io
import os

import pytest

from hyper.pool._replay import Replay

pytestmark = pytest.mark.timeout(60)


class Tape:
    """A readable, seekable body without ``seekable()`` (duck-typed files)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, amt: int = -1) -> bytes:
        end = len(self._data) if amt < 0 else self._pos + amt
        chunk, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return chunk

    def seek(self, pos: int) -> int:
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


class TapeWithoutPosition(Tape):
    def tell(self) -> int:
        raise OSError("position unknown")


def test_file_without_seekable_method_is_rewound_to_its_start() -> None:
    body = Tape(b"abcdef")
    body.seek(2)
    replay = Replay(body)
    assert replay.replayable
    assert body.read() == b"cdef"
    assert replay.rewind()
    assert body.read() == b"cdef"


def test_file_whose_position_cannot_be_told_is_not_sent_again() -> None:
    replay = Replay(TapeWithoutPosition(b"abc"))
    assert not replay.replayable
    assert not replay.rewind()


def test_file_closed_before_the_retry_is_not_sent_again() -> None:
    body = io.BytesIO(b"abc")
    replay = Replay(body)
    assert replay.replayable
    body.close()
    assert not replay.rewind()


def test_closed_file_and_pipe_are_not_replayable() -> None:
    closed = io.BytesIO(b"abc")
    closed.close()  # its seekable() raises ValueError
    assert not Replay(closed).replayable
    read_fd, write_fd = os.pipe()
    with open(read_fd, "rb") as pipe, open(write_fd, "wb"):
        assert not Replay(pipe).replayable
