"""Breadth of import (#14 item 1): the encodings, colour models and odd values real archives
carry are read, stored in a layout every later reader takes, and thumbnailed correctly.

"Correctly" is checked against pydicom's own decode of the same file: the 8-bit image the
cache and ``/rendered`` get must correlate with it (Pearson >= 0.9; windows and percentile
clipping make it less than 1). The README's "Accepted and rejected DICOM objects" is the rule
these tests hold the code to.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid as dcm_uid
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder

from labeling.dicom import (
    NATIVE_SYNTAXES,
    DicomRejected,
    fallback,
    read_dicom,
    resize_u8,
    to_uint8,
    write_file,
)
from tests import dicom_factory

MAX = 1 << 30
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DATA_STORE = Path(pytest.importorskip("data_store").__file__).parent / "data"  # pydicom-data


def corpus(name: str) -> Path:
    path = PYDICOM_FILES / name
    return path if path.exists() else DATA_STORE / name


def reference(path: Path) -> np.ndarray:
    """pydicom's decode of the first frame as grey values (luma for colour), air dark."""
    ds = pydicom.dcmread(path)
    if not str(ds.get("NumberOfFrames", "1")).strip().isdigit():  # badVR.dcm: '1A'
        frame = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8
        ds.NumberOfFrames = len(ds.PixelData) // frame
    pixels = ds.pixel_array
    if int(ds.get("NumberOfFrames") or 1) > 1:
        pixels = pixels[0]
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
    if pixels.ndim == 3:
        return pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = apply_modality_lut(pixels, ds).astype(np.float64)
    return -values if ds.PhotometricInterpretation == "MONOCHROME1" else values


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def stored_again(ds: pydicom.Dataset) -> pydicom.Dataset:
    """What the store writes for ``ds``, read back as the DICOMweb views read it."""
    buffer = io.BytesIO()
    write_file(ds, buffer)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


# Each file is one thing Orthanc stores and previews that the store refused before #14.
CORPUS = {
    # Explicit VR Big Endian: grey, RGB, odd size, 32-bit, palette, 1-bit
    "MR_small_bigendian.dcm": "big endian",
    "MR_small_expb.dcm": "big endian",
    "ExplVR_BigEnd.dcm": "big endian RGB",
    "SC_rgb_small_odd_big_endian.dcm": "big endian, 3×3",
    "rtdose_expb.dcm": "big endian, 32-bit",
    "SC_rgb_expb_32bit.dcm": "big endian, 32-bit RGB",
    "OBXXXX1A_expb.dcm": "big endian, PALETTE COLOR",
    "gdcm-US-ALOKA-16_big.dcm": "big endian, 16-bit PALETTE COLOR",
    "liver_expb_1frame.dcm": "big endian, 1-bit",
    # BitsAllocated 32
    "rtdose.dcm": "32-bit, multi-frame",
    "rtdose_rle.dcm": "32-bit RLE",
    "SC_rgb_32bit.dcm": "32-bit RGB",
    "SC_rgb_rle_32bit.dcm": "32-bit RLE colour",
    # PALETTE COLOR
    "examples_palette.dcm": "PALETTE COLOR",
    "OBXXXX1A_rle.dcm": "PALETTE COLOR, RLE",
    "gdcm-US-ALOKA-16.dcm": "16-bit PALETTE COLOR",
    # YBR and planar configuration
    "SC_ybr_full_422_uncompressed.dcm": "native YBR_FULL_422",
    "SC_ybr_full_uncompressed.dcm": "native YBR_FULL",
    "SC_rgb_dcmtk_+eb+cy+np.dcm": "JPEG YBR_FULL_422",
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG YBR_FULL",
    "color-pl.dcm": "RGB planar configuration 1",
    "SC_rgb_small_odd_jpeg.dcm": "JPEG, 3×3",
    # 1-bit
    "liver_1frame.dcm": "1-bit segmentation",
    # odd values
    "badVR.dcm": "Number of Frames '1A', 32-bit",
    "mlut_18.dcm": "Modality LUT with US data",
    "vlut_04.dcm": "VOI LUT with US data",
    "SC_rgb_jpeg.dcm": "implicit VR dataset labelled explicit",
    "image_dfl.dcm": "Deflated Explicit VR Little Endian",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_file_is_imported_stored_natively_and_thumbnailed_like_pydicom_decodes_it(name):
    path = corpus(name)
    ds = read_dicom(path, max_bytes=MAX)
    image = to_uint8(ds)
    expected = reference(path)
    assert image.shape == expected.shape[:2]
    assert correlation(image, expected) >= 0.9, CORPUS[name]
    assert resize_u8(image, 64).shape == (64, 64)

    stored = stored_again(ds)
    syntax = stored.file_meta.TransferSyntaxUID
    assert syntax in NATIVE_SYNTAXES or syntax.is_compressed
    assert syntax != dcm_uid.ExplicitVRBigEndian and int(stored.BitsAllocated) != 1
    again = read_dicom(io.BytesIO(_file_bytes(ds)), max_bytes=MAX)
    np.testing.assert_array_equal(to_uint8(again), image)


def _file_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    write_file(ds, buffer)
    return buffer.getvalue()


def test_a_jpeg_stream_pylibjpeg_refuses_is_decoded_by_gdcm():
    """pydicom's JPEG-lossy.dcm ("scan start must be zero" in libjpeg): GDCM decodes it, and
    it is the film JPGExtended.dcm holds, which pylibjpeg decodes."""
    with pytest.raises(Exception, match="scan start|Unable to decode"):
        pydicom.dcmread(corpus("JPEG-lossy.dcm")).pixel_array  # noqa: B018
    image = to_uint8(read_dicom(corpus("JPEG-lossy.dcm"), max_bytes=MAX))
    same_film = to_uint8(read_dicom(corpus("JPGExtended.dcm"), max_bytes=MAX))
    assert correlation(image, same_film) >= 0.99


# --------------------------------------------------------------------------------------------
# Made here: big endian, 1-bit, colour layouts, JPEG-LS lossy, odd sizes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits_stored", [8, 12, 16])
def test_big_endian_is_stored_as_explicit_little_endian_with_the_same_pixels(bits_stored):
    source = dicom_factory.make_dx(rows=31, columns=17, bits_stored=bits_stored)
    ds = read_dicom(io.BytesIO(dicom_factory.to_big_endian_bytes(source)), max_bytes=MAX)
    stored = stored_again(ds)
    assert stored.file_meta.TransferSyntaxUID == dcm_uid.ExplicitVRLittleEndian
    np.testing.assert_array_equal(stored.pixel_array, source.pixel_array)
    np.testing.assert_array_equal(to_uint8(ds), to_uint8(source))


def test_big_endian_lut_data_is_swapped_with_the_pixels():
    source = dicom_factory.make_dx(rows=16, columns=16, bits_stored=12)
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    ramp = (np.arange(4096, dtype=np.uint16)[::-1] * 16).astype(">u2")
    item.add_new(0x00283006, "OW", ramp.tobytes())  # written in the file's byte order
    source.VOILUTSequence = pydicom.Sequence([item])
    ds = read_dicom(io.BytesIO(dicom_factory.to_big_endian_bytes(source)), max_bytes=MAX)
    table = np.frombuffer(ds.VOILUTSequence[0].LUTData, dtype="<u2")
    np.testing.assert_array_equal(table, ramp.astype("<u2"))
    # A descending VOI LUT inverts: the body (high stored values) comes out dark.
    image = to_uint8(ds)
    assert correlation(image, source.pixel_array) < -0.9


@pytest.mark.parametrize("shape", [(5, 7), (33, 1), (1, 9)])
def test_one_bit_images_are_stored_one_byte_per_pixel(shape):
    mask = np.zeros(shape, dtype=bool)
    mask[::2, ::3] = True
    source = dicom_factory.make_one_bit(mask)
    ds = read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    stored = stored_again(ds)
    assert (stored.BitsAllocated, stored.BitsStored, stored.HighBit) == (8, 1, 0)
    np.testing.assert_array_equal(stored.pixel_array, mask.astype(np.uint8))
    np.testing.assert_array_equal(to_uint8(ds), np.where(mask, 255, 0).astype(np.uint8))


def test_one_bit_frames_packed_across_byte_boundaries_are_unpacked_frame_by_frame():
    from pydicom.pixels import pack_bits

    rng = np.random.default_rng(5)
    masks = rng.random((3, 5, 7)) > 0.5  # 35 bits a frame: frames 2 and 3 start mid-byte
    masks[1] = True  # all set: white, not the black a percentile window of one value gives
    source = dicom_factory.make_one_bit(masks[0])
    source.NumberOfFrames = 3
    source.PixelData = pack_bits(masks.astype(np.uint8))
    ds = read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    np.testing.assert_array_equal(stored_again(ds).pixel_array, masks.astype(np.uint8))
    for frame in range(3):
        expected = np.where(masks[frame], 255, 0).astype(np.uint8)
        np.testing.assert_array_equal(to_uint8(ds, frame=frame), expected)


@pytest.mark.parametrize(
    ("photometric", "planar"), [("RGB", 0), ("RGB", 1), ("YBR_FULL", 0), ("YBR_FULL", 1)]
)
@pytest.mark.parametrize("shape", [(7, 9), (64, 63)])
def test_native_colour_layouts_thumbnail_to_the_luma(photometric, planar, shape):
    rgb = dicom_factory.colour_phantom(*shape)
    source = dicom_factory.make_colour(rgb, photometric=photometric, planar=planar)
    ds = read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    # YBR_FULL round trips through 8-bit integers: a grey level or two off at most.
    assert np.abs(to_uint8(ds).astype(np.float64) - luma).max() <= 2.0


def test_native_ybr_full_422_is_expanded_to_ybr_full():
    source = pydicom.dcmread(corpus("SC_ybr_full_422_uncompressed.dcm"))
    expected = source.pixel_array  # pydicom expands and converts to RGB
    ds = read_dicom(corpus("SC_ybr_full_422_uncompressed.dcm"), max_bytes=MAX)
    stored = stored_again(ds)
    assert stored.PhotometricInterpretation == "YBR_FULL"
    assert len(stored.PixelData) == int(stored.Rows) * int(stored.Columns) * 3
    np.testing.assert_array_equal(stored.pixel_array, expected)


@pytest.mark.parametrize("shape", [(63, 65), (1, 31), (31, 1)])
@pytest.mark.parametrize("syntax", [dcm_uid.JPEGLSNearLossless, dcm_uid.JPEGLSLossless])
def test_jpeg_ls_odd_sizes_decode(syntax, shape):
    """JPEG-LS lossy files made here (pydicom's own lack the UIDs: see the rejection test)."""
    source = dicom_factory.make_dx(rows=shape[0], columns=shape[1], syntax=syntax)
    ds = read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    assert ds.file_meta.TransferSyntaxUID == syntax
    native = dicom_factory.make_dx(rows=shape[0], columns=shape[1])
    difference = to_uint8(ds).astype(int) - to_uint8(native).astype(int)
    assert np.abs(difference).max() <= 2  # near-lossless: each value within 2 of 4095


# --------------------------------------------------------------------------------------------
# Odd values are tolerated when the pixels decode
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {"PixelSpacing": ""},
        {"PixelSpacing": "0.000\\0.000"},
        {"PixelSpacing": "abc\\def"},
        {"SliceThickness": "n/a"},
        {"InstanceNumber": "first"},
        {"WindowCenter": "x", "WindowWidth": "0"},
        {"RescaleIntercept": "oops"},
        {"StudyDate": "yesterday", "PatientSex": None, "Modality": None, "ViewPosition": None},
    ],
    ids=lambda a: ",".join(a),
)
def test_odd_optional_values_never_reject_an_image_that_decodes(attributes):
    source = dicom_factory.make_dx(rows=40, columns=30)
    for keyword, value in attributes.items():
        if value is None:
            delattr(source, keyword)
        else:
            source[keyword] = pydicom.DataElement(
                pydicom.datadict.tag_for_keyword(keyword),
                pydicom.datadict.dictionary_VR(keyword),
                value,
                already_converted=True,
            )
    ds = read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    image = to_uint8(ds)
    reference_image = to_uint8(dicom_factory.make_dx(rows=40, columns=30))
    assert correlation(image, reference_image) >= 0.99
    stored_again(ds)  # and the store can write it


# --------------------------------------------------------------------------------------------
# Rejections, with the code the README gives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("rtplan.dcm", "no_pixel_data"),
        ("test-SR.dcm", "no_pixel_data"),
        ("reportsi.dcm", "no_pixel_data"),
        ("waveform_ecg.dcm", "no_pixel_data"),
        ("JPEGLSNearLossless_08.dcm", "missing_uid"),
        ("SC_rgb_jls_lossy_line.dcm", "missing_uid"),
        ("dicomdirtests/DICOMDIR", "missing_uid"),
        ("no_meta.dcm", "not_dicom"),
        ("meta_missing_tsyntax.dcm", "not_dicom"),
        ("MR_truncated.dcm", "truncated"),
        ("bad_sequence.dcm", "bad_uid"),
    ],
)
def test_objects_that_are_not_images_or_are_broken_are_rejected_with_their_code(name, code):
    with pytest.raises(DicomRejected) as caught:
        read_dicom(corpus(name), max_bytes=MAX)
    assert caught.value.code == code


def test_palette_color_without_its_palette_is_a_bad_value():
    source = dicom_factory.make_dx(bits_stored=8, pixels=np.zeros((8, 8), np.uint8))
    source.PhotometricInterpretation = "PALETTE COLOR"
    with pytest.raises(DicomRejected) as caught:
        read_dicom(io.BytesIO(dicom_factory.to_bytes(source)), max_bytes=MAX)
    assert caught.value.code == "bad_value" and "palette" in caught.value.message


@pytest.mark.parametrize(
    "name", ["rtdose.dcm", "OBXXXX1A_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm", "emri_small.dcm"]
)
def test_later_frames_render_like_pydicom_decodes_them(name):
    """``/rendered`` of frame n goes through ``to_uint8(frame=n - 1)``: 32-bit, palette and
    colour frames after the first too."""
    path = corpus(name)
    source = pydicom.dcmread(path)
    ds = read_dicom(path, max_bytes=MAX)
    pixels = source.pixel_array[1]
    if source.PhotometricInterpretation == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, source)
    if pixels.ndim == 3:
        expected = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    else:
        expected = apply_modality_lut(pixels, source).astype(np.float64)
    image = to_uint8(ds, frame=1)
    assert correlation(image, expected) >= 0.9
    assert not np.array_equal(image, to_uint8(ds))  # another frame, not the first again


# --------------------------------------------------------------------------------------------
# GDCM never runs in the caller's process: it aborts on some damaged streams
# --------------------------------------------------------------------------------------------


def test_pydicom_is_not_given_gdcm_as_a_plugin():
    for syntax in (dcm_uid.JPEGBaseline8Bit, dcm_uid.JPEGExtended12Bit, dcm_uid.JPEG2000):
        assert "gdcm" not in get_decoder(syntax).available_plugins


def test_a_decoder_that_aborts_takes_only_its_child_down():
    assert fallback.in_child(os.abort, 16) is None
    assert fallback.in_child(lambda: b"x" * 16, 16) == b"x" * 16


def test_a_decoder_past_its_time_is_killed(monkeypatch):
    monkeypatch.setattr(fallback, "GDCM_SECONDS", 0.2)

    def forever() -> bytes:
        while True:
            time.sleep(1)

    started = time.monotonic()
    assert fallback.in_child(forever, 16) is None
    assert time.monotonic() - started < 30  # killed at the deadline, not waited for
