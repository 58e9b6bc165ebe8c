"""The structural scan: a walk over element headers (never the values) that catches truncation,
impossible lengths and runaway nesting before pydicom allocates anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from pydicom import uid as dcm_uid
from pydicom.tag import Tag

from .rules import DicomRejected, ReadLimits

LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_SYNTAX_TAG = 0x00020010


@dataclass
class Cursor:
    """A bounded position in the file; reading past ``end`` is truncation by definition."""

    fp: BinaryIO
    pos: int
    end: int
    limits: ReadLimits
    elements: int = 0
    # "<" for every encoding but Explicit VR Big Endian (the file meta group is always "<").
    order: str = "<"

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


def scan_file_meta(cursor: Cursor) -> dcm_uid.UID:
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


def _element_header(cursor: Cursor, *, implicit: bool) -> tuple[int, bytes | None, int]:
    raw = cursor.read(8, "an element header")
    order = cursor.order
    group, element = struct.unpack_from(order + "HH", raw)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:  # item and delimiter tags never carry a VR
        return tag, None, struct.unpack_from(order + "L", raw, 4)[0]
    vr = raw[4:6]
    if not (vr.isalpha() and vr.isupper()):
        raise DicomRejected("bad_value", f"element {Tag(tag)} has an invalid VR {vr!r}")
    if vr in LONG_VRS:
        return tag, vr, struct.unpack(order + "L", cursor.read(4, "an element length"))[0]
    return tag, vr, struct.unpack_from(order + "H", raw, 6)[0]


def walk_elements(cursor: Cursor, *, implicit: bool, depth: int, in_item: bool = False) -> None:
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
        if vr != b"UN":
            _walk_items(cursor, implicit=implicit, depth=depth + 1)
            continue
        # An undefined-length UN holds Implicit VR Little Endian items (PS3.5 6.2.2), whatever
        # the file's transfer syntax.
        order, cursor.order = cursor.order, "<"
        try:
            _walk_items(cursor, implicit=True, depth=depth + 1)
        finally:
            cursor.order = order


def _walk_items(cursor: Cursor, *, implicit: bool, depth: int) -> None:
    if depth > cursor.limits.max_depth:
        raise DicomRejected("bad_value", f"sequences nested deeper than {cursor.limits.max_depth}")
    while True:
        group, element, length = struct.unpack(
            cursor.order + "HHL", cursor.read(8, "a sequence item")
        )
        tag = group << 16 | element
        cursor.count_element()
        if tag == _SEQUENCE_END:
            return
        if tag != _ITEM:
            raise DicomRejected("bad_value", f"expected a sequence item, found {Tag(tag)}")
        if length == _UNDEFINED:
            walk_elements(cursor, implicit=implicit, depth=depth, in_item=True)
        else:
            cursor.skip(length, "a sequence item")
