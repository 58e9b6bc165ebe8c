"""Backup and restore refuse clearly and change nothing: a wrong or missing key, a damaged,
cut or crafted archive, a taken name, a failure part-way through a restore (before or after its
commit) or through a backup. The installation afterwards holds the same rows, users and files
as before, and no staging folder or temporary file is left behind."""

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from jobs.models import Job
from lab.backup import create, crypto, restore
from lab.backup.crypto import EncryptingWriter
from labeling.models import PacsConnection
from teams.models import Team
from training.runs import RunFolder

from .backup_team import KEY, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_team(personas, tmp_path, settings):
    """Six demo images, a training job with a run folder (a config naming its folder and a
    Grad-CAM map named by an instance id), a PACS password."""
    settings.CACHE_IMAGE_SIZE = 64
    team = personas.team
    call_command("demo", "--team", team.name, "--images", "6", "--size", "64", "--workers", "1",
                 "--out", str(tmp_path / "demo"), "--json", stdout=io.StringIO())  # fmt: skip
    job = Job.objects.create(team=team, owner=personas.teammate, kind="train", status="succeeded",
                             config={"label_set": None, "engine": {}})  # fmt: skip
    folder = RunFolder.of(job)
    folder.run.mkdir(parents=True)
    folder.config.write_text(json.dumps({"output": str(folder.run), "dataset": "elsewhere"}))
    folder.gradcam.mkdir()
    instance = team_instance(team)
    (folder.gradcam / f"{instance.pk}-0.png").write_bytes(b"\x89PNG fake map")
    (folder.run / "last.pt").write_bytes(bytes(range(256)) * 40)
    PacsConnection.objects.create(team=team, name="PACS", url="https://pacs.example.org/",
                                  password="pacs-password-1")  # fmt: skip
    return team


def team_instance(team):
    from labeling.models import Instance

    return Instance.objects.of_team(team).order_by("pk").first()


def files_under(root: Path) -> dict[str, bytes]:
    """Every file (and empty folder) below the data folder, test files aside."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[path.relative_to(root).as_posix()] = path.read_bytes()
        elif path.is_dir() and not any(path.iterdir()):
            out[path.relative_to(root).as_posix() + "/"] = b""
    return out


def state(personas) -> tuple:
    users = sorted(get_user_model().objects.values_list("username", "is_active"))
    teams = sorted(Team.objects.values_list("name", flat=True))
    counts = {t.name: row_counts(t) for t in Team.objects.all()}
    return teams, users, counts, files_under(Path(settings.DATA_DIR))


def backup(team, tmp_path, name="team.cxrbackup") -> Path:
    out = tmp_path / name
    create.backup_team(team, out, KEY)
    return out


def restore_command(*args: str) -> str:
    out = io.StringIO()
    call_command("restore", *args, stdout=out)
    return out.getvalue()


def test_a_wrong_key_changes_nothing(personas, small_team, tmp_path):
    archive = backup(small_team, tmp_path)
    before = state(personas)
    with pytest.raises(CommandError, match="wrong backup key"):
        restore_command(
            str(archive), "--team", "Copy", "--key-file", str(key_file(tmp_path, "x" * 20))
        )
    assert state(personas) == before


def key_file(tmp_path: Path, key: str = KEY) -> Path:
    path = tmp_path / "backup.key"
    path.write_text(key + "\n")
    return path


@pytest.fixture
def many_chunks(monkeypatch):
    """Chunks of 4 KiB: a flipped byte near the end of the archive lies in the rows, read after
    every file was staged and most rows inserted."""
    monkeypatch.setattr(crypto, "CHUNK", 4096)


def chunk_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each sealed chunk's ciphertext, after the header and its length."""
    spans, offset = [], 8 + 3 + 16 + 7 + 4 + 16
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        spans.append((offset + 4, offset + 4 + length))
        offset += 4 + length
    return spans


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_a_changed_byte_anywhere_changes_nothing(
    personas, small_team, tmp_path, many_chunks, where
):
    archive = backup(small_team, tmp_path)
    data = bytearray(archive.read_bytes())
    chunks = chunk_spans(bytes(data))
    start, end = chunks[min(len(chunks) - 1, int(len(chunks) * where))]
    data[(start + end) // 2] ^= 0x40
    archive.write_bytes(bytes(data))
    before = state(personas)
    with pytest.raises(CommandError, match="fails authentication: the archive was changed"):
        restore_command(str(archive), "--team", "Copy", "--key-file", str(key_file(tmp_path)))
    assert state(personas) == before


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_cut_archive_changes_nothing(personas, small_team, tmp_path, many_chunks, keep):
    archive = backup(small_team, tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)])
    before = state(personas)
    with pytest.raises(CommandError, match="incomplete"):
        restore_command(str(archive), "--team", "Copy", "--key-file", str(key_file(tmp_path)))
    assert state(personas) == before


def test_a_failure_part_way_through_the_rows_changes_nothing(
    personas, small_team, tmp_path, monkeypatch
):
    archive = backup(small_team, tmp_path)
    get_user_model().objects.filter(username="teammate").delete()  # the restore creates them
    before = state(personas)
    real = restore._Restore._insert_batch
    inserted = []

    def failing(self, model, batch):
        if model.label == "labeling.instance":
            raise RuntimeError("disk on fire")
        inserted.append(model.label)
        return real(self, model, batch)

    monkeypatch.setattr(restore._Restore, "_insert_batch", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        restore.restore_team(archive, KEY, "Copy")
    assert "labeling.study" in inserted and "jobs.job" in inserted  # it was well under way
    assert state(personas) == before


def test_a_failure_moving_files_in_after_the_commit_takes_the_team_back_out(
    personas, small_team, tmp_path, monkeypatch
):
    archive = backup(small_team, tmp_path)
    get_user_model().objects.filter(username="teammate").delete()
    before = state(personas)
    real_rename = restore.os.rename

    def rename(source, target):
        if Path(target).parent == Path(settings.RUNS_DIR) and ".restore-" not in str(target):
            raise OSError(28, "No space left on device")
        return real_rename(source, target)

    monkeypatch.setattr(restore.os, "rename", rename)
    with pytest.raises(OSError, match="No space left"):
        restore.restore_team(archive, KEY, "Copy")
    assert state(personas) == before


def test_a_taken_name_is_refused_before_anything_is_written(personas, small_team, tmp_path):
    archive = backup(small_team, tmp_path)
    before = state(personas)
    for args, message in (([], "a team named 'Radiology A' already exists; restore with --team"),
                          (["--team", "radiology b"], "a team named 'radiology b' already exists"),
                          (["--team", "  "], "a team needs a non-empty name")):  # fmt: skip
        with pytest.raises(CommandError, match=message):
            restore_command(str(archive), *args, "--key-file", str(key_file(tmp_path)))
    assert state(personas) == before


def test_missing_users_are_created_inactive_and_listed(personas, small_team, tmp_path):
    archive = backup(small_team, tmp_path)
    get_user_model().objects.filter(username="teammate").delete()
    printed = restore_command(str(archive), "--team", "Copy", "--key-file", str(key_file(tmp_path)))
    assert "users created inactive, without a password" in printed and "teammate" in printed
    teammate = get_user_model().objects.get(username="teammate")
    assert not teammate.is_active and not teammate.has_usable_password()
    copy = Team.objects.get(name="Copy")
    assert Job.objects.get(team=copy).owner == teammate
    assert get_user_model().objects.get(username="owner").is_active


def test_the_key_comes_from_the_environment_when_no_file_is_given(
    personas, small_team, tmp_path, settings
):
    settings.BACKUP_KEY = KEY
    out = io.StringIO()
    call_command("backup", "--team", small_team.name, str(tmp_path / "env.cxrbackup"), stdout=out)
    assert "written to" in out.getvalue()
    assert "restored team Copy" in restore_command(
        str(tmp_path / "env.cxrbackup"), "--team", "Copy"
    )
    settings.BACKUP_KEY = ""
    with pytest.raises(
        CommandError, match="no backup key: pass --key-file PATH or set CXR_BACKUP_KEY"
    ):
        restore_command(str(tmp_path / "env.cxrbackup"), "--team", "Other")
    with pytest.raises(CommandError, match="at least 16 characters"):
        call_command("backup", "--team", small_team.name, str(tmp_path / "short.cxrbackup"),
                     "--key-file", str(key_file(tmp_path, "short")))  # fmt: skip
    assert not (tmp_path / "short.cxrbackup").exists()


def test_backup_refuses_an_existing_file_or_a_missing_folder(personas, small_team, tmp_path):
    existing = tmp_path / "there.cxrbackup"
    existing.write_bytes(b"precious")
    key = str(key_file(tmp_path))
    with pytest.raises(CommandError, match="already exists; choose a new name"):
        call_command("backup", "--team", small_team.name, str(existing), "--key-file", key)
    assert existing.read_bytes() == b"precious"
    with pytest.raises(CommandError, match="no such folder"):
        call_command(
            "backup", "--team", small_team.name, str(tmp_path / "no" / "x"), "--key-file", key
        )
    with pytest.raises(CommandError, match="unknown team 'Nobody'"):
        call_command("backup", "--team", "Nobody", str(tmp_path / "x"), "--key-file", key)


def test_a_backup_that_fails_part_way_leaves_no_file(personas, small_team, tmp_path, monkeypatch):
    real = create._add_file
    calls = []

    def failing(tar, path, name, digest):
        calls.append(name)
        if len(calls) == 4:
            raise OSError(5, "Input/output error")
        return real(tar, path, name, digest)

    monkeypatch.setattr(create, "_add_file", failing)
    with pytest.raises(CommandError, match="Input/output error"):
        call_command("backup", "--team", small_team.name, str(tmp_path / "out.cxrbackup"),
                     "--key-file", str(key_file(tmp_path)))  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == []


def test_not_an_archive_is_named_as_such(personas, tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    with pytest.raises(CommandError, match="not a CXR Lab backup"):
        restore_command(str(tmp_path / "photo.jpg"), "--key-file", str(key_file(tmp_path)))
    with pytest.raises(CommandError, match="No such file or directory"):
        restore_command(str(tmp_path / "missing"), "--key-file", str(key_file(tmp_path)))


def crafted(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """An archive made with the right key by someone else: the key does not vouch for it."""
    with path.open("wb") as raw:
        writer = EncryptingWriter(raw, KEY, log_n=10)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        writer.close()
    return path


def entry(name: str, data: bytes = b"", kind=tarfile.REGTYPE, link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, link
    return info, data


STUDIES = [{"model": "labeling.study", "fields": ["team_id", "study_uid"]}]
ROWS = "rows/000001-labeling.study.jsonl"
STUDY_ROW = b'{"pk": 7, "f": {"team_id": 1, "study_uid": "1.2.3"}}\n'


def header(**changes) -> bytes:
    value = {"format": "cxr-lab-team-backup/1", "team": {"id": 1, "fields": {"name": "Crafted"}},
             "users": [], "plan": [], "runs_folder": "/nowhere", "jobs": []}  # fmt: skip
    return json.dumps({**value, **changes}).encode()


@pytest.mark.parametrize(
    "members, message",
    [
        ([entry("header.json", header()), entry("runs/1/../../../../escaped", b"x")],
         "unsafe path"),
        ([entry("header.json", header()), entry("cache/s64/../../../escaped", b"x")],
         "unsafe path"),
        ([entry("header.json", header()), entry("cache/link", kind=tarfile.SYMTYPE, link="/etc")],
         "not a file"),
        ([entry("header.json", header()), entry("../escaped", b"x")], "unexpected member"),
        ([entry("notes.txt", b"hello")], "does not start with its header"),
        ([entry("header.json", header(format="other/9"))], "unknown archive format"),
        ([entry("header.json", header(plan=[{"model": "labeling.nosuch", "fields": []}]))],
         "labeling.nosuch rows, a model this installation does not have"),
        ([entry("header.json", header(plan=[{"model": "labeling.study",
                                             "fields": ["team_id", "study_uid", "shoe_size"]}]))],
         r"columns \['shoe_size'\] this installation does not know"),
        (
            [entry("header.json", header(plan=[{"model": "labeling.study", "fields": ["study_uid"]}]))],
            "labeling.study.team_id is required here and missing from the archive",
        ),
        ([entry("header.json", header(users="everyone"))], "header is incomplete"),
        (
            [entry("header.json", header(plan=STUDIES)), entry(ROWS, b'{"pk": 1}\n')],
            "a labeling.study row of the archive is malformed",
        ),
        (
            [entry("header.json", header(plan=STUDIES)), entry(ROWS, STUDY_ROW + STUDY_ROW)],
            "the archive's labeling.study rows do not fit",
        ),
        (
            [entry("header.json", header(plan=STUDIES)), entry("rows/000001-labeling.series.jsonl")],
            "labeling.series rows its header does not list",
        ),
        ([entry("header.json", header())], "ends without its manifest"),
    ],
)  # fmt: skip
def test_a_crafted_archive_is_refused_and_writes_nothing_outside(personas, tmp_path, members,
                                                                 message):  # fmt: skip
    archive = crafted(tmp_path / "crafted.cxrbackup", members)
    before = state(personas)
    with pytest.raises(CommandError, match=message):
        restore_command(str(archive), "--key-file", str(key_file(tmp_path)))
    assert state(personas) == before
    assert not list(Path(settings.DATA_DIR).parent.rglob("escaped"))


def test_an_encrypted_at_rest_password_is_read_and_written_through_the_orm(
    personas, small_team, tmp_path, monkeypatch
):
    """A field that stores ``enc:<text>`` and reads back ``<text>``, as an encrypting field
    does: the archive carries the plaintext, the restored row is encrypted once, by the
    target."""
    field = PacsConnection._meta.get_field("password")
    monkeypatch.setattr(field, "get_prep_value", lambda value: f"enc:{value}", raising=False)
    monkeypatch.setattr(field, "from_db_value",
                        lambda value, *_args: value.removeprefix("enc:"), raising=False)  # fmt: skip
    PacsConnection.objects.filter(team=small_team).delete()
    PacsConnection.objects.create(team=small_team, name="PACS", url="https://pacs.example.org/",
                                  password="pacs-password-2")  # fmt: skip
    archive = backup(small_team, tmp_path)
    restore.restore_team(archive, KEY, "Copy")
    copy = Team.objects.get(name="Copy")
    assert PacsConnection.objects.get(team=copy).password == "pacs-password-2"
    table = PacsConnection._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT password FROM {table} WHERE team_id = %s", [copy.pk])
        assert cursor.fetchone() == ("enc:pacs-password-2",)


def test_a_job_kind_the_backup_does_not_know_stops_it_before_writing(personas, tmp_path):
    Job.objects.create(team=personas.team, kind="mystery", config={"thing": 3})
    with pytest.raises(CommandError, match=r"jobs of kind \['mystery'\] keep ids"):
        call_command("backup", "--team", personas.team.name, str(tmp_path / "m.cxrbackup"),
                     "--key-file", str(key_file(tmp_path)))  # fmt: skip
    assert list(tmp_path.glob("*m.cxrbackup*")) == []


def test_sealed_bytes_that_are_not_a_backup_are_refused(personas, tmp_path):
    path = tmp_path / "noise.cxrbackup"
    with path.open("wb") as raw:
        writer = EncryptingWriter(raw, KEY, log_n=10)
        writer.write(b"not a tar stream at all " * 100)
        writer.close()
    before = state(personas)
    with pytest.raises(CommandError, match="not a team backup"):
        restore_command(str(path), "--key-file", str(key_file(tmp_path)))
    assert state(personas) == before


def test_a_key_file_that_is_not_text_is_named_as_such(personas, tmp_path):
    binary = tmp_path / "binary.key"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(CommandError, match="does not hold text; make one with openssl rand"):
        restore_command(str(tmp_path / "x.cxrbackup"), "--key-file", str(binary))


def test_a_file_that_shrinks_while_it_is_read_fails_the_backup_and_leaves_no_file(
    personas, small_team, tmp_path, monkeypatch
):
    real = create.os.fstat

    class Grown:
        def __init__(self, stat) -> None:
            self.st_size, self.st_mtime = stat.st_size + 100, stat.st_mtime

    monkeypatch.setattr(create.os, "fstat", lambda fd: Grown(real(fd)))
    with pytest.raises(create.ArchiveError, match="shrank while it was read"):
        create.backup_team(small_team, tmp_path / "out.cxrbackup", KEY)
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == []
