"""Hold many HTTP/2 responses open through requests, read one chunk of each,
and report how much the process grew (run as a child process, so that its
resident size is the scenario's own).

    python tests/held_responses.py BASE_URL CA_PATH FILE_PATH COUNT

Prints one JSON object: the resident set size before and after (bytes), and
the bytes the hyper connections hold unread. Used by
tests/test_http20_memory.py and bench/h2_flow.py.
"""

from __future__ import annotations

import gc
import json
import sys
import time


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(base: str, ca: str, path: str, count: int) -> None:
    import requests

    from hyper.contrib import HTTP20Adapter
    from hyper.http20.connection import HTTP20Connection

    session = requests.Session()
    session.mount("https://", HTTP20Adapter())
    # Everything imported and one connection made before the first measure.
    session.get(base + "/", verify=ca, timeout=30).close()
    gc.collect()
    before = rss()
    held = []
    for _ in range(count):
        response = session.get(base + path, stream=True, verify=ca, timeout=30)
        response.raise_for_status()
        next(response.iter_content(16384))
        held.append(response)
    # hyper reads only while someone waits: let every connection take in
    # what the server may still send (bounded), as a busy program would.
    connections = [o for o in gc.get_objects() if isinstance(o, HTTP20Connection)]
    deadline = time.monotonic() + 10
    last = -1
    while time.monotonic() < deadline:
        for conn in connections:
            conn.check_alive()
        unread = sum(c._state.unread for c in connections)
        if unread == last:
            break
        last = unread
    gc.collect()
    after = rss()
    print(json.dumps({"count": len(held), "connections": len(connections),
                      "rss_before": before, "rss_after": after, "unread": last}))
    for response in held:
        response.close()
    session.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
