"""The wire fuzz target, briefly (``scripts/fuzz`` runs it for long).

Recorded hypercorn responses (tests/faults/seeds), mutated, fed to a real
client over a socketpair: only HyperError may come out, and nothing may hang
(each case is bounded; see tests/faults/wirefuzz.py). HYPER_FUZZ_EXAMPLES
raises the count for a longer hunt by hand.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faults.wirefuzz import (
    MAX_INPUT,
    OPS,
    Op,
    Outcome,
    load_seeds,
    mutate,
    run_case,
    run_mutated,
)

SEEDS = load_seeds()

ops = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1 << 20), st.integers(0, 1 << 24)),
               min_size=1, max_size=6)


def test_every_seed_is_a_valid_response() -> None:
    assert {s.protocol for s in SEEDS} == {"h1", "h2"}
    for seed in SEEDS:
        result = run_case(seed.protocol, seed.preface, seed.response)
        # The first response reads whole; the second request meets the EOF.
        assert result.responses == 1, (seed.name, result)
        assert result.outcome is Outcome.HYPER_ERROR, (seed.name, result)


def test_mutations_are_deterministic_and_bounded() -> None:
    data = SEEDS[0].response
    some: list[Op] = [("duplicate", 3, 10**6), ("frame-length", 1, 99), ("splice", 5, 7)]
    assert mutate(data, some, b"other") == mutate(data, some, b"other")
    assert mutate(data, [("cut", 10, 0)]) == data[:10]
    # Every operation copes with empty input; the result never passes MAX_INPUT.
    assert mutate(b"", [(name, 1, 2) for name in OPS]) == b"\x02"
    assert len(mutate(data, [("duplicate", 0, 63)] * 5000)) == MAX_INPUT


@given(seed=st.sampled_from(SEEDS), other=st.sampled_from(SEEDS), in_preface=st.booleans(),
       changes=ops)
@settings(max_examples=int(os.environ.get("HYPER_FUZZ_EXAMPLES", "1000")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_mutated_server_bytes(seed: object, other: object, in_preface: bool,
                              changes: list[Op]) -> None:
    result = run_mutated(seed, changes, other, in_preface)  # type: ignore[arg-type]
    if result.outcome in (Outcome.ESCAPE, Outcome.HANG):
        pytest.fail(f"{result.outcome.value}: {result.detail}")
