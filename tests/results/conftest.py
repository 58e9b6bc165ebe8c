"""Finished runs for the results pages: real demo images, a frozen label set, and a tiny model
trained by the engine in-process, so every number on a page comes from the engine's outputs."""

import pytest

from curation.models import LabelSet, LabelSetImage
from tests.training.label_sets import frozen_label_set
from tests.training.runs import trained_job

# Labels common enough in 96 demo images for every split of task 2 to hold each of them.
COMMON = ("normal", "increased_lung_marking", "aortosclerosis")


def common_labels_only(full: LabelSet) -> LabelSet:
    """The same images' labels restricted to COMMON (a smaller vocabulary, as curators may
    freeze); images left with no label are left out."""
    subset = LabelSet.objects.create(
        team=full.team, version=full.version + 1, content_hash="c" * 64,
        labels=[label for label in full.labels if label["key"] in COMMON],
    )  # fmt: skip
    rows = []
    for row in full.images.all():
        labels = [key for key in row.labels if key in COMMON]
        if labels:
            rows.append(LabelSetImage(team=row.team, label_set=subset, instance=row.instance,
                                      sop_uid=row.sop_uid, labels=labels))  # fmt: skip
    LabelSetImage.objects.bulk_create(rows)
    return subset


@pytest.fixture
def label_set(personas, tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64
    return common_labels_only(frozen_label_set(personas.team, tmp_path, images=96))


@pytest.fixture
def single_run(personas, label_set):
    """Task 2 (single disease), which also scores the paper's task 3 images."""
    return trained_job(personas.team, personas.owner, label_set, task="single_disease",
                       balance="none", epochs=2, split_fractions=[0.6, 0.2, 0.2])  # fmt: skip


@pytest.fixture
def binary_run(personas, label_set):
    """Task 1 (normal vs abnormal)."""
    return trained_job(personas.team, personas.owner, label_set)
