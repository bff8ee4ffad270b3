"""The ``hyper`` command's request items, HTTPie's syntax: which separator
wins, raw JSON fields, empty headers, and the clear refusal of file items."""

from __future__ import annotations

from typing import Any

import pytest

from hyper.cli import ExitStatus, ItemKind, UsageError, parse_item
from test_cli import hyper, received_headers, secure

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("Name:value", (ItemKind.HEADER, "Name", "value")),
        ("X-Expr:a=b", (ItemKind.HEADER, "X-Expr", "a=b")),
        ("X-Json:a:=1", (ItemKind.HEADER, "X-Json", "a:=1")),
        ("Cookie:a=1;b=2", (ItemKind.HEADER, "Cookie", "a=1;b=2")),
        ("X-Empty;", (ItemKind.EMPTY_HEADER, "X-Empty", "")),
        ("q==a:b", (ItemKind.QUERY, "q", "a:b")),
        ("q===", (ItemKind.QUERY, "q", "=")),
        ("name=value", (ItemKind.FIELD, "name", "value")),
        ("expr=a==b", (ItemKind.FIELD, "expr", "a==b")),
        ("mail=a@b.example", (ItemKind.FIELD, "mail", "a@b.example")),
        ("url=http://x/", (ItemKind.FIELD, "url", "http://x/")),
        ("n:=1", (ItemKind.RAW_JSON, "n", "1")),
        ("list:=[1, 2]", (ItemKind.RAW_JSON, "list", "[1, 2]")),
        ("s:=\"a=b\"", (ItemKind.RAW_JSON, "s", '"a=b"')),
    ],
)
def test_the_first_separator_wins_the_longest_at_a_tie(
    item: str, expected: tuple[ItemKind, str, str]
) -> None:
    assert parse_item(item) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("photo@me.jpg", "file items ('@') are not supported"),
        ("text=@notes.txt", "file items ('=@') are not supported"),
        ("data:=@data.json", "file items (':=@') are not supported"),
        ("q==@query.txt", "file items ('==@') are not supported"),
        ("X-Token:@token.txt", "file items (':@') are not supported"),
        ("X-Empty;oops", "'Name;' sends an empty header and takes no value"),
        ("nonsense", "is not a request item (Name:value, Name;, name==value"),
        (":value", "is not a request item"),
    ],
)
def test_unsupported_items_are_refused(item: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_item(item)
    assert message in str(info.value)
    # And from the command line: one error line, nothing sent (no server here).
    run = hyper("https://localhost:1/", item)
    assert run.status == ExitStatus.ERROR
    assert run.err == f"hyper: error: {info.value}\n"
    assert run.out == b""


def test_raw_json_fields(h2_server: Any, certs: Any) -> None:
    run = secure(
        certs,
        h2_server.url_for("/anything"),
        "name:=1",
        "ok:=true",
        'tags:=["a", "b"]',
        'obj:={"x": null}',
        "s=text",
        "n=1",
    )
    assert run.status == ExitStatus.SUCCESS, run.err
    data = run.json()
    assert data["method"] == "POST"
    assert data["json"] == {
        "name": 1, "ok": True, "tags": ["a", "b"], "obj": {"x": None}, "s": "text", "n": "1",
    }  # fmt: skip
    headers = received_headers(data)
    assert "name" not in headers
    assert headers["content-type"] == ["application/json; charset=utf-8"]


def test_raw_json_that_does_not_parse(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/anything"), "n:=[1,")
    assert run.status == ExitStatus.ERROR
    assert run.err.startswith("hyper: error: 'n:=[1,': the value after ':=' is not JSON (")
    assert run.err.count("\n") == 1


def test_empty_header(h2_server: Any, certs: Any) -> None:
    run = secure(certs, h2_server.url_for("/get"), "X-Empty;", "X-Full:1")
    assert run.status == ExitStatus.SUCCESS, run.err
    headers = received_headers(run.json())
    assert headers["x-empty"] == [""]
    assert headers["x-full"] == ["1"]


def test_header_without_a_value_is_not_sent(h2_server: Any, certs: Any) -> None:
    """HTTPie: "Name:" unsets a header, hyper's defaults included."""
    run = secure(certs, h2_server.url_for("/anything"), "User-Agent:", "X-A:1", "x-a: ", "n=1")
    assert run.status == ExitStatus.SUCCESS, run.err
    headers = received_headers(run.json())
    assert "user-agent" not in headers
    assert "x-a" not in headers
    assert headers["content-type"] == ["application/json; charset=utf-8"]
