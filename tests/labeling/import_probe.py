"""One import through one entry point, in a process of its own, measuring its peak memory.

Run by tests/labeling/test_deflate_bomb.py (and usable by hand) with the project's Python, the
repository on ``PYTHONPATH`` and ``DATABASE_URL`` / ``CXR_DATA_DIR`` pointing at a throwaway
site::

    python -m tests.labeling.import_probe setup              # migrate, a team, an admin, a token
    python -m tests.labeling.import_probe ENTRY FILE         # upload | zip | stow | ingest | pacs

It prints one JSON object: the peak resident set size before and after the import
(``ru_maxrss``, KiB), what the entry point answered, and the instances and files stored. The
peak before is taken once Django and every module the import uses are loaded, so the growth is
what the import itself allocated.
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import zipfile
from pathlib import Path

TEAM, USER = "Probe", "probe-admin"
TOKEN = "9a7c" * 10  # the admin's API token, known to the tests that call the site over HTTP


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()
    if argv[0] == "setup":
        _setup()
        return 0
    entry, path = argv[0], Path(argv[1])
    run = ENTRIES[entry]
    _load_modules()
    before = _peak_kib()
    answer = run(path)
    after = _peak_kib()
    print(json.dumps({"before_kib": before, "after_kib": after, "answer": answer, **_stored()}))
    return 0


def _setup() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from teams import services
    from teams.models import ApiToken, Role
    from teams.tokens import PREFIX_LENGTH, digest

    call_command("migrate", verbosity=0)
    team = services.create_team(TEAM)  # de-identifies, as a new team does
    user = get_user_model().objects.create_user(USER, password="probe-password-1234")
    services.add_member(team, user, Role.ADMIN)
    ApiToken.objects.create(user=user, prefix=TOKEN[:PREFIX_LENGTH], digest=digest(TOKEN))


def _load_modules() -> None:
    """Import what the entry points use, so the baseline includes it."""
    import dicomweb_client.api  # noqa: F401
    import django.test  # noqa: F401
    import rest_framework.test  # noqa: F401

    import lab.urls  # noqa: F401
    import labeling.jobs
    import labeling.management.commands.ingest
    import labeling.services  # noqa: F401
    from tests.labeling import stub_pacs  # noqa: F401


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _team():
    from teams.models import Team

    return Team.objects.get(name=TEAM)


def _api():
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="localhost")
    client.force_authenticate(get_user_model().objects.get(username=USER))
    return client


def _upload(path: Path) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(path.name, path.read_bytes(), "application/dicom")
    response = _api().post("/api/uploads/", {"files": [upload]}, format="multipart")
    return {"status": response.status_code, "body": response.json()}


def _zip(path: Path) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests import hostile_cases

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good.dcm", hostile_cases.good())
        # Stored: deflating the deflated file again would trip the archive's own ratio check.
        archive.write(path, path.name, compress_type=zipfile.ZIP_STORED)
    upload = SimpleUploadedFile("export.zip", buffer.getvalue(), "application/zip")
    response = _api().post("/api/uploads/", {"files": [upload]}, format="multipart")
    return {"status": response.status_code, "body": response.json()}


def _stow(path: Path) -> dict:
    from django.test import Client

    boundary = "probe-boundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    client = Client(HTTP_AUTHORIZATION=f"Token {TOKEN}", SERVER_NAME="localhost")
    response = client.post(
        "/dicomweb/studies",
        body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    return {"status": response.status_code, "body": response.json()}


def _ingest(path: Path) -> dict:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("ingest", str(path), "--team", TEAM, "--workers", "1", "--json", stdout=out)
    return json.loads(out.getvalue())


def _pacs(path: Path) -> dict:
    from django.contrib.auth import get_user_model

    from jobs import worker
    from jobs.services import create_job
    from labeling.models import PacsConnection
    from tests.dicom_factory import new_uid
    from tests.labeling.stub_pacs import start_stub_pacs

    pacs = start_stub_pacs()
    study, series, sop = new_uid("1.9177"), new_uid("2.9177"), new_uid("3.9177")
    pacs.add(study, series, sop, path)
    try:
        PacsConnection.objects.create(team=_team(), name="Stub", url=pacs.url)
        owner = get_user_model().objects.get(username=USER)
        job = create_job(_team(), owner, "pacs_pull", {"studies": [study]}, inline=True)
        worker.run(job.pk, inline=True)  # a Celery worker would load torch to name its device
    finally:
        pacs.stop()
    job.refresh_from_db()
    return {"status": job.status, "error": job.error, "metrics": job.metrics}


def _stored() -> dict:
    from django.conf import settings

    from labeling.models import Instance

    store = Path(settings.DICOM_STORE_DIR)
    files = sorted(str(p) for p in store.rglob("*") if p.is_file()) if store.exists() else []
    return {"instances": Instance.objects.count(), "files": files}


ENTRIES = {"upload": _upload, "zip": _zip, "stow": _stow, "ingest": _ingest, "pacs": _pacs}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
