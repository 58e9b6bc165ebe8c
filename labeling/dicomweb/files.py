"""What the DICOMweb views need from a stored DICOM file, without reading it whole.

Pure module (no Django). Stored files were validated by :func:`labeling.dicom.read_dicom` at
ingest; here they are read for serving: the header with large values deferred (so a 100 MB
instance costs a few kilobytes to describe), where the pixel data sits (so native frames are
byte ranges sent straight from the file), one compressed frame's fragments, and, only when a
client cannot take what is stored, a decode or a transcode to Explicit VR Little Endian.

Rendering goes through :func:`labeling.dicom.to_uint8`, the function that feeds the training
cache, so what a user sees is what the model sees. Rendered images are kept in a small
per-process cache (:class:`RenderCache`, keyed by file, modification time, frame and
parameters): a viewer asks for the same image many times, and a cached answer costs a ``stat``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.tag import Tag

from ..dicom import (
    NATIVE_SYNTAXES,
    DicomRejected,
    decode_frame,
    decompress,
    materialise,
    render_jpeg,
    render_png,
    to_uint8,
)
from .protocol import EXPLICIT_VR_LE, BadRequest, file_chunks

log = logging.getLogger(__name__)
PIXEL_DATA = Tag(0x7FE00010)
# Values longer than this stay in the file until asked for: pixel data, big private blobs.
DEFER_BYTES = 4096
# What pydicom raises on a file it cannot parse or a codec on data it cannot decode.
READ_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    LookupError,
    EOFError,
    struct.error,
    NotImplementedError,
    AttributeError,
    OverflowError,
    RecursionError,
    pydicom.errors.BytesLengthException,
    pydicom.errors.InvalidDicomError,
    zlib.error,  # a deflated file: parts are inflated first (see labeling.dicom.inflate)
)
_CODEC_ERRORS = (ValueError, TypeError, RuntimeError, NotImplementedError, OSError)


class StoredFileError(Exception):
    """A stored file that no longer reads as it did at ingest (moved, truncated, corrupted)."""


def read_header(path: str | os.PathLike) -> Dataset:
    """The dataset with long values (pixel data among them) left in the file."""
    try:
        return pydicom.dcmread(path, defer_size=DEFER_BYTES)
    except READ_ERRORS as exc:
        raise StoredFileError(f"cannot read stored file {path}: {exc}") from exc


def read_full(path: str | os.PathLike) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except READ_ERRORS as exc:
        raise StoredFileError(f"cannot read stored file {path}: {exc}") from exc


@dataclass(frozen=True)
class StoredPixels:
    """Where the Pixel Data value is in the file and how its frames are laid out."""

    transfer_syntax: str
    frames: int
    frame_bytes: int  # of a native frame
    offset: int  # file offset of the value; -1 when the value was small and read inline
    inline: bytes | None
    encapsulated: bool
    vr: str

    def native_range(self, number: int) -> tuple[int, int]:
        """(file offset, length) of native frame ``number`` (1-based)."""
        return self.offset + (number - 1) * self.frame_bytes, self.frame_bytes


def stored_pixels(ds: Dataset) -> StoredPixels:
    syntax = str(ds.file_meta.TransferSyntaxUID)
    frames = _frames(ds)
    allocated = int(ds.BitsAllocated)
    frame_bytes = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * allocated // 8
    encapsulated = syntax not in NATIVE_SYNTAXES
    element = ds.get_item(PIXEL_DATA, keep_deferred=True)
    if element is None:
        raise StoredFileError("stored file has no Pixel Data")
    vr = element.VR or ("OW" if allocated > 8 and not encapsulated else "OB")
    if isinstance(element, RawDataElement) and element.value is None:
        offset, inline = element.value_tell, None
    else:
        offset, inline = -1, bytes(ds.PixelData)
    return StoredPixels(syntax, frames, frame_bytes, offset, inline, encapsulated, str(vr))


def _frames(ds: Dataset) -> int:
    value = ds.get("NumberOfFrames")
    try:
        return max(1, int(value)) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def check_frames(numbers: list[int], frames: int) -> None:
    bad = [n for n in numbers if not 1 <= n <= frames]
    if bad:
        raise BadRequest(f"frame {bad[0]} does not exist; the instance has {frames} frame(s)")


def native_frame_chunks(path: str, pixels: StoredPixels, number: int) -> Iterator[bytes]:
    """A native frame, read from the file as it is sent."""
    if pixels.inline is not None:
        start = (number - 1) * pixels.frame_bytes
        return iter([pixels.inline[start : start + pixels.frame_bytes]])
    offset, length = pixels.native_range(number)
    return file_chunks(path, offset, length)


def encapsulated_frame(path: str, pixels: StoredPixels, number: int) -> bytes:
    """The compressed bytes of one frame, as stored (its fragments joined)."""
    try:
        if pixels.inline is not None:
            return get_frame(pixels.inline, number - 1, number_of_frames=pixels.frames)
        with open(path, "rb") as fp:
            fp.seek(pixels.offset)
            return get_frame(fp, number - 1, number_of_frames=pixels.frames)
    except (OSError, ValueError, KeyError) as exc:
        raise StoredFileError(f"frame {number} of {path}: {exc}") from exc


def decoded_frame(ds: Dataset, number: int) -> bytes:
    """A frame decoded to native little-endian stored values (for clients that cannot take the
    stored compression)."""
    array = decode_frame(ds, number - 1)
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def metadata(ds: Dataset, pixel_data_uri: str) -> dict:
    """The instance as DICOM JSON with its pixel data as a BulkDataURI (never inline).

    Other long values are fetched from the file and sent inline: they are rare and small next
    to the pixels. Values that do not convert are tolerated (see :func:`json_dataset`).
    """
    pixels = stored_pixels(ds)
    body = json_dataset(ds, skip=PIXEL_DATA)
    body[f"{PIXEL_DATA:08X}"] = {"vr": pixels.vr, "BulkDataURI": pixel_data_uri}
    meta = ds.file_meta
    body["00020010"] = {"vr": "UI", "Value": [str(meta.TransferSyntaxUID)]}
    return dict(sorted(body.items()))


def json_dataset(ds: Dataset, skip: int | None = None) -> dict:
    """A dataset in the DICOM JSON model (PS3.18 F.2), element by element, so that one value
    that does not convert cannot take the whole response with it.

    What a stored file may hold that pydicom cannot convert, and what is sent instead:

    * a DS or IS value that is not a number (Slice Thickness ``'\\x98.67'``): the string as it
      was written (its bytes read as Latin-1). Since CP-1861, PS3.18 F.2.3 lets DS and IS
      values be JSON Strings as well as Numbers, so the client gets what the file says;
    * FL, FD, DS values that are not finite: JSON has no number for them, so the strings
      ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, as JavaScript writes them;
    * anything else that does not convert: the attribute is left out (and logged), as an
      attribute without a value would claim the file holds an empty one.
    """
    body = {}
    for tag in ds.keys():
        if tag == skip:
            continue
        element = _json_element(ds, tag)
        if element is not None:
            body[f"{tag:08X}"] = element
    return body


def _json_element(ds: Dataset, tag: int) -> dict | None:
    raw = ds.get_item(tag)
    try:
        element = ds[tag]
        if element.VR == "SQ":
            return {"vr": "SQ", "Value": [json_dataset(item) for item in element.value]}
        body = element.to_json_dict(None, 0)
    except READ_ERRORS as exc:
        written = _number_strings_as_written(raw)
        if written is None:
            log.warning("attribute %s left out of the metadata: %s", Tag(tag), exc)
        return written
    if "Value" in body and body["vr"] in ("FL", "FD", "DS"):
        body["Value"] = [_finite(value) for value in body["Value"]]
    return body


def _number_strings_as_written(raw: object) -> dict | None:
    if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes):
        return None
    vr = raw.VR or _dictionary_vr(raw.tag)
    if vr not in ("DS", "IS"):
        return None
    texts = [text.strip(" \0") for text in raw.value.decode("latin-1").split("\\")]
    return {"vr": vr, "Value": [text or None for text in texts]}


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def transcode_to_explicit(path: str, out: BinaryIO) -> None:
    """Write the instance in Explicit VR Little Endian, decompressing pixel data if needed."""
    ds = read_full(path)
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        materialise(ds)  # number strings kept as written, as the import read them
        if syntax not in NATIVE_SYNTAXES:
            decompress(ds)
        ds.file_meta.TransferSyntaxUID = EXPLICIT_VR_LE
        ds.save_as(out, enforce_file_format=True)
    except _CODEC_ERRORS as exc:
        raise DicomRejected("decode_failed", f"{syntax.name}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Rendering (PS3.18 §8.3.5: window, viewport, quality)
# --------------------------------------------------------------------------------------------

_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
MAX_VIEWPORT = 8192


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    region: tuple[int, int, int, int] | None = None  # sx, sy, sw, sh (negative: flipped)


@dataclass(frozen=True)
class RenderOptions:
    window: tuple[float, float, str] | None = None  # center, width, VOI LUT function
    viewport: Viewport | None = None
    quality: int = 90


def _numbers(name: str, text: str, count: tuple[int, ...]) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise BadRequest(f"{name}={text[:40]!r}: expected {count[0]} numbers") from None
    if len(values) not in count or not all(np.isfinite(values)):
        raise BadRequest(f"{name}={text[:40]!r}: expected {' or '.join(map(str, count))} numbers")
    return values


def parse_window(text: str) -> tuple[float, float, str]:
    """``center,width[,function]`` with function linear, linear-exact or sigmoid."""
    parts = text.split(",")
    function = "LINEAR"
    if len(parts) == 3:
        name = parts.pop().strip().lower()
        if name not in _FUNCTIONS:
            raise BadRequest(f"window function {name!r}: use linear, linear-exact or sigmoid")
        function = _FUNCTIONS[name]
    center, width = _numbers("window", ",".join(parts), (2,))
    if width <= 0:
        raise BadRequest(f"window width must be positive, got {width:g}")
    return center, width, function


def parse_viewport(text: str) -> Viewport:
    """``vw,vh`` or ``vw,vh,sx,sy,sw,sh`` (PS3.18 §8.3.5.1.3)."""
    values = _numbers("viewport", text, (2, 6))
    if any(v != int(v) for v in values):
        raise BadRequest(f"viewport={text[:40]!r}: values must be integers")
    width, height, *region = (int(v) for v in values)
    if not (1 <= width <= MAX_VIEWPORT and 1 <= height <= MAX_VIEWPORT):
        raise BadRequest(f"viewport {width}x{height} outside 1..{MAX_VIEWPORT}")
    return Viewport(width, height, tuple(region) if region else None)  # type: ignore[arg-type]


def parse_quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadRequest(f"quality={text[:20]!r} must be an integer 1..100")
    return int(text)


def render_options(params: Mapping[str, str]) -> RenderOptions:
    """WADO-RS ``rendered`` query parameters; others (annotation, charset) are ignored."""
    return RenderOptions(
        window=parse_window(params["window"]) if params.get("window") else None,
        viewport=parse_viewport(params["viewport"]) if params.get("viewport") else None,
        quality=parse_quality(params["quality"]) if params.get("quality") else 90,
    )


def render(ds: Dataset, number: int, options: RenderOptions, media_type: str) -> bytes:
    """One frame as image/jpeg or image/png through the training pipeline's 8-bit mapping."""
    image = frame_u8(ds, number, options.window)
    if options.viewport is not None:
        image = apply_viewport(image, options.viewport)
    if media_type == "image/png":
        return render_png(image)
    return render_jpeg(image, quality=options.quality)


def render_file(path: str, number: int, options: RenderOptions, media_type: str) -> bytes:
    """:func:`render` of a stored file, through the process's :data:`RENDER_CACHE`."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise StoredFileError(f"cannot read stored file {path}: {exc}") from exc
    key = (path, stat.st_mtime_ns, stat.st_size, number, options, media_type)
    return RENDER_CACHE.get(key, lambda: _render_path(path, number, options, media_type))


def _render_path(path: str, number: int, options: RenderOptions, media_type: str) -> bytes:
    ds = read_full(path)
    check_frames([number], stored_pixels(ds).frames)
    return render(ds, number, options, media_type)


class RenderCache:
    """Recently rendered images, least recently used dropped past ``max_bytes``.

    Thread-safe; concurrent requests for the same key render once (the others wait for it),
    so a burst of viewers opening one image costs one decode. Failures are not cached.
    """

    def __init__(self, max_bytes: int, max_item_bytes: int) -> None:
        self.max_bytes, self.max_item_bytes = max_bytes, max_item_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._pending: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, produce: Callable[[], bytes]) -> bytes:
        with self._lock:
            if (found := self._hit(key)) is not None:
                return found
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if (found := self._hit(key)) is not None:
                    return found
            try:
                value = produce()
            finally:
                with self._lock:
                    self._pending.pop(key, None)
            self._put(key, value)
            return value

    def _hit(self, key: tuple) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def _put(self, key: tuple, value: bytes) -> None:
        if len(value) > self.max_item_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


# 64 MB per web process holds a few hundred rendered radiographs.
RENDER_CACHE = RenderCache(max_bytes=64 * 1024 * 1024, max_item_bytes=16 * 1024 * 1024)


def frame_u8(ds: Dataset, number: int, window: tuple[float, float, str] | None) -> np.ndarray:
    if window is not None:
        ds.VOILUTFunction = window[2]
    centre_width = None if window is None else (window[0], window[1])
    return to_uint8(ds, window=centre_width, frame=number - 1)


def apply_viewport(image: np.ndarray, viewport: Viewport) -> np.ndarray:
    """Crop to the source region (flipping for negative sizes), then scale to fit the
    viewport keeping the aspect ratio."""
    if viewport.region is not None:
        image = _crop(image, *viewport.region)
    rows, columns = image.shape
    scale = min(viewport.width / columns, viewport.height / rows)
    size = (max(1, round(columns * scale)), max(1, round(rows * scale)))
    if size == (columns, rows):
        return image
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, method))


def _crop(image: np.ndarray, sx: int, sy: int, sw: int, sh: int) -> np.ndarray:
    """Columns sx..sx+sw and rows sy..sy+sh (half-open; a negative size runs backwards and
    flips), clipped to the image."""
    rows, columns = image.shape
    x0, x1 = sorted((sx, sx + sw))
    y0, y1 = sorted((sy, sy + sh))
    x0, x1, y0, y1 = max(0, x0), min(columns, x1), max(0, y0), min(rows, y1)
    if x0 >= x1 or y0 >= y1:
        raise BadRequest(f"viewport region {sx},{sy},{sw},{sh} misses the {columns}x{rows} image")
    region = image[y0:y1, x0:x1]
    if sw < 0:
        region = region[:, ::-1]
    if sh < 0:
        region = region[::-1, :]
    return np.ascontiguousarray(region)


def with_preamble(body: BinaryIO, spool: BinaryIO) -> BinaryIO:
    """A part that starts straight with the File Meta group (no 128-byte preamble and 'DICM',
    as dicomweb-client writes in-memory datasets) copied behind a blank preamble; any other
    part is returned unchanged, positioned at 0."""
    head = body.read(132)
    body.seek(0)
    if head[128:132] == b"DICM" or head[:2] != b"\x02\x00":
        return body
    spool.write(b"\0" * 128 + b"DICM")
    while chunk := body.read(1 << 20):
        spool.write(chunk)
    spool.seek(0)
    return spool


def is_safe_part(path: str, root: str) -> bool:
    """A stored path must stay under the store root (rows are trusted, this is belt and braces)."""
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


_FRAME_LIST = re.compile(r"[0-9]{1,6}(,[0-9]{1,6})*")


def parse_frame_list(text: str) -> list[int]:
    if not _FRAME_LIST.fullmatch(text):
        raise BadRequest(f"frame list {text[:40]!r} must be comma-separated numbers")
    return [int(n) for n in text.split(",")]
