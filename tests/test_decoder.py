"""Content-Encoding decoders, fed whole, one byte at a time, and in random pieces."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from hyper.common import decoder as decoder_module
from hyper.common.decoder import ContentDecoder, get_decoder, supported_encodings
from hyper.exceptions import ContentDecodingError, RemoteProtocolError

BODY = b"".join(b"line %d of a body that compresses well\n" % i for i in range(400))


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": _zstd,
}


def _decoder(coding: str | bytes | None) -> ContentDecoder:
    decoder = get_decoder(coding)
    assert decoder is not None
    return decoder


def _decode_whole(coding: str, data: bytes) -> bytes:
    decoder = _decoder(coding)
    return decoder.decompress(data) + decoder.flush()


def _decode_bytewise(coding: str, data: bytes) -> bytes:
    decoder = _decoder(coding)
    pieces = [decoder.decompress(data[i : i + 1]) for i in range(len(data))]
    return b"".join(pieces) + decoder.flush()


def _decode_limited(coding: str, data: bytes, limit: int = 7, step: int = 5) -> bytes:
    """Fed ``step`` bytes at a time, asking for at most ``limit`` each call
    and draining what is pending before the next piece, as read(amt) does."""
    decoder = _decoder(coding)
    pieces = []
    for i in range(0, len(data), step):
        pieces.append(decoder.decompress(data[i : i + step], limit))
        while decoder.has_pending:
            pieces.append(decoder.decompress(b"", limit))
    assert all(len(piece) <= limit for piece in pieces)
    return b"".join(pieces) + decoder.flush()


FEEDERS = [_decode_whole, _decode_bytewise, _decode_limited]


@pytest.mark.parametrize("feed", FEEDERS)
@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_each_coding_decodes(coding: str, feed: Callable[[str, bytes], bytes]) -> None:
    assert feed(coding, ENCODERS[coding](BODY)) == BODY


@pytest.mark.parametrize("feed", FEEDERS)
def test_raw_deflate_is_accepted(feed: Callable[[str, bytes], bytes]) -> None:
    assert feed("deflate", _raw_deflate(BODY)) == BODY


@pytest.mark.parametrize("feed", FEEDERS)
def test_concatenated_gzip_members(feed: Callable[[str, bytes], bytes]) -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"") + gzip.compress(b"second")

    assert feed("gzip", data) == b"first second"


@pytest.mark.parametrize("feed", FEEDERS)
def test_nul_padding_after_a_gzip_member_is_ignored(feed: Callable[[str, bytes], bytes]) -> None:
    data = gzip.compress(b"one") + b"\x00\x00\x00" + gzip.compress(b"two") + b"\x00"

    assert feed("gzip", data) == b"onetwo"


@pytest.mark.parametrize("feed", FEEDERS)
def test_several_zstd_frames(feed: Callable[[str, bytes], bytes]) -> None:
    data = _zstd(b"first ") + _zstd(b"") + _zstd(b"second")

    assert feed("zstd", data) == b"first second"


@pytest.mark.parametrize("feed", FEEDERS)
def test_chained_codings_are_undone_in_reverse_order(feed: Callable[[str, bytes], bytes]) -> None:
    # "gzip, br": gzip applied first, then br; so br is undone first.
    data = brotli.compress(gzip.compress(BODY))

    assert feed("gzip, br", data) == BODY


@pytest.mark.parametrize("feed", FEEDERS)
def test_three_codings_and_identity_in_the_list(feed: Callable[[str, bytes], bytes]) -> None:
    data = _zstd(zlib.compress(gzip.compress(BODY)))

    assert feed("gzip, identity, deflate,zstd", data) == BODY


def test_chained_flush_passes_the_inner_output_on() -> None:
    # brotli holds nothing back, but the chain must still finish the inner
    # gzip stream at flush time: feed everything, then flush.
    decoder = _decoder("gzip, br")
    out = decoder.decompress(brotli.compress(gzip.compress(b"abc")))

    assert out + decoder.flush() == b"abc"


def test_chained_truncation_is_reported_by_flush() -> None:
    decoder = _decoder("gzip, br")
    decoder.decompress(brotli.compress(gzip.compress(BODY)[:-4]))

    with pytest.raises(ContentDecodingError, match="gzip"):
        decoder.flush()


@given(
    coding=st.sampled_from(sorted(ENCODERS)),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
@settings(max_examples=60, deadline=None)
def test_any_split_of_the_body_decodes_the_same(coding: str, cuts: list[int]) -> None:
    data = ENCODERS[coding](BODY[:1500])
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    decoder = _decoder(coding)

    out = b"".join(decoder.decompress(data[a:b]) for a, b in zip(points, points[1:]))

    assert out + decoder.flush() == BODY[:1500]


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_an_empty_body_decodes_to_nothing(coding: str) -> None:
    # HEAD responses and 304s carry Content-Encoding but no body.
    decoder = _decoder(coding)

    assert decoder.decompress(b"") == b""
    assert decoder.flush() == b""


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_corrupt_data_raises_content_decoding_error(coding: str) -> None:
    decoder = _decoder(coding)

    with pytest.raises(ContentDecodingError) as info:
        decoder.decompress(b"this is not compressed data at all" * 4)

    assert f"{coding.removeprefix('x-')}-encoded" in str(info.value)
    assert info.value.__cause__ is not None
    assert isinstance(info.value, RemoteProtocolError)


def _zstd_with_checksum(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_corruption_in_the_middle_is_detected(coding: str) -> None:
    # zstd can only notice a damaged frame that carries a checksum.
    encode = _zstd_with_checksum if coding == "zstd" else ENCODERS[coding]
    data = bytearray(encode(BODY))
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    decoder = _decoder(coding)

    with pytest.raises(ContentDecodingError, match=coding.removeprefix("x-")):
        decoder.decompress(bytes(data))
        decoder.flush()


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_truncated_body_is_reported_by_flush(coding: str) -> None:
    data = ENCODERS[coding](BODY)
    decoder = _decoder(coding)
    decoder.decompress(data[: len(data) // 2])

    with pytest.raises(ContentDecodingError, match="ended inside the compressed data"):
        decoder.flush()


def test_deflate_with_a_single_byte_is_truncated() -> None:
    decoder = _decoder("deflate")

    assert decoder.decompress(b"\x78") == b""
    with pytest.raises(ContentDecodingError, match="deflate"):
        decoder.flush()


@pytest.mark.parametrize("feed", FEEDERS)
def test_data_after_the_end_of_a_deflate_stream_is_an_error(
    feed: Callable[[str, bytes], bytes],
) -> None:
    with pytest.raises(ContentDecodingError, match="data after the end of the stream"):
        feed("deflate", zlib.compress(b"abc") + b"junk")


def test_data_after_the_end_of_a_brotli_stream_is_an_error() -> None:
    decoder = _decoder("br")
    decoder.decompress(brotli.compress(b"abc"))

    with pytest.raises(ContentDecodingError, match="br"):
        decoder.decompress(b"junk")


def test_garbage_after_a_gzip_member_is_an_error() -> None:
    with pytest.raises(ContentDecodingError, match="gzip"):
        _decode_whole("gzip", gzip.compress(b"abc") + b"garbage!")


def test_garbage_after_a_zstd_frame_is_an_error() -> None:
    with pytest.raises(ContentDecodingError, match="zstd"):
        _decode_whole("zstd", _zstd(b"abc") + b"garbage!")


@pytest.mark.parametrize(
    "value", [None, "", "identity", "IDENTITY", " identity , identity", b"identity", ","]
)
def test_nothing_to_decode_gives_none(value: str | bytes | None) -> None:
    assert get_decoder(value) is None


@pytest.mark.parametrize("value", ["compress", "x-compress", "gzip, snappy", "snappy, gzip"])
def test_an_unknown_coding_anywhere_gives_none(value: str) -> None:
    # The body is then passed on as it came, rather than half decoded.
    assert get_decoder(value) is None


@pytest.mark.parametrize("value", ["GZIP", b"gzip", " Gzip\t", b"X-GZIP"])
def test_codings_are_case_insensitive_and_may_be_bytes(value: str | bytes) -> None:
    decoder = _decoder(value)

    assert decoder.decompress(gzip.compress(b"abc")) + decoder.flush() == b"abc"


def test_supported_encodings_lists_every_installed_coding() -> None:
    assert supported_encodings() == ["gzip", "deflate", "br", "zstd"]


def test_optional_codings_disappear_when_their_package_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(decoder_module, "_brotli", None)
    monkeypatch.setattr(decoder_module, "_zstd", None)

    assert supported_encodings() == ["gzip", "deflate"]
    assert get_decoder("br") is None
    assert get_decoder("zstd") is None
    assert get_decoder("gzip, br") is None


def test_import_first_falls_back_and_gives_none_when_nothing_imports() -> None:
    assert decoder_module._import_first("hyper_no_such_module", "zlib") is zlib
    assert decoder_module._import_first("hyper_no_such_module") is None


def test_old_brotli_that_cannot_stop_early_is_not_used() -> None:
    class OldDecompressor:
        def process(self, data: bytes) -> bytes:
            return data

    class OldBrotli:
        Decompressor = OldDecompressor

    assert decoder_module._bounded_brotli(OldBrotli) is None  # type: ignore[arg-type]
    assert decoder_module._bounded_brotli(None) is None
    assert decoder_module._bounded_brotli(brotli) is brotli


# -- bounded output: decompression bombs ----------------------------------------------

BOMB_SIZE = 32 * 1024 * 1024


def _streamed(compress: Callable[[bytes], bytes], finish: Callable[[], bytes]) -> bytes:
    """BOMB_SIZE zeros through a streaming compressor, 1 MiB at a time."""
    zeros = bytes(1024 * 1024)
    return b"".join(compress(zeros) for _ in range(BOMB_SIZE // len(zeros))) + finish()


def _bomb(coding: str) -> bytes:
    if coding in ("gzip", "x-gzip", "deflate"):
        wbits = 31 if coding != "deflate" else zlib.MAX_WBITS
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        return _streamed(compressor.compress, compressor.flush)
    if coding == "br":
        br = brotli.Compressor()
        return _streamed(br.process, br.finish)
    zstd = zstandard.ZstdCompressor().compressobj()
    return _streamed(zstd.compress, zstd.flush)


BOMBS = {coding: _bomb(coding) for coding in ENCODERS}


@pytest.mark.parametrize("limit", [1, 1024, 100_000])
@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_bomb_fed_whole_comes_out_in_bounded_pieces(coding: str, limit: int) -> None:
    bomb = BOMBS[coding]
    assert len(bomb) < BOMB_SIZE // 500  # really a bomb
    decoder = _decoder(coding)

    pieces = [decoder.decompress(bomb, limit)]
    for _ in range(20):
        assert decoder.has_pending
        pieces.append(decoder.decompress(b"", limit))

    assert [len(piece) for piece in pieces] == [limit] * 21
    assert not any(b"".join(pieces))


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_bomb_drained_in_bounded_pieces_decodes_whole(coding: str) -> None:
    decoder = _decoder(coding)
    total = 0
    piece = decoder.decompress(BOMBS[coding], 1 << 20)
    while piece:
        assert len(piece) <= 1 << 20
        total += len(piece)
        piece = decoder.decompress(b"", 1 << 20)

    assert not decoder.has_pending
    assert decoder.flush() == b""
    assert total == BOMB_SIZE


def test_a_bomb_inside_a_chain_is_bounded_at_every_stage() -> None:
    # br of a gzip bomb: the br stage gives CHAIN_STEP at a time, not the whole
    # gzip stream, and the gzip stage the caller's limit.
    decoder = _decoder("gzip, br")

    first = decoder.decompress(brotli.compress(BOMBS["gzip"]), 1000)
    pieces = [first] + [decoder.decompress(b"", 1000) for _ in range(50)]

    assert {len(piece) for piece in pieces} == {1000}
    assert decoder.has_pending


def test_a_chain_drained_with_a_limit_gives_every_byte() -> None:
    data = zlib.compress(gzip.compress(BODY))
    decoder = _decoder("gzip, deflate")
    pieces = [decoder.decompress(data[:100], 10), decoder.decompress(data[100:], 10)]
    while decoder.has_pending:
        pieces.append(decoder.decompress(b"", 10))

    assert all(len(piece) <= 10 for piece in pieces)
    assert b"".join(pieces) + decoder.flush() == BODY


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_zero_limit_keeps_the_input_for_later(coding: str) -> None:
    decoder = _decoder(coding)

    assert decoder.decompress(ENCODERS[coding](BODY), 0) == b""
    assert decoder.has_pending
    assert decoder.decompress(b"", 0) == b""
    assert decoder.flush() == BODY


def test_brotli_output_past_the_limit_is_kept_for_the_next_call() -> None:
    # brotli's output_buffer_limit stops growth at about 32 KiB, past 10.
    decoder = _decoder("br")

    assert decoder.decompress(BOMBS["br"], 10) == bytes(10)
    assert decoder.has_pending
    assert decoder.decompress(b"", 0) == b""
    assert decoder.decompress(b"", 5) == bytes(5)


@given(
    coding=st.sampled_from(sorted(ENCODERS)),
    step=st.integers(min_value=1, max_value=600),
    limit=st.integers(min_value=1, max_value=5000),
)
@settings(max_examples=60, deadline=None)
def test_any_step_and_limit_decode_the_same(coding: str, step: int, limit: int) -> None:
    data = ENCODERS[coding](BODY)

    assert _decode_limited(coding, data, limit, step) == BODY
