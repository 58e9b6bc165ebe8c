"""Compressed files decode to the pixels of their uncompressed original."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom import uid as dcm_uid

from labeling.dicom import DicomRejected, decode_frame, read_dicom, to_uint8
from tests.dicom_factory import LOSSLESS_SYNTAXES, jpeg_lossless_sv1, make_dx, phantom, to_bytes

MAX = 1 << 20


def roundtrip(syntax: str, **kwargs: object):
    ds = make_dx(syntax=syntax, **kwargs)
    return read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX)


def syntax_param(syntax: str):
    # pyjpegls (a dev dependency) encodes the JPEG-LS files: every syntax is tested, none skipped.
    return pytest.param(syntax, id=syntax.name)


@pytest.mark.parametrize("syntax", [syntax_param(s) for s in LOSSLESS_SYNTAXES])
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_lossless_syntaxes_decode_to_exactly_the_original_pixels(syntax, bits):
    ds = roundtrip(syntax, bits_stored=bits)
    assert np.array_equal(decode_frame(ds), phantom(bits_stored=bits))


@pytest.mark.parametrize(
    "syntax", [syntax_param(dcm_uid.RLELossless), syntax_param(dcm_uid.JPEG2000Lossless)]
)
def test_signed_data_survives_lossless_compression(syntax):
    ds = roundtrip(syntax, bits_stored=12, signed=True)
    assert np.array_equal(decode_frame(ds), phantom(bits_stored=12, signed=True))


@pytest.mark.parametrize(
    ("syntax", "bits", "tolerance"),
    [
        (dcm_uid.JPEGLSNearLossless, 12, 2),
        (dcm_uid.JPEG2000, 12, 8),
        (dcm_uid.JPEGBaseline8Bit, 8, 3),
    ],
    ids=["jpeg-ls-near-lossless", "jpeg2000-lossy", "jpeg-baseline"],
)
def test_lossy_syntaxes_decode_close_to_the_original(syntax, bits, tolerance):
    ds = roundtrip(syntax, bits_stored=bits)
    error = np.abs(decode_frame(ds).astype(np.int64) - phantom(bits_stored=bits))
    assert error.mean() <= tolerance
    if syntax == dcm_uid.JPEGLSNearLossless:
        assert error.max() <= 2  # near-lossless bounds every pixel, not just the mean


def test_every_syntax_renders_the_same_eight_bit_image_within_rounding():
    reference = to_uint8(roundtrip(dcm_uid.ExplicitVRLittleEndian))
    for syntax in LOSSLESS_SYNTAXES:
        assert np.array_equal(to_uint8(roundtrip(syntax)), reference), syntax.name


def test_the_corpus_jpeg_lossless_encoder_writes_a_valid_codestream():
    pixels = phantom(rows=5, columns=7, bits_stored=16)
    stream = jpeg_lossless_sv1(pixels, 16)
    assert stream.startswith(b"\xff\xd8\xff\xc3") and stream.endswith(b"\xff\xd9")


def test_a_corrupt_codestream_fails_to_decode_with_decode_failed():
    ds = make_dx(syntax=dcm_uid.JPEG2000Lossless)
    frame_start = ds.PixelData.index(b"\xff\x4f\xff\x51")  # J2K SOC + SIZ markers
    broken = bytearray(ds.PixelData)
    broken[frame_start : frame_start + 40] = b"\x00" * 40
    ds.PixelData = bytes(broken)
    parsed = read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX)  # well-formed container
    with pytest.raises(DicomRejected) as caught:
        to_uint8(parsed)
    assert caught.value.code == "decode_failed"
