"""A small frozen label set and a finished training run on it, as rows only (no weights)."""

import pytest

from curation.models import LabelSet
from jobs.models import Job


@pytest.fixture
def label_set(personas):
    return LabelSet.objects.create(
        team=personas.team, version=1, content_hash="a" * 64,
        labels=[{"key": "normal"}, {"key": "effusion"}],
    )  # fmt: skip


@pytest.fixture
def finished(personas, label_set):
    return Job.objects.create(
        team=personas.team, owner=personas.owner, kind="train", status="succeeded",
        name="tiny", config={"label_set": label_set.pk, "engine": {"task": "normal_abnormal"}},
    )  # fmt: skip
