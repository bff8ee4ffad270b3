"""The transport plugin classes HTTPie instantiates for every run.

HTTPie mounts each transport plugin's adapter on one URL prefix, after its
own adapters for ``http://`` and ``https://``; a plugin on the same prefix
replaces HTTPie's adapter, and requests picks the longest matching prefix.
One class per scheme is therefore needed, each registered under the
``httpie.plugins.transport.v1`` entry point.

HTTPie creates the plugin instances after parsing the command line, so the
constructor decides: with HTTP/2 off, the prefix is one no URL starts with
and HTTPie's own adapters serve every request, exactly as without the
plugin.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

import requests.adapters

from .attach import is_attached, parsed_args, warn
from .options import EnvValueError, Mode, mode_from
from .settings import adapter_settings

if TYPE_CHECKING:
    TransportPlugin = object
else:
    try:
        from httpie.plugins import TransportPlugin
    except ImportError:  # a later HTTPie without transport plugins: never loaded
        TransportPlugin = object

__all__ = ["H2CTransportPlugin", "HTTP2TransportPlugin", "InactiveAdapter", "current_mode"]


class InactiveAdapter(requests.adapters.BaseAdapter):
    """Mounted on a prefix no URL has, when HTTP/2 is off: never used."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.InvalidSchema(f"No adapter is active for {request.url!r}")

    def close(self) -> None:
        pass


def current_mode() -> Mode:
    """HTTP/2 mode of the current HTTPie run (OFF when the plugin is not attached)."""
    if not is_attached():
        return Mode.OFF
    args = parsed_args()
    if args is None:
        return Mode.OFF
    try:
        return mode_from(args, os.environ)
    except EnvValueError as exc:
        warn(str(exc))
        return Mode.OFF


class _HyperTransportPlugin(TransportPlugin):
    scheme: ClassVar[str]

    description = "HTTP/2 with hyper: --http2, --http2-prior-knowledge, HTTPIE_HTTP2=1"

    def __init__(self) -> None:
        self.mode = current_mode()
        if self.mode is Mode.OFF:
            self.prefix = f"hyper-http2-off+{self.scheme}://"
        else:
            self.prefix = f"{self.scheme}://"

    def get_adapter(self) -> requests.adapters.BaseAdapter:
        if self.mode is Mode.OFF:
            return InactiveAdapter()
        # Imported here: h2 and the pool load only when HTTP/2 is asked for.
        from .adapter import HTTPieHTTP20Adapter

        settings = adapter_settings(self.scheme, self.mode, parsed_args())
        return HTTPieHTTP20Adapter(settings)


class HTTP2TransportPlugin(_HyperTransportPlugin):
    """``https://`` over HTTP/2, negotiated by ALPN (entry point ``hyper_http2``)."""

    name = "hyper HTTP/2 (https)"
    scheme = "https"


class H2CTransportPlugin(_HyperTransportPlugin):
    """``http://`` over h2c, by Upgrade or prior knowledge (entry point ``hyper_h2c``)."""

    name = "hyper HTTP/2 (http, h2c)"
    scheme = "http"
