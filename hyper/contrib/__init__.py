"""Integrations: the requests transport adapter.

``hyper.contrib`` needs requests (``pip install hyper[requests]``); the
rest of hyper does not.
"""

from __future__ import annotations

from .adapter import HTTP20Adapter

__all__ = ["HTTP20Adapter"]
