"""Images next to the numbers: a confusion cell, a table cell or a ROC point opens exactly the
cases behind it, most confident first, each linking to its study page."""

import numpy as np
from django.urls import reverse

from labeling.models import Instance

from .pages import elements_with, engine_outputs


def shown_images(client, run, **query) -> list[str]:
    response = client.get(reverse("results:cases", args=[run.pk]), query)
    assert response.status_code == 200, response.content[:300]
    html = response.content.decode()
    return [attrs["data-image-id"] for tag, attrs in elements_with(html, "data-image-id")]


def test_a_confusion_cell_shows_exactly_the_images_of_that_cell(client, personas, single_run):
    metrics, predictions = engine_outputs(single_run)
    names = metrics["class_names"]
    test = [p for p in predictions if p["subset"] == "task" and p["split"] == "test"]
    client.force_login(personas.teammate)
    for i, true in enumerate(names):
        for j, predicted in enumerate(names):
            expected = [
                p for p in test
                if p["labels"] == [true]
                and int(np.argmax([p["probabilities"][n] for n in names])) == j
            ]  # fmt: skip
            shown = shown_images(client, single_run, true=true, pred=predicted)
            assert sorted(shown) == sorted(p["image_id"] for p in expected)
            assert len(shown) == metrics["test"]["confusion_matrix"][i][j]
            confidence = [next(p for p in expected if p["image_id"] == uid)["probabilities"]
                          [predicted] for uid in shown]  # fmt: skip
            assert confidence == sorted(confidence, reverse=True)


def test_a_case_links_its_thumbnail_to_its_study_and_highlights_the_top_three(
    client, personas, single_run
):
    metrics, _ = engine_outputs(single_run)
    client.force_login(personas.owner)
    key = metrics["class_names"][0]
    html = client.get(
        reverse("results:cases", args=[single_run.pk]), {"label": key, "outcome": "tp"}
    ).content.decode()
    uid = elements_with(html, "data-image-id")[0][1]["data-image-id"]
    instance = Instance.objects.get(sop_uid=uid)
    assert reverse("labeling:study-detail", args=[instance.study_id]) in html
    assert reverse("labeling:instance-thumbnail", args=[instance.pk]) in html
    assert html.count('<li class="top') == 3 * html.count('class="case"')


def test_label_outcomes_partition_the_test_images_and_a_roc_threshold_moves_them(
    client, personas, single_run
):
    metrics, _ = engine_outputs(single_run)
    client.force_login(personas.owner)
    key = metrics["class_names"][1]
    everyone = set()
    for outcome in ("tp", "fp", "fn", "tn"):
        shown = set(shown_images(client, single_run, label=key, outcome=outcome))
        assert not shown & everyone
        everyone |= shown
    assert len(everyone) == metrics["test"]["n"]
    # At threshold 0 every image is called positive: no negatives are left.
    assert shown_images(client, single_run, label=key, outcome="tn", threshold="0") == []
    assert shown_images(client, single_run, label=key, outcome="fn", threshold="0") == []


def test_a_bad_gallery_query_is_a_400_naming_the_field(client, personas, single_run):
    client.force_login(personas.owner)
    url = reverse("results:cases", args=[single_run.pk])
    response = client.get(url, {"label": "no-such-label", "outcome": "tp"})
    assert response.status_code == 400 and b"label" in response.content
    response = client.get(url, {"label": "normal", "outcome": "tp", "threshold": "high"})
    assert response.status_code == 400 and b"threshold" in response.content


def test_a_deleted_image_is_shown_as_deleted_not_as_an_error(client, personas, single_run):
    metrics, predictions = engine_outputs(single_run)
    client.force_login(personas.owner)
    true = metrics["class_names"][0]
    shown = shown_images(client, single_run, true=true, pred=true)
    Instance.objects.filter(sop_uid=shown[0]).delete()
    response = client.get(reverse("results:cases", args=[single_run.pk]),
                          {"true": true, "pred": true})  # fmt: skip
    assert response.status_code == 200
    assert b"image deleted" in response.content
