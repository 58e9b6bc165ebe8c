"""What the store accepts and how it refuses: :class:`DicomRejected` and its codes, the accepted
transfer syntaxes, the read limits, and the pydicom errors that mean malformed input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom import uid as dcm_uid
from pydicom.errors import BytesLengthException

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
        "bad_deflate",
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
PARSE_ERRORS = (
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
DECODE_ERRORS = (*PARSE_ERRORS, RuntimeError, OSError)


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a file may ask us to allocate; the defaults fit any real radiograph."""

    max_side: int = 8192
    max_frames: int = 1000
    max_pixel_bytes: int = 1 << 30
    max_elements: int = 100_000
    max_depth: int = 16
    # What a Deflated Explicit VR Little Endian file may inflate to (see inflate.py).
    max_inflated_bytes: int = 512 * 1024 * 1024


DEFAULT_LIMITS = ReadLimits()
