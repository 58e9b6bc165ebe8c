"""DICOMweb (PS3.18) wire formats: Accept negotiation, multipart bodies, the DICOM JSON model and
QIDO-RS query parameters.

Pure module (no Django): the views parse and serialise through these functions, so each rule of
the standard is written once and unit-tested without a server.

Negotiation follows RFC 9110 §12.5.1 with the PS3.18 §8.7 media-type parameters: ``type`` names
the part type of a ``multipart/related`` body and ``transfer-syntax`` the encoding of each part.
A missing ``transfer-syntax`` means the default of the part type (Explicit VR Little Endian for
``application/dicom`` and ``application/octet-stream``), ``*`` means "whatever the server holds".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import BinaryIO, Literal, Protocol

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ..dicom import parse_da, parse_tm

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/related"

# Media types of compressed frames (PS3.18 Table 8.7.3-5) and their default transfer syntaxes.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
}
DEFAULT_SYNTAX = {
    DICOM: EXPLICIT_VR_LE,
    OCTET_STREAM: EXPLICIT_VR_LE,
    "image/dicom-rle": "1.2.840.10008.1.2.5",
    "image/jpeg": "1.2.840.10008.1.2.4.50",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
}

UID_PATTERN = re.compile(r"[0-9]+(?:\.[0-9]+)*")


class BadRequest(ValueError):
    """A request the standard does not allow: answered 400 with this message."""


class NotAcceptable(Exception):
    """No representation the client accepts can be produced: answered 406."""


class Unsupported(Exception):
    """A request body of a media type the resource does not take: answered 415."""


# --------------------------------------------------------------------------------------------
# Media types and Accept
# --------------------------------------------------------------------------------------------


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside double quotes (a ``type="a/b"`` may hold it)."""
    pieces, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """``'multipart/related; type="application/dicom"'`` → essence and lower-cased parameters."""
    essence, *raw_params = _split_outside_quotes(text, ";")
    essence = essence.strip().lower()
    kind, slash, sub = essence.partition("/")
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
        raise BadRequest(f"{text.strip()[:80]!r} is not a media type")
    params = {}
    for raw in raw_params:
        if not raw.strip():
            continue
        name, equals, value = raw.partition("=")
        name = name.strip().lower()
        if not equals or not _TOKEN.fullmatch(name):
            raise BadRequest(f"bad media type parameter {raw.strip()[:40]!r} in {text[:80]!r}")
        params[name] = _unquote(value)
    return essence, params


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header; ``order`` is its position, used to break ties."""

    essence: str
    params: Mapping[str, str]
    q: float
    order: int

    @property
    def specificity(self) -> int:
        """RFC 9110 precedence: wildcards (``*/*``, ``image/*``, ``transfer-syntax=*``) count
        for nothing, each concrete part for one."""
        kind, _, sub = self.essence.partition("/")
        concrete = [v for v in self.params.values() if v != "*" and not v.endswith("/*")]
        return (kind != "*") + (sub != "*") + len(concrete)


def parse_accept(header: str | None) -> list[MediaRange]:
    """All media ranges of an Accept header; no header (or an empty one) accepts anything."""
    if header is None or not header.strip():
        return [MediaRange("*/*", {}, 1.0, 0)]
    ranges = []
    for order, item in enumerate(_split_outside_quotes(header, ",")):
        if not item.strip():
            continue
        essence, params = parse_media_type(item)
        q = params.pop("q", "1")
        try:
            weight = float(q)
        except ValueError:
            raise BadRequest(f"Accept: q={q!r} is not a number") from None
        if not 0.0 <= weight <= 1.0:
            raise BadRequest(f"Accept: q={q} outside 0..1")
        ranges.append(MediaRange(essence, params, weight, order))
    return ranges


@dataclass(frozen=True)
class Offer:
    """A representation the server can produce: a body, or the parts of a multipart body."""

    media_type: str  # of the body, or of each part when ``multipart``
    transfer_syntax: str | None = None
    multipart: bool = False

    def content_type(self, boundary: str | None = None) -> str:
        """The response Content-Type (PS3.18 §8.7.3: the syntax is stated on it)."""
        part = _with_syntax(self.media_type, self.transfer_syntax)
        if not self.multipart:
            return part
        value = f'{MULTIPART}; type="{self.media_type}"'
        if self.transfer_syntax:
            value += f"; transfer-syntax={self.transfer_syntax}"
        return value + (f"; boundary={boundary}" if boundary else "")

    @property
    def part_content_type(self) -> str:
        return _with_syntax(self.media_type, self.transfer_syntax)


def _with_syntax(media_type: str, syntax: str | None) -> str:
    return f"{media_type}; transfer-syntax={syntax}" if syntax else media_type


def _essence_matches(pattern: str, media_type: str) -> bool:
    if pattern == "*/*":
        return True
    kind, _, sub = pattern.partition("/")
    if sub == "*":
        return media_type.partition("/")[0] == kind
    return pattern == media_type


def _syntax_matches(requested: str | None, media_type: str, offered: str | None) -> bool:
    if offered is None or requested == "*":
        return True
    if requested is None:
        default = DEFAULT_SYNTAX.get(media_type)
        return default is None or default == offered
    return requested == offered


def accepts(media_range: MediaRange, offer: Offer) -> bool:
    """Does one Accept entry admit an offer? (``q`` is not considered here.)"""
    params = media_range.params
    if media_range.essence == "*/*":
        return True
    if offer.multipart:
        if not _essence_matches(media_range.essence, MULTIPART):
            return False
        # Without a type, multipart/related means the resource's default part type.
        part_type = params.get("type", "").lower()
        if not part_type:
            if offer.media_type not in (DICOM, OCTET_STREAM):
                return False
            part_type = offer.media_type
        if not _essence_matches(part_type, offer.media_type):
            return False
        if part_type.endswith("/*") and "transfer-syntax" not in params:
            return True
        return _syntax_matches(
            params.get("transfer-syntax"), offer.media_type, offer.transfer_syntax
        )
    if not _essence_matches(media_range.essence, offer.media_type):
        return False
    if media_range.essence.endswith("/*"):
        return True
    return _syntax_matches(params.get("transfer-syntax"), offer.media_type, offer.transfer_syntax)


def negotiate(ranges: Sequence[MediaRange], offers: Sequence[Offer]) -> Offer:
    """The offer the client prefers: highest ``q`` (from the most specific entry that matches
    it), then the entry listed first, then the server's order (cheapest first).

    Raises NotAcceptable when every offer is refused (no match, or ``q=0``).
    """
    best: tuple | None = None
    for position, offer in enumerate(offers):
        matching = [r for r in ranges if accepts(r, offer)]
        if not matching:
            continue
        top = max(r.specificity for r in matching)
        decisive = [r for r in matching if r.specificity == top]
        q = max(r.q for r in decisive)
        if q <= 0:
            continue
        rank = (-q, min(r.order for r in decisive), position)
        if best is None or rank < best[0]:
            best = (rank, offer)
    if best is None:
        wanted = ", ".join(o.content_type() for o in offers)
        raise NotAcceptable(f"cannot produce any accepted media type; available: {wanted}")
    return best[1]


# --------------------------------------------------------------------------------------------
# multipart/related: writing (streamed) and reading (spooled part by part)
# --------------------------------------------------------------------------------------------


def new_boundary() -> str:
    return "cxr-" + secrets.token_hex(16)


@dataclass(frozen=True)
class OutPart:
    """A part to send: its Content-Type and its body as chunks (produced lazily)."""

    content_type: str
    chunks: Iterable[bytes]
    location: str = ""


def multipart_body(parts: Iterable[OutPart], boundary: str) -> Iterator[bytes]:
    """The body of a multipart/related message (RFC 2387), one chunk at a time."""
    delimiter = b"--" + boundary.encode("ascii")
    first = True
    for part in parts:
        head = (b"" if first else b"\r\n") + delimiter + b"\r\n"
        head += f"Content-Type: {part.content_type}\r\n".encode("ascii")
        if part.location:
            head += f"Content-Location: {part.location}\r\n".encode("ascii")
        yield head + b"\r\n"
        yield from part.chunks
        first = False
    yield (b"" if first else b"\r\n") + delimiter + b"--\r\n"


def file_chunks(
    path: str, offset: int = 0, length: int | None = None, chunk_size: int = 256 * 1024
) -> Iterator[bytes]:
    """Bytes of a file region, read as they are sent; the file is opened on first use."""
    with open(path, "rb") as fp:
        fp.seek(offset)
        left = length
        while left is None or left > 0:
            chunk = fp.read(chunk_size if left is None else min(chunk_size, left))
            if not chunk:
                if left:
                    raise OSError(f"{path} ended {left} bytes early")
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class InPart:
    """A received part: its headers (lower-cased names) and its body, spooled to ``body``.

    ``overflowed`` is set when the body exceeded the per-part limit; ``body`` then holds only the
    first ``max_part_bytes`` bytes and must not be used.
    """

    headers: dict[str, str]
    body: BinaryIO
    size: int = 0
    overflowed: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class MultipartError(BadRequest):
    """A multipart body that does not follow RFC 2046."""


def boundary_of(content_type: str, expected_type: str) -> str:
    """Check a request Content-Type is ``multipart/related; type=<expected>`` and return its
    boundary. A wrong media type is :class:`Unsupported` (415), a missing boundary a
    :class:`BadRequest`."""
    essence, params = parse_media_type(content_type or "application/octet-stream")
    if essence != MULTIPART:
        raise Unsupported(f"expected {MULTIPART}; type={expected_type}, got {essence}")
    part_type = params.get("type", "").lower()
    if part_type and part_type != expected_type:
        raise Unsupported(f"multipart type {part_type!r} is not supported; send {expected_type}")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise BadRequest("multipart/related request without a valid boundary parameter")
    return boundary


def read_multipart(
    stream: Readable,
    boundary: str,
    open_body,
    *,
    max_part_bytes: int,
    chunk_size: int = 256 * 1024,
    max_header_bytes: int = 16 * 1024,
) -> Iterator[InPart]:
    """Parse a multipart body part by part without holding it in memory.

    ``open_body()`` returns a fresh writable binary file for each part (a temporary file); the
    part is yielded once its body is complete and positioned at 0, so the caller can consume it
    before the next part is read. At most ``chunk_size`` plus one delimiter is buffered.
    """
    reader = _Buffered(stream, chunk_size)
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    # Pretend the body starts with CRLF so the first delimiter looks like every other one.
    reader.buffer[:0] = b"\r\n"
    if not reader.skip_to(delimiter):
        raise MultipartError("no multipart boundary found in the body")
    while True:
        ending = reader.take(2)
        if ending == b"--":
            return
        reader.push_back(ending)
        reader.skip_line_padding()
        headers = _parse_headers(reader.take_headers(max_header_bytes))
        body = open_body()
        part = InPart(headers=headers, body=body)
        for chunk in reader.until(delimiter):
            part.size += len(chunk)
            if part.size > max_part_bytes:
                part.overflowed = True
            else:
                body.write(chunk)
        body.seek(0)
        yield part


class _Buffered:
    def __init__(self, stream: Readable, chunk_size: int) -> None:
        self.stream = stream
        self.chunk_size = chunk_size
        self.buffer = bytearray()
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.chunk_size)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def take(self, n: int) -> bytes:
        while len(self.buffer) < n and self.fill():
            pass
        if len(self.buffer) < n:
            raise MultipartError("multipart body ends without a closing boundary")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def push_back(self, data: bytes) -> None:
        self.buffer[:0] = data

    def skip_to(self, marker: bytes) -> bool:
        """Discard everything up to and including ``marker`` (the preamble)."""
        while True:
            at = self.buffer.find(marker)
            if at >= 0:
                del self.buffer[: at + len(marker)]
                return True
            keep = len(marker) - 1
            if len(self.buffer) > keep:
                del self.buffer[: len(self.buffer) - keep]
            if not self.fill():
                return False

    def skip_line_padding(self) -> None:
        """Transport padding (spaces, tabs) then CRLF after a delimiter (RFC 2046 §5.1.1)."""
        while True:
            byte = self.take(1)
            if byte in (b" ", b"\t"):
                continue
            if byte + self.take(1) != b"\r\n":
                raise MultipartError("multipart boundary line is not followed by CRLF")
            return

    def take_headers(self, limit: int) -> bytes:
        first = self.take(2)
        if first == b"\r\n":
            return b""  # a part without headers
        self.buffer[:0] = b"\r\n" + first
        while True:
            at = self.buffer.find(b"\r\n\r\n")
            if at >= 0:
                block = bytes(self.buffer[2:at])
                del self.buffer[: at + 4]
                return block
            if len(self.buffer) > limit:
                raise MultipartError(f"multipart part headers longer than {limit} bytes")
            if not self.fill():
                raise MultipartError("multipart body ends inside part headers")

    def until(self, marker: bytes) -> Iterator[bytes]:
        """Yield body bytes up to ``marker``, consuming the marker; never more than a chunk."""
        keep = len(marker) - 1
        while True:
            at = self.buffer.find(marker)
            if at >= 0:
                if at:
                    yield bytes(self.buffer[:at])
                del self.buffer[: at + len(marker)]
                return
            if len(self.buffer) > keep:
                cut = len(self.buffer) - keep
                yield bytes(self.buffer[:cut])
                del self.buffer[:cut]
            if not self.fill():
                raise MultipartError("multipart body ends inside a part (no closing boundary)")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"bad multipart part header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


# --------------------------------------------------------------------------------------------
# DICOM JSON model (PS3.18 Annex F)
# --------------------------------------------------------------------------------------------

_NUMBER_VRS = frozenset({"IS", "DS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})


def tag_key(tag: int) -> str:
    return f"{tag:08X}"


def json_element(vr: str, values: Sequence[object] | None) -> dict:
    """One attribute: ``{"vr": ..., "Value": [...]}``; empty values carry the VR only."""
    present = [v for v in (values or ()) if v is not None and v != ""]
    if not present:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in present]}
    if vr == "DA":
        return {"vr": vr, "Value": [_da(v) for v in present]}
    if vr == "TM":
        return {"vr": vr, "Value": [_tm(v) for v in present]}
    if vr in _NUMBER_VRS:
        return {"vr": vr, "Value": [_number(v) for v in present]}
    if vr == "SQ":
        return {"vr": vr, "Value": list(present)}
    return {"vr": vr, "Value": [str(v) for v in present]}


def _number(value: object) -> int | float:
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)


def _da(value: object) -> str:
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value)


def _tm(value: object) -> str:
    if isinstance(value, time):
        text = value.strftime("%H%M%S")
        return text + (f".{value.microsecond:06d}" if value.microsecond else "")
    return str(value)


def json_dataset(elements: Iterable[tuple[int, str, Sequence[object] | None]]) -> dict:
    """A DICOM JSON object from (tag, VR, values), keys in tag order as PS3.18 F.2 requires."""
    return {tag_key(tag): json_element(vr, values) for tag, vr, values in sorted(elements)}


# Store Instances Response Module (PS3.18 Annex I) and its failure reasons (PS3.4 B.2.3).
RETRIEVE_URL = 0x00081190
FAILED_SOP_SEQUENCE = 0x00081198
REFERENCED_SOP_SEQUENCE = 0x00081199
REFERENCED_SOP_CLASS = 0x00081150
REFERENCED_SOP_INSTANCE = 0x00081155
FAILURE_REASON = 0x00081197
WARNING_REASON = 0x00081196

PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700
DATA_SET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class StoreOutcome:
    sop_class_uid: str
    sop_instance_uid: str
    retrieve_url: str = ""  # set when stored
    failure_reason: int | None = None  # set when not stored


def store_response(outcomes: Sequence[StoreOutcome], study_url: str = "") -> tuple[int, dict]:
    """HTTP status and body of a STOW-RS response (PS3.18 §10.5.3).

    200 when every instance is stored, 202 when some are and some failed, 409 when none is.
    """
    stored = [o for o in outcomes if o.failure_reason is None]
    failed = [o for o in outcomes if o.failure_reason is not None]
    body: dict = {}
    if study_url and stored:
        body[tag_key(RETRIEVE_URL)] = json_element("UR", [study_url])
    if failed:
        body[tag_key(FAILED_SOP_SEQUENCE)] = json_element(
            "SQ", [_reference(o, (FAILURE_REASON, "US", [o.failure_reason])) for o in failed]
        )
    if stored:
        body[tag_key(REFERENCED_SOP_SEQUENCE)] = json_element(
            "SQ", [_reference(o, (RETRIEVE_URL, "UR", [o.retrieve_url])) for o in stored]
        )
    status = 200 if not failed else 202 if stored else 409
    return status, dict(sorted(body.items()))


def _reference(outcome: StoreOutcome, extra: tuple[int, str, list]) -> dict:
    return json_dataset(
        [
            (REFERENCED_SOP_CLASS, "UI", [outcome.sop_class_uid]),
            (REFERENCED_SOP_INSTANCE, "UI", [outcome.sop_instance_uid]),
            extra,
        ]
    )


# --------------------------------------------------------------------------------------------
# QIDO-RS query parameters (PS3.18 §8.3.4)
# --------------------------------------------------------------------------------------------

MatchKind = Literal["universal", "single", "wildcard", "list", "range"]
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching"}
_TAG_PATTERN = re.compile(r"[0-9A-Fa-f]{8}")
MAX_VALUE_LENGTH = 256


@dataclass(frozen=True)
class Match:
    """One matching key: how it matches and its parsed value(s)."""

    keyword: str
    vr: str
    kind: MatchKind
    values: tuple = ()


@dataclass
class SearchQuery:
    matches: dict[str, Match] = field(default_factory=dict)
    include: set[str] = field(default_factory=set)
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False
    ignored: list[str] = field(default_factory=list)  # DICOM attributes we cannot match on

    def warnings(self) -> list[str]:
        """Texts for ``Warning: 299`` headers (PS3.18 §8.3.4.3: ignoring is allowed, silently
        is not)."""
        notes = []
        if self.fuzzy:
            notes.append(
                "The fuzzymatching parameter is not supported. "
                "Only literal matching has been performed."
            )
        if self.ignored:
            notes.append(
                "The following attributes are not supported for matching and were ignored: "
                + ", ".join(self.ignored)
            )
        return notes


def attribute_keyword(name: str) -> str:
    """A query key as a keyword: ``PatientID`` or ``00100020``; anything else is a BadRequest."""
    if _TAG_PATTERN.fullmatch(name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise BadRequest(f"{name} is not a DICOM attribute tag this server knows")
        return keyword
    if tag_for_keyword(name) is None:
        raise BadRequest(f"{name!r} is not a DICOM attribute keyword or tag")
    return name


def parse_search(params: Iterable[tuple[str, str]], matchable: Mapping[str, str]) -> SearchQuery:
    """Validate QIDO query parameters; ``matchable`` maps keywords we match on to their VR."""
    query = SearchQuery()
    for name, value in params:
        if name == "" and value == "":
            continue  # "?&limit=1": an empty pair some viewers send
        if name in _RESERVED:
            _reserved(query, name, value)
            continue
        if "." in name:
            raise BadRequest(f"{name}: sequence (nested) matching is not supported")
        keyword = attribute_keyword(name)
        if keyword in query.matches or keyword in query.ignored:
            raise BadRequest(f"{keyword} is given more than once")
        if keyword not in matchable:
            query.ignored.append(keyword)
            continue
        query.matches[keyword] = parse_match(keyword, matchable[keyword], value)
    return query


def _reserved(query: SearchQuery, name: str, value: str) -> None:
    if name in ("limit", "offset"):
        if not value.isdigit() or len(value) > 9:
            raise BadRequest(f"{name}={value[:20]!r} must be a non-negative integer")
        if name == "limit":
            query.limit = int(value)
        else:
            query.offset = int(value)
    elif name == "fuzzymatching":
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"fuzzymatching={value[:20]!r} must be true or false")
        query.fuzzy = value.lower() == "true"
    else:
        for item in value.split(","):
            item = item.strip()
            if item == "all":
                query.include_all = True
            elif item:
                query.include.add(attribute_keyword(item))


def parse_match(keyword: str, vr: str, value: str) -> Match:
    """Parse one matching value by its VR: UID lists, date / time ranges, wildcards, numbers."""
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"{keyword}: value longer than {MAX_VALUE_LENGTH} characters")
    if value in ("", "*"):
        return Match(keyword, vr, "universal")
    if vr == "UI":
        uids = tuple(u.strip() for u in re.split(r"[,\\]", value) if u.strip())
        for uid in uids:
            if len(uid) > 64 or not UID_PATTERN.fullmatch(uid):
                raise BadRequest(f"{keyword}: {uid[:70]!r} is not a UID")
        return Match(keyword, vr, "list", uids)
    if vr in ("DA", "TM"):
        return _range(keyword, vr, value)
    if vr in ("IS", "US", "UL", "SS", "SL"):
        try:
            return Match(keyword, vr, "single", (int(value),))
        except ValueError:
            raise BadRequest(f"{keyword}={value[:20]!r} must be an integer") from None
    if vr == "CS" and ("\\" in value or "," in value):
        return Match(keyword, vr, "list", tuple(v.strip() for v in re.split(r"[,\\]", value)))
    if "*" in value or "?" in value:
        return Match(keyword, vr, "wildcard", (value,))
    return Match(keyword, vr, "single", (value,))


def _range(keyword: str, vr: str, value: str) -> Match:
    """A date or time, or a range of them; a time matches up to the end of its precision
    (``1015`` is 10:15:00 to 10:15:59.999999, PS3.4 C.2.2.2.5)."""
    low_text, dash, high_text = value.partition("-")
    low_text, high_text = low_text.strip(), high_text.strip()
    if not dash:
        high_text = low_text
    bounds = [
        _bound(keyword, vr, low_text, upper=False),
        _bound(keyword, vr, high_text, upper=True),
    ]
    if bounds == [None, None]:
        raise BadRequest(f"{keyword}: a range needs at least one bound")
    if None not in bounds and bounds[0] > bounds[1]:
        raise BadRequest(f"{keyword}: range {value!r} ends before it starts")
    return Match(keyword, vr, "range", tuple(bounds))


def _bound(keyword: str, vr: str, text: str, *, upper: bool) -> date | time | None:
    if not text:
        return None
    parsed = parse_da(text) if vr == "DA" else parse_tm(text)
    if parsed is None:
        raise BadRequest(f"{keyword}: {text[:20]!r} is not a valid {vr} value")
    if vr == "TM" and upper:
        main, _, fraction = text.replace(":", "").partition(".")
        if len(main) < 6:
            parsed = parsed.replace(
                minute=parsed.minute if len(main) >= 4 else 59, second=59, microsecond=999999
            )
        else:
            digits = (fraction + "9" * 6)[:6]
            parsed = parsed.replace(microsecond=int(digits))
    return parsed


def wildcard_regex(pattern: str) -> str:
    """A DICOM wildcard (``*`` any run, ``?`` one character) as an anchored regular expression."""
    pieces = []
    for char in pattern:
        pieces.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return "^" + "".join(pieces) + "$"


def vr_of(keyword: str) -> str:
    return dictionary_VR(tag_for_keyword(keyword))
