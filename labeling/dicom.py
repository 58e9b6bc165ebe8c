"""Defensive DICOM reading, instance identity and the one 8-bit pixel pipeline.

Pure module (no Django). The ingest service, the DICOMweb views and the training cache all call
it, so that what the model is trained on is what the user is shown.

Reading is a two-stage affair. A small structural scan walks the element headers (never the
values) so that truncation, impossible lengths, runaway nesting and unsupported transfer syntaxes
are caught before pydicom allocates anything; pydicom then parses the file (never with
``force=True``) and every element is converted at once, so lazy parse errors surface at ingest
rather than months later in a DICOMweb response. Everything wrong with the input raises
:class:`DicomRejected` with a stable short ``code``.

Decoding is separate from reading: :func:`read_dicom` does not decode compressed pixel data (a
JPEG 2000 chest film takes about a second), :func:`to_uint8` does, and raises
``DicomRejected("decode_failed")`` when a codec refuses the data. The ingest service can then
keep a well-formed but undecodable image (flagged, shown as an error tile) apart from input that
must be rejected outright.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass
from datetime import date, time
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom import uid as dcm_uid
from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import dcmwrite, write_data_element
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder
from pydicom.tag import Tag

REJECT_CODES = frozenset(
    {
        "not_dicom",
        "too_large",
        "truncated",
        "bad_value",
        "missing_uid",
        "bad_uid",
        "no_pixel_data",
        "bad_dimensions",
        "bad_pixel_data",
        "unsupported_transfer_syntax",
        "decode_failed",
    }
)


class DicomRejected(Exception):
    """Input that cannot be used; ``code`` is one of :data:`REJECT_CODES`, ``message`` says why.

    Deliberately not a ``ValueError``: callers that catch ``ValueError`` around pydicom calls
    must not swallow a rejection by accident.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in REJECT_CODES:
            raise ValueError(f"unknown DicomRejected code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


NATIVE_SYNTAXES = frozenset({dcm_uid.ExplicitVRLittleEndian, dcm_uid.ImplicitVRLittleEndian})
ACCEPTED_SYNTAXES = NATIVE_SYNTAXES | {
    dcm_uid.RLELossless,
    dcm_uid.JPEGBaseline8Bit,
    dcm_uid.JPEGExtended12Bit,
    dcm_uid.JPEGLossless,
    dcm_uid.JPEGLosslessSV1,
    dcm_uid.JPEGLSLossless,
    dcm_uid.JPEGLSNearLossless,
    dcm_uid.JPEG2000Lossless,
    dcm_uid.JPEG2000,
}

# Errors pydicom raises on malformed element values; anything else is a bug and must surface.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    struct.error,
    OverflowError,
    NotImplementedError,
    AttributeError,
    EOFError,
    RecursionError,
    BytesLengthException,
)
# Codec plugins add RuntimeError (pydicom's "all plugins failed") and OSError (Pillow).
_DECODE_ERRORS = (*_PARSE_ERRORS, RuntimeError, OSError)


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a file may ask us to allocate; the defaults fit any real radiograph."""

    max_side: int = 8192
    max_frames: int = 1000
    max_pixel_bytes: int = 1 << 30
    max_elements: int = 100_000
    max_depth: int = 16


DEFAULT_LIMITS = ReadLimits()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_dicom(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    max_bytes: int,
    limits: ReadLimits = DEFAULT_LIMITS,
    read_once: bool = False,
) -> Dataset:
    """Parse and validate one DICOM Part 10 file from a path or a binary file object.

    The size is checked before anything is read: a path by ``stat``, a seekable stream by
    seeking to its end, a non-seekable stream by reading at most ``max_bytes + 1`` bytes.
    Pixel data is validated for layout but not decoded (see :func:`to_uint8`).

    ``read_once`` (imports of a path) tells the kernel that the file's cached pages will not be
    read again, so they are freed at once and reused for the stored copy the import writes next,
    instead of the import filling the page cache with a PACS export it reads once.
    """
    if isinstance(source, str | os.PathLike):
        size = os.stat(source).st_size
        _check_size(size, max_bytes)
        with open(source, "rb") as fp:
            try:
                return _read_stream(fp, 0, size, limits)
            finally:
                if read_once:
                    drop_cached_pages(fp)
    if source.seekable():
        start = source.tell()
        size = source.seek(0, io.SEEK_END) - start
        source.seek(start)
        _check_size(size, max_bytes)
        return _read_stream(source, start, size, limits)
    data = source.read(max_bytes + 1)
    _check_size(len(data), max_bytes)
    return _read_stream(io.BytesIO(data), 0, len(data), limits)


def drop_cached_pages(fp: BinaryIO) -> None:
    """POSIX_FADV_DONTNEED: clean pages go at once; advice only, so failure is harmless."""
    if hasattr(os, "posix_fadvise"):  # not on macOS or Windows
        try:
            os.posix_fadvise(fp.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DicomRejected("too_large", f"file is larger than the limit of {max_bytes} bytes")


def _read_stream(fp: BinaryIO, start: int, size: int, limits: ReadLimits) -> Dataset:
    cursor = _Cursor(fp, start, start + size, limits)
    syntax = _scan_file_meta(cursor)
    _check_syntax(syntax)
    _walk_elements(cursor, implicit=syntax == dcm_uid.ImplicitVRLittleEndian, depth=0)
    fp.seek(start)
    try:
        ds = pydicom.dcmread(fp, force=False)
    except InvalidDicomError as exc:
        raise DicomRejected("not_dicom", str(exc)) from exc
    except _PARSE_ERRORS as exc:
        raise DicomRejected("bad_value", f"pydicom cannot parse the file: {exc}") from exc
    _materialise(ds.file_meta, limits.max_depth)
    _materialise(ds, limits.max_depth)
    _validate(ds, limits)
    return ds


def _check_syntax(syntax: dcm_uid.UID) -> None:
    if syntax in ACCEPTED_SYNTAXES:
        return
    if syntax == dcm_uid.DeflatedExplicitVRLittleEndian:
        why = "inflating it is unbounded (a zip bomb in disguise)"
    else:
        why = "no accepted decoder"
    raise DicomRejected(
        "unsupported_transfer_syntax", f"transfer syntax {syntax} ({syntax.name}): {why}"
    )


# --------------------------------------------------------------------------------------------
# Structural scan: element headers only, so a lying length is caught before pydicom trusts it
# --------------------------------------------------------------------------------------------

_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_SYNTAX_TAG = 0x00020010


@dataclass
class _Cursor:
    """A bounded position in the file; reading past ``end`` is truncation by definition."""

    fp: BinaryIO
    pos: int
    end: int
    limits: ReadLimits
    elements: int = 0

    def read(self, n: int, what: str) -> bytes:
        data = self.peek(n, what)
        self.pos += n
        return data

    def peek(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            raise DicomRejected("truncated", f"file ends inside {what} at byte {self.pos}")
        self.fp.seek(self.pos)
        data = self.fp.read(n)
        if len(data) != n:
            raise DicomRejected("truncated", f"file ends inside {what} at byte {self.pos}")
        return data

    def skip(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise DicomRejected(
                "truncated", f"{what} claims {n} bytes but the file ends at byte {self.end}"
            )
        self.pos += n

    def count_element(self) -> None:
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise DicomRejected("bad_value", f"more than {self.limits.max_elements} elements")


def _scan_file_meta(cursor: _Cursor) -> dcm_uid.UID:
    """Check the preamble and return the Transfer Syntax UID from the group 0002 header."""
    if cursor.end - cursor.pos < 132:
        raise DicomRejected("not_dicom", "shorter than the 128-byte preamble and 'DICM' prefix")
    if cursor.read(132, "the preamble")[128:] != b"DICM":
        raise DicomRejected("not_dicom", "no 'DICM' prefix after the 128-byte preamble")
    syntax = None
    while cursor.pos < cursor.end:
        (group,) = struct.unpack("<H", cursor.peek(2, "the file meta information"))
        if group != 0x0002:
            break
        tag, _vr, length = _element_header(cursor, implicit=False)
        cursor.count_element()
        if length == _UNDEFINED:
            raise DicomRejected("bad_value", f"file meta element {Tag(tag)} has undefined length")
        if tag == _SYNTAX_TAG and length <= 66:
            syntax = cursor.read(length, "the Transfer Syntax UID").rstrip(b"\0 ")
        else:
            cursor.skip(length, f"file meta element {Tag(tag)}")
    if not syntax:
        raise DicomRejected("not_dicom", "file meta information has no Transfer Syntax UID")
    return dcm_uid.UID(syntax.decode("ascii", errors="replace"))


def _element_header(cursor: _Cursor, *, implicit: bool) -> tuple[int, bytes | None, int]:
    raw = cursor.read(8, "an element header")
    group, element = struct.unpack_from("<HH", raw)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:  # item and delimiter tags never carry a VR
        return tag, None, struct.unpack_from("<L", raw, 4)[0]
    vr = raw[4:6]
    if not (vr.isalpha() and vr.isupper()):
        raise DicomRejected("bad_value", f"element {Tag(tag)} has an invalid VR {vr!r}")
    if vr in _LONG_VRS:
        return tag, vr, struct.unpack("<L", cursor.read(4, "an element length"))[0]
    return tag, vr, struct.unpack_from("<H", raw, 6)[0]


def _walk_elements(cursor: _Cursor, *, implicit: bool, depth: int, in_item: bool = False) -> None:
    """Walk to the end of the file, or to the item delimiter of an undefined-length item."""
    while in_item or cursor.pos < cursor.end:
        tag, vr, length = _element_header(cursor, implicit=implicit)
        cursor.count_element()
        if tag == _ITEM_END and in_item:
            return
        if tag in (_ITEM, _ITEM_END, _SEQUENCE_END):
            raise DicomRejected("bad_value", f"unexpected delimiter {Tag(tag)} at top level")
        if length != _UNDEFINED:
            cursor.skip(length, f"element {Tag(tag)}")
            continue
        if vr not in (None, b"SQ", b"UN", b"OB", b"OW"):
            raise DicomRejected("bad_value", f"element {Tag(tag)} ({vr!r}) has undefined length")
        # An undefined-length UN holds implicit VR items (PS3.5 6.2.2).
        _walk_items(cursor, implicit=implicit or vr == b"UN", depth=depth + 1)


def _walk_items(cursor: _Cursor, *, implicit: bool, depth: int) -> None:
    if depth > cursor.limits.max_depth:
        raise DicomRejected("bad_value", f"sequences nested deeper than {cursor.limits.max_depth}")
    while True:
        group, element, length = struct.unpack("<HHL", cursor.read(8, "a sequence item"))
        tag = group << 16 | element
        cursor.count_element()
        if tag == _SEQUENCE_END:
            return
        if tag != _ITEM:
            raise DicomRejected("bad_value", f"expected a sequence item, found {Tag(tag)}")
        if length == _UNDEFINED:
            _walk_elements(cursor, implicit=implicit, depth=depth, in_item=True)
        else:
            cursor.skip(length, "a sequence item")


def _materialise(ds: Dataset, depth: int) -> None:
    """Convert every element now, so that a malformed value is rejected at ingest."""
    if depth < 0:
        raise DicomRejected("bad_value", "sequences nested deeper than the limit")
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except _PARSE_ERRORS as exc:
            raise DicomRejected(
                "bad_value", f"element {Tag(tag)} {_keyword(tag)} cannot be parsed: {exc}"
            ) from exc
        if elem.VR == "SQ":
            for item in elem.value:
                _materialise(item, depth - 1)


def _keyword(tag: int) -> str:
    return pydicom.datadict.keyword_for_tag(tag) or "(private or unknown)"


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
_REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_PHOTOMETRIC_SAMPLES = {
    "MONOCHROME1": 1,
    "MONOCHROME2": 1,
    "RGB": 3,
    "YBR_FULL": 3,
    "YBR_FULL_422": 3,
    "YBR_ICT": 3,
    "YBR_RCT": 3,
}


@dataclass(frozen=True)
class PixelLayout:
    """The Image Pixel module attributes that decide how many bytes a frame occupies."""

    rows: int
    columns: int
    samples: int
    frames: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def _validate(ds: Dataset, limits: ReadLimits) -> None:
    for keyword in _REQUIRED_UIDS:
        _require_uid(ds, keyword)
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        detail = f" (only {other[0]}, which is not a radiograph)" if other else ""
        raise DicomRejected("no_pixel_data", f"no Pixel Data element{detail}")
    layout = pixel_layout(ds, limits)
    _check_rescale(ds)
    _check_pixel_data(ds, layout)


def _check_rescale(ds: Dataset) -> None:
    """Slope and intercept feed arithmetic: one finite number each, or absent.

    Other malformed numbers (an Instance Number of "12abc") are kept as pydicom leaves them,
    text, and read as ``None`` by :func:`identity`: not worth losing a radiograph over.
    """
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        if keyword not in ds:
            continue
        value = ds[keyword].value
        if isinstance(value, MultiValue) or not isinstance(value, int | float):
            raise DicomRejected("bad_value", f"{keyword} {value!r:.40} is not one number")
        if not np.isfinite(value):
            raise DicomRejected("bad_value", f"{keyword} {value!r} is not finite")


def _require_uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None or value == "":
        raise DicomRejected("missing_uid", f"{keyword} is missing or empty")
    elem = ds[keyword]
    if elem.VR != "UI" or not isinstance(value, str):
        raise DicomRejected("bad_uid", f"{keyword} must be one UID (VR UI), got VR {elem.VR}")
    # Leading zeros in a component are invalid but common in vendor output, so allowed;
    # digits and dots only also make UIDs safe to use in storage paths.
    if len(value) > 64 or not _UID_PATTERN.fullmatch(value):
        raise DicomRejected("bad_uid", f"{keyword} {value[:80]!r} is not a valid UID")
    return value


def _us(ds: Dataset, keyword: str, code: str = "bad_value") -> int:
    """One unsigned short, with the right VR: a wrong VR means the header cannot be trusted."""
    if keyword not in ds:
        raise DicomRejected(code, f"{keyword} is missing")
    elem = ds[keyword]
    value = elem.value
    if elem.VR != "US" or isinstance(value, MultiValue) or not isinstance(value, int):
        raise DicomRejected(
            "bad_value", f"{keyword} must be one US value, got VR {elem.VR} value {value!r:.40}"
        )
    return value


def pixel_layout(ds: Dataset, limits: ReadLimits = DEFAULT_LIMITS) -> PixelLayout:
    """Read and cross-check the Image Pixel module; reject absurd or inconsistent values."""
    samples = _us(ds, "SamplesPerPixel")
    photometric = ds.get("PhotometricInterpretation")
    if photometric not in _PHOTOMETRIC_SAMPLES:
        raise DicomRejected(
            "bad_value", f"PhotometricInterpretation {photometric!r:.40} is not supported"
        )
    if _PHOTOMETRIC_SAMPLES[photometric] != samples:
        raise DicomRejected("bad_value", f"{photometric} with SamplesPerPixel {samples}")
    rows = _us(ds, "Rows", "bad_dimensions")
    columns = _us(ds, "Columns", "bad_dimensions")
    if not (1 <= rows <= limits.max_side and 1 <= columns <= limits.max_side):
        raise DicomRejected(
            "bad_dimensions", f"{rows}x{columns} outside 1..{limits.max_side} per side"
        )
    frames = _frame_count(ds, limits)
    allocated = _us(ds, "BitsAllocated")
    stored = _us(ds, "BitsStored")
    high_bit = _us(ds, "HighBit")
    representation = _us(ds, "PixelRepresentation")
    if allocated not in (8, 16):
        raise DicomRejected("bad_value", f"BitsAllocated {allocated} is not 8 or 16")
    if not 1 <= stored <= allocated or high_bit != stored - 1:
        raise DicomRejected(
            "bad_value",
            f"BitsStored {stored}, HighBit {high_bit} inconsistent with BitsAllocated {allocated}",
        )
    if representation not in (0, 1):
        raise DicomRejected("bad_value", f"PixelRepresentation {representation} is not 0 or 1")
    layout = PixelLayout(
        rows, columns, samples, frames, allocated, stored, representation == 1, photometric
    )
    if layout.frame_bytes * frames > limits.max_pixel_bytes:
        raise DicomRejected(
            "bad_dimensions",
            f"{frames} frame(s) of {rows}x{columns}x{samples} at {allocated} bits exceed "
            f"{limits.max_pixel_bytes} bytes",
        )
    return layout


def _frame_count(ds: Dataset, limits: ReadLimits) -> int:
    value = ds.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    if isinstance(value, MultiValue) or not isinstance(value, int):
        raise DicomRejected("bad_value", f"NumberOfFrames {value!r:.40} is not one integer")
    if not 1 <= value <= limits.max_frames:
        raise DicomRejected(
            "bad_dimensions", f"NumberOfFrames {value} outside 1..{limits.max_frames}"
        )
    return int(value)


def validate_pixels(ds: Dataset, limits: ReadLimits = DEFAULT_LIMITS) -> None:
    """Check that the Pixel Data element can hold the frames the header announces.

    Native data must be at least as long as the header says (a trailing pad byte or excess is
    ignored by the decoder); encapsulated data must be a well-formed item sequence with a
    fragment for every frame. :func:`read_dicom` calls this; it is public for datasets built in
    memory (STOW-RS parts, PACS pulls) that did not come through it.
    """
    _check_pixel_data(ds, pixel_layout(ds, limits))


def _check_pixel_data(ds: Dataset, layout: PixelLayout) -> None:
    elem = ds["PixelData"]
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax in NATIVE_SYNTAXES:
        expected = layout.frame_bytes * layout.frames
        if len(elem.value) < expected:
            raise DicomRejected(
                "bad_pixel_data",
                f"Pixel Data holds {len(elem.value)} bytes, the header needs {expected}",
            )
        return
    if not elem.is_undefined_length:
        raise DicomRejected("bad_pixel_data", f"{syntax.name} pixel data is not encapsulated")
    _check_fragments(elem, layout.frames)


def _check_fragments(elem: DataElement, frames: int) -> None:
    buffer = io.BytesIO(elem.value)
    try:
        offsets = parse_basic_offsets(buffer)
        count, _positions = parse_fragments(buffer)
    except (ValueError, struct.error) as exc:
        raise DicomRejected("bad_pixel_data", f"encapsulated pixel data: {exc}") from exc
    if count < frames or (offsets and len(offsets) != frames):
        raise DicomRejected(
            "bad_pixel_data",
            f"{count} fragment(s) and {len(offsets)} offset(s) for {frames} frame(s)",
        )


# --------------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceIdentity:
    """What the store indexes an instance by, read once at ingest (before de-identification)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    modality: str
    accession_number: str
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_age: str
    patient_birth_date: date | None
    study_date: date | None
    study_time: time | None
    study_description: str
    series_description: str
    series_number: int | None
    instance_number: int | None
    rows: int
    columns: int
    number_of_frames: int
    photometric: str
    bits_stored: int
    view_position: str
    body_part: str
    burned_in_annotation: bool | None


def identity(ds: Dataset) -> InstanceIdentity:
    """Extract the indexing attributes; call it on a dataset that :func:`read_dicom` returned.

    Free-text values come back stripped and never ``None`` (empty string when absent); dates
    and times that do not parse come back ``None`` instead of rejecting the image.
    """
    return InstanceIdentity(
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        modality=_text(ds, "Modality"),
        accession_number=_text(ds, "AccessionNumber"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_sex=_text(ds, "PatientSex"),
        patient_age=_text(ds, "PatientAge"),
        patient_birth_date=parse_da(_text(ds, "PatientBirthDate")),
        study_date=parse_da(_text(ds, "StudyDate")),
        study_time=parse_tm(_text(ds, "StudyTime")),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_optional_int(ds, "SeriesNumber"),
        instance_number=_optional_int(ds, "InstanceNumber"),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=_optional_int(ds, "NumberOfFrames") or 1,
        photometric=_text(ds, "PhotometricInterpretation"),
        bits_stored=int(ds.BitsStored),
        view_position=_text(ds, "ViewPosition"),
        body_part=_text(ds, "BodyPartExamined"),
        burned_in_annotation=_yes_no(_text(ds, "BurnedInAnnotation")),
    )


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _optional_int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if isinstance(value, MultiValue):
        value = value[0] if value else None
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _yes_no(value: str) -> bool | None:
    return {"YES": True, "NO": False}.get(value.upper())


def parse_da(value: str) -> date | None:
    """DICOM DA (YYYYMMDD, or the retired YYYY.MM.DD) to a date; ``None`` if unparsable."""
    digits = value.replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def parse_tm(value: str) -> time | None:
    """DICOM TM (HH, HHMM, HHMMSS, HHMMSS.FFFFFF; retired colons allowed) to a time."""
    main, _, fraction = value.replace(":", "").partition(".")
    if len(main) not in (2, 4, 6) or not main.isdigit() or (fraction and not fraction.isdigit()):
        return None
    parts = [int(main[i : i + 2]) for i in range(0, len(main), 2)] + [0, 0]
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return time(parts[0], parts[1], min(parts[2], 59), micro)  # 60: leap second
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Pixels: stored values -> modality LUT -> VOI (LUT, window or percentiles) -> 8 bits
# --------------------------------------------------------------------------------------------

PERCENTILE_WINDOW = (0.5, 99.5)
_PERCENTILE_SAMPLES = 512  # the percentile histogram samples about this many pixels per side


def decode_frame(ds: Dataset, index: int = 0) -> np.ndarray:
    """Stored values of one frame: H×W (integer) or H×W×3 (RGB, YBR converted)."""
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        arr, _meta = get_decoder(syntax).as_array(ds, index=index, as_rgb=True)
    except _DECODE_ERRORS as exc:
        raise DicomRejected("decode_failed", f"{syntax.name}: {exc}") from exc
    except BaseException as exc:
        # Rust codecs (pylibjpeg-rle) turn a panic on corrupt input into pyo3's
        # PanicException, which derives from BaseException; everything else propagates.
        if type(exc).__name__ != "PanicException":
            raise
        raise DicomRejected("decode_failed", f"{syntax.name}: codec panicked: {exc}") from exc
    expected = (int(ds.Rows), int(ds.Columns))
    if arr.shape[:2] != expected or arr.ndim not in (2, 3):
        raise DicomRejected("decode_failed", f"decoded shape {arr.shape}, header says {expected}")
    return arr


def to_uint8(ds: Dataset, *, window: tuple[float, float] | None = None) -> np.ndarray:
    """The first frame as H×W uint8 for display and training, air dark.

    Order (PS3.4 N.2): Modality LUT (sequence, or Rescale Slope/Intercept), then the VOI
    transform, then MONOCHROME1 inversion. The VOI transform is, in order of preference: the
    explicit ``window=(center, width)``, the VOI LUT Sequence, the first Window Center/Width
    with its VOI LUT Function, and finally a 0.5–99.5 % percentile window. The whole chain is
    folded into a lookup table over every possible stored bit pattern, so the per-pixel work
    is one table lookup whatever the chain.
    """
    if int(ds.SamplesPerPixel) == 3:
        return _rgb_to_gray(decode_frame(ds), int(ds.BitsStored), window)
    index = stored_bits(ds)
    return lookup(display_lut(ds, index, window=window), index)


_LOOKUP_CHUNK = 1 << 16


def lookup(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``table[index]``, about three times faster on a large image.

    Fancy indexing first widens all of ``index`` to int64 (32 MB for a 2048² image) and checks
    bounds; taking 64 K pixels at a time keeps that copy in cache, and ``mode="wrap"`` skips
    the check, which cannot fail: the table covers every bit pattern of ``index``'s dtype.
    """
    if table.size != 2 ** (8 * index.dtype.itemsize):
        raise ValueError(f"a {table.size}-entry table cannot be indexed by {index.dtype}")
    out = np.empty(index.shape, dtype=table.dtype)
    flat_in, flat_out = index.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _LOOKUP_CHUNK):
        stop = start + _LOOKUP_CHUNK
        np.take(table, flat_in[start:stop], out=flat_out[start:stop], mode="wrap")
    return out


def stored_bits(ds: Dataset) -> np.ndarray:
    """The first frame's stored values as raw unsigned bit patterns (uint8 or uint16).

    Native data is viewed straight from the Pixel Data bytes (no copy, no masking: the table
    built by :func:`display_lut` masks unused bits and sign-extends instead); compressed data
    goes through the codec.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    unsigned = np.uint8 if int(ds.BitsAllocated) == 8 else np.dtype("<u2")
    if ds.file_meta.TransferSyntaxUID in NATIVE_SYNTAXES:
        try:
            flat = np.frombuffer(ds.PixelData, dtype=unsigned, count=rows * columns)
        except ValueError as exc:
            raise DicomRejected("decode_failed", f"native pixel data: {exc}") from exc
        return flat.reshape(rows, columns)
    stored = decode_frame(ds)
    if stored.dtype.itemsize != np.dtype(unsigned).itemsize:  # a codec may widen
        stored = stored.astype(np.int32).astype(np.dtype(unsigned).newbyteorder("="))
    return stored.view(np.dtype(unsigned).newbyteorder("="))


def display_lut(
    ds: Dataset, index: np.ndarray, *, window: tuple[float, float] | None = None
) -> np.ndarray:
    """A uint8 table over every bit pattern of ``index``'s dtype (see :func:`stored_bits`).

    Only the low ``BitsStored`` bits of a pattern count, so the table repeats with that period:
    the chain is computed over one period (4,096 entries for 12-bit data, not 65,536) and tiled.
    """
    patterns = 2 ** (8 * index.dtype.itemsize)
    bits = min(int(ds.BitsStored), 8 * index.dtype.itemsize)
    stored = np.arange(1 << bits, dtype=np.int64)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        stored = np.where(stored >= 1 << (bits - 1), stored - (1 << bits), stored)
    values = _modality(stored, ds)
    unit = _voi(values, ds, index, window)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        unit = 1.0 - unit
    return np.tile(np.rint(unit * 255.0).astype(np.uint8), patterns >> bits)


def _modality(domain: np.ndarray, ds: Dataset) -> np.ndarray:
    """Modality LUT Sequence if present, else Rescale Slope / Intercept (PS3.3 C.11.1)."""
    values = domain.astype(np.float64)
    try:
        if ds.get("ModalityLUTSequence"):
            table, first, _depth = _lut_item(ds.ModalityLUTSequence[0])
            return _apply_lut(values, table, first)
        slope = float(ds.get("RescaleSlope", 1.0))
        intercept = float(ds.get("RescaleIntercept", 0.0))
    except _PARSE_ERRORS as exc:
        raise DicomRejected(
            "bad_value", f"Modality LUT / rescale cannot be applied: {exc}"
        ) from exc
    return values * slope + intercept if (slope, intercept) != (1.0, 0.0) else values


def _lut_item(item: Dataset) -> tuple[np.ndarray, int, int]:
    """(table, first mapped value, bits per entry) of a LUT item (PS3.3 C.11.1.1.1).

    Written here rather than taken from pydicom, whose helpers index 8-bit tables through
    uint8 (wrapping stored values above 255) and cannot build a 12-bit table.
    """
    entries, first, depth = (int(v) for v in item.LUTDescriptor)
    entries = entries or 65536
    data = item.LUTData
    if isinstance(data, bytes):  # OW; some writers pack 8-bit entries two to a word
        table = np.frombuffer(data, dtype="<u2" if len(data) >= 2 * entries else np.uint8)
    else:
        table = np.asarray(data if isinstance(data, MultiValue) else [data])
    table = table[:entries].astype(np.float64)
    if table.size == 0 or not 1 <= depth <= 16:
        raise ValueError(f"LUT with {table.size} entries of {depth} bits")
    return table, first, depth


def _apply_lut(values: np.ndarray, table: np.ndarray, first: int) -> np.ndarray:
    """Values below the first entry map to it, values past the last to the last."""
    return table[np.clip(np.rint(values) - first, 0, table.size - 1).astype(np.int64)]


def _voi(
    values: np.ndarray, ds: Dataset, index: np.ndarray, window: tuple[float, float] | None
) -> np.ndarray:
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if window is not None:
        center, width = window
        if not width > 0:
            raise ValueError(f"window width must be > 0, got {width}")
        return apply_window(values, float(center), float(width), function)
    if (unit := _voi_lut_sequence(values, ds)) is not None:
        return unit
    if (file_window := _file_window(ds, function)) is not None:
        return apply_window(values, *file_window, function)
    # Counts per bit pattern, folded onto the stored values the table's period covers.
    counts = _histogram(ds, index).reshape(-1, values.size).sum(axis=0)
    return _percentile_window(values, counts)


def apply_window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI LUT Function (PS3.3 C.11.2.1.2) scaled to 0..1; unknown functions act as LINEAR."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - center) / width, -700, 700)))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    center, width = center - 0.5, width - 1.0
    if width <= 0:  # width 1: a hard threshold
        return (values > center).astype(np.float64)
    return np.clip((values - center) / width + 0.5, 0.0, 1.0)


def _voi_lut_sequence(values: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """The first VOI LUT, scaled by its declared output range; ``None`` if absent or broken.

    A broken optional display hint falls back to the window or percentiles instead of making
    the image undecodable.
    """
    if not ds.get("VOILUTSequence"):
        return None
    try:
        table, first, depth = _lut_item(ds.VOILUTSequence[0])
    except _PARSE_ERRORS:
        return None
    top = max(2.0**depth - 1.0, float(table.max()), 1.0)
    return _apply_lut(values, table, first) / top


def _file_window(ds: Dataset, function: str) -> tuple[float, float] | None:
    center = _first_float(ds.get("WindowCenter"))
    width = _first_float(ds.get("WindowWidth"))
    if center is None or width is None:
        return None
    minimum = 1.0 if function not in ("LINEAR_EXACT", "SIGMOID") else 0.0
    if not width > 0 or width < minimum:
        return None
    return center, width


def _first_float(value: object) -> float | None:
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if np.isfinite(result) else None


def _histogram(ds: Dataset, index: np.ndarray) -> np.ndarray:
    """Counts per stored value over a strided sample, padding values excluded."""
    step = max(1, max(index.shape) // _PERCENTILE_SAMPLES)
    bins = 2 ** (8 * index.dtype.itemsize)
    counts = np.bincount(index[::step, ::step].ravel(), minlength=bins)
    padding = ds.get("PixelPaddingValue")
    if isinstance(padding, int):
        limit = ds.get("PixelPaddingRangeLimit")
        limit = limit if isinstance(limit, int) else padding
        low, high = sorted((padding, limit))
        padded = np.arange(low, high + 1).astype(np.int64) % bins
        counts[padded] = 0
    return counts


def _percentile_window(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    present = np.flatnonzero(counts)
    if present.size == 0:
        return np.zeros_like(values)
    order = present[np.argsort(values[present], kind="stable")]
    cumulative = np.cumsum(counts[order])
    total = cumulative[-1]
    low_pct, high_pct = PERCENTILE_WINDOW
    low = values[order[np.searchsorted(cumulative, total * low_pct / 100.0, side="right")]]
    high_at = min(
        np.searchsorted(cumulative, total * high_pct / 100.0, side="left"), order.size - 1
    )
    high = values[order[high_at]]
    if high <= low:
        return (values > low).astype(np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _rgb_to_gray(
    rgb: np.ndarray, bits_stored: int, window: tuple[float, float] | None
) -> np.ndarray:
    """Colour secondary captures: luma (BT.601) scaled to 0..255, optional linear window."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma *= 255.0 / (2**bits_stored - 1)
    if window is not None:
        center, width = window
        if not width > 0:
            raise ValueError(f"window width must be > 0, got {width}")
        luma = 255.0 * apply_window(luma, float(center), float(width), "LINEAR")
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def resize_u8(img: np.ndarray, size: int = 256, *, pad_to_square: bool = False) -> np.ndarray:
    """Square ``size``×``size`` uint8, as the paper does (direct rescale, aspect not kept).

    Shrinking averages areas (Pillow BOX) so fine lung texture does not alias; enlarging is
    bilinear. ``pad_to_square`` keeps the aspect ratio instead, padding with black (air).
    """
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"resize_u8 wants a 2-D uint8 image, got {img.dtype} {img.shape}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if pad_to_square:
        img = _pad_square(img)
    if img.shape == (size, size):
        return img.copy()
    shrinking = size <= min(img.shape)
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    out = Image.fromarray(img).resize((size, size), method, reducing_gap=2.0 if shrinking else None)
    return np.asarray(out)


def _pad_square(img: np.ndarray) -> np.ndarray:
    rows, columns = img.shape
    side = max(rows, columns)
    top, left = (side - rows) // 2, (side - columns) // 2
    out = np.zeros((side, side), dtype=np.uint8)
    out[top : top + rows, left : left + columns] = img
    return out


def render_png(img: np.ndarray) -> bytes:
    """Lossless 8-bit greyscale PNG of a pipeline image."""
    return _render(img, "PNG", compress_level=6)


def render_jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    """Baseline greyscale JPEG of a pipeline image (thumbnails, ``rendered`` responses)."""
    return _render(img, "JPEG", quality=quality)


def _render(img: np.ndarray, fmt: str, **options: int) -> bytes:
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"render wants a 2-D uint8 image, got {img.dtype} {img.shape}")
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format=fmt, **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

_PIXEL_DATA = 0x7FE00010
_WRITE_CHUNK = 1 << 20
_ENCAPSULATED_START = b"\xfe\xff\x00\xe0"  # the first item tag of encapsulated pixel data


def write_file(ds: Dataset, fp: BinaryIO) -> None:
    """Write ``ds`` as a Part 10 file, byte for byte what ``ds.save_as(fp,
    enforce_file_format=True)`` writes, without copying the Pixel Data value twice on the way.

    pydicom encodes each element into a temporary buffer and then copies the buffer out: two
    extra copies of an 8 MB radiograph. Here pydicom writes the file meta and every element
    before Pixel Data, the Pixel Data value goes from the dataset's bytes to ``fp`` in 1 MB
    pieces, and pydicom writes whatever follows (trailing padding, say). Datasets this fast path
    does not cover (no Pixel Data, big endian, an ambiguous VR) go through ``save_as``.
    """
    pixel = ds.get_item(_PIXEL_DATA) if _PIXEL_DATA in ds else None
    meta = getattr(ds, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if not (
        isinstance(pixel, DataElement)
        and isinstance(pixel.value, bytes)
        and syntax in ACCEPTED_SYNTAXES
        and (syntax == dcm_uid.ImplicitVRLittleEndian or pixel.VR in ("OB", "OW"))
    ):
        ds.save_as(fp, enforce_file_format=True)
        return
    undefined = syntax.is_compressed
    if undefined and not pixel.value.startswith(_ENCAPSULATED_START):
        raise ValueError("compressed Pixel Data must be encapsulated")
    trailing = {tag: ds.get_item(tag) for tag in ds.keys() if tag >= _PIXEL_DATA}
    for tag in trailing:
        del ds[tag]
    out = DicomFileLike(fp)
    try:
        dcmwrite(out, ds, enforce_file_format=True)
    finally:
        for tag, elem in trailing.items():
            ds[tag] = elem
    pixel.is_undefined_length = undefined  # as dcmwrite sets it
    _write_pixel_data(out, pixel, undefined)
    encodings = ds.get("SpecificCharacterSet", default_encoding)
    for tag in sorted(trailing):
        if tag != _PIXEL_DATA and not (tag & 0xFFFF == 0 and tag >> 16 > 6):  # group lengths
            write_data_element(out, trailing[tag], encodings)


def _write_pixel_data(out: DicomFileLike, pixel: DataElement, undefined: bool) -> None:
    value = memoryview(pixel.value)
    pad = len(value) % 2
    out.write_tag(pixel.tag)
    if not out.is_implicit_VR:
        out.write(pixel.VR.encode("ascii"))
        out.write_US(0)  # reserved
    out.write_UL(0xFFFFFFFF if undefined else len(value) + pad)
    for start in range(0, len(value), _WRITE_CHUNK):
        out.write(value[start : start + _WRITE_CHUNK])
    if pad:
        out.write(b"\x00")
    if undefined:
        out.write_tag(0xFFFEE0DD)  # sequence delimiter
        out.write_UL(0)
