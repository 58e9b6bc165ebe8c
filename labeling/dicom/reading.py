"""Defensive reading: :func:`read_dicom` checks the size, runs the structural scan, lets pydicom
parse (never with ``force=True``), converts every element at once and validates what a
radiograph needs (UIDs, the Image Pixel module, the Pixel Data element).

Lazy parse errors thus surface at ingest rather than months later in a DICOMweb response.
Compressed pixel data is checked for layout here but not decoded (see pixels.py).
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from dataclasses import dataclass, replace
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom import uid as dcm_uid
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from .inflate import SPOOL_BYTES, inflate
from .native import BIG_ENDIAN, needs_rewrite, rewrite_native
from .rules import (
    ACCEPTED_SYNTAXES,
    DEFAULT_LIMITS,
    NATIVE_SYNTAXES,
    PARSE_ERRORS,
    DicomRejected,
    ReadLimits,
)
from .scan import Cursor, scan_file_meta, walk_elements


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

    A Deflated Explicit VR Little Endian file is inflated before its dataset is parsed, into a
    spooled temporary file, to at most ``limits.max_inflated_bytes`` (and never more than
    ``max_bytes``); the dataset returned is then Explicit VR Little Endian (see inflate.py).

    ``read_once`` (imports of a path) tells the kernel that the file's cached pages will not be
    read again, so they are freed at once and reused for the stored copy the import writes next,
    instead of the import filling the page cache with a PACS export it reads once.
    """
    if limits.max_inflated_bytes > max_bytes:
        limits = replace(limits, max_inflated_bytes=max_bytes)
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
    cursor = Cursor(fp, start, start + size, limits)
    syntax = scan_file_meta(cursor)
    if syntax == dcm_uid.DeflatedExplicitVRLittleEndian:
        return _read_inflated(fp, start, cursor.pos, start + size, limits)
    _check_syntax(syntax)
    if syntax == BIG_ENDIAN:
        cursor.order = ">"
    walk_elements(cursor, implicit=_reads_implicit(cursor, syntax), depth=0)
    fp.seek(start)
    try:
        ds = pydicom.dcmread(fp, force=False)
    except InvalidDicomError as exc:
        raise DicomRejected("not_dicom", str(exc)) from exc
    except PARSE_ERRORS as exc:
        raise DicomRejected("bad_value", f"pydicom cannot parse the file: {exc}") from exc
    _check_meta_group(ds)
    _materialise(ds.file_meta, limits.max_depth)
    _materialise(ds, limits.max_depth)
    _validate(ds, limits)
    _repair_meta_vrs(ds)
    if needs_rewrite(ds):
        rewrite_native(ds)
    return ds


def _reads_implicit(cursor: Cursor, syntax: dcm_uid.UID) -> bool:
    """Implicit VR, or Explicit VR whose first element has no VR: a writer that labelled an
    implicit dataset explicit. pydicom reads such a file as implicit (and warns), and the
    scan follows it, so the file is stored with the transfer syntax it claims."""
    if syntax == dcm_uid.ImplicitVRLittleEndian:
        return True
    if cursor.end - cursor.pos < 8 or syntax == BIG_ENDIAN:
        return False
    vr = cursor.peek(8, "an element header")[4:6]
    return not (vr.isalpha() and vr.isupper())


def _read_inflated(fp: BinaryIO, start: int, meta_end: int, end: int, limits: ReadLimits):
    """Inflate into a spooled file, then read that: an Explicit VR Little Endian file now."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        size = inflate(fp, start, meta_end, end, spool, max_bytes=limits.max_inflated_bytes)
        return _read_stream(spool, 0, size, limits)


def _check_syntax(syntax: dcm_uid.UID) -> None:
    if syntax not in ACCEPTED_SYNTAXES and syntax != BIG_ENDIAN:
        raise DicomRejected(
            "unsupported_transfer_syntax",
            f"transfer syntax {syntax} ({syntax.name}): no accepted decoder",
        )


def _check_meta_group(ds: Dataset) -> None:
    """pydicom ends the file meta group at the first element of another group; group 0002
    elements after it land in the dataset, where no writer accepts them."""
    stray = next((tag for tag in ds.keys() if tag.group == 0x0002), None)
    if stray is not None:
        raise DicomRejected(
            "bad_value",
            f"file meta element {Tag(stray)} comes after an element of another group: "
            "the file meta information is interrupted",
        )


# File meta elements a writer derives from the dataset when their VR is wrong.
_META_FROM_DATASET = {0x00020002: "SOPClassUID", 0x00020003: "SOPInstanceUID"}


def _repair_meta_vrs(ds: Dataset) -> None:
    """A file meta element written with another VR than its own (a Media Storage SOP Class
    UID as US, say) is tolerated: the two Media Storage UIDs are taken again from the dataset,
    which holds them too, and any other such element is dropped (the writer adds the
    implementation's own). Left as they were, the writer refuses the file."""
    meta = ds.file_meta
    for tag in list(meta.keys()):
        elem = meta[tag]
        expected = (
            pydicom.datadict.dictionary_VR(tag)
            if pydicom.datadict.dictionary_has_tag(tag)
            else None
        )
        if expected is None or elem.VR == expected or tag in (0x00020000, 0x00020010):
            continue
        del meta[tag]
        if tag in _META_FROM_DATASET:
            meta[tag] = DataElement(tag, expected, str(ds[_META_FROM_DATASET[tag]].value))


def materialise(ds: Dataset, depth: int = DEFAULT_LIMITS.max_depth) -> None:
    """Convert every element of a dataset read by pydicom as :func:`read_dicom` does: number
    strings that are not numbers kept as written (see :func:`_keep_as_written`). For a stored
    file that is written again (a transcode): it was read this way when it was imported."""
    _materialise(ds, depth)


def _materialise(ds: Dataset, depth: int) -> None:
    """Convert every element now, so that a malformed value is rejected at ingest."""
    if depth < 0:
        raise DicomRejected("bad_value", "sequences nested deeper than the limit")
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        try:
            elem = ds[tag]
        except PARSE_ERRORS as exc:
            raise DicomRejected(
                "bad_value", f"element {Tag(tag)} {_keyword(tag)} cannot be parsed: {exc}"
            ) from exc
        if elem.VR in _NUMBER_STRINGS and isinstance(raw, RawDataElement):
            _keep_as_written(ds, elem, raw)
        elif elem.VR == "SQ":
            for item in elem.value:
                _materialise(item, depth - 1)


_NUMBER_STRINGS = frozenset({"DS", "IS"})


def _keep_as_written(ds: Dataset, elem: DataElement, raw: RawDataElement) -> None:
    """A DS or IS value that is not a number is kept, as the bytes it was written with.

    Such values are tolerated (a wrong Slice Thickness is no reason to lose a radiograph),
    but pydicom decodes them with the dataset's character set, and a byte that set cannot
    decode becomes U+FFFD, which the writer cannot encode back. Number strings are in the
    default repertoire whatever the character set (PS3.5 6.2), so Latin-1 gives back the
    original bytes exactly, and the stored file holds what the sender sent.
    """
    values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
    if all(not isinstance(value, str) or value == "" for value in values):
        return
    if not isinstance(raw.value, bytes):
        return
    texts = raw.value.decode("latin-1").strip(" \0").split("\\")
    value = texts[0] if len(texts) == 1 else MultiValue(str, texts)
    # already_converted: assigning a value would run it through DS() again, which raises.
    ds[elem.tag] = DataElement(elem.tag, elem.VR, value, already_converted=True)


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
    "PALETTE COLOR": 1,
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

    @property
    def native_bytes(self) -> int:
        """What native Pixel Data of all frames needs: 1-bit frames are packed end to end,
        and native YBR_FULL_422 stores two samples per pixel (PS3.5 8.2.1, 8.1.1)."""
        samples = 2 if self.photometric == "YBR_FULL_422" else self.samples
        bits = self.rows * self.columns * samples * self.bits_allocated * self.frames
        return (bits + 7) // 8


def _validate(ds: Dataset, limits: ReadLimits) -> None:
    for keyword in _REQUIRED_UIDS:
        _require_uid(ds, keyword)
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        detail = f" (only {other[0]}, which is not a radiograph)" if other else ""
        raise DicomRejected("no_pixel_data", f"no Pixel Data element{detail}")
    _repair_frame_count(ds)
    layout = pixel_layout(ds, limits)
    if layout.photometric == "PALETTE COLOR":
        _check_palette(ds)
    _check_pixel_data(ds, layout)


def _check_palette(ds: Dataset) -> None:
    """PALETTE COLOR pixels are indices: without the three palettes they mean nothing."""
    for colour in ("Red", "Green", "Blue"):
        descriptor = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        has_data = any(
            f"{kind}{colour}PaletteColorLookupTableData" in ds for kind in ("", "Segmented")
        )
        # US or SS by Pixel Representation: pydicom may leave an ambiguous value as bytes.
        if not isinstance(descriptor, MultiValue | list | bytes) or not has_data:
            raise DicomRejected(
                "bad_value", f"PALETTE COLOR without a usable {colour.lower()} palette"
            )


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
    """One unsigned short. Written with another number VR (SS, UL, IS, an integral DS...), it
    is tolerated and the element rewritten as US, so every later reader (pydicom's decoders,
    the viewer) finds the VR it expects; text, bytes or several values are refused, as the
    header then cannot be trusted."""
    if keyword not in ds:
        raise DicomRejected(code, f"{keyword} is missing")
    elem = ds[keyword]
    value = elem.value
    if elem.VR == "US" and isinstance(value, int) and not isinstance(value, MultiValue):
        return value
    number = _integral(value) if elem.VR in _NUMBER_VRS else None
    if number is None or not 0 <= number <= 0xFFFF:
        raise DicomRejected(
            "bad_value", f"{keyword} must be one US value, got VR {elem.VR} value {value!r:.40}"
        )
    ds[elem.tag] = DataElement(elem.tag, "US", number)
    return number


_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "IS", "DS"})


def _integral(value: object) -> int | None:
    if isinstance(value, MultiValue | list | bytes | str) or not isinstance(value, int | float):
        return None
    if not np.isfinite(value) or value != int(value):
        return None
    return int(value)


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
    if allocated not in (1, 8, 16, 32):
        raise DicomRejected("bad_value", f"BitsAllocated {allocated} is not 1, 8, 16 or 32")
    if allocated == 1 and (samples != 1 or photometric == "PALETTE COLOR"):
        raise DicomRejected("bad_value", f"BitsAllocated 1 with {photometric}")
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


def _repair_frame_count(ds: Dataset) -> None:
    """A Number of Frames that is not one integer ("1A") is replaced by the count the pixel
    data holds: whole native frames, or the encapsulated Basic Offset Table's entries (one frame
    when it is empty). The limits then apply to that count as to any other."""
    value = ds.get("NumberOfFrames")
    if value is None or value == "" or (isinstance(value, int) and not isinstance(value, bool)):
        return
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples, allocated = int(ds.SamplesPerPixel), int(ds.BitsAllocated)
        frame_bits = rows * columns * samples * allocated
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            frames = len(parse_basic_offsets(io.BytesIO(ds.PixelData))) or 1
        else:
            frames = max(1, len(ds.PixelData) * 8 // frame_bits)
    except (*PARSE_ERRORS, ZeroDivisionError):
        return  # pixel_layout says what is wrong
    ds.NumberOfFrames = frames


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
    if syntax in NATIVE_SYNTAXES or syntax == BIG_ENDIAN:
        expected = layout.native_bytes
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
