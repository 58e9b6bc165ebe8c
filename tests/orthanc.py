"""A real Orthanc PACS with its DICOMweb plugin, for tests and benchmarks.

Debian packages ``orthanc`` and ``orthanc-dicomweb`` provide it; when the binary is missing (and
we are root) they are installed with apt. Each server gets free HTTP and DICOM ports on
127.0.0.1, its own configuration file and storage folder, no authentication, and is stopped at
the end. Use the fixture in a test module with::

    from tests.orthanc import orthanc_fixture  # noqa: F401

and ask for ``orthanc`` (an :class:`OrthancServer`); ``bench/`` calls :func:`start_orthanc`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb")
BINARY_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
# Debian orthanc-gdcm: loaded, Orthanc decodes images with GDCM (JPEG 2000 among them).
GDCM_PLUGIN = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
READY_SECONDS = 60


class OrthancUnavailable(RuntimeError):
    """Orthanc is not installed and cannot be installed here, or did not start."""


@dataclass
class OrthancServer:
    url: str  # http://127.0.0.1:PORT
    dicom_port: int
    aet: str
    storage: Path
    process: subprocess.Popen
    log_path: Path

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def client(self):
        """A ``dicomweb_client.DICOMwebClient`` for this server."""
        from dicomweb_client.api import DICOMwebClient

        return DICOMwebClient(url=self.dicomweb_url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def orthanc_binary() -> str | None:
    for candidate in BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("Orthanc")


def ensure_orthanc_installed() -> str:
    """The Orthanc binary, installing the Debian packages first when it is missing."""
    binary = orthanc_binary()
    if binary and Path(DICOMWEB_PLUGIN).exists():
        return binary
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise OrthancUnavailable(
            f"Orthanc is not installed; run: apt-get install -y {' '.join(DEBIAN_PACKAGES)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *DEBIAN_PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise OrthancUnavailable(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    binary = orthanc_binary()
    if not binary:
        raise OrthancUnavailable(f"installed {DEBIAN_PACKAGES} but found no Orthanc binary")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_orthanc(
    workdir: Path,
    *,
    name: str = "CXRTEST",
    dicom_modalities: dict | None = None,
    plugins: tuple[str, ...] = (),
) -> OrthancServer:
    """Start an Orthanc with the DICOMweb plugin (and ``plugins``, e.g. :data:`GDCM_PLUGIN`)
    under ``workdir`` and wait until it answers.

    ``name`` is also its DIMSE AE title (``DicomAet``); ``dicom_modalities`` its
    ``DicomModalities``: the DIMSE peers it serves C-FIND / C-GET / C-MOVE for and moves to,
    ``{"name": ["AET", "127.0.0.1", port]}``."""
    binary = ensure_orthanc_installed()
    missing = [plugin for plugin in plugins if not Path(plugin).exists()]
    if missing:
        raise OrthancUnavailable(f"no Orthanc plugin {missing}; apt-get install orthanc-gdcm")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": name,
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "Plugins": [DICOMWEB_PLUGIN, *plugins],
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": name,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpCompressionEnabled": False,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "DicomModalities": dicom_modalities or {},
    }
    config_path = workdir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = workdir / "orthanc.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
    server = OrthancServer(
        f"http://127.0.0.1:{http_port}", dicom_port, name, storage, process, log_path
    )
    _wait_until_ready(server)
    return server


def _wait_until_ready(server: OrthancServer) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise OrthancUnavailable(f"Orthanc exited: {server.log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{server.dicomweb_url}/studies", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    raise OrthancUnavailable(f"Orthanc did not answer within {READY_SECONDS} s")


@pytest.fixture(scope="session", name="orthanc")
def orthanc_fixture(tmp_path_factory) -> Iterator[OrthancServer]:
    """One Orthanc for the test session (tests use their own UIDs, so they do not collide)."""
    try:
        server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    except OrthancUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
