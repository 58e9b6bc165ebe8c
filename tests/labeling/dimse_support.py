"""A running storage listener for tests, and the peers that talk to it (dcmtk's ``echoscu`` and
``storescu``, pynetdicom as an SCU). Everything on loopback, on ports the system hands out.

Tests that use :func:`running_listener` need ``@pytest.mark.django_db(transaction=True)``: the
listener's own threads write the rows, on their own database connections.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation, Verification

from labeling.dimse.listener import Listener
from labeling.models import DicomListener, DicomPeer
from tests import dicom_factory

HOST = "127.0.0.1"
PEER_AE = "MODALITY"
LISTENER_AE = "CXR_TEST"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_listener(team, *, ae_title: str = LISTENER_AE, peers=((PEER_AE, HOST),)):
    """The team's listener on a free port, with ``peers`` (AE title, address); yields the
    :class:`~labeling.dimse.listener.Listener` (its port: ``listener_port(listener, team)``)."""
    DicomListener.objects.update_or_create(
        team=team, defaults={"ae_title": ae_title, "port": free_port()}
    )
    for title, host in peers:
        DicomPeer.objects.create(team=team, ae_title=title, host=host)
    listener = Listener(host=HOST, create_missing=False)
    try:
        states = listener.refresh()
        assert all(state.listening for state in states), states
        yield listener
    finally:
        listener.close()


def listener_port(listener: Listener, team) -> int:
    return listener.supervisor.servers[team.pk].port


def echoscu(port: int, *, calling: str = PEER_AE, called: str = LISTENER_AE):
    return subprocess.run(
        ["echoscu", "-aet", calling, "-aec", called, HOST, str(port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def storescu(port: int, files, *, calling=PEER_AE, called=LISTENER_AE, options=()):
    return subprocess.run(
        ["storescu", "-v", *options, "-aet", calling, "-aec", called, HOST, str(port),
         *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def dx_files(folder: Path, identities, **attributes) -> list[Path]:
    """One DX file per identity (patient, study, series and instance numbered by it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        dicom_factory.write(dicom_factory.make_dx(identity=n, **attributes), folder / f"dx-{n}.dcm")
        for n in identities
    ]


def scu(calling: str = PEER_AE) -> AE:
    """pynetdicom as a peer: Verification and DX storage, Explicit VR Little Endian."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(Verification)
    ae.add_requested_context(DigitalXRayImageStorageForPresentation)
    return ae


def wait_for(condition: Callable[[], object], *, timeout: float = 30, what=None) -> object:
    """Poll ``condition`` until it is truthy (the listener works in its own threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = what() if callable(what) else what
            raise AssertionError(f"gave up waiting for {shown or condition}")
        time.sleep(0.05)


def stored_files(root: Path) -> Iterator[Path]:
    return (path for path in Path(root).rglob("*") if path.is_file())
