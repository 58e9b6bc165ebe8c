"""QIDO-RS: standard matching keys, paging, includefield and the DICOM JSON model."""

import pytest

from labeling.dicomweb import search as dicomweb_search
from tests.factories import make_instance, make_study
from tests.labeling.dicomweb_support import (  # noqa: F401
    anonymous_client_fixture,
    token_client_fixture,
    world_fixture,
)

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"


def values(rows: list[dict], tag: str) -> list:
    return [row[tag]["Value"][0] for row in rows if "Value" in row.get(tag, {})]


def qido(client, path: str, **params):
    response = client.get(f"/dicomweb/{path}", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    return response.json()


def test_study_search_returns_the_standard_attributes_with_their_vrs(world, token_client):
    (row,) = qido(token_client(), "studies")
    assert row[STUDY_UID] == {"vr": "UI", "Value": [world.study]}
    assert row["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Zhang^San"}]}
    assert row["00080020"] == {"vr": "DA", "Value": ["20190315"]}
    assert row["00080030"]["vr"] == "TM" and row["00080030"]["Value"][0].startswith("101530")
    assert row["00080061"] == {"vr": "CS", "Value": ["CR", "DX"]}
    assert row["00201206"] == {"vr": "IS", "Value": [2]}
    assert row["00201208"] == {"vr": "IS", "Value": [3]}
    assert row["00080090"] == {"vr": "PN"}  # a default attribute we do not keep: empty
    assert row["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{world.study}")
    assert list(row) == sorted(row)


MATCHING_CASES = [
    ({"PatientID": "PID-70"}, True),
    ({"00100020": "PID-70"}, True),
    ({"PatientID": "PID-7"}, False),
    ({"PatientName": "zhang*"}, True),
    ({"PatientName": "Zh?ng^San"}, True),
    ({"PatientName": "Wang*"}, False),
    ({"StudyDate": "20190315"}, True),
    ({"StudyDate": "20190101-20190331"}, True),
    ({"StudyDate": "-20190314"}, False),
    ({"StudyDate": "20190316-"}, False),
    ({"StudyTime": "1000-1100"}, True),
    ({"StudyTime": "1015"}, True),
    ({"AccessionNumber": "ACC00070"}, True),
    ({"ModalitiesInStudy": "CR"}, True),
    ({"ModalitiesInStudy": "MR,CT"}, False),
    ({"StudyInstanceUID": "1.2.3,{study}"}, True),
    ({"StudyInstanceUID": "1.2.3\\4.5"}, False),
    ({"PatientID": "*", "fuzzymatching": "false"}, True),
]


def test_study_matching_keys_wildcards_ranges_and_lists(world, token_client):
    client = token_client()
    for params, matches in MATCHING_CASES:
        params = {k: v.format(study=world.study) for k, v in params.items()}
        rows = qido(client, "studies", **params)
        assert values(rows, STUDY_UID) == ([world.study] if matches else []), params


def test_series_and_instances_search_inside_a_study(world, token_client):
    client = token_client()
    series = qido(client, f"studies/{world.study}/series")
    assert values(series, SERIES_UID) == [world.series, world.lateral_series]
    assert values(series, "00201209") == [2, 1]
    assert values(qido(client, f"studies/{world.study}/series", Modality="CR"), "0008103E") == [
        "LAT"
    ]
    instances = qido(client, f"studies/{world.study}/series/{world.series}/instances")
    assert values(instances, SOP_UID) == [world.sop, world.rle_sop]
    assert values(instances, "00280010") == [64, 64]
    assert values(instances, "00280100") == [16, 16]
    assert values(instances, "00280008") == [1, 1]
    in_study = qido(client, f"studies/{world.study}/instances", SOPInstanceUID=world.j2k_sop)
    assert values(in_study, SERIES_UID) == [world.lateral_series]


def test_top_level_series_and_instances_carry_their_study(world, token_client):
    client = token_client()
    series = qido(client, "series", PatientID="PID-70", Modality="DX")
    assert values(series, SERIES_UID) == [world.series]
    assert values(series, STUDY_UID) == [world.study]
    assert series[0]["00100010"]["Value"] == [{"Alphabetic": "Zhang^San"}]
    instances = qido(client, "instances", SeriesInstanceUID=world.lateral_series)
    assert values(instances, SOP_UID) == [world.j2k_sop]
    assert values(instances, "00080060") == ["CR"]


def test_limit_and_offset_page_through_results(world, token_client):
    client = token_client()
    pages = [qido(client, "instances", limit="1", offset=str(n)) for n in range(4)]
    assert [len(p) for p in pages] == [1, 1, 1, 0]
    assert len({values(p, SOP_UID)[0] for p in pages[:3]}) == 3


def test_a_truncated_page_says_there_is_more(world, token_client, settings, monkeypatch):
    monkeypatch.setattr(dicomweb_search, "MAX_RESULTS", 2)
    response = token_client().get("/dicomweb/instances")
    assert len(response.json()) == 2
    assert "additional results" in response["Warning"]


def test_includefield_adds_attributes_and_all_adds_every_one(world, token_client):
    client = token_client()
    (row,) = qido(client, "studies", includefield="00081030,PatientAge")
    assert row["00081030"] == {"vr": "LO", "Value": ["CHEST PA"]}
    assert row["00101010"] == {"vr": "AS", "Value": ["064Y"]}
    (row,) = qido(
        client,
        f"studies/{world.study}/series/{world.series}/instances",
        limit="1",
        includefield="all",
    )
    assert row["00280004"]["Value"] == ["MONOCHROME2"]
    assert row["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]
    (row,) = qido(client, "studies", includefield="ScheduledStationAETitle")
    assert row["00400001"] == {"vr": "AE"}


def test_fuzzymatching_and_unsupported_keys_are_ignored_with_a_warning(world, token_client):
    response = token_client().get(
        "/dicomweb/studies", {"fuzzymatching": "true", "StationName": "DR-ROOM-2"}
    )
    assert response.status_code == 200 and len(response.json()) == 1
    assert "fuzzymatching" in response["Warning"] and "StationName" in response["Warning"]


def test_no_match_is_200_with_an_empty_array(world, token_client):
    response = token_client().get("/dicomweb/studies", {"PatientID": "nobody"})
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"NotAnAttribute": "x"},
        {"FFFF0001": "x"},
        {"StudyDate": "2019-03-15"},
        {"StudyDate": "20190331-20190301"},
        {"StudyInstanceUID": "1.2.abc"},
        {"limit": "-1"},
        {"offset": "many"},
        {"fuzzymatching": "maybe"},
        {"includefield": "NoSuchKeyword"},
        {"StudyTime": "25"},
        {"AccessionNumber": "A" * 300},
        {"ReferencedStudySequence.PatientID": "x"},
    ],
)
def test_bad_query_keys_and_values_are_400(world, token_client, params):
    response = token_client().get("/dicomweb/studies", params)
    assert response.status_code == 400, params
    assert response.content.strip()


def test_a_key_given_twice_or_a_bad_number_is_400(world, token_client):
    client = token_client()
    assert client.get("/dicomweb/studies?PatientID=a&00100020=b").status_code == 400
    assert client.get("/dicomweb/series?SeriesNumber=one").status_code == 400


def test_unknown_study_in_the_path_is_404(world, token_client):
    assert token_client().get("/dicomweb/studies/1.2.3/series").status_code == 404


def test_anonymous_gets_401_with_a_challenge(world, anonymous_client):
    response = anonymous_client.get("/dicomweb/studies")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    bad = anonymous_client.get("/dicomweb/studies", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert bad.status_code == 401


def test_a_logged_in_browser_searches_with_its_session(world, client):
    client.force_login(world.personas.teammate)
    response = client.get("/dicomweb/studies", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def test_search_queries_stay_constant_with_page_size(
    personas, token_client, django_assert_max_num_queries
):
    for _ in range(30):
        make_instance(make_study(personas.team, patient_name="Bulk^Patient"))
    client = token_client()
    with django_assert_max_num_queries(12):
        rows = qido(client, "studies", PatientName="Bulk*")
    assert len(rows) == 30
    with django_assert_max_num_queries(12):
        assert len(qido(client, "instances")) == 30
