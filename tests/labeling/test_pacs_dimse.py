"""Pulling from a real PACS over DIMSE: Orthanc's DICOM port on loopback, as the PACS.

The connection form (DIMSE fields, policy, AE titles), "test connection" (C-ECHO), C-FIND
search, a C-GET pull job (imported, de-identified, idempotent), refusals and team isolation.
"""

import html

import pytest
import requests
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.tasks import run_job
from labeling.models import DicomListener, Instance, PacsConnection
from tests import dicom_factory
from tests.labeling.pacs_support import dns_fixture, no_connections_fixture  # noqa: F401
from tests.orthanc import free_port, start_orthanc

pytestmark = pytest.mark.slow
OUR_AET = "CXRLAB"
PACS_AET = "DIMSEPACS"


@pytest.fixture(scope="module")
def dimse_pacs(tmp_path_factory):
    """An Orthanc that serves C-FIND / C-GET to our calling AE title, holding three studies of
    two patients (UIDs of their own: the session's DICOMweb Orthanc is another server)."""
    server = start_orthanc(
        tmp_path_factory.mktemp("orthanc-dimse"),
        name=PACS_AET,
        dicom_modalities={"cxr": [OUR_AET, "127.0.0.1", 1]},
    )
    try:
        for identity, patient, date in ((81, "DIMSE-A", "20240105"), (82, "DIMSE-A", "20240610"),
                                        (83, "DIMSE-B", "20240611")):  # fmt: skip
            ds = dicom_factory.make_dx(identity=identity, PatientID=patient, StudyDate=date)
            data = dicom_factory.to_bytes(ds)
            requests.post(f"{server.url}/instances", data=data, timeout=30).raise_for_status()
        imageless = dicom_factory.make_dx(identity=84, PatientID="DIMSE-C", StudyDate="20230101")
        del imageless.PixelData  # the PACS keeps it; our import rejects it
        data = dicom_factory.to_bytes(imageless)
        requests.post(f"{server.url}/instances", data=data, timeout=30).raise_for_status()
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    """Orthanc listens on loopback, which the PACS policy refuses unless the operator lists it."""
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]


def dimse_form(server, **changes) -> dict:
    form = {"action": "connection", "name": "Ward PACS", "protocol": "dimse", "host": "127.0.0.1",
            "port": server.dicom_port, "called_aet": PACS_AET, "calling_aet": OUR_AET,
            "retrieve": "get"}  # fmt: skip
    return {**form, **changes}


@pytest.fixture
def connection(personas, dimse_pacs):
    return PacsConnection.objects.create(
        team=personas.team, name="Orthanc DIMSE", protocol="dimse", host="127.0.0.1",
        port=dimse_pacs.dicom_port, called_aet=PACS_AET, calling_aet=OUR_AET, retrieve="get",
    )  # fmt: skip


def test_an_admin_saves_a_dimse_connection(client, personas, dimse_pacs):
    client.force_login(personas.owner)
    response = client.post(reverse("labeling:pacs"), dimse_form(dimse_pacs))
    assert response.status_code == 302
    saved = PacsConnection.objects.get(team=personas.team)
    assert (saved.protocol, saved.host, saved.port) == ("dimse", "127.0.0.1", dimse_pacs.dicom_port)
    assert (saved.called_aet, saved.calling_aet, saved.retrieve) == (PACS_AET, OUR_AET, "get")
    page = client.get(reverse("labeling:pacs")).content.decode()
    assert f"{PACS_AET}@127.0.0.1:{dimse_pacs.dicom_port}" in page and "over DIMSE" in page


def test_the_page_names_our_listener_as_the_move_destination_in_either_language(
    client, personas, connection
):
    connection.retrieve = "move"
    connection.save()
    DicomListener.objects.create(team=personas.team, ae_title="CXR_WARD", port=11180)
    client.force_login(personas.owner)
    page = html.unescape(client.get(reverse("labeling:pacs")).content.decode())
    assert "This team's listener: AE title CXR_WARD, port 11180." in page
    chinese = client.get(reverse("labeling:pacs"), headers={"accept-language": "zh-hans"})
    page = chinese.content.decode()
    assert "本团队的接收服务：AE 标题 CXR_WARD，端口 11180。" in page and "测试连接" in page


def test_test_connection_echoes_the_typed_values_and_saves_nothing(client, personas, dimse_pacs):
    client.force_login(personas.owner)
    response = client.post(reverse("labeling:pacs"), dimse_form(dimse_pacs, action="test"))
    assert response.status_code == 200
    assert "The connection works: the PACS answered a C-ECHO." in response.content.decode()
    assert not PacsConnection.objects.exists()


def test_test_connection_of_the_saved_connection(client, personas, connection):
    client.force_login(personas.teammate)  # a viewer may test; only admins may change it
    response = client.post(reverse("labeling:pacs-test", args=[connection.pk]), follow=True)
    assert "The connection works: the PACS answered a C-ECHO." in response.content.decode()


def test_test_connection_says_in_one_sentence_that_nothing_answers(client, personas, dimse_pacs):
    client.force_login(personas.owner)
    closed = dimse_form(dimse_pacs, action="test", port=free_port())
    page = client.post(reverse("labeling:pacs"), closed).content.decode()
    assert "The connection does not work: The PACS could not be reached." in page


def test_test_connection_over_dicomweb_makes_a_qido_request(client, personas, dimse_pacs):
    client.force_login(personas.owner)
    form = {"action": "test", "name": "Web", "protocol": "dicomweb",
            "url": dimse_pacs.dicomweb_url, "retrieve": "move"}  # fmt: skip
    page = client.post(reverse("labeling:pacs"), form).content.decode()
    assert "The connection works: the PACS answered a study search (QIDO-RS)." in page


def test_search_finds_studies_by_patient_with_c_find(client, personas, connection):
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "DIMSE-A"}).content.decode()
    assert page.count('name="study"') == 2
    assert dicom_factory.new_uid("1.81") in page and dicom_factory.new_uid("1.83") not in page


def test_search_by_date_range_and_modality(client, personas, connection):
    client.force_login(personas.owner)
    query = {"date_from": "2024-06-01", "date_to": "2024-06-30", "modality": "DX"}
    page = client.get(reverse("labeling:pacs"), query).content.decode()
    assert page.count('name="study"') == 2 and dicom_factory.new_uid("1.81") not in page
    query = {"date_from": "2024-06-01", "modality": "CT"}
    page = client.get(reverse("labeling:pacs"), query).content.decode()
    assert "The PACS has no study matching this search." in page


def test_search_stops_at_the_limit(client, personas, connection, monkeypatch):
    monkeypatch.setattr("labeling.dimse_scu.SEARCH_LIMIT", 2)
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"modality": "DX"}).content.decode()
    assert page.count('name="study"') == 2


def test_a_pacs_that_does_not_know_us_refuses_the_search_clearly(client, personas, connection):
    connection.calling_aet = "STRANGER"
    connection.save()
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "DIMSE-A"}).content.decode()
    assert 'name="study"' not in page
    assert (
        "The PACS broke off the association without an answer: does it know our calling AE "
        "title (STRANGER) and address?"
    ) in html.unescape(page)


def test_c_get_pull_imports_the_studies_once(client, personas, connection):
    client.force_login(personas.owner)
    studies = [dicom_factory.new_uid("1.81"), dicom_factory.new_uid("1.82")]
    response = client.post(reverse("labeling:pacs"), {"action": "pull", "study": studies})
    job = Job.objects.get(kind="pacs_pull")
    assert response["Location"] == reverse("training:job-detail", args=[job.pk])
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.metrics["imported"] == 2 and job.metrics["failed"] == 0
    assert (job.progress["step"], job.progress["total_steps"], job.progress["instances"]) == (
        2,
        2,
        2,
    )
    instances = Instance.objects.of_team(personas.team).select_related("study")
    assert {i.study.study_uid for i in instances} == set(studies)
    assert {i.study.patient_id for i in instances} != {"DIMSE-A"}  # pseudonymised on the way in
    assert all(i.study.team_id == personas.team.pk for i in instances)
    again = Job.objects.create(team=personas.team, kind="pacs_pull", config={"studies": studies})
    run_job(again.pk)  # a second pull of the same studies imports nothing twice
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert again.metrics["duplicate"] == 2 and again.metrics["imported"] == 0
    assert Instance.objects.count() == 2


@pytest.mark.parametrize(
    "host, message",
    [
        ("127.0.0.1", "This address is on a private, loopback or other internal network."),
        ("10.1.2.3", "This address is on a private, loopback or other internal network."),
        ("pacs.invalid", "The host name of this address could not be resolved."),
    ],
)
def test_a_host_the_policy_refuses_is_a_form_error_and_nothing_connects(
    client, personas, dimse_pacs, settings, dns, no_connections, host, message
):
    settings.CXR_PACS_ALLOWED_HOSTS = []
    client.force_login(personas.owner)
    for action in ("connection", "test"):
        form = dimse_form(dimse_pacs, action=action, host=host)
        response = client.post(reverse("labeling:pacs"), form)
        errors = response.context["connection_form"].errors["host"]
        assert response.status_code == 200 and errors[0].startswith(message)
        assert message in html.unescape(response.content.decode())
    assert not PacsConnection.objects.exists() and no_connections == []


def test_c_get_pull_reports_a_rejected_instance_with_its_reason(personas, connection, settings):
    job = Job.objects.create(
        team=personas.team, kind="pacs_pull", config={"studies": [dicom_factory.new_uid("1.84")]}
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.metrics["imported"], job.metrics["rejected"]) == (0, 1)
    assert job.metrics["rejected_files"][0]["code"] == "no_pixel_data"
    assert not Instance.objects.exists()
    assert not [p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file()]


def test_c_get_refuses_an_instance_over_the_size_limit(personas, connection, settings):
    settings.DICOM_MAX_FILE_BYTES = 1000
    job = Job.objects.create(
        team=personas.team, kind="pacs_pull", config={"studies": [dicom_factory.new_uid("1.81")]}
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.metrics["rejected_files"][0]["code"] == "too_large"
    assert job.metrics["failed"] == 1  # the PACS was told: out of resources
    assert not Instance.objects.exists()


def test_a_stored_host_no_longer_allowed_stops_the_job_with_a_clear_error(personas, connection,
                                                                           settings):  # fmt: skip
    settings.CXR_PACS_ALLOWED_HOSTS = []
    job = Job.objects.create(
        team=personas.team, kind="pacs_pull", config={"studies": [dicom_factory.new_uid("1.81")]}
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "The PACS address is not allowed" in job.error
    assert not Instance.objects.exists()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"host": ""}, "host"),
        ({"port": "70000"}, "port"),
        ({"port": ""}, "port"),
        ({"called_aet": ""}, "called_aet"),
        ({"called_aet": "BACK\\SLASH"}, "called_aet"),
        ({"calling_aet": "X" * 17}, "calling_aet"),
        ({"proxy": "on"}, "proxy"),
        ({"protocol": "telnet"}, "protocol"),
    ],
)
def test_bad_dimse_input_is_a_form_error_and_changes_nothing(client, personas, dimse_pacs,
                                                             changes, field):  # fmt: skip
    PacsConnection.objects.create(team=personas.team, name="Before", url="https://pacs.example/")
    client.force_login(personas.owner)
    response = client.post(reverse("labeling:pacs"), dimse_form(dimse_pacs, **changes))
    assert response.status_code == 200
    assert field in response.context["connection_form"].errors
    kept = PacsConnection.objects.get(team=personas.team)
    assert (kept.name, kept.protocol, kept.url) == ("Before", "dicomweb", "https://pacs.example/")


def test_a_viewer_cannot_change_or_test_typed_values(client, personas, connection, dimse_pacs):
    client.force_login(personas.teammate)
    for action in ("connection", "test"):
        form = dimse_form(dimse_pacs, action=action, name="Evil")
        assert client.post(reverse("labeling:pacs"), form).status_code == 403
    assert PacsConnection.objects.get(team=personas.team).name == "Orthanc DIMSE"


def test_an_outsider_gets_404_for_another_teams_connection(client, personas, connection):
    client.force_login(personas.outsider)
    response = client.post(reverse("labeling:pacs-test", args=[connection.pk]))
    assert response.status_code == 404
    page = client.get(reverse("labeling:pacs"), {"patient": "DIMSE-A"}).content.decode()
    assert "Orthanc DIMSE" not in page and 'name="study"' not in page
