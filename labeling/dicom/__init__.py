"""Defensive DICOM reading, instance identity and the one 8-bit pixel pipeline.

Pure package (no Django). The ingest service, the DICOMweb views and the training cache all call
it, so that what the model is trained on is what the user is shown. Callers import from
``labeling.dicom``; the modules split it by concern:

* ``rules``: what the store accepts and how it refuses (:class:`DicomRejected` with a stable
  short ``code``, accepted transfer syntaxes, read limits);
* ``inflate``: Deflated Explicit VR Little Endian files inflated a chunk at a time into a
  spooled temporary file, stopped at a cap (pydicom would inflate them in memory, unbounded);
* ``scan`` and ``reading``: reading is a two-stage affair. A small structural scan walks the
  element headers (never the values) so that truncation, impossible lengths, runaway nesting and
  unsupported transfer syntaxes are caught before pydicom allocates anything; pydicom then
  parses the file (never with ``force=True``) and every element is converted at once, so lazy
  parse errors surface at ingest rather than months later in a DICOMweb response;
* ``instance``: the attributes the store indexes an instance by;
* ``pixels``: decoding and the 8-bit pipeline. Decoding is separate from reading:
  :func:`read_dicom` does not decode compressed pixel data (a JPEG 2000 chest film takes about a
  second), :func:`to_uint8` does, and raises ``DicomRejected("decode_failed")`` when a codec
  refuses the data. The ingest service can then keep a well-formed but undecodable image
  (flagged, shown as an error tile) apart from input that must be rejected outright;
* ``native``: the native encodings rewritten at import (big endian, 1-bit, native 4:2:2);
* ``fallback``: GDCM for the compressed frames pydicom's plugins refuse;
* ``quiet``: decoder messages to the DEBUG log, never to the user's terminal;
* ``writing``: Part 10 files written without copying the pixel data twice.
"""

from .inflate import inflated
from .instance import InstanceIdentity, identity, parse_da, parse_tm, text_of
from .pixels import (
    PERCENTILE_WINDOW,
    apply_window,
    decode_frame,
    decompress,
    display_lut,
    lookup,
    render_jpeg,
    render_png,
    resize_u8,
    stored_bits,
    to_uint8,
)
from .quiet import native_output_captured
from .reading import (
    PixelLayout,
    drop_cached_pages,
    materialise,
    pixel_layout,
    read_dicom,
    validate_pixels,
)
from .rules import (
    ACCEPTED_SYNTAXES,
    DEFAULT_LIMITS,
    NATIVE_SYNTAXES,
    REJECT_CODES,
    DicomRejected,
    ReadLimits,
)
from .writing import write_file

__all__ = [
    "ACCEPTED_SYNTAXES",
    "DEFAULT_LIMITS",
    "NATIVE_SYNTAXES",
    "PERCENTILE_WINDOW",
    "REJECT_CODES",
    "DicomRejected",
    "InstanceIdentity",
    "PixelLayout",
    "ReadLimits",
    "apply_window",
    "decode_frame",
    "decompress",
    "display_lut",
    "drop_cached_pages",
    "identity",
    "inflated",
    "lookup",
    "materialise",
    "native_output_captured",
    "parse_da",
    "parse_tm",
    "pixel_layout",
    "read_dicom",
    "render_jpeg",
    "render_png",
    "resize_u8",
    "stored_bits",
    "text_of",
    "to_uint8",
    "validate_pixels",
    "write_file",
]
