"""Frozen label sets cannot change through bulk queryset writes either; deleting an image they
point at still works and leaves its UID behind."""

# Fixtures shared with other modules are imported by name; pytest, not the code, uses them.
# ruff: noqa: F401, F811

import pytest
from django.db import transaction

from curation import services
from curation.models import ImmutableError, LabelSet, LabelSetImage

from .test_label_sets import curated  # fixture


@pytest.fixture
def frozen(curated, corpus, curator):
    return services.freeze_label_set(corpus.team, curator, note="first")


def test_queryset_update_of_a_frozen_label_set_is_refused(frozen):
    with pytest.raises(ImmutableError, match="LabelSet rows are frozen"):
        LabelSet.objects.filter(pk=frozen.pk).update(note="edited")
    with pytest.raises(ImmutableError, match="LabelSetImage rows are frozen"):
        frozen.images.update(labels=["normal"])
    assert LabelSet.objects.get(pk=frozen.pk).note == "first"


def test_queryset_delete_and_bulk_update_of_frozen_rows_are_refused(frozen):
    images = list(frozen.images.all())
    stored = {row.pk: row.labels for row in images}
    with pytest.raises(ImmutableError, match="cannot be deleted"):
        LabelSetImage.objects.filter(label_set=frozen).delete()
    with pytest.raises(ImmutableError, match="cannot be deleted"):
        LabelSet.objects.of_team(frozen.team).delete()
    for image in images:
        image.labels = ["normal"]
    # bulk_update opens an atomic block without a savepoint: give it one, as a caller would.
    with pytest.raises(ImmutableError), transaction.atomic():
        LabelSetImage.objects.bulk_update(images, ["labels"])
    assert {row.pk: row.labels for row in frozen.images.all()} == stored


def test_deleting_an_image_keeps_its_frozen_row_by_uid(frozen, corpus):
    instance = corpus.instances[0]
    row = frozen.images.get(sop_uid=instance.sop_uid)
    instance.delete()
    row = LabelSetImage.objects.get(pk=row.pk)
    assert row.instance_id is None and row.sop_uid == instance.sop_uid
