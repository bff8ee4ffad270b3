"""hyper's HTTP/2 client, built on h2."""

from __future__ import annotations

from .connection import HTTP20Connection
from .response import HTTP20Push, HTTP20Response

__all__ = ["HTTP20Connection", "HTTP20Push", "HTTP20Response"]
