"""hyper: an HTTP/2 client for Python, with HTTP/1.1 fallback.

>>> from hyper import HTTPConnection
>>> conn = HTTPConnection('example.com:443')
>>> stream_id = conn.request('GET', '/')
>>> conn.get_response(stream_id).read()
"""

from __future__ import annotations

import logging

from . import tls
from .common.headers import HTTPHeaderMap
from .connection import HTTPConnection
from .exceptions import HyperError
from .http11.connection import HTTP11Connection
from .http11.response import HTTP11Response
from .http20.connection import HTTP20Connection
from .http20.response import HTTP20Push, HTTP20Response

__version__ = "1.0.0.dev0"

__all__ = [
    "HTTP11Connection",
    "HTTP11Response",
    "HTTP20Connection",
    "HTTP20Push",
    "HTTP20Response",
    "HTTPConnection",
    "HTTPHeaderMap",
    "HyperError",
    "__version__",
    "tls",
]

# A library adds no handlers of its own (the application configures logging).
logging.getLogger("hyper").addHandler(logging.NullHandler())
