"""Another team's studies do not exist on DICOMweb: 404 on every route, absent from every search.

This is the DICOMweb half of tests/lab/test_access.py (which leaves the ``dicomweb`` namespace
to this module): every named route is listed here, so a new route cannot ship unchecked.
"""

import io

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from labeling.services import ingest_file
from teams import services
from tests.labeling.dicomweb_support import token_client_fixture, world_fixture  # noqa: F401


def _study(w):
    return {"study": w.study}


def _series(w):
    return {"study": w.study, "series": w.series}


def _instance(w):
    return {"study": w.study, "series": w.series, "sop": w.sop}


def _frame(w):
    return {**_instance(w), "frames": "1"}


# Every dicomweb route that names an object, with its arguments and an Accept it can meet.
DICOMWEB_ROUTES = {
    "dicomweb:study": (_study, "multipart/related; type=application/dicom"),
    "dicomweb:study-metadata": (_study, "application/dicom+json"),
    "dicomweb:study-rendered": (_study, 'multipart/related; type="image/jpeg"'),
    "dicomweb:study-thumbnail": (_study, "image/jpeg"),
    "dicomweb:study-series": (_study, "application/dicom+json"),
    "dicomweb:study-instances": (_study, "application/dicom+json"),
    "dicomweb:series": (_series, "multipart/related; type=application/dicom"),
    "dicomweb:series-metadata": (_series, "application/dicom+json"),
    "dicomweb:series-rendered": (_series, 'multipart/related; type="image/png"'),
    "dicomweb:series-thumbnail": (_series, "image/png"),
    "dicomweb:series-instances": (_series, "application/dicom+json"),
    "dicomweb:instance": (_instance, "multipart/related; type=application/dicom"),
    "dicomweb:instance-metadata": (_instance, "application/dicom+json"),
    "dicomweb:instance-rendered": (_instance, "image/jpeg"),
    "dicomweb:instance-thumbnail": (_instance, "image/jpeg"),
    "dicomweb:frames": (_frame, "multipart/related; type=application/octet-stream"),
    "dicomweb:frame-rendered": (_frame, "image/png"),
    "dicomweb:frame-thumbnail": (_frame, "image/png"),
}


def _dicomweb_routes(resolver: URLResolver, prefix: str = "") -> set[str]:
    names = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names |= _dicomweb_routes(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name and entry.pattern.regex.groups:
            names.add(prefix + entry.name)
    return {name for name in names if name.startswith("dicomweb:")}


def test_every_dicomweb_object_route_is_listed_here():
    assert _dicomweb_routes(get_resolver()) == set(DICOMWEB_ROUTES)


def _get(client, world, route):
    arguments, accept = DICOMWEB_ROUTES[route]
    return client.get(reverse(route, kwargs=arguments(world)), HTTP_ACCEPT=accept)


@pytest.mark.parametrize("by", ["session", "token"])
def test_outsider_gets_404_from_every_dicomweb_route(world, client, token_client, by):
    if by == "session":
        client.force_login(world.personas.outsider)
    else:
        client = token_client(world.personas.outsider)
    for route in DICOMWEB_ROUTES:
        assert _get(client, world, route).status_code == 404, route


def test_owner_and_teammate_reach_every_dicomweb_route(world, client):
    for user in (world.personas.owner, world.personas.teammate):
        client.force_login(user)
        for route in DICOMWEB_ROUTES:
            assert _get(client, world, route).status_code == 200, (user, route)


def test_outsider_gets_404_for_wado_uri(world, token_client):
    query = {
        "requestType": "WADO",
        "studyUID": world.study,
        "seriesUID": world.series,
        "objectUID": world.sop,
    }
    outsider, owner = token_client(world.personas.outsider), token_client()
    for content_type in ("image/jpeg", "application/dicom"):
        assert outsider.get("/wado", {**query, "contentType": content_type}).status_code == 404
        assert owner.get("/wado", {**query, "contentType": content_type}).status_code == 200


def _uids(rows: list[dict]) -> set[str]:
    return {
        v
        for row in rows
        for item in row.values()
        for v in item.get("Value", [])
        if isinstance(v, str)
    }


def test_outsider_never_sees_the_team_in_search_results(world, token_client):
    outsider = token_client(world.personas.outsider)
    mine = {
        world.study,
        world.series,
        world.lateral_series,
        world.sop,
        world.rle_sop,
        world.j2k_sop,
    }
    for path in ("studies", "series", "instances"):
        rows = outsider.get(f"/dicomweb/{path}", {"includefield": "all"}).json()
        assert rows and not (_uids(rows) & mine), path
        assert world.other_study in _uids(rows)
    targeted = outsider.get("/dicomweb/instances", {"StudyInstanceUID": world.study})
    assert targeted.json() == []
    owner_rows = token_client().get("/dicomweb/studies").json()
    assert world.other_study not in _uids(owner_rows)


def test_a_member_of_both_teams_gets_one_copy_of_a_shared_uid(world, token_client):
    """Two teams may hold the same SOP Instance: a member of both gets the active team's."""
    services.add_member(world.personas.other_team, world.personas.owner, "viewer")
    copy = ingest_file(world.personas.other_team, io.BytesIO(world.files["pa"]), name="copy")
    assert copy.status == "imported"
    response = token_client().get(
        reverse("dicomweb:series", kwargs=_series(world)),
        HTTP_ACCEPT="multipart/related; type=application/dicom",
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.count(b"Content-Type: application/dicom") == 2  # the series once, not 3 parts


def test_anonymous_gets_401_everywhere(world, client):
    for route in DICOMWEB_ROUTES:
        response = _get(client, world, route)
        assert response.status_code == 401 and "WWW-Authenticate" in response, route
    assert client.get("/wado", {"requestType": "WADO"}).status_code == 401
    assert (
        client.post("/dicomweb/studies", b"", content_type="multipart/related").status_code == 401
    )
