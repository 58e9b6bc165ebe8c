"""``manage.py train --team T --label-set N [--preset P] [key=value ...] [--wait] [--json]``.

Queues the same training job the launch form and ``POST /api/jobs/`` queue: a preset's engine
values, then ``key=value`` overrides (``gpus=2`` asks for two GPUs, started with torchrun).
Without a GPU worker online the default preset is the CPU-sized one, as in the browser.
"""

from django.core.management.base import CommandError

from jobs import services as job_services
from training.configs import PRESETS
from training.engine.config import ConfigError, parse_overrides
from training.management.jobcommand import JobCommand


class Command(JobCommand):
    help = "Queue a training job on a frozen label set (the browser's launch, from a shell)."
    kind = "train"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--label-set", type=int, required=True, help="label set id")
        parser.add_argument(
            "--preset", choices=sorted(PRESETS), default=None,
            help="engine defaults (default: paper-resnet101 with a GPU worker online, else cpu)",
        )  # fmt: skip
        parser.add_argument("overrides", nargs="*", metavar="key=value", help="engine fields")

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        preset = options["preset"] or (
            "paper-resnet101" if job_services.gpu_worker_online() else "cpu"
        )
        try:
            overrides = parse_overrides(options["overrides"])
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        config = {"label_set": options["label_set"], "engine": dict(PRESETS[preset][1])}
        if "gpus" in overrides:
            config["gpus"] = overrides.pop("gpus")
        config["engine"].update(overrides)
        engine = config["engine"]
        name = options["name"] or f"{engine.get('task', '')} {engine.get('arch', '')}".strip()
        job = self.launch(team, config, name)
        self.finish(job, options["wait"], options["poll"])
