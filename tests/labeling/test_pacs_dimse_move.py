"""Pulling over DIMSE with C-MOVE: Orthanc (the PACS) sends the study to our storage listener,
which imports it; the job follows the PACS's progress.

The listener runs in this process (its own threads and database connections), so these tests
use a transactional database.
"""

import socket

import pytest
import requests

from jobs.models import Job, JobStatus
from jobs.tasks import run_job
from labeling.dimse.listener import Listener
from labeling.models import DicomListener, DicomPeer, Instance, PacsConnection
from tests import dicom_factory
from tests.orthanc import start_orthanc

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
OUR_AET = "CXRLAB"
LISTENER_AET = "CXR_MOVE"
PACS_AET = "MOVEPACS"


@pytest.fixture(scope="module")
def move_pacs(tmp_path_factory):
    """An Orthanc that serves C-MOVE to our calling AE title, holding two studies."""
    server = start_orthanc(
        tmp_path_factory.mktemp("orthanc-move"),
        name=PACS_AET,
        dicom_modalities={"cxr-scu": [OUR_AET, "127.0.0.1", 1]},
    )
    try:
        for identity in (91, 92):
            ds = dicom_factory.make_dx(identity=identity, PatientID="MOVE-A")
            data = dicom_factory.to_bytes(ds)
            requests.post(f"{server.url}/instances", data=data, timeout=30).raise_for_status()
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def listener(personas, move_pacs):
    """The team's listener on a free port; the PACS is its peer, and knows it as a destination
    (what a PACS administrator configures: our AE title, host and port)."""
    port = free_port()
    DicomListener.objects.create(team=personas.team, ae_title=LISTENER_AET, port=port)
    DicomPeer.objects.create(team=personas.team, ae_title=PACS_AET, host="127.0.0.1")
    destination = {"AET": LISTENER_AET, "Host": "127.0.0.1", "Port": port}
    requests.put(f"{move_pacs.url}/modalities/cxr-listener", json=destination, timeout=10)
    running = Listener(host="127.0.0.1", create_missing=False)
    try:
        assert all(state.listening for state in running.refresh())
        yield running
    finally:
        running.close()


def connection_for(team, server) -> PacsConnection:
    return PacsConnection.objects.create(
        team=team, name="Orthanc C-MOVE", protocol="dimse", host="127.0.0.1",
        port=server.dicom_port, called_aet=PACS_AET, calling_aet=OUR_AET, retrieve="move",
    )  # fmt: skip


def pull(team, studies: list[str]) -> Job:
    job = Job.objects.create(team=team, kind="pacs_pull", config={"studies": studies})
    run_job(job.pk)
    job.refresh_from_db()
    return job


def test_c_move_sends_the_study_to_our_listener_which_imports_it_once(personas, move_pacs,
                                                                      listener):  # fmt: skip
    connection_for(personas.team, move_pacs)
    studies = [dicom_factory.new_uid("1.91"), dicom_factory.new_uid("1.92")]
    job = pull(personas.team, studies)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.metrics == {"moved": 2, "failed": 0, "warning": 0, "instances_here": 2}
    assert (job.progress["step"], job.progress["total_steps"]) == (2, 2)
    instances = Instance.objects.of_team(personas.team).select_related("study")
    assert {i.study.study_uid for i in instances} == set(studies)
    assert {i.study.patient_id for i in instances} != {"MOVE-A"}  # de-identified like uploads
    again = pull(personas.team, studies)  # moved again: the listener keeps one row per UID
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert Instance.objects.count() == 2 and again.metrics["instances_here"] == 2
    listener_row = DicomListener.objects.get(team=personas.team)
    assert (listener_row.stored, listener_row.duplicates) == (2, 2)


def test_c_move_without_a_listener_fails_with_a_clear_message(personas, move_pacs):
    connection_for(personas.team, move_pacs)
    job = pull(personas.team, [dicom_factory.new_uid("1.91")])
    assert job.status == JobStatus.FAILED
    assert "no enabled DICOM listener to receive a C-MOVE" in job.error
    assert not Instance.objects.exists()


def test_c_move_to_a_destination_the_pacs_does_not_know_is_a_clear_error(personas, move_pacs):
    DicomListener.objects.create(team=personas.team, ae_title="UNKNOWN_DEST", port=free_port())
    connection_for(personas.team, move_pacs)
    job = pull(personas.team, [dicom_factory.new_uid("1.91")])
    assert job.status == JobStatus.FAILED
    assert (
        "The PACS refused the retrieval (C-MOVE): does it know our listener's AE title "
        "(UNKNOWN_DEST) as a move destination?"
    ) in job.error
