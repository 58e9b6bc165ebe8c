"""Small synthetic DX instances in every accepted transfer syntax, and ways to break them.

A shared test helper (also for the ingest and DICOMweb tests): tests build what they need
instead of shipping binary fixtures. Images are 64×64 by default so a whole corpus encodes in
well under a second.

Encoders used: pydicom's native RLE; pylibjpeg-openjpeg for JPEG 2000; pyjpegls for JPEG-LS
(tests that need it skip with a reason when it is absent); Pillow for JPEG baseline; a small
encoder below for JPEG Lossless SV1, which pydicom cannot write.
"""

from __future__ import annotations

import copy
import ctypes
import io
import mmap
import os
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom import uid as dcm_uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filereader import data_element_generator
from pydicom.sequence import Sequence

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
UID_ROOT = "1.2.826.0.1.3680043.10.999."

LOSSLESS_SYNTAXES = (
    dcm_uid.ExplicitVRLittleEndian,
    dcm_uid.ImplicitVRLittleEndian,
    dcm_uid.RLELossless,
    dcm_uid.JPEG2000Lossless,
    dcm_uid.JPEGLSLossless,
    dcm_uid.JPEGLosslessSV1,
)
LOSSY_SYNTAXES = (dcm_uid.JPEG2000, dcm_uid.JPEGLSNearLossless, dcm_uid.JPEGBaseline8Bit)


def phantom(rows: int = 64, columns: int = 64, bits_stored: int = 12, signed: bool = False):
    """A chest-like test pattern in stored values: air low, body high, two darker lungs."""
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    y, x = (y + 0.5) / rows - 0.5, (x + 0.5) / columns - 0.5
    body = (x / 0.45) ** 2 + (y / 0.48) ** 2 < 1
    lungs = ((np.abs(x) - 0.2) / 0.14) ** 2 + (y / 0.3) ** 2 < 1
    unit = 0.05 + 0.1 * (y + 0.5)  # air, with a gentle ramp so no two rows are equal
    unit = np.where(body, 0.8 + 0.1 * x, unit)
    unit = np.where(lungs, 0.35 + 0.2 * (y + 0.5), unit)
    top = 2**bits_stored - 1
    values = np.rint(unit * top).astype(np.int64)
    if signed:
        values -= 2 ** (bits_stored - 1)
        return values.astype(np.int8 if bits_stored <= 8 else np.int16)
    return values.astype(np.uint8 if bits_stored <= 8 else np.uint16)


def new_uid(suffix: str) -> str:
    return UID_ROOT + suffix


def make_dx(
    *,
    rows: int = 64,
    columns: int = 64,
    bits_stored: int = 12,
    signed: bool = False,
    photometric: str = "MONOCHROME2",
    pixels: np.ndarray | None = None,
    syntax: str = dcm_uid.ExplicitVRLittleEndian,
    identity: int = 1,
    **attributes: object,
) -> Dataset:
    """A valid DX instance with the identity attributes de-identification must deal with.

    ``identity`` numbers the patient / study / instance so a test can make several distinct
    instances; ``attributes`` set or override any keyword (``None`` deletes it).
    """
    if pixels is None:
        pixels = phantom(rows, columns, bits_stored, signed)
    allocated = 8 if pixels.dtype.itemsize == 1 else 16
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = dcm_uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = new_uid(f"3.{identity}")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = new_uid(f"3.{identity}")
    ds.StudyInstanceUID = new_uid(f"1.{identity}")
    ds.SeriesInstanceUID = new_uid(f"2.{identity}")
    ds.FrameOfReferenceUID = new_uid(f"4.{identity}")
    ds.Modality = "DX"
    ds.PatientName = f"Zhang^San{identity}"
    ds.PatientID = f"PID{identity:04d}"
    ds.PatientBirthDate = "19600102"
    ds.PatientSex = "M"
    ds.PatientAge = "064Y"
    ds.OtherPatientIDs = f"OTHER{identity}"
    ds.PatientAddress = "1 Hospital Road"
    ds.AccessionNumber = f"ACC{identity:05d}"
    ds.StudyDate = "20190315"
    ds.StudyTime = "101530.25"
    ds.SeriesDate = "20190315"
    ds.ContentDate = "20190315"
    ds.ContentTime = "101612"
    ds.StudyID = "S1"
    ds.StudyDescription = "CHEST PA"
    ds.SeriesDescription = "PA"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.InstitutionName = "First People's Hospital"
    ds.InstitutionAddress = "Somewhere"
    ds.ReferringPhysicianName = "Li^Si"
    ds.OperatorsName = "Wang^Wu"
    ds.PerformingPhysicianName = "Zhao^Liu"
    ds.StationName = "DR-ROOM-2"
    ds.DeviceSerialNumber = "SN12345"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.BurnedInAnnotation = "NO"
    ds.ImageComments = "patient Zhang San, bed 12"
    request = Dataset()
    request.RequestedProcedureID = "RP1"
    request.ScheduledProcedureStepID = "SPS1"
    ds.RequestAttributesSequence = Sequence([request])
    code = Dataset()
    code.CodeValue = "T-D3000"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = Sequence([code])
    ds.add_new(0x00091010, "LO", "vendor private note about Zhang San")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = pixels.tobytes()
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return encode(ds, syntax) if syntax != dcm_uid.ExplicitVRLittleEndian else ds


def encode(ds: Dataset, syntax: str) -> Dataset:
    """A copy of a native dataset in ``syntax`` (JPEG baseline needs 8-bit input)."""
    out = copy.deepcopy(ds)
    if syntax in (dcm_uid.ExplicitVRLittleEndian, dcm_uid.ImplicitVRLittleEndian):
        out.file_meta.TransferSyntaxUID = syntax
    elif syntax == dcm_uid.JPEGBaseline8Bit:
        _encapsulate(out, syntax, _pillow_jpeg(out.pixel_array))
    elif syntax == dcm_uid.JPEGLosslessSV1:
        _encapsulate(out, syntax, jpeg_lossless_sv1(out.pixel_array, int(out.BitsStored)))
    elif syntax == dcm_uid.JPEG2000:
        out.compress(syntax, j2k_psnr=[60])  # visibly lossy, still close
    elif syntax == dcm_uid.JPEGLSNearLossless:
        out.compress(syntax, jls_error=2)
    else:
        out.compress(syntax)
    return out


def _encapsulate(ds: Dataset, syntax: str, frame: bytes) -> None:
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax == dcm_uid.JPEGBaseline8Bit:
        ds.LossyImageCompression = "01"


def to_bytes(ds: Dataset) -> bytes:
    """The Part 10 file for ``ds`` (preamble, file meta, dataset)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write(ds: Dataset, path: Path) -> Path:
    path.write_bytes(to_bytes(ds))
    return path


def _pillow_jpeg(pixels: np.ndarray) -> bytes:
    if pixels.dtype != np.uint8:
        raise ValueError("JPEG baseline needs 8-bit pixels: make_dx(bits_stored=8)")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# JPEG Lossless, first-order prediction (ITU T.81 process 14, selection value 1)
# --------------------------------------------------------------------------------------------


def jpeg_lossless_sv1(pixels: np.ndarray, precision: int) -> bytes:
    """Encode one greyscale frame; slow pure Python, fine for test-sized images.

    One Huffman table gives every difference category (0..16) a 5-bit code: wasteful but
    valid, and it keeps the encoder short.
    """
    rows, columns = pixels.shape
    samples = pixels.astype(np.int64) & ((1 << precision) - 1)
    bits: list[str] = []
    for r in range(rows):
        for c in range(columns):
            if r == 0 and c == 0:
                predicted = 1 << (precision - 1)
            elif c == 0:
                predicted = samples[r - 1, 0]
            else:
                predicted = samples[r, c - 1]
            bits.append(_difference_bits(int(samples[r, c] - predicted)))
    payload = "".join(bits)
    payload += "1" * (-len(payload) % 8)
    data = bytearray()
    for i in range(0, len(payload), 8):
        byte = int(payload[i : i + 8], 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0x00)
    sof = bytes([0xFF, 0xC3, 0, 11, precision]) + rows.to_bytes(2, "big")
    sof += columns.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    counts = [0] * 16
    counts[4] = 17  # 17 codes of length 5
    dht = bytes([0xFF, 0xC4, 0, 2 + 1 + 16 + 17, 0x00, *counts, *range(17)])
    sos = bytes([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 1, 0, 0])
    return b"\xff\xd8" + sof + dht + sos + bytes(data) + b"\xff\xd9"


def _difference_bits(diff: int) -> str:
    diff = diff % 65536
    if diff >= 32768:
        diff -= 65536
    category = 16 if diff == 32768 else abs(diff).bit_length()
    code = format(category, "05b")
    if category in (0, 16):
        return code
    extra = diff if diff > 0 else diff - 1
    return code + format(extra & ((1 << category) - 1), f"0{category}b")


# --------------------------------------------------------------------------------------------
# Breaking valid files
# --------------------------------------------------------------------------------------------


def truncations(data: bytes, count: int, seed: int = 0) -> list[int]:
    """Cut points: every region of the file (preamble, meta, header, pixels) gets some."""
    rng = np.random.default_rng(seed)
    fixed = [0, 1, 100, 131, 132, 140, len(data) - 1, len(data) - 2, len(data) - 9]
    random = rng.integers(133, len(data) - 1, size=max(0, count - len(fixed)))
    return sorted({int(n) for n in [*fixed, *random] if 0 <= n < len(data)})


def element_ends(data: bytes) -> set[int]:
    """Offsets where a top-level element ends: a cut there leaves a well-formed shorter file."""
    implicit = pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID.is_implicit_VR
    fp = io.BytesIO(data)
    fp.seek(132)
    ends = set()
    meta = data_element_generator(fp, False, True, stop_when=lambda tag, *_: tag.group != 2)
    for is_implicit, elements in ((False, meta), (implicit, None)):
        if elements is None:
            elements = data_element_generator(fp, is_implicit, True)
        for raw in elements:
            length = getattr(raw, "length", 0xFFFFFFFF)
            if length != 0xFFFFFFFF:
                ends.add(raw.value_tell + length)
    return ends


def flip_bytes(data: bytes, flips: int, rng: np.random.Generator) -> bytes:
    """``data`` with ``flips`` random bytes XORed with a random non-zero mask."""
    out = bytearray(data)
    positions = rng.integers(0, len(out), size=flips)
    masks = rng.integers(1, 256, size=flips)
    for position, mask in zip(positions, masks, strict=True):
        out[position] ^= int(mask)
    return bytes(out)


def replace_element(data: bytes, old: bytes, new: bytes) -> bytes:
    """Swap one encoded element (tag, VR, length and value) for another, exactly once."""
    if data.count(old) != 1:
        raise ValueError(f"{old!r} occurs {data.count(old)} times")
    return data.replace(old, new)


def cached_pages(path: Path) -> int:
    """Pages of the file in the kernel's page cache, by mincore(2) over a mapping of it."""
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    residency = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as fp, mmap.mmap(fp.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        start = ctypes.c_char.from_buffer(mapped)
        try:
            code = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), size, residency)
        finally:
            del start  # the mapping cannot close while ctypes holds a pointer into it
    assert code == 0, os.strerror(ctypes.get_errno())
    return sum(page & 1 for page in residency)


# --------------------------------------------------------------------------------------------
# Encodings the store rewrites at import (#14): big endian, 1-bit, colour layouts
# --------------------------------------------------------------------------------------------


def to_big_endian_bytes(ds: Dataset) -> bytes:
    """The Part 10 file of a native ``ds`` in Explicit VR Big Endian, pixel bytes swapped (pydicom
    writes OW values as they are)."""
    out = copy.deepcopy(ds)
    pixels = out.pixel_array
    if int(out.BitsAllocated) > 8:
        out.PixelData = pixels.astype(pixels.dtype.newbyteorder(">")).tobytes()
    out.file_meta.TransferSyntaxUID = dcm_uid.ExplicitVRBigEndian
    buffer = io.BytesIO()
    out.save_as(buffer, implicit_vr=False, little_endian=False, enforce_file_format=True)
    return buffer.getvalue()


def make_colour(
    rgb: np.ndarray, *, photometric: str = "RGB", planar: int = 0, **attributes: object
) -> Dataset:
    """A secondary-capture-like 8-bit colour instance holding ``rgb`` (H×W×3 uint8), stored as
    ``photometric`` (RGB, or YBR_FULL converted by pydicom) with ``planar`` configuration."""
    from pydicom.pixels import convert_color_space

    ds = make_dx(pixels=rgb[..., 0], bits_stored=8, **attributes)
    samples = rgb if photometric == "RGB" else convert_color_space(rgb, "RGB", photometric)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = planar
    ds.PixelData = (samples.transpose(2, 0, 1) if planar else samples).tobytes()
    ds["PixelData"].VR = "OB"
    return ds


def colour_phantom(rows: int, columns: int) -> np.ndarray:
    """H×W×3 uint8: the grey phantom in red, a ramp in green, the phantom flipped in blue."""
    grey = phantom(rows, columns, bits_stored=8)
    ramp = np.linspace(0, 255, columns, dtype=np.float64)[None, :].repeat(rows, axis=0)
    return np.stack([grey, ramp.astype(np.uint8), grey[::-1]], axis=-1)


def make_one_bit(mask: np.ndarray, **attributes: object) -> Dataset:
    """A 1-bit MONOCHROME2 instance (a segmentation-like mask), bits packed as PS3.5 8.1.1."""
    from pydicom.pixels import pack_bits

    ds = make_dx(pixels=mask.astype(np.uint8), bits_stored=8, **attributes)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = pack_bits(mask.astype(np.uint8))
    ds["PixelData"].VR = "OB"
    return ds
