"""Pure logic of hyper/common and the HTTP/2 bookkeeping: no network."""

from __future__ import annotations

import io
from typing import Any

import pytest

import hyper
from hyper.common.body import iter_body, known_length
from hyper.common.timeouts import Deadline, TimeoutConfig
from hyper.common.util import (
    authority,
    normalize_headers,
    split_host_port,
    to_bytestring,
    to_native_string,
    validate_header,
)
from hyper.exceptions import (
    HyperError,
    InvalidHeaderError,
    InvalidURLError,
    RemoteProtocolError,
    StreamResetError,
)
from hyper.http20 import exceptions as h2_exceptions
from hyper.http20.streams import ResponseState, Stream, StreamInput
from hyper.http20.window import BaseFlowControlManager, FlowControlManager


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("example.com", None, ("example.com", 80)),
        ("example.com:8443", None, ("example.com", 8443)),
        ("example.com:8443", 9000, ("example.com", 9000)),
        ("[::1]:443", None, ("::1", 443)),
        ("[::1]", None, ("::1", 80)),
        ("::1", 8080, ("::1", 8080)),
    ],
)
def test_split_host_port(host: str, port: int | None, expected: tuple[str, int]) -> None:
    assert split_host_port(host, port, 80) == expected


@pytest.mark.parametrize("host", ["", "[::1", "example.com:http", "[::1]x", "h:70000"])
def test_split_host_port_rejects(host: str) -> None:
    with pytest.raises(InvalidURLError):
        split_host_port(host, None, 80)


def test_authority_omits_default_port() -> None:
    assert authority("example.com", 443, True) == "example.com"
    assert authority("example.com", 80, False) == "example.com"
    assert authority("example.com", 80, True) == "example.com:80"
    assert authority("::1", 8443, True) == "[::1]:8443"


def test_string_helpers() -> None:
    assert to_bytestring("\u00e9") == b"\xc3\xa9"
    assert to_bytestring(b"x") == b"x"
    assert to_native_string(b"\xe9") == "\u00e9"
    assert to_native_string("x") == "x"


@pytest.mark.parametrize(
    ("name", "value"),
    [(b"", b"v"), (b"bad name", b"v"), (b"x", b"a\rb"), (b"x", b"a\nb"), (b"x", b"a\x00b")],
)
def test_validate_header_rejects(name: bytes, value: bytes) -> None:
    with pytest.raises(InvalidHeaderError):
        validate_header(name, value)


def test_normalize_headers_accepts_every_form() -> None:
    expected = [(b"A", b"1"), (b"b", b"2")]
    assert normalize_headers({"A": "1", b"b": b"2"}) == expected
    assert normalize_headers([("A", " 1 "), (b"b", b"2")]) == expected
    assert normalize_headers(hyper.HTTPHeaderMap([("A", "1"), ("b", "2")])) == expected
    assert normalize_headers(None) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, TimeoutConfig(None, None)),
        (5, TimeoutConfig(5.0, 5.0)),
        ((1, 2.5), TimeoutConfig(1.0, 2.5)),
        ((None, 3), TimeoutConfig(None, 3.0)),
        (TimeoutConfig(1, 2), TimeoutConfig(1, 2)),
    ],
)
def test_timeout_config(value: Any, expected: TimeoutConfig) -> None:
    assert TimeoutConfig.from_arg(value) == expected


@pytest.mark.parametrize("value", [(1, 2, 3), 0, -1, "5", True, (1, "x")])
def test_timeout_config_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        TimeoutConfig.from_arg(value)


def test_deadline() -> None:
    assert Deadline(None).remaining() is None
    assert not Deadline(None).expired()
    assert Deadline(0).expired()
    assert Deadline(0).remaining() == 0
    remaining = Deadline(100).remaining()
    assert remaining is not None and 99 < remaining <= 100


def test_iter_body_forms() -> None:
    assert list(iter_body(None)) == []
    assert list(iter_body(b"ab")) == [b"ab"]
    assert list(iter_body(bytearray(b"ab"))) == [b"ab"]
    assert list(iter_body("\u00e9")) == [b"\xc3\xa9"]
    assert list(iter_body(io.StringIO("text"))) == [b"text"]
    assert b"".join(iter_body(io.BytesIO(b"x" * 200_000))) == b"x" * 200_000
    assert list(iter_body([b"a", "", "b", b""])) == [b"a", b"b"]
    assert known_length(None) == 0
    assert known_length("\u00e9") == 2
    assert known_length(b"abc") == 3
    assert known_length(io.BytesIO(b"abc")) is None


def test_default_flow_control_policy() -> None:
    manager = FlowControlManager(65535)
    assert manager._handle_frame(1000) == 0
    assert manager.window_size == 64535
    # Falling under a quarter of the target refills to twice the target
    # (the reader keeps up: three quarters of the window were consumed).
    increment = manager._handle_frame(50000)
    assert increment == 2 * 65535 - 14535
    assert manager.window_size == 2 * 65535
    # Tiny windows refill below 1 kB.
    small = FlowControlManager(2000)
    assert small._handle_frame(1500) == 4000 - 500
    assert small.window_size == 4000


def test_base_manager_is_abstract_and_blocked_is_consulted() -> None:
    with pytest.raises(NotImplementedError):
        BaseFlowControlManager(100).increase_window_size(1)

    class OnlyWhenBlocked(BaseFlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            return 0

        def blocked(self) -> int:
            return self.initial_window_size

    manager = OnlyWhenBlocked(100)
    assert manager._handle_frame(60) == 0
    assert manager._handle_frame(40) == 100
    assert manager.window_size == 100


def test_stream_transition_table() -> None:
    stream = Stream(1, FlowControlManager(100), None, [])
    assert not stream.headers_ready
    stream.headers = []
    stream.apply(StreamInput.HEADERS)
    stream.apply(StreamInput.DATA)
    stream.apply(StreamInput.TRAILERS)
    stream.apply(StreamInput.END)
    assert stream.state is ResponseState.COMPLETE
    # A failure after completion leaves the complete response alone.
    stream.fail(StreamResetError("late"))
    assert stream.state is ResponseState.COMPLETE
    assert stream.error is None


def test_stream_out_of_order_input_fails_the_stream() -> None:
    stream = Stream(3, FlowControlManager(100), None, [])
    stream.apply(StreamInput.DATA)  # DATA before HEADERS
    assert stream.state is ResponseState.FAILED
    assert isinstance(stream.error, RemoteProtocolError)
    assert stream.error.stream_id == 3
    assert stream.data_ready and stream.headers_ready


def test_exception_tree() -> None:
    for name in h2_exceptions.__all__:
        cls = getattr(h2_exceptions, name)
        assert issubclass(cls, HyperError)
        assert len(cls.__bases__) == 1
    assert h2_exceptions.ConnectionError is h2_exceptions.HTTP2ConnectionError
    assert h2_exceptions.ConnectionError is not ConnectionError
    error = StreamResetError("reset", stream_id=5, error_code=8)
    assert (str(error), error.stream_id, error.error_code, error.retry_safe) == (
        "reset", 5, 8, False)


def test_public_names_are_exported() -> None:
    for name in hyper.__all__:
        assert getattr(hyper, name) is not None
