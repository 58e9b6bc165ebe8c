"""``manage.py cluster --team T [--k K] [--seed S] [--distance D] [--json]``: cluster the team's
report clauses (``--distance paper``: the paper's plain edit distance; default: normalised, with
the team's synonym table).

Runs in this process (no worker or broker needed) and stores the run like the browser's runs,
job included: the job is claimed and run here through the jobs layer, so the queue page and
the workspace show it. Without ``--k`` the run uses the k the team's clauses suggest (elbow).
"""

from django.core.management.base import CommandError

from curation import services
from curation.models import ProposedCluster, RunStatus
from labeling.distance import DEFAULT_DISTANCE, DISTANCES
from teams.management.base import LabCommand


class Command(LabCommand):
    help = "Cluster the team's diagnosis clauses (edit distance, k-medoids, per polarity)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--k", type=int, default=None, help="clusters (default: suggested)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--distance", choices=DISTANCES, default=DEFAULT_DISTANCE)

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        k = options["k"] if options["k"] is not None else services.suggested_k(team)
        bar = self.counter(100, "clustering")
        try:
            run = services.run_clustering(team, k, options["seed"], on_progress=lambda done, _stage:
                                          bar.update(round(done * 100) - bar.n),
                                          distance=options["distance"])  # fmt: skip
        except services.CurationError as exc:
            raise CommandError(str(exc)) from exc
        bar.close()
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"clustering run {run.pk} failed: {run.error.splitlines()[-1]}")
        clusters = ProposedCluster.objects.filter(run=run).order_by("-clause_count", "id")
        summary = {
            "team": team.name,
            "run": run.pk,
            "k": run.k,
            "seed": run.seed,
            "distance": run.distance,
            "outlier_threshold": run.outlier_threshold,
            "clauses": run.n_clauses,
            "unique": run.n_unique,
            "loss": run.loss,
            "silhouette": round(run.silhouette, 4),
            "suggested_k": run.k_curve.get("suggested_k"),
            "seconds": run.timings.get("total"),
            "clusters": [
                {"name": c.name, "polarity": c.polarity, "clauses": c.clause_count,
                 "verdict": c.verdict}
                for c in clusters
            ],
        }  # fmt: skip
        top = ", ".join(f"{c.name} ({c.clause_count})" for c in clusters[:5])
        self.emit(
            summary,
            f"{team.name}: run {run.pk}, {len(summary['clusters'])} clusters of {run.n_clauses} "
            f"clauses ({run.n_unique} unique), loss {run.loss}; largest: {top}",
        )
