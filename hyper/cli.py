"""The ``hyper`` command: one HTTP/2 request from the command line.

    hyper [-h] [--version] [--debug] [-v] [--ca-cert PATH] [--insecure]
          [--timeout SECONDS] [--h2c MODE] [--ignore-stdin]
          [METHOD] URL [REQUEST_ITEM ...]

Request items (hyper 0.7's syntax, a subset of HTTPie's): ``Name:value``
sets a header, ``Name;`` an empty one, ``Name:`` none, ``name==value``
adds a query parameter, ``name=value`` a JSON string field, ``name:=json``
a raw JSON field, and ``-`` sends standard input as the body. The separator that comes
first in the item wins (the longer one at the same place), so
``X-Expr:a=b`` is a header and ``q==a:b`` a parameter, as in HTTPie.

https:// URLs negotiate HTTP/2 by ALPN and fall back to HTTP/1.1; http://
URLs ask for h2c with ``Upgrade: h2c`` and fall back to HTTP/1.1, as the
library and the HTTPie plugin do, unless ``--h2c`` says otherwise. The body
is written to stdout as it arrives, so a download of any size runs in
constant memory; only a JSON body below :data:`PRETTY_JSON_LIMIT` is
collected to be pretty-printed. See ``docs/cli.md`` for exit statuses and
examples.

Only the core is used here: ``hyper.HTTPConnection`` and ``hyper.tls``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import http
import json
import logging
import os
import ssl
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import SplitResult, urlencode, urlsplit

from . import __version__
from .common.response import BaseResponse
from .connection import HTTPConnection
from .exceptions import (
    ConnectError,
    ConnectionClosed,
    HyperError,
    LocalProtocolError,
    RemoteProtocolError,
    Timeout,
    TLSError,
)
from .tls import create_context

__all__ = ["PRETTY_JSON_LIMIT", "ExitStatus", "main"]

log = logging.getLogger("hyper")

#: Seconds to wait for the connection and then for each read, by default.
DEFAULT_TIMEOUT = 30.0
#: A JSON body up to this size is collected and pretty-printed; a larger one
#: is written as it arrives, like any other body.
PRETTY_JSON_LIMIT = 8 * 1024 * 1024
_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

#: Where the CA bundle comes from when --ca-cert is not given, first match
#: first. The first two are what requests (and so HTTPie) reads when
#: verification is on (requests' Session.merge_environment_settings); the
#: last two are OpenSSL's own variables, which curl and Python's default SSL
#: context honour too.
CA_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


class ExitStatus(enum.IntEnum):
    """The exit statuses, chosen to match HTTPie's (``http --check-status``)."""

    SUCCESS = 0
    #: Bad usage, or the exchange failed: connection, TLS, proxy, protocol.
    ERROR = 1
    TIMEOUT = 2
    HTTP_4XX = 4
    HTTP_5XX = 5
    INTERRUPTED = 130


class UsageError(Exception):
    """The command line cannot be turned into a request."""


class OutputClosed(Exception):
    """Whoever reads stdout stopped reading (``hyper URL | head``)."""


# ---------------------------------------------------------------------------
# The command line


_DESCRIPTION = """\
Send one HTTP request with hyper and print the response body as it arrives
(JSON is pretty-printed). https:// URLs use HTTP/2 when the server agrees by
ALPN, else HTTP/1.1; http:// URLs ask for HTTP/2 with "Upgrade: h2c" and
fall back to HTTP/1.1 (see --h2c).
"""

_EPILOG = """\
request items (as in HTTPie; the first separator in the item wins):
  Name:value    a request header
  Name:         no such header (e.g. User-Agent: sends no User-Agent)
  Name;         a request header with an empty value
  name==value   a query string parameter
  name=value    a string field of a JSON object sent as the body (POST by default)
  name:=json    a raw JSON field: name:=1, ok:=true, tags:='["a", "b"]'
  -             send standard input as the body (POST by default)

File items (name@file, name=@file, name:=@file, name==@file, Name:@file)
are not supported: send a file with '-' and standard input.

Standard input is also sent when it is not a terminal and there are no
fields (unless --ignore-stdin). Without --ca-cert, the CA bundle named by
REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR (the first
set) is trusted, else certifi's. Exit status: 0 success, 1 error (usage,
connection, TLS, protocol), 2 timeout, 4 HTTP 4xx, 5 HTTP 5xx.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyper",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hyper {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="log every frame and connection event to stderr"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the negotiated protocol, the request and response headers on stderr",
    )
    parser.add_argument(
        "--ca-cert",
        metavar="PATH",
        help="trust the CA certificates in this PEM file or directory (wins over"
        " REQUESTS_CA_BUNDLE and the other variables below)",
    )
    parser.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="do not verify the server's certificate or host name",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help=f"limit for connecting and for each wait on the server (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--h2c",
        choices=("upgrade", "prior-knowledge", "off"),
        default="upgrade",
        help="for http:// URLs: ask with Upgrade: h2c (default), HTTP/2 at once, or HTTP/1.1",
    )
    parser.add_argument(
        "--ignore-stdin", action="store_true", help="never read a body from standard input"
    )
    parser.add_argument("method", metavar="METHOD", nargs="?", help="GET, or POST with a body")
    parser.add_argument("url", metavar="URL", help="http:// or https:// (the default scheme)")
    parser.add_argument("items", metavar="REQUEST_ITEM", nargs="*", help="see below")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than zero: {text!r}")
    return value


def _is_method(text: str) -> bool:
    return bool(text) and _METHOD_CHARS.issuperset(text)


def _fix_positionals(args: argparse.Namespace) -> None:
    """With METHOD left out, argparse puts the URL in METHOD: shift back."""
    if args.method is not None and not _is_method(args.method):
        args.items.insert(0, args.url)
        args.url = args.method
        args.method = None


# ---------------------------------------------------------------------------
# Request items


class ItemKind(enum.Enum):
    """HTTPie's item separators (httpie/cli/constants.py), longest first."""

    RAW_JSON_FILE = ":=@"
    QUERY_FILE = "==@"
    RAW_JSON = ":="
    QUERY = "=="
    FIELD_FILE = "=@"
    HEADER_FILE = ":@"
    HEADER = ":"
    EMPTY_HEADER = ";"
    FIELD = "="
    FILE = "@"


#: The items that read a file, which hyper does not do.
_FILE_KINDS = frozenset(
    {ItemKind.RAW_JSON_FILE, ItemKind.QUERY_FILE, ItemKind.FIELD_FILE, ItemKind.HEADER_FILE,
     ItemKind.FILE}
)

_ITEM_SYNTAX = "Name:value, Name;, name==value, name=value, name:=json or -"


def parse_item(text: str) -> tuple[ItemKind, str, str]:
    """Split a request item into its kind, name and value.

    As HTTPie does: the separator found earliest in the item wins, and of
    two starting at the same place the longer (``==`` over ``=``, ``:=``
    over ``:``).

    :raises UsageError: no separator, a file item, ``Name;`` with a value,
        or ``:=`` with a value that is not JSON.
    """
    found: list[tuple[int, int, ItemKind]] = []
    for kind in ItemKind:
        index = text.find(kind.value)
        if index > 0:
            found.append((index, -len(kind.value), kind))
    if not found:
        raise UsageError(f"{text!r} is not a request item ({_ITEM_SYNTAX})")
    index, negative_length, kind = min(found)
    name, value = text[:index], text[index - negative_length :]
    if kind in _FILE_KINDS:
        raise UsageError(
            f"{text!r}: file items ({kind.value!r}) are not supported;"
            " send a file as the body with '-' and standard input"
        )
    if kind is ItemKind.EMPTY_HEADER and value:
        raise UsageError(f"{text!r}: 'Name;' sends an empty header and takes no value")
    return kind, name, value


def _raw_json(item: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise UsageError(f"{item!r}: the value after ':=' is not JSON ({exc})") from None


@dataclasses.dataclass
class Request:
    method: str
    url: SplitResult
    target: str
    headers: list[tuple[str, str]]
    body: bytes | None

    @property
    def secure(self) -> bool:
        return self.url.scheme == "https"


def _split_url(text: str) -> SplitResult:
    if "://" not in text:
        text = "https://" + text
    url = urlsplit(text)
    if url.scheme not in ("http", "https"):
        raise UsageError(f"unsupported URL scheme {url.scheme!r} (use http:// or https://)")
    if not url.hostname:
        raise UsageError(f"no host in URL {text!r}")
    try:
        url.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError as exc:
        raise UsageError(f"bad port in URL {text!r}: {exc}") from None
    return url


def build_request(args: argparse.Namespace, stdin: IO[bytes] | None) -> Request:
    url = _split_url(args.url)
    headers: list[tuple[str, str]] = []
    params: list[tuple[str, str]] = []
    fields: dict[str, Any] = {}
    unset: set[str] = set()
    body_from_stdin = False
    for item in args.items:
        if item == "-":
            body_from_stdin = True
            continue
        kind, name, value = parse_item(item)
        if kind is ItemKind.HEADER and not value.strip(" \t"):
            # HTTPie: "Name:" with nothing after it sends no such header,
            # not even hyper's default (User-Agent, Content-Type).
            unset.add(name.lower())
        elif kind is ItemKind.HEADER:
            # RFC 9110 section 5.5: whitespace around a field value is not part of it.
            headers.append((name, value.strip(" \t")))
        elif kind is ItemKind.EMPTY_HEADER:
            headers.append((name, ""))
        elif kind is ItemKind.QUERY:
            params.append((name, value))
        elif kind is ItemKind.RAW_JSON:
            fields[name] = _raw_json(item, value)
        else:
            fields[name] = value
    if body_from_stdin and fields:
        raise UsageError("give either JSON fields or '-' (standard input), not both")
    body: bytes | None = None
    if fields:
        body = json.dumps(fields).encode("utf-8")
        _set_default(headers, "content-type", "application/json; charset=utf-8")
    elif body_from_stdin or (not args.ignore_stdin and _is_piped(stdin)):
        body = _read_stdin(stdin) or None
    _set_default(headers, "user-agent", f"hyper/{__version__}")
    headers = [(name, value) for name, value in headers if name.lower() not in unset]
    method = args.method.upper() if args.method else ("POST" if body is not None else "GET")
    return Request(method, url, _target(url, params), headers, body)


def _set_default(headers: list[tuple[str, str]], name: str, value: str) -> None:
    if all(existing.lower() != name for existing, _ in headers):
        headers.append((name, value))


def _is_piped(stdin: IO[bytes] | None) -> bool:
    if stdin is None or stdin.closed:
        return False
    # isatty() raises ValueError only on a closed stream, excluded above.
    return not stdin.isatty()


def _read_stdin(stdin: IO[bytes] | None) -> bytes:
    if stdin is None or stdin.closed:
        raise UsageError("standard input is closed, so '-' has nothing to send")
    return stdin.read()


def _target(url: SplitResult, params: list[tuple[str, str]]) -> str:
    """Path and query: the fragment is never sent (RFC 9110 section 7.1)."""
    query = url.query
    if params:
        query = f"{query}&{urlencode(params)}" if query else urlencode(params)
    path = url.path or "/"
    return f"{path}?{query}" if query else path


# ---------------------------------------------------------------------------
# TLS trust


def ca_bundle(args: argparse.Namespace, environ: Mapping[str, str]) -> bool | str:
    """What to verify the server with: False, a CA path, or True (certifi).

    ``--insecure`` turns verification off; ``--ca-cert`` wins over the
    environment; then the first non-empty variable of :data:`CA_ENV_VARS`.
    """
    if args.insecure:
        return False
    if args.ca_cert:
        return str(args.ca_cert)
    return next((environ[name] for name in CA_ENV_VARS if environ.get(name)), True)


def _tls_context(args: argparse.Namespace, environ: Mapping[str, str]) -> ssl.SSLContext:
    verify = ca_bundle(args, environ)
    try:
        return create_context(verify=verify)
    except TLSError as exc:
        # A file that exists but holds no certificate, or a PEM OpenSSL
        # cannot parse: hyper.tls names the file and the fix.
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------
# Sending and receiving


def _connection(request: Request, args: argparse.Namespace) -> HTTPConnection:
    context = _tls_context(args, os.environ) if request.secure else None
    default_port = 443 if request.secure else 80
    return HTTPConnection(
        request.url.hostname or "",
        request.url.port or default_port,
        secure=request.secure,
        ssl_context=context,
        timeout=args.timeout,
        h2c=args.h2c,
    )


@dataclasses.dataclass
class ResponseHead:
    """What is shown of a response before its body."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]

    @property
    def content_type(self) -> str:
        return next((v for n, v in self.headers if n.lower() == "content-type"), "")

    @classmethod
    def of(cls, response: BaseResponse) -> ResponseHead:
        headers = [(_text(n), _text(v)) for n, v in response.headers.iter_raw()]
        reason = response.reason or _phrase(response.status)
        return cls(response.status, reason, _VERSIONS.get(response.version, "HTTP"), headers)


def exchange(
    request: Request, args: argparse.Namespace, out: IO[bytes], err: IO[str]
) -> ResponseHead:
    """Send the request, show the response head on ``err`` (with -v) and
    write the body to ``out`` as it arrives."""
    with _connection(request, args) as conn:
        stream_id = conn.request(
            request.method, request.target, body=request.body, headers=request.headers
        )
        if args.verbose:
            _show_request(err, conn, request, args)
        response = conn.get_response(stream_id)
        head = ResponseHead.of(response)
        if args.verbose:
            _show_response(err, head)
        write_body(response.read_chunked(), head.content_type, out)
        return head


def _text(value: bytes) -> str:
    # Header bytes are decoded as latin-1, as http.client does.
    return value.decode("latin-1")


def _phrase(status: int) -> str:
    # RFC 9113 section 8.3.2: HTTP/2 has no reason phrase; show the usual one.
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_VERSIONS = {20: "HTTP/2", 11: "HTTP/1.1", 10: "HTTP/1.0"}

_PROTOCOL_NOTES = {
    "h2": "HTTP/2 over TLS, chosen by ALPN",
    "h2c": "HTTP/2 over plain TCP (h2c)",
    "http/1.1": "HTTP/1.1",
}


def _show_request(
    stderr: IO[str], conn: HTTPConnection, request: Request, args: argparse.Namespace
) -> None:
    # request() has settled the protocol, an h2c Upgrade included.
    protocol = conn.negotiated_protocol or "http/1.1"
    note = _PROTOCOL_NOTES.get(protocol, protocol)
    version = "HTTP/2" if protocol in ("h2", "h2c") else "HTTP/1.1"
    if protocol == "h2c" and args.h2c == "upgrade":
        # The request itself went out as HTTP/1.1 with Upgrade: h2c; its
        # response came over HTTP/2 (RFC 7540 section 3.2).
        note, version = "HTTP/2 over plain TCP, after Upgrade: h2c", "HTTP/1.1"
    stderr.write(f"* Connected to {conn.host}:{conn.port}; protocol: {protocol} ({note})\n")
    stderr.write(f"> {request.method} {request.target} {version}\n")
    for name, value in request.headers:
        stderr.write(f"> {name}: {value}\n")
    stderr.write(">\n")


def _show_response(stderr: IO[str], head: ResponseHead) -> None:
    stderr.write(f"< {head.version} {head.status} {head.reason}".rstrip() + "\n")
    for name, value in head.headers:
        stderr.write(f"< {name}: {value}\n")
    stderr.write("<\n")


# ---------------------------------------------------------------------------
# Output


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def write_body(pieces: Iterable[bytes], content_type: str, out: IO[bytes]) -> None:
    """Write the body to ``out`` piece by piece, flushing each.

    A JSON body is collected first, but only up to :data:`PRETTY_JSON_LIMIT`:
    complete and parsable, it is pretty-printed; otherwise what was
    collected is written as received and the rest streams after it.
    """
    rest = iter(pieces)
    if _is_json(content_type):
        collected, complete = _collect(rest, PRETTY_JSON_LIMIT)
        if complete:
            _write(out, pretty_json(collected))
            return
        _write(out, collected)
    for piece in rest:
        _write(out, piece)


def _write(out: IO[bytes], data: bytes) -> None:
    try:
        out.write(data)
        out.flush()
    except BrokenPipeError:
        raise OutputClosed from None


def _collect(pieces: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes (or a little more) and whether that was all."""
    collected = bytearray()
    for piece in pieces:
        collected += piece
        if len(collected) > limit:
            return bytes(collected), False
    return bytes(collected), True


def pretty_json(body: bytes) -> bytes:
    """The JSON document indented, or ``body`` as it is if it does not parse."""
    if not body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def status_exit(status: int) -> ExitStatus:
    if 400 <= status < 500:
        return ExitStatus.HTTP_4XX
    if status >= 500:
        return ExitStatus.HTTP_5XX
    return ExitStatus.SUCCESS


# ---------------------------------------------------------------------------
# Errors


def describe_error(exc: BaseException, request: Request, args: argparse.Namespace) -> str:
    where = request.url.netloc
    if isinstance(exc, Timeout):
        return f"timed out after {args.timeout:g}s talking to {where} ({exc}); see --timeout"
    if isinstance(exc, TLSError):
        return f"TLS failed with {where}: {exc} (see --ca-cert and --insecure)"
    if isinstance(exc, ConnectError):
        return f"cannot connect to {where}: {exc}"
    if isinstance(exc, (RemoteProtocolError, ConnectionClosed)):
        hint = ""
        if not request.secure and args.h2c == "prior-knowledge":
            hint = " (does the server speak h2c? try --h2c=upgrade or --h2c=off)"
        what = "protocol error from" if isinstance(exc, RemoteProtocolError) else "connection to"
        return f"{what} {where}: {exc}{hint}"
    if isinstance(exc, LocalProtocolError):
        return f"invalid request: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _exit_for(exc: BaseException) -> ExitStatus:
    return ExitStatus.TIMEOUT if isinstance(exc, Timeout) else ExitStatus.ERROR


# ---------------------------------------------------------------------------
# main


class _DebugLogging:
    """--debug: hyper's DEBUG log (every frame) to stderr, for this run only."""

    def __init__(self, enabled: bool, stderr: IO[str]) -> None:
        self.enabled = enabled
        self.handler = logging.StreamHandler(stderr)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        self.previous_level = log.level

    def __enter__(self) -> _DebugLogging:
        if self.enabled:
            log.addHandler(self.handler)
            log.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            log.removeHandler(self.handler)
            log.setLevel(self.previous_level)


def _parse(argv: Sequence[str], stderr: IO[str]) -> argparse.Namespace | int:
    """Parsed arguments, or the exit status of --help, --version or an error."""
    parser = build_parser()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(list(argv))
    except SystemExit as exc:
        # argparse exits 0 after --help/--version and 2 on bad usage; hyper
        # reports bad usage as 1, as HTTPie does, so that 2 means a timeout.
        return ExitStatus.SUCCESS if exc.code in (0, None) else ExitStatus.ERROR
    _fix_positionals(args)
    return args


def _default_stdin() -> IO[bytes] | None:
    stream = sys.stdin
    return getattr(stream, "buffer", None) if stream is not None else None


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``hyper``; return the exit status (see :class:`ExitStatus`).

    The streams default to the process's own (stdin and stdout in binary).
    """
    err = stderr if stderr is not None else sys.stderr
    parsed = _parse(sys.argv[1:] if argv is None else argv, err)
    if isinstance(parsed, int):
        return parsed
    args = parsed
    out = stdout if stdout is not None else sys.stdout.buffer
    try:
        request = build_request(args, stdin if stdin is not None else _default_stdin())
    except UsageError as exc:
        err.write(f"hyper: error: {exc}\n")
        return ExitStatus.ERROR
    with _DebugLogging(args.debug, err):
        return _run(request, args, out, err)


def _drop_stdout(out: IO[bytes]) -> None:
    """After EPIPE on the process's stdout, point it at /dev/null, so that
    flushing it at exit does not print a second error (the Python
    documentation's advice for SIGPIPE)."""
    if out is getattr(sys.stdout, "buffer", None):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _run(request: Request, args: argparse.Namespace, out: IO[bytes], err: IO[str]) -> int:
    try:
        head = exchange(request, args, out, err)
    except KeyboardInterrupt:
        err.write("hyper: interrupted\n")
        return ExitStatus.INTERRUPTED
    except UsageError as exc:
        err.write(f"hyper: error: {exc}\n")
        return ExitStatus.ERROR
    except OutputClosed:
        # Quietly, as other tools in a pipeline do; the exit status says it.
        _drop_stdout(out)
        return ExitStatus.ERROR
    except (HyperError, OSError) as exc:
        if args.debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
        err.write(f"hyper: error: {describe_error(exc, request, args)}\n")
        return _exit_for(exc)
    status = status_exit(head.status)
    if status is not ExitStatus.SUCCESS:
        err.write(f"hyper: HTTP {head.status} {head.reason}".rstrip() + "\n")
    return status
