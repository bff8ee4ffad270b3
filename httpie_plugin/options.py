"""The command-line side of the plugin: ``--http2`` and friends, and ``HTTPIE_HTTP2``.

HTTPie builds its argparse parser once, as the module global
``httpie.cli.definition.parser``, then loads plugins, then parses. Adding
our options to that object while the plugin module is imported is therefore
enough for them to be parsed and listed in ``http --help`` (rebuilding the
parser would not be: HTTPie keeps its own reference).

All three options store into one destination, so the last one given wins,
as usual on a command line (``HTTPie`` may prepend ``--http2`` from its
config's ``default_options``, and ``--no-http2`` then turns it off again).
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Mapping

__all__ = [
    "DEST",
    "ENV_VAR",
    "Mode",
    "add_options",
    "mode_from",
]

#: The attribute of HTTPie's parsed arguments that holds our choice.
DEST = "hyper_http2"
#: The environment variable that turns HTTP/2 on for every request.
ENV_VAR = "HTTPIE_HTTP2"

_ENV_ON = frozenset({"1", "true", "yes", "on"})
_ENV_OFF = frozenset({"", "0", "false", "no", "off"})


class Mode(enum.Enum):
    """How the plugin treats a request."""

    #: HTTPie's own adapters serve every request: the plugin is not there.
    OFF = "off"
    #: ``--http2``: https:// offers h2 by ALPN; http:// asks for h2c with
    #: ``Upgrade: h2c``. Both fall back to HTTP/1.1 when the server declines.
    NEGOTIATE = "negotiate"
    #: ``--http2-prior-knowledge``: http:// speaks h2c at once (RFC 9113
    #: section 3.3); https:// negotiates by ALPN as with ``--http2``.
    PRIOR_KNOWLEDGE = "prior-knowledge"


_GROUP_TITLE = "HTTP/2 (hyper plugin)"
_GROUP_DESCRIPTION = f"""
Send requests over HTTP/2 with hyper. The environment variable {ENV_VAR}=1
acts as if --http2 were given on every command line.
"""

_HTTP2_HELP = f"""
Use HTTP/2. For https:// URLs, h2 is offered by TLS ALPN; for http:// URLs,
the first request asks for h2c with an "Upgrade: h2c" header (a request with
a body cannot upgrade and goes over HTTP/1.1). Servers without HTTP/2 are
spoken to over HTTP/1.1. --no-http2 turns HTTP/2 off, also when {ENV_VAR}=1.

"""

_PRIOR_KNOWLEDGE_HELP = """
Like --http2, but speak HTTP/2 over plain TCP (h2c) to http:// URLs right
away, without an Upgrade round trip: the server must support h2c prior
knowledge. https:// URLs negotiate by ALPN as with --http2.

"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--http2``, ``--http2-prior-knowledge`` and ``--no-http2``.

    ``--no-http2`` is ours rather than HTTPie's automatic ``--no-OPTION``
    (which resets an option to its default), because "not given" must stay
    distinguishable from "turned off": only the latter overrides
    ``HTTPIE_HTTP2=1``.

    :raises argparse.ArgumentError: an option by one of these names exists.
    """
    group = parser.add_argument_group(title=_GROUP_TITLE, description=_GROUP_DESCRIPTION)
    group.add_argument(
        "--http2",
        dest=DEST,
        action="store_const",
        const=Mode.NEGOTIATE.value,
        default=None,
        help=_HTTP2_HELP,
    )
    group.add_argument(
        "--http2-prior-knowledge",
        dest=DEST,
        action="store_const",
        const=Mode.PRIOR_KNOWLEDGE.value,
        help=_PRIOR_KNOWLEDGE_HELP,
    )
    group.add_argument(
        "--no-http2",
        dest=DEST,
        action="store_const",
        const=Mode.OFF.value,
        help=argparse.SUPPRESS,
    )


class EnvValueError(ValueError):
    """``HTTPIE_HTTP2`` holds a value that is neither on nor off."""


def mode_from(args: argparse.Namespace | None, environ: Mapping[str, str]) -> Mode:
    """The mode for this run: the command line first, then ``HTTPIE_HTTP2``.

    :raises EnvValueError: the command line chose nothing and the
        environment variable is not one of 1/true/yes/on/0/false/no/off.
    """
    chosen = getattr(args, DEST, None)
    if isinstance(chosen, str):
        return Mode(chosen)
    raw = environ.get(ENV_VAR, "")
    value = raw.strip().lower()
    if value in _ENV_ON:
        return Mode.NEGOTIATE
    if value in _ENV_OFF:
        return Mode.OFF
    raise EnvValueError(f"ignoring {ENV_VAR}={raw!r} (use 1 to turn HTTP/2 on, 0 to turn it off)")
