"""The fault suite: every test is checked for leaked threads and sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faults.leaks import Snapshot, assert_no_leaks


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[Snapshot]:
    """Autouse, so set up before (and torn down after) the peers and clients
    of the test: the check sees them gone or reports them."""
    before = Snapshot.take()
    yield before
    assert_no_leaks(before)
