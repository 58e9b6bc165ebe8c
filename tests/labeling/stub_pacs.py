"""A minimal DICOMweb origin server on loopback, serving given files exactly as they are.

A real PACS (Orthanc) parses what it stores; the hostile-input tests need one that hands out a
deflate bomb or a damaged file byte for byte, streamed from disk so that the server itself holds
little in memory. It answers the two requests a PACS pull makes: QIDO-RS instances of a study,
and WADO-RS retrieve of one instance (``multipart/related; type="application/dicom"``).
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BOUNDARY = "stub-pacs-boundary"


@dataclass
class StubInstance:
    study: str
    series: str
    sop: str
    path: Path


@dataclass
class StubPacs:
    server: ThreadingHTTPServer
    instances: list[StubInstance] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)  # paths of the retrieve requests seen

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/dicom-web"

    def add(self, study: str, series: str, sop: str, path: Path) -> None:
        self.instances.append(StubInstance(study, series, sop, path))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_stub_pacs() -> StubPacs:
    pacs = StubPacs(server=None)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            # dicom-web/studies/{study}/instances or .../series/{series}/instances/{sop}
            if len(parts) == 4 and parts[3] == "instances":
                self._search(parts[2])
            elif len(parts) >= 7 and parts[3] == "series" and parts[5] == "instances":
                pacs.retrieved.append(self.path)
                self._retrieve("/".join(parts[6:]))
            else:
                self._send(404, "text/plain", b"not found")

        def _search(self, study: str) -> None:
            found = [
                {
                    "0020000D": {"vr": "UI", "Value": [i.study]},
                    "0020000E": {"vr": "UI", "Value": [i.series]},
                    "00080018": {"vr": "UI", "Value": [i.sop]},
                }
                for i in pacs.instances
                if i.study == study
            ]
            self._send(200, "application/dicom+json", json.dumps(found).encode())

        def _retrieve(self, sop: str) -> None:
            match = next((i for i in pacs.instances if i.sop == sop), None)
            if match is None:
                self._send(404, "text/plain", b"not found")
                return
            head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            tail = f"\r\n--{BOUNDARY}--\r\n".encode()
            size = len(head) + match.path.stat().st_size + len(tail)
            content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(head)
            with match.path.open("rb") as fp:
                shutil.copyfileobj(fp, self.wfile, 1024 * 1024)
            self.wfile.write(tail)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet
            return

    pacs.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    pacs.server.daemon_threads = True
    threading.Thread(target=pacs.server.serve_forever, daemon=True).start()
    return pacs
