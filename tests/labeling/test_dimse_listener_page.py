"""The listener page: everyone in the team reads the listener's state and event log, team admins
change its AE title, port and peers, and another team's rows are never reachable."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import DicomAssociation, DicomListener, DicomPeer, DicomRejection

URL = reverse("labeling:dicom-listener")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def state(personas):
    team = personas.team
    listener = DicomListener.objects.create(
        team=team, ae_title="CXR_A", port=11190, stored=5, rejected=1, refused=2, associations=3
    )
    DicomListener.objects.filter(pk=listener.pk).update(heartbeat_at=timezone.now(), listening=True)
    DicomPeer.objects.create(team=team, ae_title="MODALITY", host="10.0.0.5")
    assoc = DicomAssociation.objects.create(
        team=team, calling_ae="STRANGER", called_ae="CXR_A", address="10.9.9.9",
        outcome="refused", reason="calling AE title 'STRANGER' is not a peer of this team",
    )  # fmt: skip
    DicomRejection.objects.create(
        team=team, association=assoc, sop_uid="1.2.3", code="no_pixel_data",
        reason="no Pixel Data element",
    )  # fmt: skip
    other = DicomListener.objects.create(team=personas.other_team, ae_title="CXR_B", port=11191)
    DicomPeer.objects.create(team=personas.other_team, ae_title="SECRET", host="10.1.1.1")
    return listener, other


def test_a_teammate_reads_state_counts_associations_and_rejections(personas, state):
    page = client_for(personas.teammate).get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert "CXR_A" in text and "11190" in text
    assert "running" in text and "not running" not in text
    assert "3 accepted, 2 refused" in text and "5 stored" in text
    assert "is not a peer of this team" in text and "no_pixel_data" in text
    assert "MODALITY" in text and "10.0.0.5" in text
    assert "SECRET" not in text and "CXR_B" not in text
    assert 'id="listener-settings"' not in text  # not an admin


def test_a_listener_without_a_recent_heartbeat_is_shown_as_not_running(personas, state):
    stale = timezone.now() - timedelta(minutes=5)
    DicomListener.objects.filter(team=personas.team).update(heartbeat_at=stale)
    text = client_for(personas.owner).get(URL).content.decode()
    assert "not running" in text


def test_an_admin_changes_ae_title_and_port(personas, state):
    response = client_for(personas.owner).post(
        URL, {"action": "listener", "ae_title": " NEW_AE ", "port": 11192, "enabled": "on"}
    )
    assert response.status_code == 302
    row = DicomListener.objects.get(team=personas.team)
    assert (row.ae_title, row.port, row.enabled) == ("NEW_AE", 11192, True)


@pytest.mark.parametrize(
    "data, error",
    [
        ({"ae_title": "A\\B", "port": 11192}, "without backslash"),
        ({"ae_title": "X" * 17, "port": 11192}, "at most 16"),
        ({"ae_title": "OK", "port": 80}, "from 1024 to 65535"),
        ({"ae_title": "OK", "port": 11191}, "Another team&#x27;s listener uses this port"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(personas, state, data, error):
    response = client_for(personas.owner).post(URL, {"action": "listener", **data})
    assert response.status_code == 200 and error in response.content.decode()
    row = DicomListener.objects.get(team=personas.team)
    assert (row.ae_title, row.port) == ("CXR_A", 11190)


def test_an_admin_adds_and_removes_peers(personas, state, settings):
    settings.CXR_PACS_ALLOWED_HOSTS = ["10.0.0.0/8"]
    owner = client_for(personas.owner)
    response = owner.post(URL, {"action": "add-peer", "ae_title": "PACS1", "host": "10.2.3.4"})
    assert response.status_code == 302
    peer = DicomPeer.objects.get(team=personas.team, ae_title="PACS1")
    assert owner.post(URL, {"action": "remove-peer", "peer": peer.pk}).status_code == 302
    assert not DicomPeer.objects.filter(pk=peer.pk).exists()


def test_a_peer_address_the_policy_refuses_is_not_saved(personas, state, settings):
    settings.CXR_PACS_ALLOWED_HOSTS = []
    response = client_for(personas.owner).post(
        URL, {"action": "add-peer", "ae_title": "PACS1", "host": "127.0.0.1"}
    )
    assert response.status_code == 200
    assert "operator must allow it first" in response.content.decode()
    assert not DicomPeer.objects.filter(ae_title="PACS1").exists()


def test_a_teammate_may_not_change_anything(personas, state):
    teammate = client_for(personas.teammate)
    response = teammate.post(URL, {"action": "listener", "ae_title": "MINE", "port": 11199})
    assert response.status_code == 403
    peer = DicomPeer.objects.get(team=personas.team)
    assert teammate.post(URL, {"action": "remove-peer", "peer": peer.pk}).status_code == 403
    assert DicomListener.objects.get(team=personas.team).ae_title == "CXR_A"


def test_another_team_s_peer_is_a_404_for_an_admin(personas, state):
    foreign = DicomPeer.objects.get(team=personas.other_team)
    response = client_for(personas.owner).post(URL, {"action": "remove-peer", "peer": foreign.pk})
    assert response.status_code == 404
    assert DicomPeer.objects.filter(pk=foreign.pk).exists()


def test_a_team_the_listener_never_served_shows_its_default_settings(personas):
    text = client_for(personas.owner).get(URL).content.decode()
    assert "CXR_RADIOLOGY-A" in text and "not running" in text
    assert not DicomListener.objects.exists()  # a page view creates nothing
