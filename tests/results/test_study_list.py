"""The studies list: filters, pagination that keeps them, thumbnails, bounded queries."""

import datetime

import pytest
from django.urls import reverse

from tests.factories import make_instance, make_report, make_study


@pytest.fixture
def studies(personas):
    team = personas.team
    early = make_study(team, study_date=datetime.date(2024, 1, 10), patient_id="P-EARLY")
    make_report(early)
    make_instance(early)
    late = make_study(team, study_date=datetime.date(2025, 6, 1), patient_id="P-LATE")
    make_instance(late, decode_error="JPEG 2000: bad codestream")
    return {"early": early, "late": late}


def listed(client, **query) -> str:
    return client.get(reverse("labeling:study-list"), query).content.decode()


@pytest.mark.parametrize(
    "query, shown, hidden",
    [
        ({"date_from": "2025-01-01"}, "late", "early"),
        ({"date_to": "2024-12-31"}, "early", "late"),
        ({"has_report": "yes"}, "early", "late"),
        ({"has_report": "no"}, "late", "early"),
        ({"decode_error": "yes"}, "late", "early"),
        ({"decode_error": "no"}, "early", "late"),
        ({"q": "P-EARLY"}, "early", "late"),
        ({"modality": "DX"}, "early", None),
    ],
)
def test_each_filter_narrows_the_list(client, personas, studies, query, shown, hidden):
    client.force_login(personas.teammate)
    page = listed(client, **query)
    assert studies[shown].accession_number in page
    if hidden:
        assert studies[hidden].accession_number not in page


def test_a_reversed_date_range_is_explained_not_applied(client, personas, studies):
    client.force_login(personas.owner)
    page = listed(client, date_from="2026-01-01", date_to="2020-01-01")
    assert "The start date is after the end date." in page


def test_pagination_keeps_the_filters(client, personas, settings):
    from results import studies as views

    for _ in range(views.STUDIES_PER_PAGE + 1):
        make_study(personas.team)
    client.force_login(personas.owner)
    page = listed(client, has_report="no")
    assert "?has_report=no&amp;page=2" in page


def test_the_list_shows_thumbnails_in_a_bounded_number_of_queries(
    client, personas, django_assert_max_num_queries
):
    for _ in range(30):
        study = make_study(personas.team)
        make_report(study)
        make_instance(study)
    client.force_login(personas.owner)
    with django_assert_max_num_queries(12):
        page = listed(client)
    assert page.count("thumbnail.png") == 30


@pytest.fixture
def frozen(personas, studies):
    from curation.models import LabelSet, LabelSetImage

    label_set = LabelSet.objects.create(
        team=personas.team, version=3, content_hash="h",
        labels=[{"key": "normal", "en": "normal", "zh": "未见明显异常"},
                {"key": "emphysema", "en": "emphysema", "zh": "肺气肿"}],
    )  # fmt: skip
    for name, labels in (("early", ["normal"]), ("late", ["emphysema"])):
        instance = studies[name].instances.get()
        LabelSetImage.objects.create(
            team=personas.team, label_set=label_set, instance=instance,
            sop_uid=instance.sop_uid, labels=labels,
        )  # fmt: skip
    return label_set


def test_the_label_filter_uses_the_latest_frozen_label_set(client, personas, studies, frozen):
    client.force_login(personas.owner)
    page = listed(client, label="emphysema")
    assert studies["late"].accession_number in page
    assert studies["early"].accession_number not in page


def test_the_study_page_shows_its_frozen_labels_in_the_chosen_language(
    client, personas, studies, frozen
):
    client.force_login(personas.owner)
    url = reverse("labeling:study-detail", args=[studies["late"].pk])
    page = client.get(url, headers={"accept-language": "zh-hans"}).content.decode()
    assert "肺气肿" in page and "v3" in page
