"""The fuzz suite (#17): over a thousand mutated DICOM files (tests/fuzz_corpus.py), and the
real-world files of tests/labeling/dicom_corpus.py as they are (#14), through every entry point,
then every stored instance read back through every read route.

Goals, asserted for each entry point: no response of 500 or more (nor an exception out of
``manage.py ingest``), no streamed response that breaks off, no orphan (a row without its file,
a file without its row, a study or series left empty, a temporary file left behind), the same
verdict as the reader gives the file on its own, and a bounded growth of the peak RSS.

Entry points, one test each: the upload API one file per request (then every stored instance
through every read route), the same API with zip archives of many, STOW-RS, and ``manage.py
ingest`` on a folder. The DIMSE storage listener (``manage.py dicom_listener``) is the fifth:
see the note after the tests.

On failure the test prints one table row per problem (case, mutation, route, what happened) and
a summary by cause; ``FUZZ_REPORT=path.json`` also writes every row to a file. A case rebuilds on
its own with ``tests.fuzz_corpus.case(case_id).data``.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import resource
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from labeling import services
from labeling.dicom import DicomRejected, read_dicom
from labeling.models import ImageCache, Instance, Series, Study
from labeling.services import cache_store
from tests import fuzz_corpus
from tests.fuzz_corpus import Case

# Peak RSS may grow by this much over a whole entry point's run (imports, reads, the render
# cache of labeling.dicomweb.files, which holds up to 64 MB).
RSS_GROWTH_LIMIT_MB = 200
ZIP_MEMBERS = 100
STOW_BATCH = 40
BOUNDARY = "fuzz-boundary-0b7d"
XML_ACCEPT = 'multipart/related; type="application/dicom+xml"'


@dataclass(frozen=True)
class Finding:
    case: str
    mutation: str
    route: str
    problem: str  # "500", "aborted stream", "crash", "orphan", "verdict", "lost"
    detail: str


class Fuzz:
    """One entry point's run: a logged-in client that consumes every response whole and writes
    down what went wrong, by case."""

    def __init__(self, personas, cases: list[Case]) -> None:
        self.team = personas.team
        self.client = Client(raise_request_exception=False)
        self.client.force_login(personas.owner)
        self.cases = {c.id: c for c in cases}
        self.findings: list[Finding] = []
        self.requests = 0

    def note(self, case_id: str, route: str, problem: str, detail: str) -> None:
        found = self.cases.get(case_id)
        mutation = f"{found.family}: {found.detail}" if found else ""
        self.findings.append(Finding(case_id, mutation, route, problem, " ".join(detail.split())))

    def request(self, case_id: str, route: str, path: str, *, method="get", **kwargs):
        """The response with its whole body read (``.body``); 500s and broken streams noted."""
        self.requests += 1
        response = getattr(self.client, method)(path, **kwargs)
        body = b""
        try:
            if response.streaming:
                body = b"".join(response.streaming_content)
            else:
                body = response.content
        except Exception as exc:  # noqa: BLE001 - a stream that breaks off is what we look for
            self.note(case_id, route, "aborted stream", f"{type(exc).__name__}: {exc}")
        # The test client closes the response itself (a second close() would fire
        # request_finished, which closes the database connection inside the test transaction).
        if response.status_code >= 500:
            self.note(case_id, route, str(response.status_code), _exception(response, body))
        response.body = body
        return response


def _exception(response, body: bytes) -> str:
    info = getattr(response, "exc_info", None)
    if info:
        return f"{info[0].__name__}: {info[1]}"
    return body[:200].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# The reader's verdict, which every entry point must reproduce
# --------------------------------------------------------------------------------------------


def verdict(data: bytes) -> str:
    """ "accepted", or "rejected:<code>", from the defensive reader alone."""
    return _read(data)[0]


@functools.lru_cache(maxsize=4096)
def _read(data: bytes) -> tuple[str, str]:
    """The reader's verdict and the SOP Instance UID it finds."""
    try:
        ds = read_dicom(io.BytesIO(data), max_bytes=settings.DICOM_MAX_FILE_BYTES)
    except DicomRejected as exc:
        return f"rejected:{exc.code}", ""
    except OSError:  # pydicom's "no tag to read": the ingest service rejects it as unreadable
        return "rejected:unreadable", ""
    return "accepted", str(ds.SOPInstanceUID)


def as_is(data: bytes) -> bytes:
    return data


def as_stow_reads(data: bytes) -> bytes:
    """STOW-RS takes a part without the preamble and DICM prefix (what dicomweb-client sends)
    by putting them in front of it: the reader judges that file."""
    if data[128:132] != b"DICM" and data[:2] == b"\x02\x00":
        return b"\0" * 128 + b"DICM" + data
    return data


def check_verdicts(
    fuzz: Fuzz,
    route: str,
    outcomes: dict[str, str],
    reads: Callable[[bytes], bytes] = as_is,
    allowed: frozenset[str] = frozenset(),
) -> None:
    """Stored (imported or duplicate) exactly when the reader accepts; otherwise rejected,
    with the reader's code where the entry point reports codes. ``reads`` is what the entry
    point makes of a file before reading it; ``allowed`` outcomes stand in for any verdict (a
    refusal before the reader)."""
    for case_id, outcome in outcomes.items():
        if outcome in allowed:
            continue
        expected = verdict(reads(fuzz.cases[case_id].data))
        stored = outcome in ("imported", "duplicate", "stored")
        if stored != (expected == "accepted") or (
            outcome.startswith("rejected:") and outcome != expected
        ):
            fuzz.note(case_id, route, "verdict", f"{outcome}, the reader says {expected}")


# --------------------------------------------------------------------------------------------
# Entry points: each returns {case id: outcome} and notes what went wrong
# --------------------------------------------------------------------------------------------


def via_upload(fuzz: Fuzz, cases: list[Case]) -> dict[str, str]:
    """The upload API (what the upload page posts), one file per request."""
    outcomes = {}
    for case in cases:
        upload = SimpleUploadedFile(case.filename, case.data, "application/dicom")
        response = fuzz.request(
            case.id, "upload", "/api/uploads/", method="post", data={"files": [upload]}
        )
        if response.status_code == 400 and not case.data:
            outcomes[case.id] = "rejected:not_dicom"  # an empty file is refused up front
        elif response.status_code in (200, 201):
            (result,) = json.loads(response.body)["results"]
            outcomes[case.id] = _outcome(result)
        elif response.status_code < 500:
            fuzz.note(case.id, "upload", "unexpected", f"{response.status_code}")
    return outcomes


def _outcome(result: dict) -> str:
    if result["status"] == "rejected":
        return f"rejected:{result.get('code', '')}"
    return result["status"]


def via_zip(fuzz: Fuzz, cases: list[Case]) -> dict[str, str]:
    """The upload API with zip archives of :data:`ZIP_MEMBERS` cases and a good file each
    (stored and deflated archives alternate). An archive answered 500 is split in halves until
    the members that cause it are found; its good file is noted as lost."""
    outcomes: dict[str, str] = {}
    for number, start in enumerate(range(0, len(cases), ZIP_MEMBERS)):
        members = cases[start : start + ZIP_MEMBERS]
        method = zipfile.ZIP_STORED if number % 2 == 0 else zipfile.ZIP_DEFLATED
        good = _good_member(number)
        results, error = _post_zip(fuzz, [good, *members], method, f"zip-{number}")
        if results is None:
            fuzz.note(good.id, "zip", "lost", f"zip-{number} answered 500 ({error})")
            _bisect(fuzz, members, method, f"zip-{number}", error)
        elif results.pop(good.id) != "imported":
            fuzz.note(good.id, "zip", "lost", "the archive's good file was not imported")
        outcomes.update(results or {})
    return outcomes


def _good_member(number: int) -> Case:
    seed = fuzz_corpus.seeds()[0]
    data = seed.finish(seed.with_identity(1_000_050 + number))
    return Case(f"zip-good-{number}", seed.name, "control", "good file in a zip", 0, data)


def _post_zip(fuzz, members: list[Case], method: int, name: str):
    """({case id: outcome}, "") or, for a 500, (None, the exception)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for case in members:
            archive.writestr(case.filename, case.data)
    upload = SimpleUploadedFile(f"{name}.zip", buffer.getvalue(), "application/zip")
    before = len(fuzz.findings)
    response = fuzz.request(name, "zip", "/api/uploads/", method="post", data={"files": [upload]})
    if response.status_code >= 500:
        error = fuzz.findings[-1].detail
        del fuzz.findings[before:]  # _bisect notes it against the members that cause it
        return None, error
    by_name = {case.filename: case.id for case in members}
    results = json.loads(response.body)["results"]
    return {by_name[r["name"].split(":", 1)[1]]: _outcome(r) for r in results}, ""


def _bisect(fuzz, members: list[Case], method: int, name: str, error: str) -> None:
    """Members of an archive answered 500 with ``error``, halved until each culprit is alone."""
    if len(members) == 1:
        fuzz.note(members[0].id, "zip", "500", error)
        return
    half = len(members) // 2
    for part in (members[:half], members[half:]):
        results, error = _post_zip(fuzz, part, method, name)
        if results is None:
            _bisect(fuzz, part, method, name, error)


def via_stow(fuzz: Fuzz, cases: list[Case]) -> dict[str, str]:
    """STOW-RS, one part per request (so each verdict is the case's own); then every eighth
    case again, :data:`STOW_BATCH` parts to a request (duplicates by then, or refused again):
    many parts in one body, where one bad part must not spoil the others."""
    outcomes = {}
    for case in cases:
        response = _stow(fuzz, case.id, "stow", [case.data])
        if response.status_code in (200, 202, 409):
            outcomes[case.id] = "stored" if response.status_code == 200 else "rejected"
        elif response.status_code < 500:
            fuzz.note(case.id, "stow", "unexpected", f"{response.status_code} {response.body[:80]}")
    sample = cases[::8]
    for start in range(0, len(sample), STOW_BATCH):
        batch = sample[start : start + STOW_BATCH]
        label = f"stow-batch-{start // STOW_BATCH}"
        response = _stow(fuzz, label, "stow many parts", [c.data for c in batch])
        body = json.loads(response.body) if response.status_code in (200, 202, 409) else {}
        stored = len(body.get("00081199", {}).get("Value", []))
        expected = sum(outcomes.get(c.id) == "stored" for c in batch)
        if response.status_code < 500 and stored != expected:
            fuzz.note(
                label,
                "stow many parts",
                "verdict",
                f"{response.status_code}: {stored} stored, {expected} alone",
            )
    return outcomes


def _stow(fuzz: Fuzz, label: str, route: str, bodies: list[bytes]):
    content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    return fuzz.request(
        label,
        route,
        "/dicomweb/studies",
        method="post",
        data=_multipart(bodies),
        content_type=content_type,
    )


def _multipart(bodies: Iterable[bytes]) -> bytes:
    out = b""
    for body in bodies:
        out += f"\r\n--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + body
    return out + f"\r\n--{BOUNDARY}--\r\n".encode()


def via_ingest(fuzz: Fuzz, cases: list[Case], *, folder: Path) -> dict[str, str]:
    """``manage.py ingest`` on a folder of every case. A run that raises is run again file by
    file, to find the files that make it raise."""
    folder.mkdir()
    for case in cases:
        (folder / case.filename).write_bytes(case.data)
    try:
        summary = _ingest(fuzz, folder)
    except Exception as exc:  # noqa: BLE001 - an ingest that raises is a finding
        fuzz.note("(folder)", "ingest", "crash", f"{type(exc).__name__}: {exc}")
        return _ingest_one_by_one(fuzz, cases, folder)
    rejected = {Path(r["name"]).stem: r for r in summary["rejected_files"]}
    return {c.id: "rejected" if c.id in rejected else "stored" for c in cases}


def _ingest(fuzz: Fuzz, *paths: Path) -> dict:
    out = io.StringIO()
    call_command("ingest", *map(str, paths), team=fuzz.team.name, json=True, workers=1, stdout=out)
    return json.loads(out.getvalue())


def _ingest_one_by_one(fuzz: Fuzz, cases: list[Case], folder: Path) -> dict[str, str]:
    outcomes = {}
    for case in cases:
        try:
            summary = _ingest(fuzz, folder / case.filename)
        except Exception as exc:  # noqa: BLE001 - noted, with the file that causes it
            fuzz.note(case.id, "ingest", "crash", f"{type(exc).__name__}: {exc}")
            continue
        outcomes[case.id] = "rejected" if summary["rejected_files"] else "stored"
    return outcomes


# --------------------------------------------------------------------------------------------
# Reading back: every stored instance through every route
# --------------------------------------------------------------------------------------------


def read_back(fuzz: Fuzz, case_of: Callable[[Instance], Case | None]) -> None:
    """Every WADO-RS, WADO-URI, QIDO-RS, rendered and thumbnail route, plus the pages and API
    endpoints that show an instance, for every instance of the team; bodies read to the end.
    Study and series routes are asked once per study and series (a group of cases)."""
    instances = list(
        Instance.objects.of_team(fuzz.team).select_related("study", "series").order_by("id")
    )
    seen_studies, seen_series = set(), set()
    for item in instances:
        case = case_of(item)
        study, series, sop = item.study.study_uid, item.series.series_uid, item.sop_uid
        routes = []
        group = f"study {case.group}" if case else f"study {study}"
        if study not in seen_studies:
            seen_studies.add(study)
            routes += [(group, *route) for route in _study_routes(study, item.study.pk)]
        if series not in seen_series:
            seen_series.add(series)
            routes += [(group, *route) for route in _series_routes(study, series)]
        label = case.id if case else sop
        routes += [(label, *route) for route in _instance_routes(item, study, series, sop)]
        for case_id, name, path, headers in routes:
            response = fuzz.request(case_id, name, path, **headers)
            if response.status_code == 404:
                fuzz.note(case_id, name, "lost", f"404 for a stored instance: {path}")
    for name, path in (
        ("qido all studies", "/dicomweb/studies?limit=1000&includefield=all"),
        ("qido all series", "/dicomweb/series?limit=1000"),
        ("qido all instances", "/dicomweb/instances?limit=1000"),
        ("study list page", "/studies/"),
        ("api studies", "/api/studies/?limit=1000"),
        ("api instances", "/api/instances/?limit=1000"),
    ):
        fuzz.request("(all)", name, path)


def read_stored(fuzz: Fuzz, case_of: Callable[[Instance], Case | None]) -> None:
    """Each stored instance retrieved as stored and described (metadata): its file is there,
    whole, and reads."""
    for item in Instance.objects.of_team(fuzz.team).select_related("study", "series"):
        case = case_of(item)
        base = (
            f"/dicomweb/studies/{item.study.study_uid}/series/{item.series.series_uid}"
            f"/instances/{item.sop_uid}"
        )
        for name, path in (("wado instance", base), ("instance metadata", f"{base}/metadata")):
            response = fuzz.request(case.id if case else item.sop_uid, name, path)
            if response.status_code == 404:
                fuzz.note(case.id if case else item.sop_uid, name, "lost", f"404: {path}")


def _accept(value: str) -> dict:
    return {"HTTP_ACCEPT": value}


def _study_routes(study: str, pk: int) -> list[tuple[str, str, dict]]:
    base = f"/dicomweb/studies/{study}"
    return [
        ("qido studies", f"/dicomweb/studies?StudyInstanceUID={study}&includefield=all", {}),
        ("qido studies xml", f"/dicomweb/studies?StudyInstanceUID={study}", _accept(XML_ACCEPT)),
        ("qido study series", f"{base}/series?includefield=all", {}),
        ("qido study instances", f"{base}/instances?includefield=all", {}),
        ("wado study", base, {}),
        ("study metadata", f"{base}/metadata", {}),
        ("study metadata xml", f"{base}/metadata", _accept(XML_ACCEPT)),
        ("study rendered", f"{base}/rendered", _accept('multipart/related; type="image/jpeg"')),
        ("study thumbnail", f"{base}/thumbnail", {}),
        ("study page", f"/studies/{pk}/", {}),
        ("api study", f"/api/studies/{pk}/", {}),
    ]


def _series_routes(study: str, series: str) -> list[tuple[str, str, dict]]:
    base = f"/dicomweb/studies/{study}/series/{series}"
    return [
        ("qido series", f"/dicomweb/series?SeriesInstanceUID={series}&includefield=all", {}),
        ("qido series instances", f"{base}/instances", {}),
        ("qido series instances xml", f"{base}/instances", _accept(XML_ACCEPT)),
        ("wado series", base, {}),
        ("series metadata", f"{base}/metadata", {}),
        ("series rendered", f"{base}/rendered", _accept('multipart/related; type="image/png"')),
        ("series thumbnail", f"{base}/thumbnail", _accept("image/png")),
    ]


def _instance_routes(item: Instance, study: str, series: str, sop: str):
    """One request per view and way of answering: the stored file whole (multipart and
    single part, as stored and transcoded), metadata (JSON, XML), frames (native bytes or
    decoded, and as stored), rendered and thumbnail at instance and frame level, WADO-URI (the
    file, a JPEG, a windowed and scaled PNG) and the training cache's thumbnail. QIDO rows and the
    API come from the database and are asked once per study and for the whole team."""
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    frames = ",".join(str(n) for n in range(1, min(item.number_of_frames, 3) + 1))
    last = item.number_of_frames
    uri = f"/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={sop}"
    as_stored = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    routes = [
        ("wado instance", base, {}),
        ("wado instance explicit", base, _accept("application/dicom")),
        ("instance metadata", f"{base}/metadata", {}),
        ("instance metadata xml", f"{base}/metadata", _accept(XML_ACCEPT)),
        ("frames", f"{base}/frames/{frames}", {}),
        ("frames as stored", f"{base}/frames/1", _accept(as_stored)),
        ("instance rendered", f"{base}/rendered", {}),
        ("frame rendered", f"{base}/frames/{last}/rendered?window=100,50", _accept("image/png")),
        ("instance thumbnail", f"{base}/thumbnail", {}),
        ("frame thumbnail", f"{base}/frames/1/thumbnail?viewport=16,16", {}),
        (
            "wado-uri dicom as stored",
            f"{uri}&contentType=application/dicom&transferSyntax={item.transfer_syntax}",
            {},
        ),
        ("wado-uri jpeg", uri, {}),
        ("wado-uri png", f"{uri}&contentType=image/png&rows=30&windowCenter=10&windowWidth=99", {}),
        ("cache thumbnail", f"/instances/{item.pk}/thumbnail.png", {}),
    ]
    if last > 3:
        routes.append(("last frame", f"{base}/frames/{last}", {}))
    return routes


# --------------------------------------------------------------------------------------------
# Orphans and memory
# --------------------------------------------------------------------------------------------


def check_orphans(fuzz: Fuzz, temp_dir: Path) -> None:
    """Rows and files match both ways; no study or series is left empty; no temporary file."""
    store = Path(settings.DICOM_STORE_DIR)
    on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
    rows = dict(Instance.objects.values_list("file_path", "sop_uid"))
    for path in sorted(on_disk - set(rows)):
        fuzz.note("(store)", "files", "orphan", f"file without a row: {path}")
    for path in sorted(set(rows) - on_disk):
        fuzz.note(rows[path], "files", "orphan", f"row without its file: {path}")
    for model in (Study, Series):
        for uid in model.objects.filter(instances__isnull=True).values_list("pk", flat=True):
            fuzz.note("(db)", "rows", "orphan", f"{model.__name__} {uid} has no instance")
    cached = Instance.objects.filter(team=fuzz.team, cache_row__isnull=False)
    rows_used = sorted(cached.values_list("cache_row", flat=True))
    allocated = sum(ImageCache.objects.filter(team=fuzz.team).values_list("rows", flat=True))
    store_file = cache_store(fuzz.team).path
    held = store_file.stat().st_size // cache_store(fuzz.team).row_bytes if rows_used else 0
    if rows_used != list(range(len(rows_used))) or not len(rows_used) == allocated <= held:
        fuzz.note(
            "(cache)",
            "cache",
            "orphan",
            f"{allocated} rows allocated, {held} in the file, {len(rows_used)} used",
        )
    for path in sorted(p for p in temp_dir.rglob("*") if p.is_file()):
        fuzz.note("(temp)", "temp files", "orphan", f"left behind: {path.name}")


class PeakRss:
    """Growth of the peak resident set over a block, in MB.

    Linux resets the peak (VmHWM) when "5" is written to /proc/self/clear_refs, so the figure is
    this block's own, whatever ran before in the process; elsewhere it falls back to
    ``resource``'s lifetime peak, which can only under-report."""

    def __enter__(self) -> PeakRss:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.status = True
        except OSError:
            self.status = False
        self.start = self._peak() if not self.status else self._status("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        self.growth_mb = (self._status("VmHWM") if self.status else self._peak()) - self.start

    @staticmethod
    def _status(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise LookupError(field)

    @staticmethod
    def _peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def table(findings: list[Finding], limit: int = 60) -> str:
    """One line per finding (the first ``limit``), then each cause once: how often, on which
    routes, and the first case that shows it (rebuild it with ``fuzz_corpus.case(id)``)."""
    lines = [f"{'case':32} {'route':24} {'problem':14} detail  [mutation]"]
    for f in findings[:limit]:
        lines.append(
            f"{f.case:32} {f.route:24} {f.problem:14} {f.detail[:100]}  [{f.mutation[:60]}]"
        )
    if len(findings) > limit:
        lines.append(f"... and {len(findings) - limit} more")
    causes: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        causes.setdefault((f.problem, cause(f.detail)), []).append(f)
    lines.append("by cause:")
    for (problem, text), found in sorted(causes.items(), key=lambda item: -len(item[1])):
        routes = ", ".join(sorted({f.route for f in found}))
        lines.append(f"  {len(found):4} x {problem}: {text}  (on {routes}; e.g. {found[0].case})")
    return "\n".join(lines)


def cause(detail: str) -> str:
    """A finding's text with its particulars (quoted values, numbers) blanked, so that one cause
    counts once."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", detail)
    return re.sub(r"\b[0-9][0-9a-fA-Fx.,]*\b", "#", text)[:90]


def _report(entry: str, findings: list[Finding]) -> None:
    path = os.environ.get("FUZZ_REPORT")
    if path:
        target = Path(f"{path.removesuffix('.json')}-{entry}.json")
        target.write_text(json.dumps([asdict(f) for f in findings], indent=1))


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """Every temporary file of the run (uploads, spools) goes here, to be counted after."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def quiet():
    """Thousands of broken files make pydicom and the request log talk; the table says it all."""
    loggers = [logging.getLogger(n) for n in ("pydicom", "django.request", "labeling", "openjpeg")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def run(
    entry: str,
    feed: Callable[[Fuzz, list[Case]], dict[str, str]],
    personas,
    temp_dir,
    *,
    every_route: bool,
    reads: Callable[[bytes], bytes] = as_is,
    allowed: frozenset[str] = frozenset(),
    rss_limit_mb: int = RSS_GROWTH_LIMIT_MB,
) -> None:
    """Feed the corpus through one entry point, read back what it stored, check, report."""
    cases = [*fuzz_corpus.corpus(), *fuzz_corpus.real_world()]
    sop_of = {c.id: _read(reads(c.data))[1] for c in cases}  # before memory is measured
    fuzz = Fuzz(personas, cases)
    with PeakRss() as rss:
        outcomes = feed(fuzz, cases)
        check_verdicts(fuzz, entry, outcomes, reads, allowed)
        for control in fuzz_corpus.controls():
            if verdict(control.data) == "accepted" and outcomes.get(control.id) not in STORED:
                fuzz.note(control.id, entry, "lost", f"a good file: {outcomes.get(control.id)}")
        # By SOP Instance UID, for every case the reader accepts: an archive answered 500 may
        # still have stored some of its members.
        by_sop: dict[str, Case] = {}
        for case in cases:
            by_sop.setdefault(sop_of[case.id], case)
        case_of = by_sop.get
        if every_route:
            read_back(fuzz, lambda item: case_of(item.sop_uid))
        else:
            read_stored(fuzz, lambda item: case_of(item.sop_uid))
    check_orphans(fuzz, temp_dir)
    if rss.growth_mb > rss_limit_mb:
        fuzz.note("(process)", entry, "memory", f"peak RSS grew by {rss.growth_mb:.0f} MB")
    stored = Instance.objects.filter(team=fuzz.team).count()
    _report(entry, fuzz.findings)
    print(
        f"{entry}: {len(cases)} cases, {stored} stored, {fuzz.requests} requests, "
        f"peak RSS +{rss.growth_mb:.0f} MB, {len(fuzz.findings)} findings"
    )
    assert stored > 100, "too few cases survive for the read-back to mean anything"
    if fuzz.findings:
        pytest.fail(f"{entry}: {len(fuzz.findings)} findings\n{table(fuzz.findings)}", False)


STORED = ("imported", "duplicate", "stored")


# Reading back is done once through every route, after the upload API: every entry point
# stores through the same prepare_file / commit_prepared, and each of the others checks that it
# stored exactly the files the reader accepts, then reads each of them back (retrieve as
# stored, metadata), which keeps the four runs inside a couple of minutes on two cores.


@pytest.mark.slow
def test_every_case_uploaded_alone_then_read_back_through_every_route(personas, temp_dir, quiet):
    run("upload", via_upload, personas, temp_dir, every_route=True)


@pytest.mark.slow
def test_every_case_in_zip_archives(personas, temp_dir, quiet):
    # A member the archive reader refuses (a compression ratio above the zip-bomb limit) never
    # reaches the DICOM reader: that refusal is allowed in place of the reader's verdict.
    refused = frozenset({"rejected:bad_archive_entry"})
    run("zip", via_zip, personas, temp_dir, every_route=False, allowed=refused)


@pytest.mark.slow
def test_every_case_through_stow_rs(personas, temp_dir, quiet):
    run("stow", via_stow, personas, temp_dir, every_route=False, reads=as_stow_reads)


@pytest.mark.slow
def test_every_case_through_manage_py_ingest_on_a_folder(personas, tmp_path, temp_dir, quiet):
    feed = functools.partial(via_ingest, folder=tmp_path / "incoming")
    run("ingest", feed, personas, temp_dir, every_route=False)


# The DIMSE storage listener (manage.py dicom_listener) is the fifth entry point:
# tests/labeling/test_dimse_listener_fuzz.py C-STOREs each case to a listener on a free port
# (via_dimse) and hands the outcomes to run() like the four tests above.


# --------------------------------------------------------------------------------------------
# The harness finds what it looks for (fast: a few files, not the corpus)
# --------------------------------------------------------------------------------------------


def _good_cases(count: int) -> list[Case]:
    seed = fuzz_corpus.seeds()[0]
    return [
        Case(
            f"good-{n}",
            seed.name,
            "control",
            "unmutated",
            0,
            seed.finish(seed.with_identity(1_000_090 + n)),
        )
        for n in range(count)
    ]


def test_a_500_and_a_stream_that_breaks_off_are_noted_with_case_and_route(personas, monkeypatch):
    good = _good_cases(1)
    fuzz = Fuzz(personas, good)
    assert via_upload(fuzz, good) == {"good-0": "imported"}

    def broken_file(path):
        # A retrieve whose file read fails after the first chunk went out: the status line and
        # headers are sent, then the body breaks off.
        yield b"\0" * 128
        raise OSError("the disk went away")

    def broken_search(*args, **kwargs):
        raise RuntimeError("search is down")

    monkeypatch.setattr("labeling.dicomweb.protocol.file_chunks", broken_file)
    monkeypatch.setattr("labeling.dicomweb.search.search", broken_search)
    item = Instance.objects.get()
    fuzz.request(
        "good-0",
        "instance as stored",
        f"/dicomweb/studies/{item.study.study_uid}/series/{item.series.series_uid}"
        f"/instances/{item.sop_uid}",
        HTTP_ACCEPT=f'multipart/related; type="application/dicom"; transfer-syntax={item.transfer_syntax}',
    )
    fuzz.request("good-0", "qido", "/dicomweb/studies")
    assert [(f.case, f.route, f.problem, f.detail) for f in fuzz.findings] == [
        ("good-0", "instance as stored", "aborted stream", "OSError: the disk went away"),
        ("good-0", "qido", "500", "RuntimeError: search is down"),
    ]


def test_a_member_that_breaks_an_archive_or_an_ingest_is_found(personas, tmp_path, monkeypatch):
    cases = _good_cases(5)
    prepare = services.prepare_file

    def failing(team, source, *, name):
        if "good-3" in name:
            raise TypeError("a bytes-like object is required")
        return prepare(team, source, name=name)

    monkeypatch.setattr(services, "prepare_file", failing)
    fuzz = Fuzz(personas, cases)
    via_zip(fuzz, cases)
    found = {(f.case, f.problem) for f in fuzz.findings}
    assert found == {("good-3", "500"), ("zip-good-0", "lost")}
    fuzz.findings.clear()
    outcomes = via_ingest(fuzz, cases, folder=tmp_path / "in")
    assert {(f.case, f.problem) for f in fuzz.findings} == {
        ("(folder)", "crash"),
        ("good-3", "crash"),
    }
    assert outcomes == {
        "good-0": "stored",
        "good-1": "stored",
        "good-2": "stored",
        "good-4": "stored",
    }


def test_an_outcome_the_reader_disagrees_with_is_noted(personas):
    cases = _good_cases(2)
    fuzz = Fuzz(personas, cases)
    check_verdicts(fuzz, "upload", {"good-0": "imported", "good-1": "rejected:bad_value"})
    assert [(f.case, f.problem, f.detail) for f in fuzz.findings] == [
        ("good-1", "verdict", "rejected:bad_value, the reader says accepted")
    ]
    headless = cases[0].data[132:]  # the file meta group first, as dicomweb-client sends
    assert verdict(headless) == "rejected:not_dicom"
    assert verdict(as_stow_reads(headless)) == "accepted"


def test_orphans_are_found_both_ways(personas, temp_dir):
    cases = _good_cases(2)
    fuzz = Fuzz(personas, cases)
    via_upload(fuzz, cases)
    check_orphans(fuzz, temp_dir)
    assert fuzz.findings == []
    first = Instance.objects.order_by("id").first()
    (Path(settings.DICOM_STORE_DIR) / first.file_path).unlink()
    (Path(settings.DICOM_STORE_DIR) / "stray.dcm").write_bytes(b"x")
    empty = Study.objects.create(team=fuzz.team, study_uid="1.2.3")
    (temp_dir / "upload.part").write_bytes(b"x")
    check_orphans(fuzz, temp_dir)
    assert sorted(f.detail.split(":")[0] for f in fuzz.findings) == [
        f"Study {empty.pk} has no instance",
        "file without a row",
        "left behind",
        "row without its file",
    ]


def test_the_failure_table_names_each_cause_once():
    findings = [
        Finding(
            f"case-{n}", "flip: xor at 1", "upload", "500", f"TypeError: tag ({n:04X},0010) 'v{n}'"
        )
        for n in range(3)
    ] + [Finding("case-9", "truncate: cut", "stow", "aborted stream", "ValueError: bad")]
    text = table(findings)
    assert "case-0" in text and "flip: xor at 1" in text
    assert "3 x 500: TypeError: tag (#) '…'  (on upload; e.g. case-0)" in text
    assert "1 x aborted stream: ValueError: bad  (on stow; e.g. case-9)" in text


def test_peak_rss_sees_what_a_block_allocates():
    with PeakRss() as rss:
        block = b"x" * (64 << 20)
        del block
    assert rss.growth_mb >= 60
