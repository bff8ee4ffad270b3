"""pytest plugin for the mounted downstream run: every requests.Session gets
hyper's HTTP20Adapter on http:// and https://, as a user mounting it would.

``requests.get()`` and friends make a Session too, so they are covered.
"""

from __future__ import annotations

from typing import Any

import requests

from hyper.contrib import HTTP20Adapter

_original_init = requests.Session.__init__


def _mounted_init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.mount("https://", HTTP20Adapter())
    self.mount("http://", HTTP20Adapter())


requests.Session.__init__ = _mounted_init  # type: ignore[method-assign]
