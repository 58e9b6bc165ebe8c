"""Pulling from a real PACS (Orthanc with its DICOMweb plugin): connection, search, pull job."""

import pytest
import requests
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.tasks import run_job
from labeling.models import Instance, PacsConnection
from tests import dicom_factory
from tests.orthanc import orthanc_fixture  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    """Orthanc listens on loopback, which the PACS policy refuses unless the operator lists it."""
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def pacs(orthanc, personas):
    """Three studies of two patients stored in Orthanc; the team connected to it."""
    for identity, patient in ((71, "PACS-A"), (72, "PACS-A"), (73, "PACS-B")):
        data = dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity, PatientID=patient))
        requests.post(f"{orthanc.url}/instances", data=data, timeout=30).raise_for_status()
    return PacsConnection.objects.create(
        team=personas.team, name="Orthanc", url=orthanc.dicomweb_url
    )


def test_an_admin_saves_the_connection_and_the_password_is_never_shown(client, personas, orthanc):
    client.force_login(personas.owner)
    form = {"action": "connection", "name": "Ward PACS", "url": orthanc.dicomweb_url,
            "username": "cxr", "password": "s3cret-pw"}  # fmt: skip
    assert client.post(reverse("labeling:pacs"), form).status_code == 302
    saved = PacsConnection.objects.get(team=personas.team)
    assert (saved.name, saved.password) == ("Ward PACS", "s3cret-pw")
    client.post(reverse("labeling:pacs"), {**form, "password": ""})
    assert PacsConnection.objects.get(team=personas.team).password == "s3cret-pw"
    assert "s3cret-pw" not in client.get(reverse("labeling:pacs")).content.decode()


def test_a_viewer_cannot_change_the_connection(client, personas, pacs):
    client.force_login(personas.teammate)
    form = {"action": "connection", "name": "Evil", "url": "http://127.0.0.1:9/"}
    assert client.post(reverse("labeling:pacs"), form).status_code == 403
    assert PacsConnection.objects.get(team=personas.team).name == "Orthanc"


def test_search_lists_the_pacs_studies_by_patient(client, personas, pacs):
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "PACS-A"}).content.decode()
    assert page.count('name="study"') == 2
    assert dicom_factory.new_uid("1.71") in page and dicom_factory.new_uid("1.73") not in page


def test_an_unreachable_pacs_is_a_clear_message_not_a_500(client, personas):
    PacsConnection.objects.create(
        team=personas.team, name="Gone", url="http://127.0.0.1:9/dicom-web"
    )
    client.force_login(personas.owner)
    response = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert (
        response.status_code == 200
        and "The PACS could not be reached." in response.content.decode()
    )


def test_pulling_runs_as_a_job_that_ingests_deidentified_instances(client, personas, pacs):
    client.force_login(personas.owner)
    studies = [dicom_factory.new_uid("1.71"), dicom_factory.new_uid("1.72")]
    response = client.post(reverse("labeling:pacs"), {"action": "pull", "study": studies})
    job = Job.objects.get(kind="pacs_pull")
    assert response["Location"] == reverse("training:job-detail", args=[job.pk])
    assert job.queue == "default" and job.config == {"studies": studies}
    run_job(job.pk)  # what the worker does with the message
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.metrics["imported"] == 2 and job.progress["step"] == 2
    instances = Instance.objects.of_team(personas.team).select_related("study")
    assert {i.study.study_uid for i in instances} == set(studies)
    assert {i.study.patient_id for i in instances} != {"PACS-A"}  # pseudonymised on the way in
    run_job(job.pk)  # a duplicate delivery does nothing
    assert Instance.objects.count() == 2
