"""Protocol options that the pool and the adapter pass through untouched."""

from __future__ import annotations

import enum


class H2CMode(str, enum.Enum):
    """How to reach HTTP/2 over plaintext."""

    UPGRADE = "upgrade"
    PRIOR_KNOWLEDGE = "prior-knowledge"
    OFF = "off"
