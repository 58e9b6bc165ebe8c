"""STOW-RS: multipart uploads ingested part by part through the one ingest service."""

import io

import numpy as np
import pytest
from django.test import Client

from labeling.models import Instance
from teams import services
from tests.dicom_factory import flip_bytes, truncations
from tests.labeling.dicomweb_support import (
    dx_bytes,
    sop_of,
    token_client_fixture,  # noqa: F401
)

BOUNDARY = "test-boundary-7d1f"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
REFERENCED, FAILED, RETRIEVE_URL = "00081199", "00081198", "00081190"
SOP_INSTANCE, FAILURE_REASON = "00081155", "00081197"


def multipart(*bodies: bytes, part_type: str = "application/dicom", close: bool = True) -> bytes:
    out = b""
    for body in bodies:
        out += f"\r\n--{BOUNDARY}\r\nContent-Type: {part_type}\r\n\r\n".encode() + body
    return out + (f"\r\n--{BOUNDARY}--\r\n".encode() if close else b"")


def stow(client, body: bytes, path: str = "/dicomweb/studies", content_type=CONTENT_TYPE):
    return client.post(path, body, content_type=content_type)


def referenced(response) -> list[str]:
    items = response.json().get(REFERENCED, {}).get("Value", [])
    return [item[SOP_INSTANCE]["Value"][0] for item in items]


def failures(response) -> list[int]:
    items = response.json().get(FAILED, {}).get("Value", [])
    return [item[FAILURE_REASON]["Value"][0] for item in items]


def test_a_token_client_stores_two_instances(personas, token_client):
    one, two = dx_bytes(201), dx_bytes(202)
    response = stow(token_client(), multipart(one, two))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    assert sorted(referenced(response)) == sorted([sop_of(one), sop_of(two)])
    assert Instance.objects.filter(team=personas.team).count() == 2
    items = response.json()[REFERENCED]["Value"]
    assert all("/dicomweb/studies/" in item[RETRIEVE_URL]["Value"][0] for item in items)


def test_stored_instances_are_de_identified_for_the_team(personas, token_client):
    stow(token_client(), multipart(dx_bytes(203)))
    study = Instance.objects.get(team=personas.team).study
    assert study.patient_id.startswith("ANON-") and "Zhang" not in study.patient_name


def test_a_bad_part_fails_alone_with_a_reason(personas, token_client):
    good = dx_bytes(204)
    response = stow(token_client(), multipart(good, b"not a dicom file at all"))
    assert response.status_code == 202
    assert referenced(response) == [sop_of(good)]
    assert failures(response) == [0xC000]
    assert Instance.objects.filter(team=personas.team).count() == 1


def test_nothing_stored_is_409(personas, token_client):
    truncated = dx_bytes(205)[:900]
    response = stow(token_client(), multipart(truncated, b"garbage"))
    assert response.status_code == 409
    assert failures(response) == [0xC000, 0xC000]
    item = response.json()[FAILED]["Value"][0]
    assert item[SOP_INSTANCE]["Value"] == [sop_of(dx_bytes(205))]  # reported by its UID
    assert not Instance.objects.exists()


def test_posting_to_a_study_refuses_instances_of_another_study(personas, token_client):
    data = dx_bytes(206)
    response = stow(token_client(), multipart(data), path="/dicomweb/studies/1.2.3.4")
    assert response.status_code == 409 and failures(response) == [0xA900]
    study_uid = "1.2.826.0.1.3680043.10.999.1.206"
    accepted = stow(token_client(), multipart(data), path=f"/dicomweb/studies/{study_uid}")
    assert accepted.status_code == 200
    assert accepted.json()[RETRIEVE_URL]["Value"][0].endswith(f"/dicomweb/studies/{study_uid}")


def test_storing_again_is_idempotent(personas, token_client):
    client, data = token_client(), dx_bytes(207)
    assert stow(client, multipart(data)).status_code == 200
    again = stow(client, multipart(data))
    assert again.status_code == 200 and referenced(again) == [sop_of(data)]
    assert Instance.objects.count() == 1


def test_an_oversized_part_is_refused_for_resources(personas, token_client, settings):
    settings.DICOM_MAX_FILE_BYTES = 4000
    response = stow(token_client(), multipart(dx_bytes(208)))
    assert response.status_code == 409 and failures(response) == [0xA700]


@pytest.mark.parametrize(
    "content_type, status",
    [
        ("application/json", 415),
        (f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}', 415),
        ('multipart/related; type="application/dicom"', 400),
    ],
)
def test_wrong_request_media_types(personas, token_client, content_type, status):
    body = multipart(dx_bytes(209))
    assert stow(token_client(), body, content_type=content_type).status_code == status


def test_a_body_without_its_closing_boundary_is_400_and_stores_nothing(personas, token_client):
    response = stow(token_client(), multipart(dx_bytes(210), close=False))
    assert response.status_code == 400
    assert not Instance.objects.exists()


def test_a_body_without_parts_is_400(personas, token_client):
    response = stow(token_client(), f"--{BOUNDARY}--\r\n".encode())
    assert response.status_code == 400


def test_a_part_of_another_type_fails(personas, token_client):
    response = stow(token_client(), multipart(b"{}", part_type="application/json"))
    assert response.status_code == 409 and failures(response) == [0xC000]


def test_browser_sessions_need_the_csrf_token_tokens_do_not(personas, token_client):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.owner)
    body = multipart(dx_bytes(211))
    assert stow(browser, body).status_code == 403
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/dicomweb/studies", body, content_type=CONTENT_TYPE, HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200
    machine = token_client()
    machine.handler.enforce_csrf_checks = True
    assert stow(machine, multipart(dx_bytes(212))).status_code == 200


def test_a_viewer_may_not_store_and_anonymous_must_log_in(personas, token_client):
    response = stow(token_client(personas.teammate), multipart(dx_bytes(213)))
    assert response.status_code == 403
    assert stow(Client(), multipart(dx_bytes(213))).status_code == 401
    assert not Instance.objects.exists()


def test_a_member_of_two_teams_picks_one_by_slug(personas, token_client):
    services.add_member(personas.other_team, personas.owner, "curator")
    client = token_client()
    path = f"/dicomweb/studies?team={personas.other_team.slug}"
    assert stow(client, multipart(dx_bytes(214)), path=path).status_code == 200
    assert Instance.objects.get().team == personas.other_team
    assert (
        stow(client, multipart(dx_bytes(215)), path="/dicomweb/studies?team=nope").status_code
        == 404
    )


def test_a_chunked_upload_is_read_to_its_end(personas, token_client):
    """gunicorn de-chunks a body without Content-Length and says so with wsgi.input_terminated;
    Django alone would read nothing."""
    data = dx_bytes(216)
    body = multipart(data)
    response = token_client().generic(
        "POST",
        "/dicomweb/studies",
        b"",
        CONTENT_TYPE=CONTENT_TYPE,
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert response.status_code == 200 and referenced(response) == [sop_of(data)]


def test_broken_parts_never_make_a_server_error(personas, token_client):
    data = dx_bytes(217)
    rng = np.random.default_rng(0)
    broken = [data[:cut] for cut in truncations(data, 12)]
    broken += [flip_bytes(data, 8, rng) for _ in range(12)]
    response = stow(token_client(), multipart(*broken))
    assert response.status_code in (200, 202, 409)
    assert len(referenced(response)) + len(failures(response)) == len(broken)
