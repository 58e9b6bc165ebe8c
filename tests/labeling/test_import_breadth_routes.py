"""The encodings the store rewrites (#14 item 1) through the HTTP ways in and out: stored by
STOW-RS, then served by WADO-RS as the viewer's loader reads them (native frames in Explicit VR
Little Endian, whole-byte samples) and rendered like the import's thumbnail."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from labeling.dicom import read_dicom, to_uint8
from labeling.models import Instance
from tests.labeling.dicomweb_support import token_client_fixture  # noqa: F401
from tests.labeling.test_dicomweb_stow import multipart, stow
from tests.labeling.test_dicomweb_wado import OCTET, body_of, parts_of
from tests.labeling.test_import_breadth import corpus

FILES = [
    "MR_small_bigendian.dcm",  # big endian, 16-bit
    "OBXXXX1A_expb.dcm",  # big endian, 8-bit PALETTE COLOR
    "liver_1frame.dcm",  # 1-bit
    "SC_ybr_full_422_uncompressed.dcm",  # native YBR_FULL_422
    "SC_rgb_rle_32bit.dcm",  # 32-bit RLE colour
]


def instance_url(instance: Instance, suffix: str = "") -> str:
    return (
        f"/dicomweb/studies/{instance.study.study_uid}/series/{instance.series.series_uid}"
        f"/instances/{instance.sop_uid}{suffix}"
    )


@pytest.mark.parametrize("name", FILES)
def test_stored_by_stow_then_served_natively_and_rendered(personas, token_client, name):
    data = corpus(name).read_bytes()
    assert stow(token_client(), multipart(data)).status_code == 200
    instance = Instance.objects.get(team=personas.team)
    assert instance.decode_error == ""
    client = token_client()

    (metadata,) = json.loads(body_of(client.get(instance_url(instance, "/metadata"))))
    syntax = metadata["00020010"]["Value"][0]
    allocated = metadata["00280100"]["Value"][0]
    assert syntax != pydicom.uid.ExplicitVRBigEndian and allocated in (8, 16, 32)

    source = pydicom.dcmread(io.BytesIO(data))
    if not source.file_meta.TransferSyntaxUID.is_compressed:
        ((_content_type, frame),) = parts_of(
            client.get(instance_url(instance, "/frames/1"), HTTP_ACCEPT=OCTET)
        )
        rows, columns = int(source.Rows), int(source.Columns)
        samples = int(metadata["00280002"]["Value"][0])
        assert len(frame) == rows * columns * samples * allocated // 8
        expected = source.pixel_array if int(source.get("NumberOfFrames") or 1) == 1 else None
        if expected is not None and samples == 1:
            dtype = np.dtype(f"<u{allocated // 8}")
            served = np.frombuffer(frame, dtype=dtype).reshape(rows, columns)
            np.testing.assert_array_equal(served, expected.astype(dtype))

    rendered = client.get(instance_url(instance, "/rendered"), HTTP_ACCEPT="image/png")
    assert rendered.status_code == 200
    image = np.asarray(Image.open(io.BytesIO(body_of(rendered))))
    thumbnail = to_uint8(read_dicom(io.BytesIO(data), max_bytes=1 << 30))
    np.testing.assert_array_equal(image, thumbnail)


def test_a_stream_only_gdcm_decodes_is_transcoded_by_gdcm_too(personas, token_client):
    """JPEG-lossy.dcm's thumbnail comes from the GDCM fallback; asked for in Explicit VR Little
    Endian, WADO-RS used to transcode with pydicom alone and broke the stream off after its 200
    (found by the fuzz suite's real-world cases). Its native pixels are GDCM's decode."""
    data = corpus("JPEG-lossy.dcm").read_bytes()
    assert stow(token_client(), multipart(data)).status_code == 200
    instance = Instance.objects.get(team=personas.team)
    assert instance.decode_error == ""
    response = token_client().get(
        instance_url(instance),
        HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax='
        + pydicom.uid.ExplicitVRLittleEndian,
    )
    assert response.status_code == 200
    ((content_type, served),) = parts_of(response)
    assert content_type.endswith(pydicom.uid.ExplicitVRLittleEndian)
    native = pydicom.dcmread(io.BytesIO(served))
    assert native.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    source = read_dicom(io.BytesIO(data), max_bytes=1 << 30)
    np.testing.assert_array_equal(to_uint8(native), to_uint8(source))
