"""Curation at the paper's scale: cluster the reports and freeze a label set, in the database.

    .venv/bin/python bench/curation.py                  # 16,569 demo reports, k: see below
    .venv/bin/python bench/curation.py --reports 2000 --k 20 --json
    .venv/bin/python bench/curation.py --distance paper --outliers keep

``bench/clustering.py`` times the pure pipeline; this times what a curator waits for, with the
database in the loop: start (clauses split from every report and stored, k checked), the run
(k curve for the elbow plot, clustering, clusters stored with their counts), mapping every
cluster to its label (one audited action per cluster, as a curator would, its outliers sent to
the unmapped queue unless ``--outliers`` says otherwise), and freezing the label set (vectors
for every image, conflicts queued, rows written). The frozen labels are then scored against the
generator's per-image truth (macro F1 over the labels, each image an example), next to the
clusters' purity, their outliers, and the clause texts left in the unmapped queue (the
decisions still to make). ``--k`` defaults to the number of distinct (label, polarity) pairs in
the generated reports' truth (issue #15). Reports come from
``labeling.synth.generate_reports``; each gets a Study, a Report, a Series and one Instance row
(no pixels: a label set needs image rows, not files). Clusters are mapped by the generator's
hidden truth of their medoid, which stands in for the curator's judgement.

Rows go into a throwaway SQLite database under a temporary ``CXR_DATA_DIR`` that is removed
afterwards; creating them is timed apart and not part of start → freeze. The machine these
figures come from may be shared: read them as indications.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER_REPORTS = 16_569


def _setup_django(data_dir: Path) -> None:
    """Point the settings at an empty data folder and SQLite file, then migrate it."""
    os.environ["CXR_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'bench.sqlite3'}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _create_rows(team, truths) -> None:
    """One study, report, series and instance per generated report, in bulk."""
    from labeling.models import Instance, Report, Series, Study

    root = "1.2.826.0.1.3680043.10.99"
    studies = Study.objects.bulk_create(
        (
            Study(
                team=team,
                study_uid=f"{root}.{i}",
                accession_number=f"B{i:06d}",
                patient_id=f"P{i // 2:06d}",
            )  # fmt: skip
            for i in range(len(truths))
        ),
        batch_size=2000,
    )
    Report.objects.bulk_create(
        (
            Report(team=team, study=s, diagnosis=t.diagnosis)
            for s, t in zip(studies, truths, strict=True)
        ),
        batch_size=2000,
    )
    series = Series.objects.bulk_create(
        (Series(team=team, study=s, series_uid=f"{s.study_uid}.1", modality="DX") for s in studies),
        batch_size=2000,
    )
    Instance.objects.bulk_create(
        (
            Instance(
                team=team,
                study=s.study,
                series=s,
                sop_uid=f"{s.series_uid}.1",
                file_path=f"bench/{s.pk}.dcm",
            )  # fmt: skip
            for s in series
        ),
        batch_size=2000,
    )


def _truth_of_clauses(truths) -> dict[tuple[str, str], str | None]:
    """The true label of each (normalised clause, polarity) as the splitter cuts the generator's
    clauses: a truth clause is written with its numbering ("2. 心影增大"), a medoid without it,
    and 心影增大？ normalises to the text of the affirmed 心影增大."""
    from labeling.text import normalize, polarity, split_clauses

    truth: dict[tuple[str, str], str | None] = {}
    for t in truths:
        for c in t.clauses:
            for piece in split_clauses(c.text):
                truth.setdefault((normalize(piece), polarity(piece)), c.label)
    return truth


def _map_by_truth(
    team, user, run, truth: dict[tuple[str, str], str | None], outliers: str = "unmapped"
) -> int:
    """Map each live cluster as a curator would: its medoid's true label, else no label;
    ``outliers`` says what happens to each cluster's outliers."""
    from curation import services
    from curation.models import Label, ProposedCluster

    labels = {label.key: label.pk for label in Label.objects.of_team(team)}
    actions = 0
    for cluster in ProposedCluster.objects.filter(run=run, merged_into=None):
        key = truth.get((cluster.medoid_normalized, cluster.polarity))
        usable = key is not None and (cluster.polarity == "affirmed" or key == "normal")
        services.set_verdict(
            team, user, {cluster.pk: cluster.version},
            verdict="label" if usable else "no_label",
            label_id=labels.get(key) if usable else None, outliers=outliers,
        )  # fmt: skip
        actions += 1
    return actions


def _timed(figures: dict, name: str, step: Callable):
    started = time.perf_counter()
    result = step()
    figures[name] = round(time.perf_counter() - started, 3)
    return result


def _true_pairs(truths) -> int:
    return len({(c.label, c.polarity) for t in truths for c in t.clauses})


def _true_labels(t) -> set[str]:
    """The generator's labels of a report under issue #15's rule: a report is normal only with no
    affirmed or uncertain abnormal mention (the generator calls one with a hedged distractor
    normal)."""
    labels = set(t.labels)
    if any(c.polarity == "uncertain" and c.label not in (None, "normal") for c in t.clauses):
        labels.discard("normal")
    return labels


def _f1_per_label(label_set, truths) -> dict[str, float]:
    """F1 of the frozen per-image labels against the generator's, for each true label."""
    found = dict(label_set.images.values_list("sop_uid", "labels"))
    root = "1.2.826.0.1.3680043.10.99"
    scores = {}
    for key in sorted({label for t in truths for label in t.labels}):
        tp = fp = fn = 0
        for i, t in enumerate(truths):
            got = key in found.get(f"{root}.{i}.1.1", ())
            true = key in _true_labels(t)
            tp, fp, fn = tp + (got and true), fp + (got and not true), fn + (not got and true)
        scores[key] = round(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0, 4)
    return scores


def _purity(run) -> dict:
    from curation.models import ClusterMember, ProposedCluster

    clusters = ProposedCluster.objects.filter(run=run, merged_into=None)
    members = ClusterMember.objects.filter(cluster__run=run)
    clauses = sum(c.clause_count for c in clusters) or 1
    return {
        "purity_weighted": round(sum(c.purity * c.clause_count for c in clusters) / clauses, 4),
        "purity_min": round(min((c.purity for c in clusters), default=1.0), 4),
        "clusters_with_outliers": sum(1 for c in clusters if c.outlier_unique),
        "outlier_texts": members.filter(outlier=True).count(),
        "outlier_clauses": sum(m.count for m in members.filter(outlier=True)),
    }


def bench(
    reports: int, k: int | None, seed: int, distance: str = "normalized", outliers: str = "unmapped"
) -> dict:
    from django.contrib.auth import get_user_model

    from curation import services
    from curation.models import ClusterRun
    from jobs import worker
    from labeling.synth import generate_reports
    from teams import services as lab_services

    truths = generate_reports(reports, seed)
    k = k or _true_pairs(truths)
    figures: dict = {"reports": reports, "k": k, "seed": seed, "cpus": os.cpu_count(),
                     "distance": distance, "outliers": outliers}  # fmt: skip
    _timed(figures, "generate_s", lambda: generate_reports(reports, seed))
    team = lab_services.create_team("Bench")
    user = get_user_model().objects.create_user("bench", password="bench-pw-1234")
    _timed(figures, "create_rows_s", lambda: _create_rows(team, truths))

    started = time.perf_counter()
    run = _timed(
        figures, "start_s", lambda: services.start_clustering(team, user, k=k, seed=seed,
                                                              distance=distance, enqueue=False)
    )  # fmt: skip
    # The run's job, claimed and run in this process as ``manage.py cluster`` does (the
    # jobs layer probes the device once, importing torch: about 2 s of the first run_s).
    _timed(figures, "run_s", lambda: worker.run(run.job_id))
    run = ClusterRun.objects.select_related("job").get(pk=run.pk)
    if run.status != "succeeded":
        raise RuntimeError(f"clustering run failed: {run.error}")
    figures.update(_purity(run), outlier_threshold=run.outlier_threshold)
    truth = _truth_of_clauses(truths)
    figures["mapping_actions"] = _timed(
        figures, "map_s", lambda: _map_by_truth(team, user, run, truth, outliers)
    )
    label_set = _timed(figures, "freeze_s", lambda: services.freeze_label_set(team, user))
    figures["start_to_freeze_s"] = round(time.perf_counter() - started, 3)
    figures.update(
        clauses=run.n_clauses, unique=run.n_unique, sampled=run.sampled,
        run_timings=run.timings, images_labelled=label_set.statistics["images"],
        conflicts=label_set.statistics.get("conflicts"),
        unmapped_after=len(services.unmapped_texts(team)),
        f1_per_label=_f1_per_label(label_set, truths),
    )  # fmt: skip
    figures["macro_f1"] = round(
        sum(figures["f1_per_label"].values()) / len(figures["f1_per_label"]), 4
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=PAPER_REPORTS)
    parser.add_argument("--k", type=int, default=None, help="default: true (label, polarity) pairs")
    parser.add_argument("--distance", choices=["normalized", "paper"], default="normalized")
    parser.add_argument(
        "--outliers", choices=["keep", "unmapped", "split"], default="unmapped",
        help="what each mapping action does with the cluster's outliers",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="cxr-bench-curation-"))
    try:
        _setup_django(data_dir)
        figures = bench(args.reports, args.k, args.seed, args.distance, args.outliers)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['reports']} reports, {figures['clauses']} clauses "
          f"({figures['unique']} unique), k={figures['k']}, {figures['cpus']} CPUs, "
          f"distance {figures['distance']}, outliers → {figures['outliers']}")  # fmt: skip
    for name in ("generate_s", "create_rows_s", "start_s", "run_s", "map_s", "freeze_s"):
        print(f"  {name[:-2]:<12} {figures[name]:8.2f} s")
    print(f"  start → freeze {figures['start_to_freeze_s']:8.2f} s "
          f"({figures['mapping_actions']} mapping actions; {figures['images_labelled']} images "
          f"labelled, {figures['conflicts']} conflicts)")  # fmt: skip
    print(f"  purity {figures['purity_weighted']} (clause-weighted; lowest "
          f"{figures['purity_min']}), {figures['clusters_with_outliers']} clusters with "
          f"{figures['outlier_texts']} outlier texts ({figures['outlier_clauses']} clauses) "
          f"beyond {figures['outlier_threshold']}")  # fmt: skip
    print(f"  macro F1 against the hidden truth {figures['macro_f1']}; "
          f"{figures['unmapped_after']} clause texts left in the unmapped queue")  # fmt: skip
    print(f"  F1 per label: {figures['f1_per_label']}")
    print(f"  run timings: {figures['run_timings']}")


if __name__ == "__main__":
    main()
