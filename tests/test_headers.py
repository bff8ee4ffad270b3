"""HTTPHeaderMap: hyper 0.7's documented behaviour, plus getlist and splitting rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyper.common.headers import HTTPHeaderMap

# Values typed Any below are deliberately outside the declared types, to test
# what happens at run time.


def test_values_come_out_as_bytes_whatever_went_in() -> None:
    headers = HTTPHeaderMap()
    headers["Content-Type"] = "text/html"
    headers[b"X-Bytes"] = b"\xff\x00"
    headers["X-Unicode"] = "caf\u00e9"
    raw: Any = bytearray(b"ba")
    headers["X-Bytearray"] = raw

    assert headers["content-type"] == [b"text/html"]
    assert headers[b"x-bytes"] == [b"\xff\x00"]
    assert headers["x-unicode"] == ["caf\u00e9".encode()]
    assert headers["x-bytearray"] == [b"ba"]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)


def test_names_are_case_insensitive_for_every_operation() -> None:
    headers = HTTPHeaderMap([("Content-Length", "3")])

    assert headers["CONTENT-LENGTH"] == [b"3"]
    assert headers[b"content-length"] == [b"3"]
    assert "content-LENGTH" in headers
    assert b"Content-Length" in headers
    assert headers.getlist("CONTENT-length") == [b"3"]
    del headers["CONTENT-LENGTH"]
    assert "content-length" not in headers


def test_setitem_appends_and_getitem_returns_all_values_in_order() -> None:
    headers = HTTPHeaderMap()
    headers["Via"] = "1.1 a"
    headers["Other"] = "x"
    headers["via"] = "1.1 b"

    assert headers["via"] == [b"1.1 a", b"1.1 b"]
    assert len(headers) == 3


def test_setitem_with_several_values_appends_each() -> None:
    headers = HTTPHeaderMap()
    headers["accept"] = ["a", b"b"]

    assert list(headers.iter_raw()) == [(b"accept", b"a"), (b"accept", b"b")]


def test_getitem_splits_comma_separated_lists_and_strips_whitespace() -> None:
    headers = HTTPHeaderMap([("Cache-Control", "no-cache ,\tno-store,  max-age=0")])

    assert headers["cache-control"] == [b"no-cache", b"no-store", b"max-age=0"]


def test_getitem_keeps_commas_inside_quoted_strings() -> None:
    value = 'form-data; name="a,b", foo="say \\"hi, there\\"", last'
    headers = HTTPHeaderMap([("X-List", value)])

    assert headers["x-list"] == [
        b'form-data; name="a,b"',
        b'foo="say \\"hi, there\\""',
        b"last",
    ]


def test_getitem_drops_empty_list_members_but_keeps_an_empty_value() -> None:
    headers = HTTPHeaderMap([("Accept", "a, , b,"), ("X-Empty", ""), ("X-Blank", " , ")])

    assert headers["accept"] == [b"a", b"b"]
    assert headers["x-empty"] == [b""]
    assert headers["x-blank"] == [b""]


def test_set_cookie_is_never_split() -> None:
    # RFC 9110 section 5.3: Set-Cookie does not use the list syntax, and its
    # Expires date contains a comma.
    cookie = "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure"
    headers = HTTPHeaderMap([("Set-Cookie", cookie), ("set-cookie", "b=2")])

    assert headers["set-cookie"] == [cookie.encode(), b"b=2"]


@pytest.mark.parametrize(
    "name",
    ["Date", "Expires", "Last-Modified", "If-Modified-Since", "Retry-After", "If-Range"],
)
def test_date_fields_are_not_split(name: str) -> None:
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert HTTPHeaderMap([(name, date)])[name] == [date.encode()]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("User-Agent", "Mozilla/5.0 (KHTML, like Gecko) Chrome/120.0"),
        ("Server", "Apache/2.4 (Unix, Debian)"),
        ("WWW-Authenticate", 'Digest realm="x", nonce="y", qop="auth"'),
        ("Authorization", 'Digest username="u", realm="x"'),
        ("Proxy-Authenticate", 'Basic realm="p", charset="UTF-8"'),
        ("Proxy-Authorization", "Basic dTpw"),
    ],
)
def test_fields_whose_commas_are_not_list_separators_are_not_split(name: str, value: str) -> None:
    assert HTTPHeaderMap([(name, value)])[name] == [value.encode()]


def test_getlist_returns_raw_values_unsplit() -> None:
    headers = HTTPHeaderMap([("Accept", "a, b"), ("ACCEPT", "c")])

    assert headers.getlist("accept") == [b"a, b", b"c"]
    assert headers.getlist("missing") == []


def test_missing_name_raises_key_error_and_get_returns_default() -> None:
    headers = HTTPHeaderMap()

    with pytest.raises(KeyError):
        headers["nope"]
    assert headers.get("nope") is None
    assert headers.get("nope", []) == []


def test_get_returns_the_list_of_values() -> None:
    headers = HTTPHeaderMap([("a", "1, 2")])

    assert headers.get("A") == [b"1", b"2"]


def test_delitem_removes_every_field_of_that_name() -> None:
    headers = HTTPHeaderMap([("A", "1"), ("b", "2"), ("a", "3")])

    del headers["a"]

    assert list(headers.iter_raw()) == [(b"b", b"2")]
    with pytest.raises(KeyError):
        del headers["a"]


def test_iteration_yields_pairs_in_canonical_form() -> None:
    """hyper 0.7: "When iterated over, this structure returns headers in
    'canonical form'": tuples of the lower-case name and a value, with
    comma-separated values split as map[name] splits them."""
    headers = HTTPHeaderMap([("A", "1"), ("B", "2"), ("a", "3, 4"), ("Set-Cookie", "x=1, y")])

    expected = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"a", b"4"), (b"set-cookie", b"x=1, y")]
    assert list(headers) == expected
    # "items(): This mapping iterates like the list of tuples it is."
    assert list(headers.items()) == expected
    for name, value in headers:
        assert headers[name].count(value) >= 1


def test_keys_and_values_follow_the_pairs_with_duplicates() -> None:
    """hyper 0.7: keys() "does not filter duplicates, ensuring that it's the
    same length as len()"; values() is satisfied "in the exact same way"."""
    headers = HTTPHeaderMap([("A", "1"), ("B", "2"), ("a", "3, 4"), ("E", "")])

    assert list(headers.keys()) == [b"a", b"b", b"a", b"a", b"e"]
    assert list(headers.values()) == [b"1", b"2", b"3", b"4", b""]
    assert len(headers) == len(headers.keys()) == len(headers.values()) == 5
    assert len(headers.items()) == 5
    assert len(HTTPHeaderMap()) == 0
    assert not HTTPHeaderMap()


def test_not_a_mapping_because_iteration_yields_pairs() -> None:
    from collections.abc import Mapping

    headers = HTTPHeaderMap([("A", "1")])
    assert not isinstance(headers, Mapping)
    # dict() still builds name -> values from keys() and map[name].
    assert dict(headers) == {b"a": [b"1"]}


def test_view_membership() -> None:
    headers = HTTPHeaderMap([("Content-Type", "text/plain")])
    keys: Any = headers.keys()
    values = headers.values()
    items: Any = headers.items()

    assert b"content-type" in keys
    assert "CONTENT-TYPE" in keys
    assert b"text/plain" in values
    assert b"text/html" not in values
    assert ("Content-Type", "text/plain") in items
    assert (b"content-type", b"text/plain") in items
    assert ("content-type", "text/html") not in items
    assert ("content-type",) not in items
    assert "content-type" not in items
    assert (1, 2) not in items


def test_views_repr() -> None:
    headers = HTTPHeaderMap([("A", "1")])

    assert repr(headers.keys()) == "_KeysView([b'a'])"
    assert repr(headers.values()) == "_ValuesView([b'1'])"
    assert repr(headers.items()) == "_ItemsView([(b'a', b'1')])"


def test_views_are_live() -> None:
    headers = HTTPHeaderMap()
    values = headers.values()
    headers["a"] = "1"

    assert list(values) == [b"1"]


def test_iter_raw_keeps_original_case_and_order() -> None:
    pairs = [(b"Content-Type", b"text/html"), (b"X-A", b"1, 2"), (b"x-a", b"3")]

    assert list(HTTPHeaderMap(pairs).iter_raw()) == pairs


def test_iter_raw_is_a_snapshot() -> None:
    headers = HTTPHeaderMap([("a", "1")])
    raw = headers.iter_raw()
    headers["b"] = "2"

    assert list(raw) == [(b"a", b"1")]


def test_contains_rejects_non_text_keys() -> None:
    headers: Any = HTTPHeaderMap([("a", "1")])

    assert 1 not in headers
    assert None not in headers


def test_constructor_accepts_dict_pairs_map_and_kwargs_in_order() -> None:
    other = HTTPHeaderMap([("From-Map", "m")])
    headers = HTTPHeaderMap(
        {"From-Dict": "d"}, [("From-Pairs", "p")], other, from_kwargs="k"
    )

    assert list(headers.iter_raw()) == [
        (b"From-Dict", b"d"),
        (b"From-Pairs", b"p"),
        (b"From-Map", b"m"),
        (b"from_kwargs", b"k"),
    ]


def test_constructor_copies_another_map() -> None:
    original = HTTPHeaderMap([("a", "1")])
    copy = HTTPHeaderMap(original)
    copy["a"] = "2"

    assert original["a"] == [b"1"]
    assert copy["a"] == [b"1", b"2"]


def test_dict_values_may_be_lists() -> None:
    headers = HTTPHeaderMap({"Accept": ["a", "b"]})

    assert headers.getlist("accept") == [b"a", b"b"]


@pytest.mark.parametrize("bad", [1, None, 2.5, object()])
def test_non_text_values_and_names_are_refused(bad: object) -> None:
    headers = HTTPHeaderMap()

    with pytest.raises(TypeError, match="must be str or bytes"):
        headers["x"] = bad  # type: ignore[assignment]
    with pytest.raises(TypeError, match="must be str or bytes"):
        headers[bad] = "x"  # type: ignore[index]
    with pytest.raises(TypeError, match="must be str or bytes"):
        headers["x"] = ["ok", bad]  # type: ignore[list-item]
    assert len(headers) == 0


@pytest.mark.parametrize("bad", [["not a pair"], [("a", "b", "c")], "ab"])
def test_malformed_pairs_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"\(name, value\) pair"):
        HTTPHeaderMap(bad)  # type: ignore[arg-type]


def test_merge_appends_from_map_dict_and_pairs() -> None:
    headers = HTTPHeaderMap([("a", "1")])
    headers.merge(HTTPHeaderMap([("a", "2")]))
    headers.merge({"a": "3"})
    headers.merge([("a", "4")])

    assert headers["a"] == [b"1", b"2", b"3", b"4"]


def test_merge_with_itself_doubles_and_terminates() -> None:
    headers = HTTPHeaderMap([("a", "1")])
    headers.merge(headers)

    assert headers.getlist("a") == [b"1", b"1"]


def test_update_appends_without_multiplying_duplicates() -> None:
    # MutableMapping.update would do headers[k] = other[k] once per key,
    # including each duplicate key.
    headers = HTTPHeaderMap()
    headers.update(HTTPHeaderMap([("a", "1"), ("a", "2")]), b="3")

    assert list(headers.iter_raw()) == [(b"a", b"1"), (b"a", b"2"), (b"b", b"3")]


def test_replace_puts_one_value_where_the_first_was() -> None:
    headers = HTTPHeaderMap([("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")])

    headers.replace("a", "new")

    assert list(headers.iter_raw()) == [(b"a", b"new"), (b"B", b"2"), (b"C", b"4")]


def test_replace_of_a_missing_name_appends() -> None:
    headers = HTTPHeaderMap([("A", "1")])

    headers.replace(b"Z", b"26")

    assert list(headers.iter_raw()) == [(b"A", b"1"), (b"Z", b"26")]


def test_mapping_methods() -> None:
    headers = HTTPHeaderMap([("A", "1, 2"), ("B", "3")])

    assert headers.pop("a") == [b"1", b"2"]
    assert headers.pop("a", None) is None
    assert headers.setdefault("b", b"x") == [b"3"]
    assert headers.setdefault("c", b"4") == b"4"
    assert headers["c"] == [b"4"]
    assert headers.popitem() == (b"b", [b"3"])
    headers.clear()
    assert len(headers) == 0
    assert list(headers.iter_raw()) == []
    with pytest.raises(KeyError):
        headers.pop("a")
    with pytest.raises(KeyError, match="empty"):
        headers.popitem()


def test_equality_ignores_name_case_and_order_between_names() -> None:
    one = HTTPHeaderMap([("A", "1"), ("B", "2"), ("a", "3")])

    assert one == HTTPHeaderMap([("b", "2"), ("a", "1"), ("A", "3")])
    assert one == [("a", "1"), ("b", "2"), ("a", "3")]
    assert one == (("a", "1"), ("b", "2"), ("a", "3"))
    assert HTTPHeaderMap({"a": "1"}) == {"A": "1"}


def test_equality_respects_value_order_and_count() -> None:
    one = HTTPHeaderMap([("a", "1"), ("a", "2")])

    assert one != HTTPHeaderMap([("a", "2"), ("a", "1")])
    assert one != HTTPHeaderMap([("a", "1")])
    assert one != {"a": "1"}


def test_equality_with_unrelated_objects_is_false() -> None:
    headers = HTTPHeaderMap([("a", "1")])

    assert headers != "a"
    assert headers != 1
    assert headers != ["not pairs"]
    assert headers != [(1, 2)]
    assert headers != None  # noqa: E711 - exercising __eq__ with None


def test_map_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(HTTPHeaderMap())


def test_repr_shows_raw_pairs_and_round_trips() -> None:
    headers = HTTPHeaderMap([("Server", "h2o/1.0.2-alpha1"), ("a", b"\xff")])

    text = repr(headers)

    assert text == "HTTPHeaderMap([(b'Server', b'h2o/1.0.2-alpha1'), (b'a', b'\\xff')])"
    assert eval(text, {"HTTPHeaderMap": HTTPHeaderMap}) == headers


_names = st.text(alphabet="abcXYZ-", min_size=1, max_size=5)
_values = st.binary(max_size=8)


@given(st.lists(st.tuples(_names, _values), max_size=10))
# No per-example deadline: a loaded machine makes any example slow.
@settings(deadline=None)
def test_raw_pairs_round_trip(pairs: list[tuple[str, bytes]]) -> None:
    headers = HTTPHeaderMap(pairs)
    expected = [(name.encode(), value) for name, value in pairs]

    assert list(headers.iter_raw()) == expected
    # One canonical pair per list member: map[name] has them all.
    names = {name.lower() for name, _ in pairs}
    assert len(headers) == len(headers.keys()) == sum(len(headers[n]) for n in names)
    assert len(headers) >= len(pairs)
    assert HTTPHeaderMap(headers.iter_raw()) == headers
    for name, _ in pairs:
        assert headers.getlist(name.upper()) == [
            value for other, value in pairs if other.lower() == name.lower()
        ]
