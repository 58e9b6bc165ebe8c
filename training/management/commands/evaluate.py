"""``manage.py evaluate --team T --job N [--label-set M] [--wait] [--json]``.

Queues the same evaluation job the API queues: a finished training job scored on its own test
split, or on another frozen label set of the team with the same labels.
"""

from training.management.jobcommand import JobCommand


class Command(JobCommand):
    help = "Queue an evaluation of a finished training job (its test split or another label set)."
    kind = "evaluate"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--job", type=int, required=True, help="the training job's id")
        parser.add_argument("--label-set", type=int, default=None, help="another label set's id")

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        config = {"source_job": options["job"]}
        if options["label_set"] is not None:
            config["label_set"] = options["label_set"]
        job = self.launch(team, config, options["name"] or f"evaluate job {options['job']}")
        self.finish(job, options["wait"], options["poll"])
