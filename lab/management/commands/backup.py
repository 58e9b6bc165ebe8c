"""``manage.py backup --team NAME OUT [--key-file PATH] [--json]``: one team, one encrypted file.

The archive holds the team's rows (its pseudonym secret and PACS credentials included), DICOM
files, training cache, run folders and audit log, encrypted with the key from ``--key-file`` or
``CXR_BACKUP_KEY``. It is written under a temporary name and renamed into place when complete.
"""

from pathlib import Path

from lab.backup import create, keys
from lab.backup.plan import PlanError
from teams.management.base import LabCommand


class Command(LabCommand):
    help = "Write one team (rows, files, secrets) to an encrypted archive."
    user_errors = (*LabCommand.user_errors, PlanError)

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("out", help="the archive to write (must not exist)")
        parser.add_argument("--key-file", help="file holding the key (else CXR_BACKUP_KEY)")

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        passphrase = keys.passphrase(options["key_file"])
        bar = self.counter(None, "backup")
        bar.unit = "file"
        summary = create.backup_team(team, Path(options["out"]), passphrase,
                                     progress=lambda _kind: bar.update())  # fmt: skip
        bar.close()
        text = (
            f"{team.name}: {sum(summary.rows.values())} rows, {summary.files['count']} files "
            f"({summary.files['bytes'] / 2**20:.1f} MiB) written to {summary.path}"
        )
        if summary.missing_files:
            text += f"\n  {len(summary.missing_files)} instances had no stored file"
        if summary.active_jobs:
            text += (
                f"\n  jobs {', '.join(map(str, summary.active_jobs))} were queued or running: "
                "a restore marks them failed, to be retried"
            )
        self.emit(summary.as_dict(), text)
