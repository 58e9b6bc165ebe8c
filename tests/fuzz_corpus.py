"""A deterministic corpus of mutated DICOM files for the fuzz suite (tests/labeling/test_fuzz.py).

Ten seed files, one per transfer syntax the store meets (Explicit and Implicit VR Little Endian,
a two-frame native image, RLE, JPEG 2000, JPEG baseline, JPEG-LS, JPEG Lossless SV1, Deflated
Explicit VR Little Endian and Explicit VR Big Endian), each broken in more than a hundred ways:
byte flips, truncations, wrong lengths, wrong VRs and tags, garbage values, huge dimensions, deep
and wide sequences, file meta damage and, for the deflated seed, damage to the deflate stream.

Everything is made from fixed seeds (``random.Random``, keyed by the case's name through CRC-32,
never Python's salted ``hash``), so a case id names the same bytes on every run and machine:
``fuzz_corpus.case("rle-wrong_length-0003").data`` rebuilds one failure on its own. Every case
gets an instance UID of its own (the seed's placeholders are replaced by equally long ones), so
the cases that survive are stored as distinct instances; the cases of one seed and mutation
family share a study and a series, as the instances of a real study do.

Mutations edit the encoded bytes directly, with a small element walker below: pydicom would
refuse to write most of these files. Offsets come from walking the unmutated seed, and the UID
substitution keeps every length, so they stay valid in each case's copy.

Hand-made files that once broke a route join the corpus through :data:`HOSTILE` (name and bytes,
or a builder returning bytes); they run first, so a regression among them is easy to spot.
Real-world files, unmutated, join the suite through :func:`real_world`: pydicom's and
pydicom-data's (tests/labeling/dicom_corpus.py, the corpus issue #14 measures against Orthanc).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np
from pydicom import datadict
from pydicom import uid as dcm_uid
from pydicom.dataset import Dataset

from tests import dicom_factory, hostile_cases
from tests.labeling import dicom_corpus

# Known-bad files from elsewhere in the test suite, as (name, bytes or a builder of bytes).
# The deflate bomb has its own test (tests/labeling/test_deflate_bomb.py): building 2 GB of
# zeros for each entry point here would only slow the suite down.
HOSTILE: list[tuple[str, bytes | Callable[[], bytes]]] = [
    ("good", hostile_cases.good),
    ("meta_intruder", hostile_cases.meta_intruder),
    ("patient_id_ob", hostile_cases.patient_id_ob),
    ("non_numeric_ds", hostile_cases.non_numeric_ds),
    ("deflated", hostile_cases.deflated),
    ("corrupt_deflate", hostile_cases.corrupt_deflate),
    ("truncated_deflate", hostile_cases.truncated_deflate),
]

SEED_ROWS, SEED_COLUMNS = 40, 48  # not square: a swapped Rows/Columns shows
UNDEFINED = 0xFFFFFFFF
ITEM_END, SEQUENCE_END = 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
ALL_VRS = (
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    "UR US UT UV"
).split()
# The placeholder identity of every seed: make_dx numbers its UIDs with it, and each case
# replaces the number by its own (the same width, so no length in the file changes).
SEED_IDENTITY = 9_000_000
NATIVE = (
    dcm_uid.ExplicitVRLittleEndian,
    dcm_uid.ImplicitVRLittleEndian,
    dcm_uid.ExplicitVRBigEndian,
)


# --------------------------------------------------------------------------------------------
# Encodings and the element walker
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Encoding:
    implicit: bool = False
    big: bool = False

    def pack(self, fmt: str, *values: int) -> bytes:
        return struct.pack((">" if self.big else "<") + fmt, *values)

    def unpack(self, fmt: str, data: bytes, offset: int) -> tuple:
        return struct.unpack_from((">" if self.big else "<") + fmt, data, offset)


META = Encoding()  # the file meta group is always Explicit VR Little Endian


@dataclasses.dataclass(frozen=True)
class Element:
    """One encoded element (or item / delimiter) of a file, by its offsets."""

    tag: int
    vr: bytes | None  # None where the encoding carries no VR (implicit, items)
    start: int  # offset of the tag
    value: int  # offset of the value
    length: int  # as encoded; UNDEFINED for undefined length
    end: int  # offset after the value (after the delimiter for undefined length)
    depth: int  # 0: top level (file meta included)
    meta: bool

    @property
    def length_field(self) -> tuple[int, int]:
        """(offset, size) of the length field."""
        if self.vr is None:
            return self.start + 4, 4
        if self.vr in _LONG_VRS:
            return self.start + 8, 4
        return self.start + 6, 2

    @property
    def dictionary_vr(self) -> str:
        if self.vr is not None:
            return self.vr.decode("ascii", "replace")
        try:
            return datadict.dictionary_VR(self.tag)
        except KeyError:
            return "UN"


def walk(data: bytes, body: Encoding) -> list[Element]:
    """Every element of a well-formed Part 10 file: the meta group, then the body, depth first
    (sequence items and encapsulated fragments included)."""
    out: list[Element] = []
    pos = _walk(data, 132, len(data), META, 0, out, meta=True)
    _walk(data, pos, len(data), body, 0, out, meta=False)
    return out


def _walk(data, pos, end, enc, depth, out, *, meta, in_item=False) -> int:
    while pos < end:
        (group,) = enc.unpack("H", data, pos)
        if meta and group != 2:
            return pos
        element = _header(data, pos, enc, depth, meta)
        if element.tag == ITEM_END and in_item:
            out.append(element)
            return element.end
        at = len(out)
        out.append(element)
        if element.length == UNDEFINED:
            inner = Encoding(True, enc.big) if element.vr == b"UN" else enc
            pos = _walk_items(data, element.value, inner, depth + 1, out, element.tag)
            out[at] = dataclasses.replace(element, end=pos)
            continue
        if _is_sequence(element):
            _walk_defined_items(data, element.value, element.end, enc, depth + 1, out)
        pos = element.end
    return pos


def _walk_items(data, pos, enc, depth, out, parent) -> int:
    while True:
        item = _header(data, pos, enc, depth, False, item=True)
        at = len(out)
        out.append(item)
        if item.tag == SEQUENCE_END:
            return item.end
        if parent == PIXEL_DATA or item.length != UNDEFINED:  # fragments, defined items
            if parent != PIXEL_DATA:
                _walk(data, item.value, item.end, enc, depth, out, meta=False)
            pos = item.end
            continue
        pos = _walk(data, item.value, len(data), enc, depth, out, meta=False, in_item=True)
        out[at] = dataclasses.replace(item, end=pos)


def _walk_defined_items(data, pos, end, enc, depth, out) -> None:
    while pos < end:
        item = _header(data, pos, enc, depth, False, item=True)
        at = len(out)
        out.append(item)
        if item.length == UNDEFINED:
            pos = _walk(data, item.value, end, enc, depth, out, meta=False, in_item=True)
            out[at] = dataclasses.replace(item, end=pos)
        else:
            _walk(data, item.value, item.end, enc, depth, out, meta=False)
            pos = item.end


def _header(data, pos, enc, depth, meta, item=False) -> Element:
    group, number = enc.unpack("HH", data, pos)
    tag = group << 16 | number
    if enc.implicit or item or group == 0xFFFE:
        (length,) = enc.unpack("L", data, pos + 4)
        vr, value = None, pos + 8
    else:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = enc.unpack("L", data, pos + 8)
            value = pos + 12
        else:
            (length,) = enc.unpack("H", data, pos + 6)
            value = pos + 8
    end = value if length == UNDEFINED else value + length
    return Element(tag, vr, pos, value, length, end, depth, meta)


def _is_sequence(element: Element) -> bool:
    return element.tag >> 16 != 0xFFFE and element.dictionary_vr == "SQ"


def encode_element(tag: int, vr: str | None, value: bytes, enc: Encoding) -> bytes:
    """One element as the encoding writes it (``vr`` None: implicit)."""
    head = enc.pack("HH", tag >> 16, tag & 0xFFFF)
    if vr is None or enc.implicit:
        return head + enc.pack("L", len(value)) + value
    raw = vr.encode("ascii")
    if raw in _LONG_VRS:
        return head + raw + b"\0\0" + enc.pack("L", len(value)) + value
    return head + raw + enc.pack("H", min(len(value), 0xFFFF)) + value


def even(value: bytes, pad: bytes = b" ") -> bytes:
    return value + pad if len(value) % 2 else value


# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seed:
    name: str
    index: int
    syntax: str
    plain: bytes  # the file before deflation (the file itself for every other syntax)
    encoding: Encoding
    deflated: bool
    elements: tuple[Element, ...]
    meta_end: int

    def finish(self, plain: bytes) -> bytes:
        """The file as sent: the body deflated (raw deflate, PS3.5 A.5) for the deflated seed."""
        if not self.deflated:
            return plain
        return plain[: self.meta_end] + deflate(plain[self.meta_end :])

    def with_identity(self, number: int, group: int | None = None) -> bytes:
        """The plain seed with an instance UID of its own, in the study and series ``group``
        (its own too when None); both numbers have the placeholder's seven digits."""
        data = self.plain
        group = number if group is None else group
        for kind, value in ((1, group), (2, group), (3, number), (4, number)):
            old = dicom_factory.new_uid(f"{kind}.{SEED_IDENTITY + self.index}").encode()
            data = data.replace(old, dicom_factory.new_uid(f"{kind}.{value}").encode())
        return data

    @property
    def top(self) -> list[Element]:
        return [e for e in self.elements if e.depth == 0 and not e.meta]

    @property
    def meta(self) -> list[Element]:
        return [e for e in self.elements if e.meta]

    @property
    def pixel(self) -> Element:
        return next(e for e in self.top if e.tag == PIXEL_DATA)


def deflate(body: bytes, wbits: int = -15) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = packer.compress(body) + packer.flush()
    return even(out, b"\0")


# Values a radiograph's header really carries, for the value mutations to break.
_EXTRA = {
    "SliceThickness": "1.25",
    "PixelSpacing": ["0.139", "0.139"],
    "ImagerPixelSpacing": ["0.15", "0.15"],
    "WindowCenter": "2048",
    "WindowWidth": "4096",
    "KVP": "125",
    "ExposureTime": 12,
    "Exposure": 3,
    "DistanceSourceToDetector": "1800.5",
    "PatientSize": "1.75",
}
_SEED_SPECS: tuple[tuple[str, str, dict], ...] = (
    ("explicit", dcm_uid.ExplicitVRLittleEndian, {"RescaleSlope": "1", "RescaleIntercept": "0"}),
    ("implicit", dcm_uid.ImplicitVRLittleEndian, {"signed": True, "photometric": "MONOCHROME1"}),
    ("multiframe", dcm_uid.ExplicitVRLittleEndian, {"frames": 2}),
    ("rle", dcm_uid.RLELossless, {}),
    ("j2k", dcm_uid.JPEG2000Lossless, {}),
    ("jpeg", dcm_uid.JPEGBaseline8Bit, {"bits_stored": 8}),
    ("jpegls", dcm_uid.JPEGLSLossless, {}),
    ("sv1", dcm_uid.JPEGLosslessSV1, {}),
    ("deflated", dcm_uid.DeflatedExplicitVRLittleEndian, {}),
    ("bigendian", dcm_uid.ExplicitVRBigEndian, {}),
)
SEED_NAMES = tuple(name for name, _, _ in _SEED_SPECS)


@functools.cache
def seeds() -> tuple[Seed, ...]:
    return tuple(_seed(index, *spec) for index, spec in enumerate(_SEED_SPECS))


def _seed(index: int, name: str, syntax: str, options: dict) -> Seed:
    options = dict(options)
    frames = options.pop("frames", 1)
    identity = SEED_IDENTITY + index
    made_by_factory = (*dicom_factory.LOSSLESS_SYNTAXES, *dicom_factory.LOSSY_SYNTAXES)
    base_syntax = syntax if syntax in made_by_factory else dcm_uid.ExplicitVRLittleEndian
    ds = dicom_factory.make_dx(
        rows=SEED_ROWS,
        columns=SEED_COLUMNS,
        identity=identity,
        syntax=base_syntax,
        **options,
        **_EXTRA,
    )
    # Compressing gives a new, random SOP Instance UID: put the placeholder back.
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = dicom_factory.new_uid(
        f"3.{identity}"
    )
    if frames > 1:
        second = dicom_factory.phantom(SEED_ROWS, SEED_COLUMNS)[::-1]
        ds.PixelData = ds.PixelData + np.ascontiguousarray(second).tobytes()
        ds.NumberOfFrames = frames
    enc = Encoding(
        implicit=syntax == dcm_uid.ImplicitVRLittleEndian,
        big=syntax == dcm_uid.ExplicitVRBigEndian,
    )
    plain = _plain_bytes(ds, syntax)
    elements = tuple(walk(plain, enc))
    meta_end = next(e.start for e in elements if not e.meta)
    return Seed(
        name,
        index,
        syntax,
        plain,
        enc,
        syntax == dcm_uid.DeflatedExplicitVRLittleEndian,
        elements,
        meta_end,
    )


def _plain_bytes(ds: Dataset, syntax: str) -> bytes:
    if syntax == dcm_uid.ExplicitVRBigEndian:
        ds = copy.deepcopy(ds)
        ds.file_meta.TransferSyntaxUID = syntax
        buffer = io.BytesIO()
        ds.save_as(buffer, implicit_vr=False, little_endian=False, enforce_file_format=True)
        return buffer.getvalue()
    if syntax == dcm_uid.DeflatedExplicitVRLittleEndian:
        # Written as Explicit VR Little Endian, then the meta says Deflated (same UID length
        # padded: the meta group length is recomputed by rebuilding the group).
        data = dicom_factory.to_bytes(ds)
        elements = walk(data, Encoding())
        meta = [(e.tag, e.vr.decode(), data[e.value : e.end]) for e in elements if e.meta]
        meta = [
            (t, v, even(syntax.encode(), b"\0") if t == 0x00020010 else value)
            for t, v, value in meta
        ]
        end = next(e.start for e in elements if not e.meta)
        return data[:128] + b"DICM" + build_meta(meta) + data[end:]
    return dicom_factory.to_bytes(ds)


def build_meta(
    items: list[tuple[int, str | None, bytes]], group_length: int | None = None, implicit=False
) -> bytes:
    """A file meta group from (tag, VR, value); its group length is computed unless given."""
    enc = Encoding(implicit=implicit)
    body = b"".join(encode_element(t, v, value, enc) for t, v, value in items if t != 0x00020000)
    length = len(body) if group_length is None else group_length
    return encode_element(0x00020000, "UL", struct.pack("<L", length & UNDEFINED), enc) + body


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    id: str  # "<seed>-<family>-<nnnn>", or "control-<seed>", or "hostile-<name>"
    seed: str
    family: str  # the cases of one seed and family share a study and a series
    detail: str  # what was done, in a few words
    rng_seed: int  # random.Random(rng_seed) made it
    data: bytes

    @property
    def filename(self) -> str:
        return f"{self.id}.dcm"

    @property
    def group(self) -> str:
        return f"{self.seed}-{self.family}"


Mutation = Callable[[Seed, bytes, random.Random, int], tuple[str, bytes]]


def rng_seed(case_id: str) -> int:
    return zlib.crc32(case_id.encode())


def flip(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """1 to 16 bytes XORed with a random non-zero mask, anywhere but in native pixel values (a
    flipped pixel value is just another image; flips in compressed pixel data try the codecs)."""
    data = bytearray(seed.finish(plain))
    skip = seed.pixel if seed.syntax in NATIVE and not seed.deflated else None
    spots = [n for n in range(len(data)) if skip is None or not skip.value <= n < skip.end]
    positions = sorted(rng.choice(spots) for _ in range(rng.choice((1, 1, 2, 3, 5, 8, 16))))
    for position in positions:
        data[position] ^= rng.randrange(1, 256)
    return f"xor at {_short(positions)}", bytes(data)


def flip_header(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """1 to 4 bytes XORed in the header (preamble, meta, elements, the pixel data's header)."""
    data = bytearray(seed.finish(plain))
    end = seed.meta_end + 64 if seed.deflated else seed.pixel.value
    positions = sorted(rng.randrange(end) for _ in range(rng.choice((1, 1, 2, 4))))
    for position in positions:
        data[position] ^= rng.randrange(1, 256)
    return f"xor at {_short(positions)}", bytes(data)


def truncate(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """Cut at an element boundary (give or take a byte or two), or anywhere."""
    data = seed.finish(plain)
    if seed.deflated or rng.random() < 0.4:
        cut = rng.randrange(len(data))
    else:
        element = rng.choice(seed.elements)
        cut = rng.choice((element.start, element.value, element.end)) + rng.choice((-2, -1, 0, 1))
        cut = min(max(cut, 0), len(data) - 1)
    return f"cut at {cut} of {len(data)}", data[:cut]


def wrong_length(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """An element's (or item's) length field set to a wrong value, in place."""
    element = rng.choice([e for e in seed.elements if not e.meta])
    offset, size = element.length_field
    remaining = len(plain) - element.value
    actual = element.end - element.value if element.length == UNDEFINED else element.length
    choices = [
        0,
        actual - 1,
        actual + 1,
        actual + 2,
        2 * actual + 2,
        remaining + 1,
        remaining - 1,
        0xFFFF,
        0xFFFE,
    ]
    if size == 4:
        choices += [UNDEFINED, 0x7FFFFFFF, 0xFFFFFFF0, rng.randrange(1 << 32)]
    new = rng.choice(choices) % (1 << (8 * size))
    enc = META if element.meta else seed.encoding
    packed = enc.pack("H" if size == 2 else "L", new)
    data = plain[:offset] + packed + plain[offset + size :]
    return f"{_tag(element.tag)} length {_hex(element.length)} -> {_hex(new)}", seed.finish(data)


def wrong_vr(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """A top-level element re-encoded with another VR (its value unchanged: PatientID as OB,
    say), its VR bytes swapped in place (which moves the length field), or its tag changed to
    one of another VR (the only way to lie about a VR in Implicit VR)."""
    element = rng.choice([e for e in seed.top if e.tag != PIXEL_DATA or rng.random() < 0.2])
    modes = ("recode", "recode", "swap", "retag") if element.vr else ("retag",)
    mode = rng.choice(modes)
    if mode == "recode" and element.length == UNDEFINED:
        mode = "swap"
    if i == 0 and element.vr:  # PatientID as OB, found by a probe of a running instance
        mode, element = "recode", next(e for e in seed.top if e.tag == 0x00100020)
    if mode == "recode":
        if rng.random() < 0.3:  # PatientID, which de-identification rewrites
            element = next(e for e in seed.top if e.tag == 0x00100020)
        vr = "OB" if i == 0 else rng.choice([v for v in ALL_VRS if v.encode() != element.vr])
        new = encode_element(element.tag, vr, plain[element.value : element.end], seed.encoding)
        data = plain[: element.start] + new + plain[element.end :]
        detail = f"{_tag(element.tag)} VR {element.dictionary_vr} -> {vr} (recoded)"
        return detail, seed.finish(data)
    if mode == "swap":
        vr = rng.choice([*ALL_VRS, "ZZ", "\0\0", "ob", "  "]).encode("latin-1")
        data = plain[: element.start + 4] + vr + plain[element.start + 6 :]
        return f"{_tag(element.tag)} VR bytes {element.vr!r} -> {vr!r}", seed.finish(data)
    other = rng.choice([e.tag for e in seed.top if e.dictionary_vr != element.dictionary_vr])
    new_tag = seed.encoding.pack("HH", other >> 16, other & 0xFFFF)
    data = plain[: element.start] + new_tag + plain[element.start + 4 :]
    return f"{_tag(element.tag)} retagged {_tag(other)}", seed.finish(data)


_GARBAGE = (
    b"nan",
    b"inf",
    b"-inf",
    b"1e999",
    b"-0",
    b"+.",
    b"1,5",
    b"0x10",
    b"\x98.67",
    b"1\\2\\3",
    b"=",
    b"^^^^",
    b"20191399",
    b"250000",
    b"999Y",
    b"-1",
    b"99999999999",
    b"\xff\xfe",
    b"\x1b$B",
    b"ISO 2022 IR 87\\GBK",
)


def bad_value(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """An element's value replaced by garbage: same length in place, or any length at the top
    level (the element re-encoded). Numbers, dates and names are picked more often."""
    usable = [
        e
        for e in seed.elements
        if not e.meta
        and e.tag >> 16 != 0xFFFE
        and e.length not in (0, UNDEFINED)
        and e.tag != PIXEL_DATA
    ]
    wanted = [e for e in usable if e.dictionary_vr in ("DS", "IS", "DA", "TM", "AS", "PN", "CS")]
    element = rng.choice(wanted if wanted and rng.random() < 0.6 else usable)
    length = element.end - element.value
    kind = rng.choice(("random", "printable", "high", "garbage", "garbage", "nul"))
    if i in (0, 1):  # SliceThickness '\x98.67', found by a probe of a running instance:
        element = next(e for e in seed.elements if e.tag == 0x00180050)
        length, kind = element.end - element.value, "probe"
        if i == 1:  # in the default character set (the probe's), where '\x98' decodes
            charset = next(e for e in seed.top if e.tag == 0x00080005)
            shift = charset.end - charset.start
            plain = plain[: charset.start] + plain[charset.end :]
            element = dataclasses.replace(
                element, value=element.value - shift, end=element.end - shift
            )
    if kind == "random":
        value = bytes(rng.randrange(256) for _ in range(length))
    elif kind == "printable":
        value = bytes(rng.randrange(32, 127) for _ in range(length))
    elif kind == "high":
        value = bytes(rng.randrange(128, 256) for _ in range(length))
    elif kind == "nul":
        value = b"\0" * length
    elif kind == "probe":
        value = b"\x98.67"
    else:
        value = rng.choice(_GARBAGE)
    if kind != "probe" and element.depth == 0 and (len(value) != length or rng.random() < 0.3):
        if rng.random() < 0.3:
            value = value * (rng.randrange(64, 4096) // max(len(value), 1) + 1)
        vr = element.vr.decode("latin-1") if element.vr else None
        new = encode_element(element.tag, vr, even(value), seed.encoding)
        data = plain[: element.start] + new + plain[element.end :]
    else:
        value = (value * (length // max(len(value), 1) + 1))[:length]
        data = plain[: element.value] + value + plain[element.end :]
    return f"{_tag(element.tag)} {element.dictionary_vr} = {value[:24]!r}", seed.finish(data)


_HUGE: tuple[tuple[str, tuple[tuple[int, str, object], ...]], ...] = (
    ("Rows=65535", ((0x00280010, "US", 65535),)),
    ("Columns=65535", ((0x00280011, "US", 65535),)),
    ("Rows=Columns=65535", ((0x00280010, "US", 65535), (0x00280011, "US", 65535))),
    ("Rows=Columns=8192", ((0x00280010, "US", 8192), (0x00280011, "US", 8192))),
    ("Rows=0", ((0x00280010, "US", 0),)),
    ("Columns=0", ((0x00280011, "US", 0),)),
    ("NumberOfFrames=2147483647", ((0x00280008, "IS", "2147483647"),)),
    ("NumberOfFrames=99999999999", ((0x00280008, "IS", "99999999999"),)),
    ("NumberOfFrames=1000", ((0x00280008, "IS", "1000"),)),
    ("NumberOfFrames=1001", ((0x00280008, "IS", "1001"),)),
    ("NumberOfFrames=0", ((0x00280008, "IS", "0"),)),
    ("NumberOfFrames=-1", ((0x00280008, "IS", "-1"),)),
    ("NumberOfFrames=3", ((0x00280008, "IS", "3"),)),
    ("NumberOfFrames=1.5", ((0x00280008, "IS", "1.5"),)),
    ("NumberOfFrames=abc", ((0x00280008, "IS", "abc"),)),
    ("NumberOfFrames=1\\2", ((0x00280008, "IS", "1\\2"),)),
    ("BitsAllocated=32", ((0x00280100, "US", 32),)),
    ("BitsAllocated=1", ((0x00280100, "US", 1),)),
    ("BitsAllocated=0", ((0x00280100, "US", 0),)),
    ("BitsStored=65535", ((0x00280101, "US", 65535),)),
    ("HighBit=65535", ((0x00280102, "US", 65535),)),
    ("SamplesPerPixel=3", ((0x00280002, "US", 3),)),
    ("SamplesPerPixel=0", ((0x00280002, "US", 0),)),
    ("SamplesPerPixel=65535", ((0x00280002, "US", 65535),)),
    (
        "65535x65535x1000 frames",
        ((0x00280008, "IS", "1000"), (0x00280010, "US", 65535), (0x00280011, "US", 65535)),
    ),
    (
        "Rows=Columns=4096, BitsAllocated=16",
        ((0x00280010, "US", 4096), (0x00280011, "US", 4096), (0x00280100, "US", 16)),
    ),
)


def huge_dimensions(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """Rows, Columns, NumberOfFrames, bits and samples set to absurd or inconsistent values;
    every seed takes a different slice of the list, so all of them are tried."""
    label, edits = _HUGE[(seed.index * 7 + i) % len(_HUGE)]
    data = plain
    for tag, vr, value in edits:
        raw = seed.encoding.pack("H", value) if vr == "US" else even(str(value).encode())
        data = set_element(seed, data, tag, vr, raw)
    return label, seed.finish(data)


def set_element(seed: Seed, plain: bytes, tag: int, vr: str, value: bytes) -> bytes:
    """Replace a top-level element, or insert it in tag order (before the first larger tag)."""
    top = [e for e in walk(plain, seed.encoding) if e.depth == 0 and not e.meta]
    new = encode_element(tag, vr, value, seed.encoding)
    same = next((e for e in top if e.tag == tag), None)
    if same is not None:
        return plain[: same.start] + new + plain[same.end :]
    after = next((e for e in top if e.tag > tag), None)
    at = after.start if after is not None else len(plain)
    return plain[:at] + new + plain[at:]


_DEEP: tuple[tuple[str, int, int, str], ...] = (
    # (label, depth, items per level, how the lengths are written)
    ("depth 8", 8, 1, "undefined"),
    ("depth 15", 15, 1, "undefined"),
    ("depth 16", 16, 1, "defined"),
    ("depth 17", 17, 1, "undefined"),
    ("depth 18", 18, 1, "defined"),
    ("depth 40", 40, 1, "defined"),
    ("depth 500", 500, 1, "undefined"),
    ("depth 5000", 5000, 1, "undefined"),
    ("depth 100 unterminated", 100, 1, "unterminated"),
    ("depth 3 unterminated", 3, 1, "unterminated"),
    ("500 items", 1, 500, "defined"),
    ("60000 items", 1, 60000, "undefined"),
    ("depth 4 x 3 items", 4, 3, "defined"),
)
_DEEP_TAG = 0x00081140  # Referenced Image Sequence: an SQ in every dictionary


def deep_sequence(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """A nested sequence inserted in tag order: deep, wide, or with its delimiters missing."""
    label, depth, width, lengths = _DEEP[(seed.index * 5 + i) % len(_DEEP)]
    leaf = encode_element(0x00080100, "SH", b"T-D300", seed.encoding)
    value = nested_sequence(seed.encoding, depth, width, leaf, lengths)
    enc = seed.encoding
    head = enc.pack("HH", _DEEP_TAG >> 16, _DEEP_TAG & 0xFFFF)
    if not enc.implicit:
        head += b"SQ\0\0"
    length = len(value) if lengths == "defined" else UNDEFINED
    element = head + enc.pack("L", length) + value
    top = [e for e in seed.top]
    after = next(e for e in top if e.tag > _DEEP_TAG)
    data = plain[: after.start] + element + plain[after.start :]
    return label + f" ({lengths} lengths)", seed.finish(data)


def nested_sequence(enc: Encoding, depth: int, width: int, leaf: bytes, lengths: str) -> bytes:
    """The value of a sequence nested ``depth`` deep, ``width`` items per level (built from the
    inside out, so defined lengths are known)."""

    def item(content: bytes) -> bytes:
        if lengths == "defined":
            return enc.pack("HHL", 0xFFFE, 0xE000, len(content)) + content
        end = b"" if lengths == "unterminated" else enc.pack("HHL", 0xFFFE, 0xE00D, 0)
        return enc.pack("HHL", 0xFFFE, 0xE000, UNDEFINED) + content + end

    def sequence_value(content: bytes) -> bytes:
        items = item(content) * width
        if lengths == "defined":
            return items
        return items + (b"" if lengths == "unterminated" else enc.pack("HHL", 0xFFFE, 0xE0DD, 0))

    head = enc.pack("HH", _DEEP_TAG >> 16, _DEEP_TAG & 0xFFFF) + (
        b"" if enc.implicit else b"SQ\0\0"
    )
    value = sequence_value(leaf)
    for _ in range(depth - 1):
        length = len(value) if lengths == "defined" else UNDEFINED
        value = sequence_value(leaf + head + enc.pack("L", length) + value)
    return value


_SYNTAX_TAG = 0x00020010
_OTHER_SYNTAXES = (
    dcm_uid.ExplicitVRLittleEndian,
    dcm_uid.ImplicitVRLittleEndian,
    dcm_uid.ExplicitVRBigEndian,
    dcm_uid.DeflatedExplicitVRLittleEndian,
    dcm_uid.JPEGBaseline8Bit,
    dcm_uid.RLELossless,
    dcm_uid.JPEG2000Lossless,
    "1.2.840.10008.1.2.4.999",
    "1.2.840.10008.1.2.1 ",
    "",
    "1.2.840.10008.1.2.1\\1.2",
)


def meta_damage(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """The file meta group broken: its transfer syntax, group length, order, VRs, a foreign
    element inside it, the preamble and DICM prefix. Every seed takes a slice of the list."""
    data = seed.finish(plain)
    items = [(e.tag, e.vr.decode("latin-1"), data[e.value : e.end]) for e in seed.meta]
    body = data[seed.meta_end :]
    head = data[:128] + b"DICM"
    variant = (seed.index * 3 + i) % 16
    if variant == 0:
        kept = [item for item in items if item[0] != _SYNTAX_TAG]
        return "no Transfer Syntax UID", head + build_meta(kept) + body
    if variant == 1:
        syntax = rng.choice(_OTHER_SYNTAXES)
        changed = [
            (t, v, even(syntax.encode(), b"\0") if t == _SYNTAX_TAG else value)
            for t, v, value in items
        ]
        return f"Transfer Syntax UID {syntax!r}", head + build_meta(changed) + body
    if variant == 2:
        length = rng.choice((0, 2, 10, 0x7FFFFFFF, UNDEFINED, len(build_meta(items)) + 20))
        return f"group length {length}", head + build_meta(items, group_length=length) + body
    if variant in (3, 4):
        # A non-group-2 element inside the group: pydicom ends the meta there.
        foreign = rng.choice(
            (
                (0x00080016, "UI", even(dicom_factory.DX_SOP_CLASS.encode(), b"\0")),
                (0x00100020, "LO", b"PID-FOREIGN "),
                (0x00090010, "LO", b"ACME"),
            )
        )
        at = rng.randrange(1, len(items) + 1)
        changed = items[:at] + [foreign] + items[at:]
        return f"{_tag(foreign[0])} inside the meta at {at}", head + build_meta(changed) + body
    if variant == 5:
        victim = rng.randrange(1, len(items))
        raw = [encode_element(t, v, value, META) for t, v, value in items[1:]]
        offset, size = (8, 4) if items[victim][1].encode() in _LONG_VRS else (6, 2)
        raw[victim - 1] = (
            raw[victim - 1][:offset] + b"\xff" * size + raw[victim - 1][offset + size :]
        )
        group = b"".join(raw)
        meta = encode_element(0x00020000, "UL", struct.pack("<L", len(group)), META) + group
        return f"{_tag(items[victim][0])} length undefined", head + meta + body
    if variant == 6:
        return "meta group in implicit VR", head + build_meta(items, implicit=True) + body
    if variant == 7:
        return "no DICM prefix", data[:128] + b"DICN" + data[132:]
    if variant == 8:
        return "no preamble", data[128:] if rng.random() < 0.5 else data[132:]
    if variant == 9:
        uid = rng.choice((b"1.2.3", b"9" * 70, b"", b"1..2", b"abc"))
        changed = [(t, v, even(uid, b"\0") if t == 0x00020003 else value) for t, v, value in items]
        return f"MediaStorageSOPInstanceUID {uid[:20]!r}", head + build_meta(changed) + body
    if variant == 10:
        syntax = rng.choice(_OTHER_SYNTAXES)
        extra = (_SYNTAX_TAG, "UI", even(syntax.encode(), b"\0"))
        return f"Transfer Syntax UID twice (then {syntax!r})", head + build_meta(
            [*items, extra]
        ) + body
    if variant == 11:
        a, b = rng.sample(range(1, len(items)), 2)
        changed = list(items)
        changed[a], changed[b] = changed[b], changed[a]
        return f"meta elements {a} and {b} swapped", head + build_meta(changed) + body
    if variant == 12:
        victim = rng.randrange(1, len(items))
        tag, _vr, value = items[victim]
        vr = rng.choice(("OB", "SQ", "UN", "US", "XX", "ui"))
        changed = [(t, vr if t == tag else v, value) for t, v, value in items]
        return f"{_tag(tag)} VR {vr}", head + build_meta(changed) + body
    if variant == 13:
        blob = bytes(rng.randrange(256) for _ in range(rng.choice((1, 100, 70000))))
        extra = (0x00020102, "OB", even(blob, b"\0"))
        return f"PrivateInformation of {len(blob)} bytes", head + build_meta([*items, extra]) + body
    if variant == 14:
        cut = rng.randrange(132, seed.meta_end)
        return f"cut inside the meta at {cut}", data[:cut]
    return "meta only, no dataset", head + build_meta(items)


def deflate_damage(seed: Seed, plain: bytes, rng: random.Random, i: int) -> tuple[str, bytes]:
    """The deflate stream of the deflated seed broken, wrapped, missing, or a small bomb."""
    body = plain[seed.meta_end :]
    meta = plain[: seed.meta_end]
    stream = deflate(body)
    variant = i % 11
    if variant == 0:
        damaged = bytearray(stream)
        positions = sorted(rng.randrange(len(damaged)) for _ in range(rng.choice((1, 2, 8))))
        for position in positions:
            damaged[position] ^= rng.randrange(1, 256)
        return f"stream xor at {_short(positions)}", meta + bytes(damaged)
    if variant == 1:
        cut = rng.randrange(len(stream))
        return f"stream cut at {cut} of {len(stream)}", meta + stream[:cut]
    if variant == 2:
        tail = bytes(rng.randrange(256) for _ in range(rng.choice((1, 7, 1000))))
        return f"{len(tail)} bytes after the stream", meta + stream + tail
    if variant == 3:
        return "zlib-wrapped stream", meta + deflate(body, wbits=15)
    if variant == 4:
        return "gzip-wrapped stream", meta + deflate(body, wbits=31)
    if variant == 5:
        return "body not deflated", meta + body
    if variant == 6:
        explicit = dcm_uid.ExplicitVRLittleEndian
        items = [(e.tag, e.vr.decode(), plain[e.value : e.end]) for e in seed.meta]
        items = [
            (t, v, even(explicit.encode(), b"\0") if t == _SYNTAX_TAG else value)
            for t, v, value in items
        ]
        return "deflated body labelled Explicit VR Little Endian", (
            plain[:132] + build_meta(items) + stream
        )
    if variant == 7:
        return "empty stream", meta
    if variant == 8:
        size = rng.choice((8, 32, 64)) << 20
        blob = encode_element(0x00091011, "OB", b"\0" * size, seed.encoding)
        creator = encode_element(0x00090010, "LO", b"ACME", seed.encoding)
        at = next(e.start for e in seed.top if e.tag > 0x00091011) - seed.meta_end
        return f"bomb: {size >> 20} MB of zeros", meta + deflate(
            body[:at] + creator + blob + body[at:]
        )
    if variant == 9:
        # A stored (uncompressed) block whose declared length runs past the end.
        return "stored block longer than the file", meta + b"\x01\xff\xff\x00\x00" + body[:100]
    return "only an end-of-stream block", meta + b"\x03\x00"


FAMILIES: tuple[tuple[str, Mutation, int], ...] = (
    ("flip", flip, 14),
    ("flip_header", flip_header, 14),
    ("truncate", truncate, 12),
    ("wrong_length", wrong_length, 12),
    ("wrong_vr", wrong_vr, 10),
    ("bad_value", bad_value, 14),
    ("huge_dimensions", huge_dimensions, 10),
    ("deep_sequence", deep_sequence, 7),
    ("meta_damage", meta_damage, 10),
)
DEFLATE_CASES = 33


@functools.cache
def corpus() -> tuple[Case, ...]:
    """The hostile cases, the controls (each seed unmutated) and every mutated case, in order."""
    return (*hostile(), *controls(), *_mutated())


def controls() -> list[Case]:
    """Each seed as it is (with UIDs of its own): accepted syntaxes must import everywhere."""
    out = []
    for seed in seeds():
        plain = seed.with_identity(1_000_000 + seed.index)
        out.append(
            Case(f"control-{seed.name}", seed.name, "control", "unmutated", 0, seed.finish(plain))
        )
    return out


def hostile() -> list[Case]:
    out = []
    for name, source in HOSTILE:
        data = source() if callable(source) else source
        out.append(Case(f"hostile-{name}", "hostile", "hostile", name, 0, data))
    return out


def _mutated() -> Iterator[Case]:
    number, group = 1_000_100, 2_000_000
    for seed in seeds():
        families = list(FAMILIES)
        if seed.deflated:
            families.append(("deflate_damage", deflate_damage, DEFLATE_CASES))
        for family, mutate, count in families:
            group += 1
            for i in range(count):
                number += 1
                case_id = f"{seed.name}-{family}-{i:04d}"
                rng = random.Random(rng_seed(case_id))
                detail, data = mutate(seed, seed.with_identity(number, group), rng, i)
                yield Case(case_id, seed.name, family, detail, rng_seed(case_id), data)


@functools.cache
def real_world() -> tuple[Case, ...]:
    """The real-world corpus's files (all but the biggest: ``dicom_corpus.for_fuzzing``), as
    they are: decades of vendors' oddities through every entry point (seed and family "real")."""
    return tuple(
        Case(f"real-{_slug(item.name)}", "real", "real", item.what(), 0, item.data())
        for item in dicom_corpus.for_fuzzing()
    )


def _slug(name: str) -> str:
    """A corpus name as a file name of one part ("pydicom/dicomdirtests/77654033/CR1/6154")."""
    return name.removesuffix(".dcm").replace("/", "-")


def case(case_id: str) -> Case:
    """One case by its id (to rebuild a failure on its own)."""
    return next(c for c in (*corpus(), *real_world()) if c.id == case_id)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _hex(value: int) -> str:
    return f"0x{value:X}"


def _short(positions: list[int]) -> str:
    text = ",".join(map(str, positions[:6]))
    return text + ("…" if len(positions) > 6 else "")
