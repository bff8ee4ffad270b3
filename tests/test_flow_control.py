"""HTTP/2 flow-control window managers (hyper.http20.window)."""

from __future__ import annotations

import pytest

from hyper.http20.window import BaseFlowControlManager

pytestmark = pytest.mark.timeout(60)


def test_base_manager_grants_nothing_when_blocked() -> None:
    class Never(BaseFlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            return 0

    manager = Never(100)
    assert manager._handle_frame(100) == 0
    assert manager.window_size == 0
    assert manager.blocked() == 0
