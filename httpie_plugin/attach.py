"""Attaching to HTTPie's internals, and the one warning line when that fails.

The plugin relies on three things HTTPie 3.x does but does not promise:
the parser is the module global ``httpie.cli.definition.parser`` (so that
options added to it are parsed), the parsed arguments are left on
``parser.args`` (so that the plugin instance can read them), and transport
plugins subclass ``httpie.plugins.TransportPlugin``. If a later HTTPie
changes one of them, the plugin turns itself off and says so in a single
line on stderr; HTTPie then runs exactly as it does without the plugin.
"""

from __future__ import annotations

import argparse
import sys

from .options import add_options

__all__ = ["attach", "is_attached", "parsed_args", "warn"]

_PREFIX = "hyper HTTP/2 plugin: warning:"


class _State:
    """What happened in this process (HTTPie runs once per process, tests many times)."""

    attached = False
    warned = False


def warn(message: str) -> None:
    """Write one warning line to stderr, at most once per process."""
    if _State.warned:
        return
    _State.warned = True
    sys.stderr.write(f"{_PREFIX} {message}\n")
    sys.stderr.flush()


def _disabled(reason: str) -> None:
    warn(f"{reason}; HTTPie runs without --http2")


def _httpie_parser() -> argparse.ArgumentParser | None:
    try:
        from httpie.cli import definition  # type: ignore[import-untyped]
    except ImportError as exc:
        _disabled(f"cannot import httpie.cli.definition ({exc})")
        return None
    parser = getattr(definition, "parser", None)
    if not isinstance(parser, argparse.ArgumentParser):
        _disabled("httpie.cli.definition.parser is not an argparse parser any more")
        return None
    return parser


def attach() -> bool:
    """Add our options to HTTPie's parser; False (after one warning) if impossible."""
    if _State.attached:
        return True
    parser = _httpie_parser()
    if parser is None:
        return False
    try:
        add_options(parser)
    except argparse.ArgumentError as exc:
        # Most likely HTTPie grew its own --http2: leave it alone.
        _disabled(f"HTTPie already has this option ({exc})")
        return False
    _State.attached = True
    return True


def is_attached() -> bool:
    return _State.attached


def parsed_args() -> argparse.Namespace | None:
    """HTTPie's parsed arguments of the current run, or None (after one warning)."""
    parser = _httpie_parser()
    args = getattr(parser, "args", None)
    if isinstance(args, argparse.Namespace):
        return args
    if parser is not None:
        _disabled("HTTPie's parsed arguments are not on its parser (parser.args)")
    return None
