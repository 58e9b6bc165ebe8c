"""Issue 16: freezing warns about labels with fewer images than a training task needs, and a
frozen set's successor may leave out the labels no image carries."""

from django.urls import reverse

from curation import services
from curation.models import LabelSet
from curation.services import label_sets
from training.engine import splits

from .test_freeze_again import map_to


def test_the_minimum_is_the_training_engine_s():
    assert label_sets.MIN_PER_SPLIT == splits.MIN_PER_LABEL
    assert label_sets.NEEDED == 3 * splits.MIN_PER_LABEL


def test_freezing_warns_with_each_short_label_and_its_counts(client, small_run, curator):
    map_to(small_run, curator, "主动脉硬化", "aortosclerosis")
    client.force_login(curator)
    page = client.get(reverse("curation:label-sets")).content.decode()
    assert 'id="shortfalls"' in page and 'data-key="bronchitis"' in page
    response = client.post(reverse("curation:label-sets"), {"note": "v1"}, follow=True)
    text = response.content.decode()
    assert LabelSet.objects.filter(team=small_run.team).count() == 1
    assert "Fewer than 15 images (single-label / all) for a training task" in text
    stats = LabelSet.objects.get(team=small_run.team).statistics
    aorto = next(row for row in stats["rows"] if row["key"] == "aortosclerosis")
    assert f"aortosclerosis ({aorto['single']}/{aorto['total']})" in text
    short = {row["key"]: row for row in services.label_shortfalls(stats)}
    assert short["aortosclerosis"]["tasks"] == ["single_disease", "multi_label"]
    assert short["bronchitis"]["empty"] and not short["aortosclerosis"]["empty"]


def test_no_warning_for_labels_with_enough_images():
    rows = [
        {"key": "normal", "en": "normal", "zh": "正常", "total": 40, "single": 40},
        {"key": "a", "en": "a", "zh": "甲", "total": 20, "single": 14},
    ]
    short = services.label_shortfalls({"rows": rows})
    assert [(row["key"], row["tasks"]) for row in short] == [("a", ["single_disease"])]


def test_a_successor_can_leave_out_the_labels_without_images(client, small_run, curator):
    map_to(small_run, curator, "主动脉硬化", "aortosclerosis")
    team = small_run.team
    first = services.freeze_label_set(team, curator)
    assert len(first.labels) == 10  # the whole vocabulary, empty labels and all
    client.force_login(curator)
    client.post(reverse("curation:label-sets"), {"note": "v2", "leave_out_empty": "on"})
    second = LabelSet.objects.get(team=team, version=2)
    used = {key for keys in second.images.values_list("labels", flat=True) for key in keys}
    assert [lb["key"] for lb in second.labels] == [
        lb["key"] for lb in first.labels if lb["key"] in used | {"normal"}
    ]
    assert "bronchitis" not in [lb["key"] for lb in second.labels]
    # the images and their labels are those of the first set: only the vocabulary shrank
    assert dict(second.images.values_list("sop_uid", "labels")) == dict(
        first.images.values_list("sop_uid", "labels")
    )
