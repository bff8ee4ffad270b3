"""hyper works only with the h2 releases whose internals its work-arounds
know (hyper/http20/h2glue.py): any other h2 fails loudly at import, with an
ImportError that says which versions to install.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import textwrap
from pathlib import Path

import h2.config
import h2.connection
import pytest

from hyper.http20 import h2glue

ROOT = Path(__file__).resolve().parent.parent


def fresh() -> h2.connection.H2Connection:
    return h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))


def test_the_installed_h2_is_recognised() -> None:
    assert h2glue.h2_problems(fresh()) == []
    h2glue.check_h2()


def test_setup_cfg_allows_exactly_the_supported_range() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["install_requires"].split()
    assert h2glue.SUPPORTED_H2 in requires


def _unknown_transitions(conn: h2.connection.H2Connection) -> None:
    conn.state_machine._transitions = {}


def _no_dispatch_table(conn: h2.connection.H2Connection) -> None:
    del conn._frame_dispatch_table


def _other_frame_buffer(conn: h2.connection.H2Connection) -> None:
    conn.incoming_buffer = bytearray()


@pytest.mark.parametrize(("change", "named"), [
    (_unknown_transitions, "_transitions"),
    (_no_dispatch_table, "_frame_dispatch_table"),
    (_other_frame_buffer, "FrameBuffer"),
])
def test_unrecognised_internals_fail_with_what_to_install(change: object, named: str) -> None:
    conn = fresh()
    assert callable(change)
    change(conn)
    with pytest.raises(ImportError) as info:
        h2glue.check_h2(conn)
    message = str(info.value)
    assert named in message
    assert f"h2 {h2.__version__}" in message
    assert f"pip install '{h2glue.SUPPORTED_H2}'" in message


def test_a_missing_state_machine_input_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2glue, "_AFTER_GOAWAY_NAMES",
                        (*h2glue._AFTER_GOAWAY_NAMES, "RECV_SMOKE_SIGNAL"))
    with pytest.raises(ImportError, match="ConnectionInputs lacks RECV_SMOKE_SIGNAL"):
        h2glue.check_h2()


def test_importing_hyper_on_an_unknown_h2_fails_loudly() -> None:
    """In a fresh interpreter whose h2 builds connections without the
    dispatch table: ``import hyper`` itself raises."""
    script = textwrap.dedent("""
        import h2.connection

        original = h2.connection.H2Connection.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            del self._frame_dispatch_table

        h2.connection.H2Connection.__init__ = init
        import hyper
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
    assert child.returncode == 1
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: hyper does not work with the installed h2")
    assert h2glue.SUPPORTED_H2 in last
