"""``curation.services`` keeps every public name it had as one 1,542-line module: callers
(views, the API, the command, results, bench scripts) import them from there, whatever module
of the package now holds them."""

import importlib

import pytest

# The public functions, classes and constants of curation/services.py before it became a package,
# less ``settle_runs``: a run reads its status from its job, so there is nothing to reconcile.
PUBLIC_NAMES = [
    "AutoLabel", "ClauseSync", "ConflictError", "CueUpdate", "CurationError", "Disagreement",
    "K_CURVE_POINTS", "LabelUsage", "QueuedEvidence", "UNDOABLE", "UnmappedText", "Vectors",
    "add_label", "agreement", "auto_label_new_reports", "claim_run", "claim_run_for_job",
    "cluster_images", "compare_label_sets", "curation_settings", "current_vectors",
    "decide_unmapped", "delete_label", "describe_unmapped", "execute_run", "freeze_label_set",
    "label_set_vectors", "label_usage", "latest_run", "live_statistics", "merge_clusters",
    "move_label", "queue_model_disagreements", "rename_cluster", "rename_label", "review_image",
    "run_clustering", "sample_for_second_review", "set_verdict", "split_cluster",
    "start_clustering", "stop_run", "suggested_k", "sync_clauses", "team_cues", "undo_last",
    "unmapped_texts", "update_cues", "vocabulary", "word_frequencies",
    "freeze_or_reuse_label_set",  # since: a freeze of unchanged decisions returns the latest set
    # since: re-splitting reports (review of decisions that lost their text), normal statements
    "decisions_to_review", "hedged_studies", "premap_normal_clusters", "resplit_reports",
    "settle_review",
    # since issue #15: clusters show their outliers; distance settings (synonyms, threshold)
    "CLUSTER_ORDER", "OUTLIER_CHOICES", "OutlierChoices", "outlier_choices", "check_auto_label_distance",
    "check_synonyms", "format_synonyms", "parse_synonyms", "update_distance_settings",
    # since issue #16: freeze warns about labels below a task's minimum, and may leave out empty ones
    "label_shortfalls", "labels_with_examples",
]  # fmt: skip


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_is_importable_from_curation_services(name):
    services = importlib.import_module("curation.services")
    assert getattr(services, name, None) is not None, f"curation.services.{name} is gone"


def test_the_package_exports_exactly_those_names():
    services = importlib.import_module("curation.services")
    assert sorted(services.__all__) == sorted(PUBLIC_NAMES)
    assert not hasattr(services, "settle_runs")  # no reconciling a run with its job on GET
