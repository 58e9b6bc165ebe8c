"""A corpus of broken files through the upload API: never a 500, nothing left behind."""

import io
import zipfile

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom import uid as dcm_uid
from rest_framework.test import APIClient

from labeling.models import Instance, Series, Study
from tests import dicom_factory


def corpus() -> list[tuple[str, bytes]]:
    """Truncations and byte flips of valid files in three syntaxes, huge dimensions, no pixels."""
    rng = np.random.default_rng(11)
    files = []
    for syntax in (dcm_uid.ExplicitVRLittleEndian, dcm_uid.RLELossless, dcm_uid.JPEG2000Lossless):
        data = dicom_factory.to_bytes(dicom_factory.make_dx(syntax=syntax))
        files += [(f"cut-{syntax.name}-{n}", data[:n]) for n in dicom_factory.truncations(data, 12)]
        files += [
            (f"flip-{syntax.name}-{i}", dicom_factory.flip_bytes(data, 3, rng)) for i in range(8)
        ]
    files.append(("huge", dicom_factory.to_bytes(dicom_factory.make_dx(Rows=60000, Columns=60000))))
    files.append(("no-pixels", dicom_factory.to_bytes(dicom_factory.make_dx(PixelData=None))))
    return files


@pytest.mark.slow
def test_no_broken_file_causes_a_5xx_or_leaves_rows_or_files(personas):
    api = APIClient()
    api.force_authenticate(personas.owner)
    statuses, outcomes = [], {}
    for name, data in corpus():
        upload = SimpleUploadedFile(f"{name}.dcm", data, "application/dicom")
        response = api.post(reverse("api-uploads"), {"files": [upload]}, format="multipart")
        statuses.append(response.status_code)
        if response.status_code == 400:  # an empty file is refused before it reaches ingest
            assert "empty" in str(response.json()["files"]), response.json()
            continue
        for result in response.json()["results"]:
            outcomes[name] = result["status"]
    assert max(statuses) < 500
    # A byte flip may leave a file intact enough to import (in pixel data, say): each such
    # file must then be complete, with its row and its stored file.
    imported = [name for name, status in outcomes.items() if status == "imported"]
    assert not any(name.startswith(("cut-", "huge", "no-pixels")) for name in imported)
    assert Instance.objects.count() == len(imported)
    stored = [p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file()]
    assert len(stored) == len(imported) and not [p for p in stored if p.suffix == ".part"]
    studies_with_instances = Study.objects.filter(instances__isnull=False).distinct().count()
    assert Study.objects.count() == studies_with_instances
    assert Series.objects.filter(instances__isnull=True).count() == 0


def test_a_zip_with_broken_members_keeps_the_good_ones_only(personas):
    good = dicom_factory.to_bytes(dicom_factory.make_dx(identity=5))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("good.dcm", good)
        zf.writestr("cut.dcm", good[:700])
        zf.writestr("../escape.dcm", good)
    api = APIClient()
    api.force_authenticate(personas.owner)
    upload = SimpleUploadedFile("x.zip", buffer.getvalue(), "application/zip")
    body = api.post(reverse("api-uploads"), {"files": [upload]}, format="multipart").json()
    assert body["counts"] == {"imported": 1, "duplicate": 0, "rejected": 2}
    assert Instance.objects.count() == 1
