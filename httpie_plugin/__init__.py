"""HTTPie transport plugin: ``http --http2`` on hyper.

HTTPie imports this module (through the ``httpie.plugins.transport.v1``
entry points) after building its argument parser and before parsing the
command line; importing it adds ``--http2``, ``--http2-prior-knowledge``
and ``--no-http2`` to that parser. See ``docs/cli.md`` for usage.

Modules: :mod:`.options` (the options and ``HTTPIE_HTTP2``), :mod:`.attach`
(HTTPie internals relied on, and the warning when they change),
:mod:`.settings` (parsed arguments to adapter arguments), :mod:`.plugin`
(the plugin classes), :mod:`.adapter` (the HTTP20Adapter HTTPie gets).
"""

from __future__ import annotations

from .attach import attach
from .plugin import H2CTransportPlugin, HTTP2TransportPlugin

__all__ = ["H2CTransportPlugin", "HTTP2TransportPlugin"]

attach()
