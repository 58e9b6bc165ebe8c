"""Issue 16: the launch form shows each label's train / val / test counts for the chosen task,
computed with the engine's own split, and refuses, before anything is queued, a job with a label
below the paper's minimum, or leaves such labels out when asked."""

import re

import numpy as np
import pytest
from django.urls import reverse

from jobs.models import Job
from labeling.models import Instance
from training.engine import splits

from .label_sets import frozen_label_set


@pytest.fixture
def table_one_set(personas, tmp_path):
    """72 demo images sampled like Table I: the rare labels have a handful of images or none."""
    return frozen_label_set(personas.team, tmp_path, images=72, seed=3)


def form_data(frozen, **changes) -> dict:
    data = {
        "label_set": frozen.pk, "name": "", "task": "single_disease", "arch": "tiny",
        "weights": "none", "epochs": 1, "batch_size": 32, "lr": 0.05, "crop": 64,
        "balance": "auto", "eval_crops": "center", "seed": 0, "device": "cpu",
    }  # fmt: skip
    data.update(changes)
    return data


def _engine_plan(label_set, task: str, keep=()):
    """What the engine will split, from the same rows the export writes."""
    rows = [(i.labels, i.instance.study.patient_id) for i in label_set.images.all()]
    keys = [label["key"] for label in label_set.labels]
    matrix = np.array([[key in labels for key in keys] for labels, _p in rows])
    patients = np.array([p for _l, p in rows])
    return splits.plan(task, patients, matrix, keys, keep=keep)


def test_the_form_shows_each_label_s_counts_per_split_for_every_task(client, personas,
                                                                       table_one_set):  # fmt: skip
    client.force_login(personas.owner)
    page = client.get(reverse("training:launch")).content.decode()
    for task in splits.TASKS:
        table = re.search(rf'<table class="table split-counts" data-task="{task}".*?</table>',
                          page, re.S).group(0)  # fmt: skip
        planned = _engine_plan(table_one_set, task)
        for key, counts in zip(planned.classes.class_names, planned.counts, strict=True):
            if task == "normal_abnormal":
                continue  # classes, not labels: checked below
            row = re.search(rf'<tr data-label="{key}">(.*?)</tr>', table, re.S).group(1)
            assert re.findall(r"<td[^>]*>(\d+)</td>", row) == [str(n) for n in counts]
        if task == "normal_abnormal":
            cells = re.findall(r"<td[^>]*>(\d+)</td>", table)
            assert cells == [str(n) for n in planned.counts.ravel()]


def test_a_label_below_the_minimum_is_refused_in_one_sentence_and_nothing_is_queued(
    client, personas, table_one_set
):
    client.force_login(personas.owner)
    response = client.post(reverse("training:launch"), form_data(table_one_set))
    assert response.status_code == 200 and not Job.objects.exists()
    short = _engine_plan(table_one_set, "single_disease").short[0]
    name = next(lb["en"] for lb in table_one_set.labels if lb["key"] == short.label)
    page = response.content.decode()
    assert f"“{name}” has {short.count} images in the" in page
    assert "fewer than the 5 it needs" in page


def test_leaving_out_the_short_labels_queues_a_job_on_the_rest(client, personas, table_one_set):
    client.force_login(personas.owner)
    data = form_data(table_one_set, leave_out_short="on", task="multi_label")
    response = client.post(reverse("training:launch"), data)
    job = Job.objects.get()
    assert response.status_code == 302
    kept = job.config["engine"]["labels"]
    assert "normal" in kept and len(kept) < len(table_one_set.labels)
    replanned = _engine_plan(table_one_set, "multi_label", keep=kept)
    assert replanned.short == [] and (replanned.counts >= splits.MIN_PER_LABEL).all()


def test_only_images_the_job_would_export_are_counted(client, personas, table_one_set):
    """Quarantined images and images not in the cache never reach the engine."""
    client.force_login(personas.owner)
    first = _engine_plan(table_one_set, "multi_label").counts.sum()
    Instance.objects.filter(pk=table_one_set.images.first().instance_id).update(quarantined=True)
    page = client.get(reverse("training:launch") + "?preset=cpu").content.decode()
    table = re.search(r'data-task="multi_label".*?</table>', page, re.S).group(0)
    shown = sum(int(n) for n in re.findall(r"<td[^>]*>(\d+)</td>", table))
    assert shown < first


def test_the_web_process_counts_without_torch():
    """The split module imports numpy only (the whole web stays torch-free: test_web_imports)."""
    import subprocess
    import sys

    code = "import sys, training.engine.splits; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_refusal_and_the_counts_speak_chinese(client, personas, table_one_set):
    client.force_login(personas.owner)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("training:launch")).content.decode()
    assert "各划分中每个标签的图像数" in page and "主动脉硬化" in page
    response = client.post(reverse("training:launch"), form_data(table_one_set))
    text = response.content.decode()
    assert "集中只有" in text and "少于所需的" in text and "fewer than" not in text
    assert not Job.objects.exists()
