"""read_dicom accepts valid files from paths and streams, and rejects bad ones with a reason."""

from __future__ import annotations

import io
import os
import struct
from datetime import date, time

import numpy as np
import pytest
from pydicom import uid as dcm_uid
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from labeling.dicom import (
    REJECT_CODES,
    DicomRejected,
    ReadLimits,
    identity,
    read_dicom,
    to_uint8,
    validate_pixels,
)
from tests.dicom_factory import (
    LOSSLESS_SYNTAXES,
    cached_pages,
    element_ends,
    flip_bytes,
    make_dx,
    replace_element,
    to_bytes,
    truncations,
    write,
)

MAX = 1 << 20


def rejected(data: bytes, **kwargs: object) -> DicomRejected:
    with pytest.raises(DicomRejected) as caught:
        read_dicom(io.BytesIO(data), max_bytes=MAX, **kwargs)
    assert caught.value.code in REJECT_CODES
    return caught.value


class OneWayStream(io.RawIOBase):
    """A socket-like stream: readable, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# ------------------------------------------------------------------------ accepted input


def test_a_valid_file_reads_from_a_path_a_stream_and_a_one_way_stream(tmp_path):
    data = to_bytes(make_dx())
    path = write(make_dx(), tmp_path / "a.dcm")
    from_path = read_dicom(path, max_bytes=MAX)
    from_str = read_dicom(str(path), max_bytes=MAX)
    from_stream = read_dicom(io.BytesIO(data), max_bytes=MAX)
    from_socket = read_dicom(OneWayStream(data), max_bytes=MAX)
    uids = {ds.SOPInstanceUID for ds in (from_path, from_str, from_stream, from_socket)}
    assert uids == {make_dx().SOPInstanceUID}


def test_a_file_read_once_leaves_the_page_cache(tmp_path):
    kept, once = (write(make_dx(), tmp_path / name) for name in ("kept.dcm", "once.dcm"))
    os.sync()  # written pages must be clean before the kernel may drop them
    read_dicom(kept, max_bytes=MAX)
    read_dicom(once, max_bytes=MAX, read_once=True)
    assert cached_pages(kept) > 0
    assert cached_pages(once) == 0


def test_a_failing_page_cache_hint_does_not_fail_the_read(tmp_path, monkeypatch):
    def refuse(*args):
        raise OSError(22, "fadvise refused")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    ds = read_dicom(write(make_dx(), tmp_path / "a.dcm"), max_bytes=MAX, read_once=True)
    assert ds.SOPInstanceUID == make_dx().SOPInstanceUID


def test_a_stream_is_read_from_its_current_position():
    stream = io.BytesIO(b"multipart preamble" + to_bytes(make_dx()))
    stream.seek(len(b"multipart preamble"))
    assert read_dicom(stream, max_bytes=MAX).Modality == "DX"


@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES, ids=lambda s: s.name)
def test_every_accepted_syntax_reads_and_renders(syntax):
    ds = read_dicom(io.BytesIO(to_bytes(make_dx(syntax=syntax))), max_bytes=MAX)
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert to_uint8(ds).shape == (64, 64)


def test_identity_reads_the_indexing_attributes():
    ds = read_dicom(io.BytesIO(to_bytes(make_dx(identity=7))), max_bytes=MAX)
    found = identity(ds)
    assert found.sop_uid == ds.SOPInstanceUID and found.study_uid == ds.StudyInstanceUID
    assert found.patient_id == "PID0007" and found.patient_name == "Zhang^San7"
    assert found.accession_number == "ACC00007"
    assert found.study_date == date(2019, 3, 15)
    assert found.study_time == time(10, 15, 30, 250000)
    assert found.patient_birth_date == date(1960, 1, 2)
    assert (found.rows, found.columns, found.bits_stored) == (64, 64, 12)
    assert found.transfer_syntax == dcm_uid.ExplicitVRLittleEndian
    assert (found.view_position, found.body_part, found.modality) == ("PA", "CHEST", "DX")
    assert found.burned_in_annotation is False


def test_identity_tolerates_absent_and_unparsable_optional_values():
    ds = make_dx(StudyDate="2019", StudyTime="25", BurnedInAnnotation=None, SeriesNumber=None)
    found = identity(read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX))
    assert found.study_date is None and found.study_time is None
    assert found.burned_in_annotation is None and found.series_number is None


# ------------------------------------------------------------------------ size


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    data = to_bytes(make_dx())
    path = write(make_dx(), tmp_path / "big.dcm")
    for source in (path, io.BytesIO(data), OneWayStream(data)):
        with pytest.raises(DicomRejected) as caught:
            read_dicom(source, max_bytes=len(data) - 1)
        assert caught.value.code == "too_large"


def test_a_one_way_stream_is_read_no_further_than_the_cap():
    stream = OneWayStream(to_bytes(make_dx()) + b"\0" * 100_000)
    with pytest.raises(DicomRejected):
        read_dicom(stream, max_bytes=20_000)
    assert stream._inner.tell() <= 20_001


# ------------------------------------------------------------------------ not DICOM


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"%PDF-1.4" + b"\0" * 400, b"\0" * 128 + b"DICX" + b"\0" * 64],
    ids=["empty", "text", "pdf", "wrong-prefix"],
)
def test_non_dicom_bytes_are_not_dicom(data):
    assert rejected(data).code == "not_dicom"


def test_a_file_without_a_transfer_syntax_is_not_dicom():
    data = to_bytes(make_dx())
    syntax = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", 20)
    renamed = struct.pack("<HH2sH", 0x0002, 0x0016, b"AE", 20)  # Source AE Title instead
    error = rejected(replace_element(data, syntax, renamed))
    assert error.code == "not_dicom" and "Transfer Syntax" in error.message


# ------------------------------------------------------------------------ truncation


@pytest.mark.parametrize(
    "syntax",
    [dcm_uid.ExplicitVRLittleEndian, dcm_uid.ImplicitVRLittleEndian, dcm_uid.RLELossless],
    ids=lambda s: s.name,
)
def test_a_file_cut_anywhere_is_rejected(syntax):
    data = to_bytes(make_dx(syntax=syntax, rows=16, columns=16))
    boundaries = element_ends(data)
    for cut in truncations(data, 60):
        error = rejected(data[:cut])
        if cut <= 132:
            assert error.code == "not_dicom", cut
        elif cut not in boundaries:  # at a boundary the rest is simply missing
            assert error.code == "truncated", (cut, error)
    assert rejected(data[:-1]).code == "truncated"


def test_a_file_cut_inside_an_undefined_length_sequence_is_truncated():
    ds = make_dx(rows=8, columns=8)
    ds["RequestAttributesSequence"].is_undefined_length = True
    undefined = to_bytes(ds)
    delimiter = undefined.index(b"\xfe\xff\xdd\xe0")
    assert rejected(undefined[: delimiter + 2]).code == "truncated"


# ------------------------------------------------------------------------ random corruption


@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES, ids=lambda s: s.name)
def test_random_byte_flips_either_read_and_render_or_are_rejected(syntax):
    data = to_bytes(make_dx(syntax=syntax, rows=32, columns=32))
    rng = np.random.default_rng(20240601)
    outcomes = set()
    for _ in range(60):
        corrupted = flip_bytes(data, int(rng.integers(1, 6)), rng)
        try:
            image = to_uint8(read_dicom(io.BytesIO(corrupted), max_bytes=MAX))
        except DicomRejected as error:
            outcomes.add(error.code)
        else:
            assert image.dtype == np.uint8 and image.ndim == 2
            outcomes.add("ok")
    assert "ok" in outcomes and len(outcomes) > 1


# ------------------------------------------------------------------------ wrong VRs / values


def test_rows_written_with_another_number_vr_is_tolerated_and_stored_as_us():
    """#14: a wrong VR is no reason to lose an image whose pixels decode."""
    ds = make_dx()
    rows = int(ds.Rows)
    del ds.Rows
    ds.add_new(0x00280010, "DS", str(rows))
    read = read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX)
    assert read["Rows"].VR == "US" and read.Rows == rows
    assert to_uint8(read).shape[0] == rows


def test_rows_written_as_a_fraction_is_a_bad_value():
    ds = make_dx()
    del ds.Rows
    ds.add_new(0x00280010, "DS", "64.5")
    assert rejected(to_bytes(ds)).code == "bad_value"


def test_rows_written_as_text_in_implicit_vr_cannot_pass():
    data = to_bytes(make_dx(syntax=dcm_uid.ImplicitVRLittleEndian))
    rows = struct.pack("<HHL", 0x0028, 0x0010, 2) + struct.pack("<H", 64)
    as_text = struct.pack("<HHL", 0x0028, 0x0010, 4) + b"64  "
    assert rejected(replace_element(data, rows, as_text)).code == "bad_value"


def test_an_odd_length_unsigned_short_is_a_bad_value():
    data = to_bytes(make_dx())
    rows = struct.pack("<HH2sH", 0x0028, 0x0010, b"US", 2) + struct.pack("<H", 64)
    odd = struct.pack("<HH2sH", 0x0028, 0x0010, b"US", 3) + b"\x40\x00\x00"
    assert rejected(replace_element(data, rows, odd)).code == "bad_value"


def test_an_element_with_a_nonsense_vr_is_a_bad_value():
    data = to_bytes(make_dx())
    rows = struct.pack("<HH2sH", 0x0028, 0x0010, b"US", 2)
    garbled = struct.pack("<HH2sH", 0x0028, 0x0010, b"\x01\x02", 2)
    assert rejected(data.replace(rows, garbled)).code == "bad_value"


def garbled_number(keyword_tag: tuple[int, int], vr: bytes, old: bytes, new: bytes) -> bytes:
    data = to_bytes(make_dx(RescaleSlope="1", RescaleIntercept="0"))
    header = struct.pack("<HH2s", *keyword_tag, vr)
    return replace_element(
        data, header + struct.pack("<H", len(old)) + old, header + struct.pack("<H", len(new)) + new
    )


def test_a_rescale_slope_that_is_not_a_number_is_tolerated_and_ignored():
    """#14: non-numeric DS values never reject an image whose pixels decode; the display
    uses the stored values as they are (and a percentile window)."""
    data = garbled_number((0x0028, 0x1053), b"DS", b"1 ", b"1.5abc")
    image = to_uint8(read_dicom(io.BytesIO(data), max_bytes=MAX))
    assert image.std() > 10


def test_a_garbled_instance_number_is_tolerated_and_reads_as_none():
    data = garbled_number((0x0020, 0x0013), b"IS", b"1 ", b"12abc ")
    assert identity(read_dicom(io.BytesIO(data), max_bytes=MAX)).instance_number is None


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"BitsStored": 14, "BitsAllocated": 8}, "BitsStored"),
        ({"HighBit": 15}, "HighBit"),
        ({"BitsAllocated": 12}, "BitsAllocated"),
        ({"PixelRepresentation": 2}, "PixelRepresentation"),
        ({"SamplesPerPixel": 3}, "SamplesPerPixel"),
        ({"PhotometricInterpretation": "PALETTE COLOR"}, "palette"),
        ({"PhotometricInterpretation": "YBR_PARTIAL_420"}, "PhotometricInterpretation"),
    ],
)
def test_an_inconsistent_pixel_module_is_a_bad_value(changes, needle):
    error = rejected(to_bytes(make_dx(**changes)))
    assert error.code == "bad_value" and needle in error.message


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_sequences_nested_beyond_the_limit_are_a_bad_value(undefined):
    ds = make_dx(rows=8, columns=8)
    inner = ds
    for _ in range(6):
        item = Dataset()
        item.CodeMeaning = "nested"
        inner.ContentSequence = Sequence([item])
        inner["ContentSequence"].is_undefined_length = undefined
        inner = item
    data = to_bytes(ds)
    assert read_dicom(io.BytesIO(data), max_bytes=MAX).Modality == "DX"
    error = rejected(data, limits=ReadLimits(max_depth=3))
    assert error.code == "bad_value" and "nested" in error.message


# ------------------------------------------------------------------------ UIDs


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_a_missing_instance_uid_is_missing_uid(keyword):
    assert rejected(to_bytes(make_dx(**{keyword: None}))).code == "missing_uid"


@pytest.mark.parametrize("bad", ["1.2.abc", "1..2", "../../etc/passwd", "1." + "2" * 70])
def test_a_malformed_uid_is_bad_uid(bad):
    assert rejected(to_bytes(make_dx(SeriesInstanceUID=bad))).code == "bad_uid"


def test_a_uid_with_leading_zero_components_from_old_vendors_is_accepted():
    ds = make_dx(StudyInstanceUID="1.2.840.113619.2.55.3.0604")
    assert read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX).StudyInstanceUID.endswith("0604")


# ------------------------------------------------------------------------ pixel data


def test_a_file_without_pixel_data_is_no_pixel_data():
    assert rejected(to_bytes(make_dx(PixelData=None))).code == "no_pixel_data"


@pytest.mark.parametrize(
    "changes", [{"Rows": 60000}, {"Columns": 9000}, {"Rows": 0}, {"NumberOfFrames": 100000}]
)
def test_absurd_dimensions_are_bad_dimensions(changes):
    assert rejected(to_bytes(make_dx(**changes))).code == "bad_dimensions"


def test_the_decoded_size_of_all_frames_is_bounded():
    data = to_bytes(make_dx(rows=64, columns=64))
    error = rejected(data, limits=ReadLimits(max_pixel_bytes=64 * 64 * 2 - 1))
    assert error.code == "bad_dimensions"


def test_native_pixel_data_shorter_than_the_header_says_is_bad_pixel_data():
    ds = make_dx()
    ds.PixelData = ds.PixelData[:-128]
    assert rejected(to_bytes(ds)).code == "bad_pixel_data"


def test_encapsulated_data_with_fewer_fragments_than_frames_is_bad_pixel_data():
    ds = make_dx(syntax=dcm_uid.RLELossless)
    ds.NumberOfFrames = 2
    assert rejected(to_bytes(ds)).code == "bad_pixel_data"


def test_validate_pixels_checks_datasets_built_in_memory():
    ds = make_dx()
    validate_pixels(ds)
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(DicomRejected) as caught:
        validate_pixels(ds)
    assert caught.value.code == "bad_pixel_data"


# ------------------------------------------------------------------------ transfer syntaxes


def test_big_endian_is_read_as_explicit_vr_little_endian():
    """Accepted since #14 and re-encoded at once (labeling/dicom/native.py): see also
    test_import_breadth.py."""
    ds = make_dx()
    expected = ds.pixel_array.copy()
    ds.file_meta.TransferSyntaxUID = dcm_uid.ExplicitVRBigEndian
    ds.PixelData = expected.astype(">u2").tobytes()  # pydicom writes OW bytes as they are
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=False, little_endian=False, enforce_file_format=True)
    read = read_dicom(io.BytesIO(buffer.getvalue()), max_bytes=MAX)
    assert read.file_meta.TransferSyntaxUID == dcm_uid.ExplicitVRLittleEndian
    assert np.array_equal(read.pixel_array, expected)


def test_deflated_files_are_inflated_and_read_as_explicit_vr_little_endian():
    """Accepted since the bounded inflater exists (#14, #17); see test_deflate_bomb.py."""
    ds = make_dx()
    ds.file_meta.TransferSyntaxUID = dcm_uid.DeflatedExplicitVRLittleEndian
    read = read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=MAX)
    assert read.file_meta.TransferSyntaxUID == dcm_uid.ExplicitVRLittleEndian
    assert read.PixelData == make_dx().PixelData and read.PatientName == ds.PatientName


def test_an_unknown_private_syntax_is_rejected_with_its_uid():
    data = to_bytes(make_dx())
    old = dcm_uid.ExplicitVRLittleEndian.encode() + b"\0"
    assert len(old) == 20
    error = rejected(data.replace(old, b"1.2.3.4.5.6.7.8.9.10", 1))
    assert error.code == "unsupported_transfer_syntax" and "1.2.3.4.5.6.7.8.9.10" in error.message


def test_reject_codes_are_a_closed_set():
    with pytest.raises(ValueError, match="unknown"):
        DicomRejected("oops", "nope")
