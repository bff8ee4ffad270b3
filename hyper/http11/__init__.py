"""hyper's HTTP/1.1 client, built on h11."""

from __future__ import annotations

from .connection import HTTP11Connection
from .response import HTTP11Response

__all__ = ["HTTP11Connection", "HTTP11Response"]
