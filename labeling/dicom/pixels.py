"""The one 8-bit pixel pipeline: stored values -> modality LUT -> VOI (LUT, window or
percentiles) -> 8 bits, then resizing and PNG/JPEG encoding.

The ingest service, the DICOMweb views and the training cache all go through
:func:`to_uint8`, so that what the model is trained on is what the user is shown. Decoding is
separate from reading: a codec that refuses the data raises ``DicomRejected("decode_failed")``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom import uid as dcm_uid
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, get_decoder

from .fallback import gdcm_frame, keep_gdcm_out_of_pydicom
from .quiet import native_output_to_log, quiet_decoder_logs
from .rules import DECODE_ERRORS, NATIVE_SYNTAXES, PARSE_ERRORS, DicomRejected

quiet_decoder_logs()
keep_gdcm_out_of_pydicom()

PERCENTILE_WINDOW = (0.5, 99.5)
_PERCENTILE_SAMPLES = 512  # the percentile histogram samples about this many pixels per side


def decompress(ds: Dataset) -> None:
    """Rewrite ``ds``'s compressed Pixel Data as native (Explicit VR Little Endian ready), as
    pydicom's ``Dataset.decompress`` does, with the same GDCM fallback as :func:`decode_frame`:
    a stream pydicom's plugins refuse but whose thumbnail the import made must also transcode
    (WADO-RS of ``JPEG-lossy.dcm`` in Explicit VR LE broke off after its 200 before this)."""
    syntax = ds.file_meta.TransferSyntaxUID
    with native_output_to_log():
        try:
            ds.decompress()
            return
        except DECODE_ERRORS as exc:
            failure = exc
    frames = [gdcm_frame(ds, i) for i in range(int(ds.get("NumberOfFrames") or 1))]
    if any(frame is None for frame in frames):
        raise DicomRejected("decode_failed", f"{syntax.name}: {failure}") from failure
    data = b"".join(frame.tobytes() for frame in frames)
    ds.PixelData = data + b"\0" * (len(data) % 2)
    ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds["PixelData"].is_undefined_length = False
    if int(ds.SamplesPerPixel) > 1:
        ds.PlanarConfiguration = 0  # GDCM hands colour back interleaved
    ds.file_meta.TransferSyntaxUID = dcm_uid.ExplicitVRLittleEndian


def decode_frame(ds: Dataset, index: int = 0) -> np.ndarray:
    """Stored values of one frame: H×W (integer) or H×W×3 (RGB, YBR converted)."""
    syntax = ds.file_meta.TransferSyntaxUID
    with native_output_to_log():
        try:
            arr, _meta = get_decoder(syntax).as_array(ds, index=index, as_rgb=True)
        except DECODE_ERRORS as exc:
            arr = gdcm_frame(ds, index) if syntax.is_compressed else None
            if arr is None:
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


def to_uint8(
    ds: Dataset, *, window: tuple[float, float] | None = None, frame: int = 0
) -> np.ndarray:
    """One frame (the first by default) as H×W uint8 for display and training, air dark.

    Order (PS3.4 N.2): Modality LUT (sequence, or Rescale Slope/Intercept), then the VOI
    transform, then MONOCHROME1 inversion. The VOI transform is, in order of preference: the
    explicit ``window=(center, width)``, the VOI LUT Sequence, the first Window Center/Width
    with its VOI LUT Function, and finally a 0.5–99.5 % percentile window. The whole chain is
    folded into a lookup table over every possible stored bit pattern, so the per-pixel work
    is one table lookup whatever the chain (32-bit data, with too many patterns for a table,
    goes through :func:`grey_u8`). Colour images (PALETTE COLOR looked up first) become luma.
    """
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        rgb, bits = palette_rgb(ds, decode_frame(ds, frame))
        return _rgb_to_gray(rgb, bits, window)
    if int(ds.SamplesPerPixel) == 3:
        return _rgb_to_gray(decode_frame(ds, frame), int(ds.BitsStored), window)
    if int(ds.BitsAllocated) == 32:
        return grey_u8(ds, decode_frame(ds, frame), window=window)
    index = stored_bits(ds, frame)
    return lookup(display_lut(ds, index, window=window), index)


def palette_rgb(ds: Dataset, indices: np.ndarray) -> tuple[np.ndarray, int]:
    """PALETTE COLOR indices through the file's palette (PS3.3 C.7.6.3.1.5): H×W×3 colours
    and their bits per entry. A missing or broken palette is a decode failure: the image is
    kept and flagged, as for a codec that refuses its data."""
    try:
        rgb = apply_color_lut(indices, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    except (*PARSE_ERRORS, KeyError) as exc:
        raise DicomRejected("decode_failed", f"PALETTE COLOR: {exc}") from exc
    return rgb, bits if bits in (8, 16) else 8 * rgb.dtype.itemsize


def grey_u8(
    ds: Dataset, stored: np.ndarray, *, window: tuple[float, float] | None = None
) -> np.ndarray:
    """The same chain as :func:`display_lut`, computed pixel by pixel rather than folded into
    a table: for 32-bit data (RT dose grids, float-like secondary captures), whose bit
    patterns are too many for a table. ``stored``: decoded values, sign already applied."""
    values = _modality(stored.astype(np.float64), ds)
    if window is not None or ds.get("VOILUTSequence") or _file_window(ds, _function(ds)):
        unit = _voi(values, ds, None, window)
    else:
        unit = _percentile_direct(values, stored, ds)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        unit = 1.0 - unit
    return np.rint(unit * 255.0).astype(np.uint8)


def _percentile_direct(values: np.ndarray, stored: np.ndarray, ds: Dataset) -> np.ndarray:
    step = max(1, max(values.shape) // _PERCENTILE_SAMPLES)
    sample, raw = values[::step, ::step].ravel(), stored[::step, ::step].ravel()
    padding = ds.get("PixelPaddingValue")
    if isinstance(padding, int):
        sample = sample[raw != padding]
    if sample.size == 0:
        return np.zeros_like(values)
    low, high = np.percentile(sample, PERCENTILE_WINDOW)
    if high <= low:
        return (values > low).astype(np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _function(ds: Dataset) -> str:
    return str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()


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


def stored_bits(ds: Dataset, frame: int = 0) -> np.ndarray:
    """A frame's stored values as raw unsigned bit patterns (uint8 or uint16).

    Native data is viewed straight from the Pixel Data bytes (no copy, no masking: the table
    built by :func:`display_lut` masks unused bits and sign-extends instead); compressed data
    goes through the codec.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    unsigned = np.uint8 if int(ds.BitsAllocated) == 8 else np.dtype("<u2")
    if ds.file_meta.TransferSyntaxUID in NATIVE_SYNTAXES:
        try:
            count = rows * columns
            offset = frame * count * np.dtype(unsigned).itemsize
            flat = np.frombuffer(ds.PixelData, dtype=unsigned, count=count, offset=offset)
        except ValueError as exc:
            raise DicomRejected("decode_failed", f"native pixel data: {exc}") from exc
        return flat.reshape(rows, columns)
    stored = decode_frame(ds, frame)
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
    """Modality LUT Sequence if present, else Rescale Slope / Intercept (PS3.3 C.11.1).

    A broken Modality LUT or a slope or intercept that is not one finite number is ignored:
    the stored values are used as they are (and :func:`_voi` ignores the file's window, which
    was written for the values the broken transform would have given)."""
    values = domain.astype(np.float64)
    if ds.get("ModalityLUTSequence"):
        try:
            table, first, _depth = _lut_item(ds.ModalityLUTSequence[0])
        except PARSE_ERRORS:
            return values
        return _apply_lut(values, table, first)
    rescale = usable_rescale(ds)
    if rescale is None or rescale == (1.0, 0.0):
        return values
    slope, intercept = rescale
    return values * slope + intercept


def usable_rescale(ds: Dataset) -> tuple[float, float] | None:
    """(slope, intercept), defaults for absent values; ``None`` when either is present but not
    one finite number, or the slope is 0 (every pixel would get the same value)."""
    slope = _first_float(ds.get("RescaleSlope", 1.0), single=True)
    intercept = _first_float(ds.get("RescaleIntercept", 0.0), single=True)
    if slope is None or intercept is None or slope == 0:
        return None
    return slope, intercept


def _modality_broken(ds: Dataset) -> bool:
    if ds.get("ModalityLUTSequence"):
        try:
            _lut_item(ds.ModalityLUTSequence[0])
        except PARSE_ERRORS:
            return True
        return False
    return usable_rescale(ds) is None


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
    else:  # US values: one int, or a list of them (pydicom gives a list, not a MultiValue)
        table = np.atleast_1d(np.asarray(data, dtype=np.float64)).ravel()
    table = table[:entries].astype(np.float64)
    if table.size == 0 or not 1 <= depth <= 16:
        raise ValueError(f"LUT with {table.size} entries of {depth} bits")
    return table, first, depth


def _apply_lut(values: np.ndarray, table: np.ndarray, first: int) -> np.ndarray:
    """Values below the first entry map to it, values past the last to the last."""
    return table[np.clip(np.rint(values) - first, 0, table.size - 1).astype(np.int64)]


def _voi(
    values: np.ndarray, ds: Dataset, index: np.ndarray | None, window: tuple[float, float] | None
) -> np.ndarray:
    function = _function(ds)
    if window is not None:
        center, width = window
        if not width > 0:
            raise ValueError(f"window width must be > 0, got {width}")
        return apply_window(values, float(center), float(width), function)
    if (unit := _voi_lut_sequence(values, ds)) is not None:
        return unit
    if (file_window := _file_window(ds, function)) is not None:
        return apply_window(values, *file_window, function)
    if int(ds.BitsStored) == 1:  # a mask: set bits white, even when every bit is set
        return (values != values[0]).astype(np.float64)
    assert index is not None, "grey_u8 only comes here with a window or a VOI LUT"
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
    except PARSE_ERRORS:
        return None
    top = max(2.0**depth - 1.0, float(table.max()), 1.0)
    return _apply_lut(values, table, first) / top


def _file_window(ds: Dataset, function: str) -> tuple[float, float] | None:
    if _modality_broken(ds):
        return None
    center = _first_float(ds.get("WindowCenter"))
    width = _first_float(ds.get("WindowWidth"))
    if center is None or width is None:
        return None
    minimum = 1.0 if function not in ("LINEAR_EXACT", "SIGMOID") else 0.0
    if not width > 0 or width < minimum:
        return None
    return center, width


def _first_float(value: object, *, single: bool = False) -> float | None:
    if isinstance(value, MultiValue | list):
        if single and len(value) != 1:
            return None
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
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    luma *= 255.0 / (2.0**bits_stored - 1)
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
