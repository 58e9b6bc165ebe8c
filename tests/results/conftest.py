"""Finished runs for the results pages: real demo images, a frozen label set, and a tiny model
trained by the engine in-process, so every number on a page comes from the engine's outputs."""

import pytest

from curation.models import LabelSet, LabelSetImage
from tests.results.pages import engine_outputs
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
    # The engine splits patients in the order of their pseudonyms, which come from the team's
    # random secret: a fixed one gives every run the same split (see single_run).
    personas.team.pseudonym_secret = "results-pages-fixed-secret"
    personas.team.save(update_fields=["pseudonym_secret"])
    return common_labels_only(frozen_label_set(personas.team, tmp_path, images=96))


@pytest.fixture
def single_run(personas, label_set):
    """Task 2 (single disease), which also scores the paper's task 3 images."""
    job = trained_job(personas.team, personas.owner, label_set, task="single_disease",
                      balance="none", epochs=2, split_fractions=[0.6, 0.2, 0.2])  # fmt: skip
    # The pages' tests need the task 3 block (multi-label test images) and its AP chart: say so
    # here, plainly, should the data ever lack it, rather than as a timeout in the browser.
    metrics, _predictions = engine_outputs(job)
    multi = (metrics.get("multi_disease") or {}).get("test") or {}
    assert multi.get("ap_cdf"), "the split left no multi-label image in test"
    return job


@pytest.fixture
def binary_run(personas, label_set):
    """Task 1 (normal vs abnormal)."""
    return trained_job(personas.team, personas.owner, label_set)
