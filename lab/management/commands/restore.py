"""``manage.py restore IN [--team NEWNAME] [--key-file PATH] [--json]``: a backup as a new team.

Every row gets a new id, so the same archive can be restored beside the team it came from under
another name. Users are matched by username; missing ones are created inactive, without a
usable password, and listed. A failure at any point leaves the installation as it was.
"""

from pathlib import Path

from lab.backup import keys, restore
from lab.backup.plan import PlanError
from teams.management.base import LabCommand


class Command(LabCommand):
    help = "Restore a team from an archive made by manage.py backup."
    takes_team = False
    user_errors = (*LabCommand.user_errors, PlanError)

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("archive", help="the archive to read")
        parser.add_argument("--team", help="name of the new team (default: the archived name)")
        parser.add_argument("--key-file", help="file holding the key (else CXR_BACKUP_KEY)")

    def handle(self, *args, **options) -> None:
        passphrase = keys.passphrase(options["key_file"])
        bar = self.counter(None, "restore")
        bar.unit = "file"
        summary = restore.restore_team(Path(options["archive"]), passphrase, options["team"],
                                       progress=lambda _kind: bar.update())  # fmt: skip
        bar.close()
        lines = [
            f"restored team {summary.team} (id {summary.team_id}): "
            f"{sum(summary.rows.values())} rows, {summary.files['count']} files"
        ]
        if summary.users_created:
            lines.append(
                "  users created inactive, without a password (activate them and set one): "
                + ", ".join(summary.users_created)
            )
        if summary.missing_files:
            lines.append(f"  {len(summary.missing_files)} instances came without a stored file")
        if summary.interrupted_jobs:
            lines.append(
                f"  jobs {', '.join(map(str, summary.interrupted_jobs))} were running when the "
                "backup was taken: marked failed, retry them"
            )
        self.emit(summary.as_dict(), "\n".join(lines))
