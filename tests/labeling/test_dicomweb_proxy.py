"""Proxy mode: a team's images stay in its PACS (a real Orthanc); our DICOMweb forwards to it."""

import pytest
import requests

from labeling.models import PacsConnection
from tests import dicom_factory
from tests.orthanc import orthanc_fixture  # noqa: F401

pytestmark = pytest.mark.slow
STUDY = dicom_factory.new_uid("1.81")
SERIES = dicom_factory.new_uid("2.81")
SOP = dicom_factory.new_uid("3.81")


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    """Orthanc listens on loopback, which the PACS policy refuses unless the operator lists it."""
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def proxied(orthanc, personas):
    data = dicom_factory.to_bytes(dicom_factory.make_dx(identity=81))
    requests.post(f"{orthanc.url}/instances", data=data, timeout=30).raise_for_status()
    return PacsConnection.objects.create(
        team=personas.team, name="Orthanc", url=orthanc.dicomweb_url, proxy=True
    )


def test_qido_is_answered_by_the_pacs_for_a_proxied_team(client, personas, proxied):
    client.force_login(personas.teammate)
    response = client.get("/dicomweb/studies", {"StudyInstanceUID": STUDY})
    assert response.status_code == 200 and response["X-CXR-Proxied"] == "1"
    assert [s["0020000D"]["Value"][0] for s in response.json()] == [STUDY]


def test_metadata_links_point_back_here_not_at_the_pacs(client, personas, proxied, orthanc):
    client.force_login(personas.owner)
    url = f"/dicomweb/studies/{STUDY}/series/{SERIES}/metadata"
    body = client.get(url, HTTP_ACCEPT="application/dicom+json").content.decode()
    assert orthanc.url not in body
    assert "http://testserver/dicomweb/studies/" in body


def test_frames_stream_through_from_the_pacs(client, personas, proxied):
    client.force_login(personas.owner)
    url = f"/dicomweb/studies/{STUDY}/series/{SERIES}/instances/{SOP}/frames/1"
    response = client.get(url, HTTP_ACCEPT='multipart/related; type="application/octet-stream"')
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert len(body) > 64 * 64 * 2  # the 64×64 16-bit frame, inside its multipart envelope


def test_an_outsider_cannot_reach_another_team_s_pacs(client, personas, proxied):
    client.force_login(personas.outsider)
    response = client.get("/dicomweb/studies", {"team": personas.team.slug})
    assert "X-CXR-Proxied" not in response
    assert STUDY not in response.content.decode()


def test_a_pacs_that_is_down_is_a_502_that_says_so(client, personas):
    PacsConnection.objects.create(
        team=personas.team, name="Gone", url="http://127.0.0.1:9/dicom-web", proxy=True
    )
    client.force_login(personas.owner)
    response = client.get("/dicomweb/studies")
    assert response.status_code == 502 and response.content == b"The PACS could not be reached.\n"


def test_without_proxy_mode_local_data_is_served(client, personas, orthanc):
    PacsConnection.objects.create(team=personas.team, name="Orthanc", url=orthanc.dicomweb_url)
    client.force_login(personas.owner)
    response = client.get("/dicomweb/studies")
    assert response.status_code == 200 and "X-CXR-Proxied" not in response
