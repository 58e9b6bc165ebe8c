"""Fixtures for PACS tests that must never send traffic to a private range.

- ``dns``: a stub resolver (``socket.getaddrinfo``) with fixed answers per name, counting lookups;
  IP literals pass through (they need no DNS).
- ``no_connections``: any socket connect fails the test, and is recorded.
- ``fake_pacs``: a tiny HTTP(S) server on 127.0.0.1 that answers what a test sets per path and
  records what it received (path, Host header, Authorization, TLS server name).

Import the ``*_fixture`` functions into a test module (``# noqa: F401``) and ask for ``dns``,
``no_connections`` or ``fake_pacs``.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REAL_GETADDRINFO = socket.getaddrinfo


class StubDNS:
    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def set(self, host: str, *answers: list[str]) -> None:
        """Successive lookups of ``host`` get successive answers; the last one repeats."""
        self.answers[host] = list(answers)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(name.strip("[]"))
            return REAL_GETADDRINFO(host, port, family, type, proto, flags)
        except ValueError:
            pass
        self.lookups.append(name)
        answers = self.answers.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        current = answers.pop(0) if len(answers) > 1 else answers[0]
        results = []
        for address in current:
            if ":" in address:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return results


@pytest.fixture(name="dns")
def dns_fixture(monkeypatch) -> StubDNS:
    stub = StubDNS()
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    return stub


@pytest.fixture(name="no_connections")
def no_connections_fixture(monkeypatch) -> list:
    """Connection attempts: a test asserts the list stays empty (each attempt also raises)."""
    attempts: list = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@dataclass
class Received:
    path: str
    host: str
    authorization: str


@dataclass
class FakePacs:
    port: int
    scheme: str = "http"
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    ca_file: str = ""

    def answer(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        self.routes[path] = (status, {k.replace("_", "-"): v for k, v in headers.items()}, body)

    def url(self, host: str = "127.0.0.1", path: str = "/dicom-web") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _handler(pacs: FakePacs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            pacs.received.append(
                Received(path, self.headers.get("Host", ""), self.headers.get("Authorization", ""))
            )
            status, headers, body = pacs.routes.get(path, (404, {}, b"no such route"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "pacs.crt", tmp_path / "pacs.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def start_fake_pacs(tmp_path, *, tls_name: str = ""):
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    pacs = FakePacs(server.server_address[1])
    server.RequestHandlerClass = _handler(pacs)
    if tls_name:
        cert_file, key_file = _self_signed(tmp_path, tls_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)

        def remember(sock, server_name, ctx) -> None:
            pacs.server_names.append(server_name)

        context.sni_callback = remember
        server.socket = context.wrap_socket(server.socket, server_side=True)
        pacs.scheme, pacs.ca_file = "https", cert_file
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, pacs


@pytest.fixture(name="fake_pacs")
def fake_pacs_fixture(tmp_path, settings):
    """An HTTP PACS stand-in on loopback, which the allow-list lists for this test."""
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]
    server, pacs = start_fake_pacs(tmp_path)
    yield pacs
    server.shutdown()
    server.server_close()
