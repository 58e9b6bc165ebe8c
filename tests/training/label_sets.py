"""Frozen label sets for job tests, built from demo data's hidden truth.

The curation workflow that normally produces them is tested on its own; here only the result
matters: real ingested images in the team's cache and a frozen set of their labels.
"""

import hashlib
import io
import json
from pathlib import Path

from django.core.management import call_command

from curation.models import LabelSet, LabelSetImage
from labeling.models import Instance
from labeling.vocabulary import PAPER_LABELS


def frozen_label_set(team, tmp_path: Path, images: int = 48, seed: int = 5) -> LabelSet:
    out = io.StringIO()
    call_command(
        "demo", "--team", team.name, "--images", str(images), "--size", "96", "--seed", str(seed),
        "--workers", "1", "--out", str(tmp_path / "demo"), "--json", stdout=out,
    )  # fmt: skip
    truth = json.loads(Path(json.loads(out.getvalue())["truth"]).read_text())["images"]
    labels = [{"key": label.key, "en": label.en, "zh": label.zh} for label in PAPER_LABELS]
    vectors = {uid: sorted(image["labels"]) for uid, image in truth.items()}
    digest = hashlib.sha256(json.dumps([labels, vectors], sort_keys=True).encode()).hexdigest()
    label_set = LabelSet.objects.create(
        team=team, version=LabelSet.objects.filter(team=team).count() + 1,
        content_hash=digest, labels=labels, note="from the demo generator's truth",
    )  # fmt: skip
    instances = {i.sop_uid: i for i in Instance.objects.of_team(team)}
    LabelSetImage.objects.bulk_create(
        LabelSetImage(team=team, label_set=label_set, instance=instances[uid], sop_uid=uid,
                      labels=vectors[uid])
        for uid in sorted(vectors)
    )  # fmt: skip
    return label_set
