"""Curation: from report clauses to a frozen label set, every decision audited.

Curated decisions attach to normalised clause *text* (``ClauseDecision``), never to cluster ids:
a re-clustering run proposes new clusters, and the decisions of their member texts come back
with them (label, "no label", ignored, and the curated grouping that merges and splits made).
Clusters and decisions carry a ``version``; a write quotes the version it read, so two curators
editing the same cluster get a conflict instead of a silent overwrite.
"""

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from jobs.models import Job, JobStatus
from labeling.distance import DEFAULT_DISTANCE, DEFAULT_SYNONYMS
from labeling.models import Instance, Report, Study
from teams.models import TeamOwned, TeamScopedQuerySet


class ImmutableError(RuntimeError):
    """A frozen row was about to be changed."""


def default_synonyms() -> list[list[str]]:
    """The clustering's default synonym table as groups ``[canonical, variant, ...]``."""
    groups: dict[str, list[str]] = {}
    for variant, canonical in DEFAULT_SYNONYMS:
        groups.setdefault(canonical, [canonical]).append(variant)
    return list(groups.values())


class CurationSettings(TeamOwned):
    """A team's editable cue lists and scope terminators (the stored reports are re-split when
    they change), its synonym table (applied before the distance by runs that use it) and
    thresholds.

    ``auto_label_distance`` is a normalised distance, a share of the longer clause's length
    in [0, 1] (``labeling.clustering``'s default distance): a new clause takes a curated
    medoid's decision when at most this share of its characters must be edited to match it.
    """

    negation = models.JSONField(_("negation cues"), default=list)
    uncertainty = models.JSONField(_("uncertainty cues"), default=list)
    pseudo = models.JSONField(_("pseudo cues"), default=list)
    # None until a curator edits them: the defaults of ``labeling.text``, as they evolve.
    terminators = models.JSONField(_("scope terminators"), null=True, blank=True)
    # [[canonical, variant, ...], ...]: each variant is read as its group's canonical form.
    synonyms = models.JSONField(_("synonyms"), default=default_synonyms, blank=True)
    auto_label_distance = models.FloatField(
        _("auto-label distance"),
        default=0.25,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "New clauses within this normalised distance of a curated medoid (a share of the "
            "clause's length, 0 to 1) take its decision."
        ),
    )
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team"], name="one_curation_settings")]
        verbose_name = _("curation settings")
        verbose_name_plural = _("curation settings")


class Label(TeamOwned):
    """One entry of a team's label vocabulary, named in English and Chinese."""

    key = models.SlugField(_("key"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=100)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "key"], name="label_key_per_team"),
            models.UniqueConstraint(fields=["team", "name_en"], name="label_en_per_team"),
            models.UniqueConstraint(fields=["team", "name_zh"], name="label_zh_per_team"),
        ]
        ordering = ["position", "id"]
        verbose_name = _("label")
        verbose_name_plural = _("labels")

    def __str__(self) -> str:
        return f"{self.name_en} / {self.name_zh}"


class ClauseOccurrence(TeamOwned):
    """One clause of one report's diagnosis, as written, with its normalised text and polarity.

    ``normal`` marks a statement of normality ("Clear lungs", 心肺未见异常): it never makes a
    report abnormal, and clusters of such statements are pre-mapped to the normal label.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="clauses")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="clauses")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=500)
    normalized = models.CharField(max_length=500, db_index=True)
    polarity = models.CharField(max_length=10)
    normal = models.BooleanField(default=False)

    class Meta:
        ordering = ["study_id", "position"]
        indexes = [models.Index(fields=["team", "normalized"])]


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


# A run's status is its job's: a cancelled job's run has failed (it never stored clusters).
RUN_STATUS_OF_JOB = {
    JobStatus.QUEUED: RunStatus.QUEUED,
    JobStatus.RUNNING: RunStatus.RUNNING,
    JobStatus.SUCCEEDED: RunStatus.SUCCEEDED,
    JobStatus.FAILED: RunStatus.FAILED,
    JobStatus.CANCELLED: RunStatus.FAILED,
}


class ClusterRunQuerySet(TeamScopedQuerySet):
    def with_status(self, *statuses: str) -> "ClusterRunQuerySet":
        """Runs in any of these run statuses, read from their jobs."""
        wanted = [job for job, run in RUN_STATUS_OF_JOB.items() if run in statuses]
        return self.filter(job__status__in=wanted)


class ClusterRun(TeamOwned):
    """One clustering run: its parameters and result. Its job (kind "cluster") holds its
    lifecycle, whether a worker runs it or ``manage.py cluster`` does in-process: status,
    progress and stage, start and end, heartbeat, attempts and cancel. ``status``, ``progress``,
    ``stage``, ``started_at``, ``finished_at`` and ``error`` read the job; nothing mirrors it."""

    k = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    cues = models.JSONField(default=dict)  # snapshot of the team's cue lists
    # The distance the clauses were compared with (``labeling.clustering.DISTANCES``), the
    # synonym table it applied (a snapshot), and the distance beyond which a member of a
    # cluster is an outlier (in the distance's unit: a share under "normalized", edits under
    # "paper"); None when the run chose it from each cluster's own spread.
    distance = models.CharField(_("distance"), max_length=20, default=DEFAULT_DISTANCE)
    synonyms = models.JSONField(default=list, blank=True)
    outlier_threshold = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict)
    loss = models.FloatField(null=True, blank=True)  # whole edits under "paper"
    silhouette = models.FloatField(null=True, blank=True)
    k_curve = models.JSONField(default=dict, blank=True)
    n_clauses = models.PositiveIntegerField(default=0)
    n_unique = models.PositiveIntegerField(default=0)
    sampled = models.BooleanField(default=False)
    # Why the run's own code failed (a reason the user can fix, a traceback, the cancel reason);
    # cleared when an attempt starts.
    failure = models.TextField(blank=True)
    # A job with a run can only go with its team (which takes the run along).
    job = models.OneToOneField(Job, on_delete=models.RESTRICT, related_name="cluster_run")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClusterRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("clustering run")
        verbose_name_plural = _("clustering runs")

    def __str__(self) -> str:
        return f"run {self.pk} (k={self.k}, seed={self.seed}, {self.status})"

    @property
    def status(self) -> str:
        return RUN_STATUS_OF_JOB.get(self.job.status, RunStatus.FAILED)

    def get_status_display(self) -> str:
        return str(RunStatus(self.status).label)

    @property
    def progress(self) -> float:
        return self.job.fraction_done

    @property
    def stage(self) -> str:
        return str(self.job.progress.get("phase") or "")

    @property
    def started_at(self) -> datetime | None:
        return self.job.started_at

    @property
    def finished_at(self) -> datetime | None:
        return self.job.finished_at

    @property
    def error(self) -> str:
        """Why the run failed: its own reason, else its job's (a worker that stopped beating,
        a job cancelled while queued); empty unless it failed or an attempt left a reason."""
        if self.failure or self.status != RunStatus.FAILED:
            return self.failure
        status = self.job.get_status_display()
        return self.job.error or gettext("the job was %(status)s") % {"status": status}


class Verdict(models.TextChoices):
    OPEN = "open", _("open")
    LABEL = "label", _("mapped to a label")
    NO_LABEL = "no_label", _("no label")
    IGNORED = "ignored", _("ignored")


class ProposedCluster(TeamOwned):
    """A cluster of one run, as proposed and then curated (renamed, merged, split, mapped)."""

    run = models.ForeignKey(ClusterRun, on_delete=models.CASCADE, related_name="clusters")
    polarity = models.CharField(max_length=10)
    medoid_text = models.CharField(max_length=500)
    medoid_normalized = models.CharField(max_length=500)
    name = models.CharField(_("name"), max_length=200)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.OPEN)
    # RESTRICT, not PROTECT: a label in use stays, yet the team can go with all its rows.
    label = models.ForeignKey(Label, on_delete=models.RESTRICT, null=True, blank=True)
    # Merged clusters stay (for undo) but leave the workspace.
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    clause_count = models.PositiveIntegerField(default=0)
    unique_count = models.PositiveIntegerField(default=0)
    report_count = models.PositiveIntegerField(default=0)
    image_count = models.PositiveIntegerField(default=0)
    patient_count = models.PositiveIntegerField(default=0)
    undecided_count = models.PositiveIntegerField(default=0)
    # Members flagged as outliers (clauses, repeats included; distinct texts), and the share of
    # the cluster's clauses within the run's outlier threshold of their medoid (1.0: none out).
    outlier_count = models.PositiveIntegerField(default=0)
    outlier_unique = models.PositiveIntegerField(default=0)
    purity = models.FloatField(default=1.0)

    class Meta:
        ordering = ["-clause_count", "id"]
        verbose_name = _("proposed cluster")
        verbose_name_plural = _("proposed clusters")

    def __str__(self) -> str:
        return self.name


class ClusterMember(TeamOwned):
    """One unique normalised clause text inside a cluster, with how often it is written.

    ``distance`` is its distance to the medoid of the cluster the run proposed it in (in the
    run's unit); None where no distance was measured (a curated group regathered by a run, a
    text auto-labelling added, clauses split off as outliers). ``outlier``: beyond the run's
    threshold, so mapping the cluster asks what to do with it.
    """

    cluster = models.ForeignKey(ProposedCluster, on_delete=models.CASCADE, related_name="members")
    normalized = models.CharField(max_length=500)
    example = models.CharField(max_length=500)  # one occurrence as written
    polarity = models.CharField(max_length=10)
    count = models.PositiveIntegerField(default=1)
    distance = models.FloatField(null=True, blank=True)
    outlier = models.BooleanField(default=False)

    class Meta:
        ordering = ["-count", "normalized"]


class ResplitReview(models.TextChoices):
    DIVIDED = "divided", _("divided by the new splitting")
    JOINED = "joined", _("joined to another clause")


class ClauseDecision(TeamOwned):
    """What curators decided about one normalised clause text; survives re-clustering.

    ``group`` is the curated cluster the text belongs to (set by rename, merge and split): a
    new run gathers all texts of one group into one cluster of that name.

    A re-split (new cues or terminators) can leave a decided text written nowhere any more: the
    splitter now divides it ("Cardiomegaly without edema" → two clauses) or joins it to its
    neighbour. Such a decision is kept and flagged for review, with the text as it was written
    (``review_text``) and the clauses that replace it (``review_pieces``).
    """

    normalized = models.CharField(max_length=500)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.OPEN)
    # RESTRICT, not PROTECT: a label in use stays, yet the team can go with all its rows.
    label = models.ForeignKey(Label, on_delete=models.RESTRICT, null=True, blank=True)
    group = models.CharField(max_length=200, blank=True)
    automatic = models.BooleanField(default=False)  # set by auto-labelling, not by a curator
    review = models.CharField(
        max_length=10, choices=ResplitReview.choices, blank=True, db_index=True
    )
    review_text = models.CharField(max_length=500, blank=True)
    review_pieces = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "normalized"], name="one_decision_per_text")
        ]


class AuditEntry(TeamOwned):
    """Who did what, when, with the state before and after (undo restores ``before``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=30)
    summary = models.CharField(max_length=300, blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")


class FrozenQuerySet(TeamScopedQuerySet):
    """Bulk writes skip ``save`` and ``delete``, so they are refused here too.

    Django's deletion collector goes through the plain base manager, so deleting a whole team
    (or an image a frozen row points to) still works; only direct writes to frozen rows fail.
    """

    def update(self, **kwargs) -> int:
        raise ImmutableError(f"{self.model.__name__} rows are frozen and cannot be updated")

    def delete(self):
        raise ImmutableError(f"{self.model.__name__} rows are frozen and cannot be deleted")


class FrozenModel(TeamOwned):
    """Rows written once: saving an existing row or deleting one raises ``ImmutableError``,
    one at a time or in bulk (``QuerySet.update``, ``delete``, ``bulk_update``)."""

    objects = FrozenQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} {self.pk} is frozen and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{type(self).__name__} {self.pk} is frozen and cannot be deleted")


class LabelSet(FrozenModel):
    """A frozen, versioned snapshot of per-image label vectors; training reads only these."""

    version = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    labels = models.JSONField()  # [{"key", "en", "zh"}], the vector's order
    statistics = models.JSONField(default=dict)
    note = models.CharField(_("note"), max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "version"], name="label_set_version_per_team")
        ]
        ordering = ["-version"]
        verbose_name = _("label set")
        verbose_name_plural = _("label sets")

    def __str__(self) -> str:
        return f"v{self.version} ({self.content_hash[:12]})"


class LabelSetImage(FrozenModel):
    """One image's labels in a frozen set (label keys, in the set's vocabulary order)."""

    label_set = models.ForeignKey(LabelSet, on_delete=models.CASCADE, related_name="images")
    instance = models.ForeignKey(Instance, on_delete=models.SET_NULL, null=True, related_name="+")
    sop_uid = models.CharField(max_length=64)
    labels = models.JSONField()
    conflict = models.BooleanField(default=False)  # normal + disease, not yet reviewed

    class Meta:
        ordering = ["sop_uid"]


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    CORRECTED = "corrected", _("corrected")


class ReviewReason(models.TextChoices):
    CONFLICT = "conflict", _("normal next to a disease")
    MODEL = "model disagreement", _("a model confidently disagrees")


class ImageReview(TeamOwned):
    """An image whose proposed labels a curator checks; a second curator may check a sample.

    ``evidence`` lists what sent the image here from a run's confident disagreements, one entry
    per (run, label, direction): ``{"run", "run_name", "label", "kind", "probability",
    "sent_at"}``, ``kind`` being "missed" (labelled, the run says absent) or "unreported".
    A reviewed image that new evidence sends back is pending again but keeps its ``labels``:
    they stay in force (``current_vectors``) until the curator decides anew.
    """

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(
        max_length=30, choices=ReviewReason.choices, default=ReviewReason.CONFLICT
    )
    proposed = models.JSONField(default=list)
    evidence = models.JSONField(default=list, blank=True)
    labels = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    in_second_sample = models.BooleanField(default=False)
    second_labels = models.JSONField(null=True, blank=True)
    second_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "instance"], name="one_review_per_image")
        ]
        ordering = ["status", "id"]
