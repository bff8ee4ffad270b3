"""The per-run certificates: a trustme CA, a server and a client certificate."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: Any  # trustme.CA
    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_path: Path
    client_key_path: Path
    client_combined_path: Path


def make_certs(directory: Path) -> Certs:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("client.localhost")
    paths = {
        "ca_path": directory / "ca.pem",
        "server_cert_path": directory / "server.pem",
        "server_key_path": directory / "server.key",
        "client_cert_path": directory / "client.pem",
        "client_key_path": directory / "client.key",
        "client_combined_path": directory / "client-combined.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca_path"]))
    _write_chain(server, paths["server_cert_path"])
    server.private_key_pem.write_to_path(str(paths["server_key_path"]))
    _write_chain(client, paths["client_cert_path"])
    client.private_key_pem.write_to_path(str(paths["client_key_path"]))
    _write_chain(client, paths["client_combined_path"])
    client.private_key_pem.write_to_path(str(paths["client_combined_path"]), append=True)
    return Certs(ca=ca, **paths)


def _write_chain(cert: Any, path: Path) -> None:
    path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))


def client_context(
    certs: Certs, alpn: list[str] | None = None, client_cert: bool = False
) -> ssl.SSLContext:
    """A stdlib client context trusting the test CA (for readiness checks)."""
    context = ssl.create_default_context(cafile=str(certs.ca_path))
    if alpn:
        context.set_alpn_protocols(alpn)
    if client_cert:
        context.load_cert_chain(str(certs.client_cert_path), str(certs.client_key_path))
    return context


