"""Real-world DICOM files as one corpus: pydicom's own test files and pydicom-data's, and how
one of them fares in Orthanc and here (issue #14, "the measure").

The corpus is every DICOM file under these folders, recursively (:func:`roots`):

* ``pydicom/data/test_files`` (with ``dicomdirtests/``), named ``pydicom/<relative path>``;
* ``pydicom/data/charset_files``, named ``pydicom/charset/<file>``;
* pydicom-data's data folder (RG1, RG3, US1, ...), named ``pydicom-data/<file>``.

The rule for "a DICOM file" (:func:`is_dicom`): a file is in the corpus when it carries the
``DICM`` prefix at byte 128 (PS3.10), or, without one, when pydicom reads it as a data set
(``dcmread(force=True)``) that has a SOP Class UID. So text, JSON, ICC profiles, gzip files and
dumps are out, and so are byte streams that merely parse as a tag or two (``no_meta.dcm``).
DICOMDIRs are out as well: a Media Storage Directory (SOP class 1.2.840.10008.1.3.10) is an index
of other files, not an object a PACS stores. pydicom's colour palettes (``data/palettes``) are
not among the folders: they are Color Palette IODs with no image, and add nothing the RT and SR
objects do not. Broken files (truncated, no transfer syntax, private sequences only) are kept:
they are what a user may drop on the upload page too.

Names are stable (a source and the path under it), so a row of the table is the same file on
every machine. The corpus itself needs pydicom only; :func:`our_outcome` needs a configured
Django and is used by tests/labeling/test_corpus_orthanc.py and bench/dicom_corpus.py. The fuzz
suite reuses the corpus too: ``tests.fuzz_corpus.real_world()`` turns each file of
:func:`for_fuzzing` into one more case.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.data
import requests
from PIL import Image
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from tests.orthanc import GDCM_PLUGIN, start_orthanc

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
_PYDICOM = Path(pydicom.data.__file__).resolve().parent
# Larger than this (bytes, or pixels of all frames), a file is left out of the fuzz suite's
# cases (:func:`for_fuzzing`): the fuzz suite sends each case through every entry point and
# every read route, and pydicom-data's radiographs (up to 7 MB, 1841 x 1955, JPEG 2000 among
# them) would multiply its run time. This module's own test imports every file.
FUZZ_MAX_BYTES = 1 << 20
FUZZ_MAX_PIXELS = 1 << 20
CRASH_SECONDS = 15  # an Orthanc that breaks a connection and has not exited by then is alive


def pydicom_data_folder() -> Path:
    """pydicom-data's folder of files (a ``dev`` extra): its wheel ships them."""
    try:
        from data_store import DataStore
    except ImportError as exc:  # the message says what to do
        raise ImportError(
            "pydicom-data is missing: pip install -e '.[dev]' (or pip install pydicom-data)"
        ) from exc
    return Path(DataStore().data_path)


def roots() -> tuple[tuple[str, Path], ...]:
    """(name prefix, folder) of every source of the corpus."""
    return (
        ("pydicom", _PYDICOM / "test_files"),
        ("pydicom/charset", _PYDICOM / "charset_files"),
        ("pydicom-data", pydicom_data_folder()),
    )


@dataclass(frozen=True)
class Entry:
    """One file of the corpus and what it is (from its own header)."""

    name: str  # "pydicom/JPEG-lossy.dcm", "pydicom-data/RG1_J2KR.dcm": stable everywhere
    path: Path
    transfer_syntax: str  # the file meta's UID; "" when the file has none
    photometric: str  # "" when the file has no Photometric Interpretation
    sop_class: str  # "" when the file has no SOP Class UID
    has_pixels: bool  # Pixel Data (or Float / Double Float Pixel Data) is present
    frames: int
    size: int  # bytes
    rows: int = 0
    columns: int = 0

    @property
    def syntax_name(self) -> str:
        return _short_syntax(self.transfer_syntax)

    @property
    def sop_class_name(self) -> str:
        if not self.sop_class:
            return "(no SOP class)"
        name = UID(self.sop_class).name
        return name.removesuffix(" Storage") if name != self.sop_class else self.sop_class

    def what(self) -> str:
        """Transfer syntax, photometric, SOP class in a few words: a table's second column."""
        pixels = self.photometric or "-"
        if not self.has_pixels:
            pixels = "no pixels"
        elif self.frames > 1:
            pixels += f" x{self.frames}"
        return f"{self.syntax_name}, {pixels}, {self.sop_class_name}"

    def data(self) -> bytes:
        return self.path.read_bytes()


_SYNTAX_SHORT = {
    "1.2.840.10008.1.2": "Implicit LE",
    "1.2.840.10008.1.2.1": "Explicit LE",
    "1.2.840.10008.1.2.1.99": "Deflated",
    "1.2.840.10008.1.2.2": "Explicit BE",
    "1.2.840.10008.1.2.4.50": "JPEG baseline",
    "1.2.840.10008.1.2.4.51": "JPEG extended",
    "1.2.840.10008.1.2.4.57": "JPEG lossless",
    "1.2.840.10008.1.2.4.70": "JPEG lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
    "1.2.840.10008.1.2.4.90": "J2K lossless",
    "1.2.840.10008.1.2.4.91": "J2K",
    "1.2.840.10008.1.2.5": "RLE",
}


def _short_syntax(uid: str) -> str:
    if not uid:
        return "(no syntax)"
    return _SYNTAX_SHORT.get(uid) or UID(uid).name


@functools.cache
def corpus() -> tuple[Entry, ...]:
    """Every DICOM file of the sources (see the module's rule), ordered by name."""
    entries = []
    with quiet_pydicom():
        for prefix, folder in roots():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                entry = _entry(f"{prefix}/{path.relative_to(folder).as_posix()}", path)
                if entry is not None:
                    entries.append(entry)
    return tuple(sorted(entries, key=lambda e: e.name))


def entry(name: str) -> Entry:
    """One file of the corpus by its name."""
    return next(e for e in corpus() if e.name == name)


def is_dicom(path: Path) -> bool:
    """The corpus's rule (see the module's docstring)."""
    with quiet_pydicom():
        return _entry(path.name, path) is not None


def _entry(name: str, path: Path) -> Entry | None:
    with open(path, "rb") as handle:
        head = handle.read(132)
    prefixed = head[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(path, force=True, defer_size=4096)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        if not prefixed:
            return None
        logging.getLogger(__name__).debug("%s: pydicom cannot read it: %s", name, exc)
        return Entry(name, path, _meta_syntax(path), "", "", False, 0, path.stat().st_size)
    sop_class = str(ds.get("SOPClassUID", "") or "")
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta else ""
    if DICOMDIR_CLASS in (sop_class, media_class) or (not prefixed and not sop_class):
        return None
    syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta else ""
    pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    return Entry(
        name,
        path,
        syntax,
        str(ds.get("PhotometricInterpretation", "") or ""),
        sop_class,
        pixels,
        _frames(ds),
        path.stat().st_size,
        _count(ds, "Rows"),
        _count(ds, "Columns"),
    )


def _meta_syntax(path: Path) -> str:
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError):
        return ""
    return str(meta.get("TransferSyntaxUID", "") or "")


def _frames(ds) -> int:
    return max(1, _count(ds, "NumberOfFrames", 1))


def _count(ds, keyword: str, default: int = 0) -> int:
    try:
        return int(ds.get(keyword, default) or default)
    except (TypeError, ValueError):
        return default


def for_fuzzing() -> tuple[Entry, ...]:
    """The files the fuzz suite (``tests.fuzz_corpus.real_world``) sends through every
    entry point: all but the big ones (:data:`FUZZ_MAX_BYTES`, :data:`FUZZ_MAX_PIXELS`)."""
    return tuple(
        e
        for e in corpus()
        if e.size <= FUZZ_MAX_BYTES and e.rows * e.columns * e.frames <= FUZZ_MAX_PIXELS
    )


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """pydicom warns and logs about every oddity of these files: not what the table is about."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------------------
# Outcomes: what Orthanc and this project make of one file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    stored: bool
    rendered: bool
    why: str = ""  # why not stored or not rendered: a rejection code, an HTTP status

    def cell(self) -> str:
        if self.rendered:
            return "rendered"
        if self.stored:
            return f"stored, no image ({self.why})"
        return f"refused ({self.why})"


def is_image(body: bytes) -> bool:
    """A PNG or JPEG that decodes, with at least one pixel."""
    try:
        with Image.open(io.BytesIO(body)) as picture:
            picture.load()
            return picture.width > 0 and picture.height > 0
    except (OSError, ValueError, SyntaxError):
        return False


class OrthancProbe:
    """A Debian Orthanc with the GDCM plugin (its default configuration: GDCM decodes every
    transfer syntax, JPEG 2000 among them), started under ``workdir``; :meth:`outcome` POSTs a
    file to ``/instances`` and asks for its ``preview``. GDCM aborts the whole server on some
    files (an assertion on pydicom's one-frame RT Dose files): such a file is noted as
    "Orthanc crashed" and a fresh server takes over for the next one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.starts = 0
        self.server = None

    def __enter__(self) -> OrthancProbe:
        self._start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.server is not None:
            self.server.stop()

    def _start(self) -> None:
        self.starts += 1
        folder = self.workdir / f"orthanc-{self.starts}"
        self.server = start_orthanc(folder, name="CORPUS", plugins=(GDCM_PLUGIN,))

    def outcome(self, item: Entry) -> Outcome:
        stage = "POST"
        try:
            stored = _orthanc_store(self.server.url, item)
            if isinstance(stored, Outcome):
                return stored
            stage = "preview"
            return _orthanc_preview(self.server.url, stored)
        except requests.ConnectionError:
            if not self._died():
                raise
            self.server.stop()
            self._start()
            return Outcome(stage == "preview", False, f"Orthanc crashed on {stage}")

    def _died(self) -> bool:
        """Whether the server is gone (the connection breaks a moment before it exits)."""
        try:
            self.server.process.wait(timeout=CRASH_SECONDS)
        except subprocess.TimeoutExpired:
            return False
        return True


def _orthanc_store(url: str, item: Entry) -> str | Outcome:
    """Orthanc's id of the stored instance, or why it was refused."""
    posted = requests.post(f"{url}/instances", data=item.data(), timeout=120)
    if posted.status_code != 200:
        return Outcome(False, False, f"HTTP {posted.status_code} {_orthanc_error(posted)}")
    return posted.json()["ID"]


def _orthanc_preview(url: str, instance: str) -> Outcome:
    """The preview's verdict; the instance is deleted after, so that a later file with the same
    SOP Instance UID (pydicom's files share a few) is judged on its own bytes."""
    preview = requests.get(
        f"{url}/instances/{instance}/preview", headers={"Accept": "image/png"}, timeout=120
    )
    requests.delete(f"{url}/instances/{instance}", timeout=60)
    if preview.status_code != 200:
        return Outcome(True, False, f"preview HTTP {preview.status_code}")
    if not is_image(preview.content):
        return Outcome(True, False, "preview is no image")
    return Outcome(True, True)


def _orthanc_error(response: requests.Response) -> str:
    try:
        return str(response.json().get("OrthancError", ""))[:60]
    except ValueError:
        return ""


def our_outcomes(entries: Iterable[Entry]) -> Iterator[tuple[Entry, Outcome]]:
    """:func:`our_outcome` of each file, imported into a team of its own (pydicom's files share
    SOP Instance UIDs: each is judged on its own bytes, never as another's duplicate) and
    rendered by a member. Needs a configured Django and database."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from teams import services as teams
    from teams.models import Role

    user = get_user_model().objects.create_user("corpus-reader", password="pw-corpus-1234")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    for number, item in enumerate(entries):
        team = teams.create_team(f"Corpus {number}")
        teams.add_member(team, user, Role.VIEWER)
        with quiet_pydicom():
            outcome = our_outcome(team, client, item)
        yield item, outcome


def our_outcome(team, client, item: Entry) -> Outcome:
    """Import the file into ``team`` through the upload path (``labeling.services``, which
    ``manage.py ingest`` and every other entry point use too), then require the cached image
    and a PNG from the instance's ``/rendered`` (``client``: a Django test client of a member of
    ``team``). Needs a configured Django."""
    try:
        return _import_and_render(team, client, item)
    except Exception as exc:  # noqa: BLE001 - an import or render that raises is a finding
        return Outcome(False, False, f"raised {type(exc).__name__}: {exc}"[:80])


def _import_and_render(team, client, item: Entry) -> Outcome:
    from labeling import services
    from labeling.models import Instance

    result = services.ingest_file(team, item.path, name=item.name)
    if result.status == "rejected":
        return Outcome(False, False, result.code or "rejected")
    instance = Instance.objects.select_related("study", "series").get(
        team=team, sop_uid=result.sop_uid
    )
    if instance.cache_row is None:
        return Outcome(True, False, f"no cache image: {instance.decode_error[:50]}")
    url = (
        f"/dicomweb/studies/{instance.study.study_uid}/series/{instance.series.series_uid}"
        f"/instances/{instance.sop_uid}/rendered"
    )
    response = client.get(url, HTTP_ACCEPT="image/png")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response.status_code != 200:
        text = body[:60].decode("utf-8", "replace")
        return Outcome(True, False, f"/rendered HTTP {response.status_code}: {text}")
    if not is_image(body):
        return Outcome(True, False, "/rendered is no image")
    return Outcome(True, True)


@dataclass(frozen=True)
class Row:
    entry: Entry
    orthanc: Outcome
    ours: Outcome


def table(rows: Iterable[Row]) -> str:
    """The table (file, what it is, Orthanc, ours) and the totals."""
    rows = list(rows)
    width = max([len(r.entry.name) for r in rows] + [4])
    lines = [f"{'file':{width}}  {'what':48}  {'Orthanc':46}  ours"]
    for r in rows:
        lines.append(
            f"{r.entry.name:{width}}  {r.entry.what()[:48]:48}  {r.orthanc.cell()[:46]:46}  "
            f"{r.ours.cell()[:60]}"
        )
    lines.append(totals(rows))
    return "\n".join(lines)


def totals(rows: list[Row]) -> str:
    def count(attribute: str, side: str) -> int:
        return sum(getattr(getattr(r, side), attribute) for r in rows)

    return (
        f"{len(rows)} files: Orthanc stored {count('stored', 'orthanc')}, "
        f"rendered {count('rendered', 'orthanc')}; ours stored {count('stored', 'ours')}, "
        f"rendered {count('rendered', 'ours')}"
    )


def only_orthanc_renders(rows: Iterable[Row]) -> list[Row]:
    """The rows where Orthanc stores and renders the file and we do not render it."""
    return [r for r in rows if r.orthanc.stored and r.orthanc.rendered and not r.ours.rendered]
