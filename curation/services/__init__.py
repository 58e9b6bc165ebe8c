"""Every change of curation state, and the queries the pages read, one module per concern:

- ``common``: the errors, the version check and the audit entry every change shares;
- ``team_settings``: cue lists, terminators (saving them re-splits the reports) and the label
  vocabulary;
- ``clauses``: reports split into normalised clauses with their polarity and normal flag; the
  decisions a re-split left without their text (the review list);
- ``normal``: clusters of normal statements pre-mapped to normal; hedged findings;
- ``runs``: clustering runs (start, claim, execute, store clusters); their status is their job's;
- ``clusters``: what lies behind a cluster (counts, outliers and purity, images, words, what
  each way of handling its outliers would label);
- ``actions``: rename, merge, split, verdicts (with a choice for the outliers) and undo;
- ``distances``: the synonym table and the normalised auto-label threshold;
- ``label_sets``: per-image label vectors, statistics, frozen label sets;
- ``new_reports``: auto-labelling new reports and the unmapped queue;
- ``review``: per-image review, model disagreements, second-review agreement.

Every public name is re-exported here; callers import from ``curation.services``.
"""

from .actions import (
    OUTLIER_CHOICES,
    UNDOABLE,
    merge_clusters,
    rename_cluster,
    set_verdict,
    split_cluster,
    undo_last,
)
from .clauses import (
    ClauseSync,
    decisions_to_review,
    settle_review,
    sync_clauses,
)
from .clusters import (
    CLUSTER_ORDER,
    OutlierChoices,
    cluster_images,
    outlier_choices,
    word_frequencies,
)
from .common import (
    ConflictError,
    CurationError,
)
from .distances import (
    check_synonyms,
    format_synonyms,
    parse_synonyms,
    update_distance_settings,
)
from .label_sets import (
    Vectors,
    compare_label_sets,
    current_vectors,
    freeze_label_set,
    freeze_or_reuse_label_set,
    label_set_vectors,
    label_shortfalls,
    labels_with_examples,
    live_statistics,
)
from .new_reports import (
    AutoLabel,
    UnmappedText,
    auto_label_new_reports,
    check_auto_label_distance,
    decide_unmapped,
    describe_unmapped,
    unmapped_texts,
)
from .normal import (
    hedged_studies,
    premap_normal_clusters,
)
from .review import (
    Disagreement,
    QueuedEvidence,
    agreement,
    queue_model_disagreements,
    review_image,
    sample_for_second_review,
)
from .runs import (
    K_CURVE_POINTS,
    claim_run,
    claim_run_for_job,
    execute_run,
    latest_run,
    run_clustering,
    start_clustering,
    stop_run,
    suggested_k,
)
from .team_settings import (
    CueUpdate,
    LabelUsage,
    add_label,
    curation_settings,
    delete_label,
    label_usage,
    move_label,
    rename_label,
    resplit_reports,
    team_cues,
    update_cues,
    vocabulary,
)

__all__ = [
    "resplit_reports",
    "premap_normal_clusters",
    "hedged_studies",
    "settle_review",
    "decisions_to_review",
    "AutoLabel",
    "ClauseSync",
    "CLUSTER_ORDER",
    "ConflictError",
    "CueUpdate",
    "CurationError",
    "Disagreement",
    "K_CURVE_POINTS",
    "LabelUsage",
    "OUTLIER_CHOICES",
    "OutlierChoices",
    "QueuedEvidence",
    "UNDOABLE",
    "UnmappedText",
    "Vectors",
    "add_label",
    "agreement",
    "auto_label_new_reports",
    "check_auto_label_distance",
    "check_synonyms",
    "claim_run",
    "claim_run_for_job",
    "cluster_images",
    "compare_label_sets",
    "curation_settings",
    "current_vectors",
    "decide_unmapped",
    "delete_label",
    "describe_unmapped",
    "execute_run",
    "format_synonyms",
    "freeze_label_set",
    "freeze_or_reuse_label_set",
    "label_shortfalls",
    "labels_with_examples",
    "label_set_vectors",
    "label_usage",
    "latest_run",
    "live_statistics",
    "merge_clusters",
    "move_label",
    "outlier_choices",
    "parse_synonyms",
    "queue_model_disagreements",
    "rename_cluster",
    "rename_label",
    "review_image",
    "run_clustering",
    "sample_for_second_review",
    "set_verdict",
    "split_cluster",
    "start_clustering",
    "stop_run",
    "suggested_k",
    "sync_clauses",
    "team_cues",
    "undo_last",
    "unmapped_texts",
    "update_cues",
    "update_distance_settings",
    "vocabulary",
    "word_frequencies",
]
