"""``restore_team``: an archive into a new team of this installation, all or nothing.

Every row gets a new id (the installation may hold other teams, or this very team restored
before), and every reference follows: foreign keys as rows are inserted, ids inside JSON columns
and run folders' files after the last row (refs.py, files.py). Users are matched by username;
missing ones are created inactive, with no usable password.

Order of work, so that a failure anywhere leaves the installation as it was:

1. the key is checked and the header read; its team name must be free and its columns must
   fit this installation's models; nothing is written before this;
2. files are streamed into hidden staging folders beside their destinations
   (``<store>/.restore-<token>/``);
3. in one transaction: the team, missing users, then rows model by model; the manifest and the
   end of the encrypted stream are checked; JSON ids, run folders and Grad-CAM names are
   rewritten in the staging folders;
4. after the commit, each staging tree is renamed to the team's folder (one rename per store).
   Should a rename fail, the moved folders go back and the new team is deleted.

Any failure removes the staging folders (and a store folder the restore itself created).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from jobs.models import FINISHED, Job, JobStatus
from labeling.models import Instance
from labeling.services import store_path
from teams.models import Team
from training.runs import RunFolder

from . import archive, plan, refs, rows
from .archive import ArchiveError, FileDigest, Hashing, safe_relative
from .crypto import CHUNK, DecryptingReader
from .files import PathMap, rename_gradcam, rewrite_json_files

INSTANCE, JOB = Instance._meta.label_lower, Job._meta.label_lower
BATCH = 500
INTERRUPTED = (
    "interrupted: the backup this team was restored from was taken while the job was "
    "%(status)s; retry it"
)


class RestoreError(ValueError):
    """A restore that cannot be done as asked; the message says why. Nothing was changed."""


@dataclass
class RestoreSummary:
    team: str
    team_id: int
    rows: dict[str, int]
    files: dict
    users_matched: list[str]
    users_created: list[str]  # inactive, without a usable password
    missing_files: list[str] = field(default_factory=list)  # SOP UIDs restored without a file
    interrupted_jobs: list[int] = field(default_factory=list)  # new ids, marked failed

    def as_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[str], None]


def restore_team(
    path: Path, passphrase: str, new_name: str | None = None, progress: Progress | None = None
) -> RestoreSummary:
    with Path(path).open("rb") as raw:
        reader = DecryptingReader(raw, passphrase)
        try:
            tar = tarfile.open(fileobj=io.BufferedReader(reader, CHUNK), mode="r|")
            work = _Restore(_header(tar), new_name, progress)
            try:
                return work.run(tar, reader)
            finally:
                work.staging.remove()
        except tarfile.TarError as exc:
            raise ArchiveError(f"the archive's content is not a team backup ({exc})") from exc


def _header(tar: tarfile.TarFile) -> dict:
    info = tar.next()
    if info is None or info.name != archive.HEADER or not info.isfile():
        raise ArchiveError("the archive does not start with its header: not a team backup")
    header = json.loads(tar.extractfile(info).read())
    if not isinstance(header, dict) or header.get("format") != archive.FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise ArchiveError(f"unknown archive format {found!r}")
    if not _complete(header):
        raise ArchiveError("the archive's header is incomplete: not a team backup")
    return header


def _complete(header: dict) -> bool:
    try:
        team, users, models_ = header["team"]["fields"], header["users"], header["plan"]
        return (
            isinstance(team["name"], str)
            and isinstance(header["runs_folder"], str)
            and isinstance(users, list)
            and all(isinstance(u["id"], int) for u in users)
            and isinstance(models_, list)
            and all(isinstance(m["model"], str) and isinstance(m["fields"], list) for m in models_)
        )
    except (KeyError, TypeError):
        return False


@dataclass
class _Row:
    """One archived row on its way in: the model instance to insert and what follows it."""

    old: int
    obj: models.Model | None = None
    self_refs: list[tuple[str, int]] = field(default_factory=list)  # column, old target id
    interrupted: bool = False


class _Staging:
    """Hidden folders beside each store, created on first use; ``tree(kind)`` becomes the
    team's folder in that store after the commit."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(6)
        self.roots = {"dicom": Path(settings.DICOM_STORE_DIR),
                      "cache": Path(settings.CACHE_STORE_DIR), "runs": Path(settings.RUNS_DIR)}  # fmt: skip
        self.folders: dict[str, Path] = {}
        self.created_roots: list[Path] = []
        self.moved: list[tuple[Path, Path]] = []

    def folder(self, kind: str) -> Path:
        if kind not in self.folders:
            root = self.roots[kind]
            missing = [p for p in (root, *root.parents) if not p.exists()]
            root.mkdir(parents=True, exist_ok=True)
            self.created_roots.extend(missing)  # deepest first
            self.folders[kind] = root / f".restore-{self.token}"
            self.folders[kind].mkdir()
        return self.folders[kind]

    def incoming(self, kind: str) -> Path:
        return self.folder(kind) / "incoming"

    def tree(self, kind: str) -> Path:
        return self.folder(kind) / "tree"

    def check_free(self, team_id: int) -> None:
        for kind, root in self.roots.items():
            target = root / str(team_id)
            if kind in self.folders and target.exists() and any(target.iterdir()):
                raise RestoreError(
                    f"{target} already exists and is not empty (files of a team deleted "
                    "earlier?); move it away and restore again"
                )

    def move_in(self, team_id: int) -> None:
        for kind, folder in self.folders.items():
            tree = folder / "tree"
            if tree.is_dir():
                target = self.roots[kind] / str(team_id)
                os.rename(tree, target)  # replaces an empty folder, refuses a full one
                self.moved.append((target, tree))

    def move_back(self) -> None:
        for target, tree in reversed(self.moved):
            os.rename(target, tree)
        self.moved.clear()

    def remove(self) -> None:
        for folder in self.folders.values():
            shutil.rmtree(folder, ignore_errors=True)
        for root in sorted(self.created_roots, key=lambda p: len(p.parts), reverse=True):
            try:
                root.rmdir()  # only if the failed restore left it empty
            except OSError:
                continue


class _Restore:
    def __init__(self, header: dict, new_name: str | None, progress: Progress | None) -> None:
        self.header = header
        self.progress = progress or (lambda _kind: None)
        self.name = " ".join((new_name or header["team"]["fields"]["name"]).split())
        self.plan = {m.label: m for m in plan.build()}
        self.order = [entry["model"] for entry in header["plan"]]
        self.columns = {entry["model"]: entry["fields"] for entry in header["plan"]}
        self.ids = refs.IdMaps()
        self.keep = _kept_maps(self.plan.values())
        self.users: dict[int, int] = {}
        self.counts: Counter[str] = Counter()
        self.digest = FileDigest()
        self.staging = _Staging()
        self.team: Team | None = None
        self.self_refs: list[tuple[str, str, int, int]] = []  # model, column, new pk, old target
        self.job_kinds: dict[int, str] = {}
        self.summary_users: tuple[list[str], list[str]] = ([], [])
        self.missing: list[str] = []
        self.interrupted: list[int] = []
        self._check_schema()
        self._check_name()

    # --- before anything is written ---------------------------------------------------------

    def _check_schema(self) -> None:
        for label in self.order:
            target = self.plan.get(label)
            if target is None:
                raise RestoreError(
                    f"the archive holds {label} rows, a model this installation does not have "
                    "as team data: restore into the version that made the backup, or a newer one"
                )
            here = {f.attname: f for f in target.fields}
            unknown = sorted(set(self.columns[label]) - set(here))
            if unknown:
                raise RestoreError(
                    f"the archive's {label} rows have columns {unknown} this installation does "
                    "not know: restore into the version that made the backup, or a newer one"
                )
            for attname, column in here.items():
                if attname not in self.columns[label] and not _fillable(column):
                    raise RestoreError(f"{label}.{attname} is required here and missing from "
                                       "the archive: migrate, or use a matching version")  # fmt: skip
            position = self.order.index(label)
            for link in target.links:
                if link.target in self.order and self.order.index(link.target) > position:
                    raise RestoreError(f"the archive stores {label} before {link.target}, "
                                       "which it refers to")  # fmt: skip

    def _check_name(self) -> None:
        if not self.name:
            raise RestoreError("a team needs a non-empty name")
        if len(self.name) > Team._meta.get_field("name").max_length:
            raise RestoreError(f"the team name {self.name!r} is too long")
        if Team.objects.filter(name__iexact=self.name).exists():
            raise RestoreError(
                f"a team named {self.name!r} already exists; restore with --team NEWNAME"
            )
        self.slug = slugify(self.name, allow_unicode=True) or secrets.token_hex(4)
        if Team.objects.filter(slug=self.slug).exists():
            raise RestoreError(
                f"a team with the slug {self.slug!r} already exists; restore with --team NEWNAME"
            )

    # --- the work ---------------------------------------------------------------------------

    def run(self, tar: tarfile.TarFile, reader: DecryptingReader) -> RestoreSummary:
        info = self._stage_files(tar)
        with transaction.atomic(durable=True):
            self._create_team()
            self._create_users()
            info = self._insert_rows(tar, info)
            self._check_manifest(tar, info)
            reader.finish()
            self._fix_self_references()
            self._fix_json()
            self._place_run_folders()
            self.staging.check_free(self.team.pk)
        try:
            self.staging.move_in(self.team.pk)
        except OSError:
            self.staging.move_back()
            self._forget_team()
            raise
        return self._summary()

    def _stage_files(self, tar: tarfile.TarFile) -> tarfile.TarInfo | None:
        """Files until the first rows member, each to its staging folder, hashed."""
        while (info := tar.next()) is not None:
            if archive.ROWS_NAME.fullmatch(info.name) or info.name == archive.MANIFEST:
                return info
            if not info.isfile():
                raise ArchiveError(f"the archive holds {info.name!r}, which is not a file")
            if match := archive.DICOM_NAME.fullmatch(info.name):
                target = self.staging.incoming("dicom") / match.group(1)
                kind = "dicom"
            elif match := archive.RUNS_NAME.fullmatch(info.name):
                relative = safe_relative(match.group(2))
                target = self.staging.incoming("runs") / match.group(1) / relative
                kind = "runs"
            elif match := archive.CACHE_NAME.fullmatch(info.name):
                target = self.staging.tree("cache") / safe_relative(match.group(1))
                kind = "cache"
            else:
                raise ArchiveError(f"the archive holds an unexpected member {info.name!r}")
            self._write(tar, info, target)
            self.progress(kind)
        return None

    def _write(self, tar: tarfile.TarFile, info: tarfile.TarInfo, target: Path) -> None:
        if target.exists():
            raise ArchiveError(f"the archive holds {info.name!r} twice")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Hashing(tar.extractfile(info))
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, archive.COPY)
        self.digest.add(info.name, source.sha.hexdigest(), info.size)

    def _create_team(self) -> None:
        fields = [f for f in Team._meta.concrete_fields if not f.primary_key]
        stored = self.header["team"]["fields"]
        values = rows.decode({f.attname: f for f in fields},
                             {k: v for k, v in stored.items() if k in {f.attname for f in fields}})  # fmt: skip
        values.update(name=self.name, slug=self.slug)
        team = _fill(Team(**values), fields, values)
        try:
            with transaction.atomic():
                (pk,) = Team._base_manager._insert(
                    [team], fields=fields, returning_fields=[Team._meta.pk], raw=True
                )[0]
        except IntegrityError:
            raise RestoreError(f"a team named {self.name!r} was created meanwhile") from None
        self.team = Team.objects.get(pk=pk)

    def _create_users(self) -> None:
        user_model = get_user_model()
        username = user_model.USERNAME_FIELD
        matched, created = self.summary_users
        known = {f.name for f in user_model._meta.concrete_fields} - {"id", "password"}
        for stored in self.header["users"]:
            user = user_model._default_manager.filter(**{username: stored[username]}).first()
            if user is None:
                details = {k: v for k, v in stored.items() if k in known}
                user = user_model(**details, is_active=False)
                user.set_unusable_password()
                user.save()
                created.append(stored[username])
            else:
                matched.append(stored[username])
            self.users[stored["id"]] = user.pk

    def _insert_rows(self, tar: tarfile.TarFile, info: tarfile.TarInfo | None):
        position = 0
        while info is not None and (match := archive.ROWS_NAME.fullmatch(info.name)):
            label = match.group(2)
            if not info.isfile():
                raise ArchiveError(f"the archive holds {info.name!r}, which is not a file")
            if label not in self.columns:
                raise ArchiveError(f"the archive holds {label} rows its header does not list")
            if self.order.index(label) < position:
                raise ArchiveError(f"rows of {label} are out of the archive's order")
            position = self.order.index(label)
            self._insert_chunk(self.plan[label], tar.extractfile(info))
            info = tar.next()
        return info

    def _insert_chunk(self, model: plan.ModelPlan, lines: Iterable[bytes]) -> None:
        fields = {f.attname: f for f in model.fields}
        batch: list[_Row] = []
        for line in lines:
            try:
                row = json.loads(line)
                batch.append(self._build(model, fields, row["pk"], row["f"]))
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise ArchiveError(
                    f"a {model.label} row of the archive is malformed: {exc}"
                ) from exc
            if len(batch) >= BATCH:
                self._insert_batch(model, batch)
                batch = []
        if batch:
            self._insert_batch(model, batch)

    def _build(self, model: plan.ModelPlan, fields: dict, old: int, stored: dict) -> _Row:
        values = rows.decode(fields, stored)
        row = _Row(old)
        for link in model.links:
            old = values.get(link.attname)
            if old is None:
                continue
            if link.target == plan.TEAM:
                values[link.attname] = self.team.pk
            elif link.target == plan.USER:
                values[link.attname] = self.users.get(old)
            elif link.target == plan.SELF:
                values[link.attname] = None  # set once every row of the model is in
                row.self_refs.append((link.attname, old))
            else:
                values[link.attname] = self.ids.new(link.target, old)
                if values[link.attname] is None and not link.null:
                    raise ArchiveError(f"a {model.label} row refers to {link.target} {old}, "
                                       "which the archive does not hold")  # fmt: skip
        if model.label == INSTANCE:
            values["file_path"] = str(store_path(self.team, values["sop_uid"]))
        elif model.label == JOB and values.get("status") not in FINISHED:
            values.update(status=JobStatus.FAILED, worker="", heartbeat_at=None,
                          finished_at=timezone.now(), cancel_requested=False,
                          error=INTERRUPTED % {"status": values.get("status")})  # fmt: skip
            row.interrupted = True
        row.obj = _fill(model.model(**values), model.fields, values)
        return row

    def _insert_batch(self, model: plan.ModelPlan, batch: list[_Row]) -> None:
        objs = [row.obj for row in batch]
        size = max(1, min(BATCH, connection.ops.bulk_batch_size(model.fields, objs)))
        pks = []
        try:
            for start in range(0, len(objs), size):
                pks += model.model._base_manager._insert(
                    objs[start : start + size], fields=model.fields,
                    returning_fields=[model.model._meta.pk], raw=True,
                )  # fmt: skip
        except (IntegrityError, DataError) as exc:
            raise ArchiveError(f"the archive's {model.label} rows do not fit: {exc}") from exc
        for row, (new,) in zip(batch, pks, strict=True):
            self.counts[model.label] += 1
            if model.label in self.keep:
                self.ids.add(model.label, row.old, new)
            self.self_refs += [(model.label, name, new, old) for name, old in row.self_refs]
            if model.label == INSTANCE:
                self._place_dicom(row.old, row.obj)
            elif model.label == JOB:
                self.job_kinds[new] = row.obj.kind
                if row.interrupted:
                    self.interrupted.append(new)

    def _place_dicom(self, old: int, obj: Instance) -> None:
        staged = self.staging.incoming("dicom") / str(old)
        if not staged.is_file():
            self.missing.append(obj.sop_uid)
            return
        relative = Path(obj.file_path)
        target = self.staging.tree("dicom").joinpath(*relative.parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, target)

    def _check_manifest(self, tar: tarfile.TarFile, info: tarfile.TarInfo | None) -> None:
        if info is None or info.name != archive.MANIFEST or not info.isfile():
            raise ArchiveError("the archive ends without its manifest: it is incomplete")
        manifest = json.loads(tar.extractfile(info).read())
        if tar.next() is not None:
            raise ArchiveError("the archive holds members after its manifest")
        if not isinstance(manifest, dict) or manifest.get("rows") != dict(self.counts):
            raise ArchiveError("the archive's rows do not match its manifest")
        if manifest.get("files") != self.digest.summary():
            raise ArchiveError("the archive's files do not match its manifest")

    def _fix_self_references(self) -> None:
        for label, attname, new, old_target in self.self_refs:
            target = self.ids.new(label, old_target)
            self.plan[label].model._base_manager.filter(pk=new).update(**{attname: target})

    def _fix_json(self) -> None:
        """Ids inside JSON columns, and run-folder paths inside jobs', in the new team's rows."""
        paths = self._path_map()
        for label, columns in refs.JSON_FIELDS.items():
            remaps = {name: remap for name, remap in columns.items() if remap is not None}
            if label not in self.counts or not (remaps or label == JOB):
                continue
            model = self.plan[label]
            names = list(columns) + (["kind", "output_dir"] if label == JOB else [])
            for row in model.rows(self.team).values("pk", *names).iterator(chunk_size=2000):
                changes = {}
                for name, remap in remaps.items():
                    value = remap(row[name], row, self.ids)
                    if label == JOB:
                        value = paths.json(value)
                    if value != row[name]:
                        changes[name] = value
                if label == JOB and paths.text(row["output_dir"]) != row["output_dir"]:
                    changes["output_dir"] = paths.text(row["output_dir"])
                if changes:
                    model.model._base_manager.filter(pk=row["pk"]).update(**changes)

    def _path_map(self) -> PathMap:
        def new_root(old_job: int) -> str | None:
            new = self.ids.new(JOB, old_job)
            return None if new is None else str(RunFolder.of(Job(pk=new, team=self.team)).root)

        return PathMap(self.header["runs_folder"], new_root)

    def _place_run_folders(self) -> None:
        """Each staged job folder under its new job's name, Grad-CAM maps renamed, JSON files
        pointed at the new folders; folders of jobs the archive has no row for are dropped."""
        incoming = self.staging.folders.get("runs")
        if incoming is None or not (incoming / "incoming").is_dir():
            return
        paths = self._path_map()
        for folder in sorted((incoming / "incoming").iterdir()):
            new = self.ids.new(JOB, int(folder.name))
            if new is None:
                continue
            target = self.staging.tree("runs") / f"job-{new}"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, target)
            rename_gradcam(target, lambda old: self.ids.new(INSTANCE, old))
            kind = self.job_kinds.get(new, "")

            def change(path: Path, data: Any, kind: str = kind) -> Any:
                data = paths.json(data)
                if path.name == "metrics.json":
                    data = refs.job_json(data, {"kind": kind}, self.ids)
                return data

            rewrite_json_files(target, change)

    def _forget_team(self) -> None:
        """The rows of a restore whose files could not be moved in: deleted again."""
        with transaction.atomic():
            # Row by row in reverse plan order, without the deletion collector: a used label is
            # protected from an ordinary delete, and these rows are ours to take back whole.
            for model in reversed(list(self.plan.values())):
                model.rows(self.team)._raw_delete(connection.alias)
            Team.objects.filter(pk=self.team.pk)._raw_delete(connection.alias)
            user_model = get_user_model()
            user_model._default_manager.filter(
                **{f"{user_model.USERNAME_FIELD}__in": self.summary_users[1]}, is_active=False
            ).delete()

    def _summary(self) -> RestoreSummary:
        matched, created = self.summary_users
        return RestoreSummary(
            team=self.team.name, team_id=self.team.pk, rows=dict(self.counts),
            files=self.digest.summary(), users_matched=matched, users_created=created,
            missing_files=self.missing, interrupted_jobs=self.interrupted,
        )  # fmt: skip


def _kept_maps(models_: Iterable[plan.ModelPlan]) -> set[str]:
    """Models whose old -> new ids are remembered: those something refers to."""
    kept = refs.referenced_models() | {INSTANCE, JOB}
    for model in models_:
        for link in model.links:
            if link.target == plan.SELF:
                kept.add(model.label)
            elif link.target not in (plan.TEAM, plan.USER):
                kept.add(link.target)
    return kept


def _fillable(field: models.Field) -> bool:
    return (
        field.null
        or field.has_default()
        or (field.empty_strings_allowed and not field.is_relation)  # text: ""
        or getattr(field, "auto_now_add", False)
        or getattr(field, "auto_now", False)
    )


def _fill(obj: models.Model, fields: list[models.Field], values: dict) -> models.Model:
    """Columns the archive lacks (a newer installation's) take their defaults; an auto_now
    column its first value."""
    for column in fields:
        if column.attname not in values:
            setattr(obj, column.attname, column.pre_save(obj, add=True))
    return obj
