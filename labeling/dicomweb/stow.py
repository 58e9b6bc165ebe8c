"""STOW-RS (PS3.18 §10.5): a multipart body of DICOM parts, each imported through
:func:`labeling.services.ingest_file` into the caller's team.

Answers 200 (all stored, duplicates included), 202 (some failed), 409 (none stored);
FailureReason 0xA700 for a part over the size limit (or a deflated one inflating past its cap),
0xA900 for a study mismatch, 0xC000 for anything unreadable. A deflated part is inflated
(bounded, to a spooled file) before anything reads it, its UIDs included.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import warnings

import pydicom
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

from teams.access import CAN_IMPORT, require_role, visible
from teams.models import Team

from ..dicom import DicomRejected, inflated
from ..models import Instance
from ..services import ingest_file, read_limits
from . import files, protocol, search
from .protocol import DICOM, DICOM_JSON, BadRequest, StoreOutcome

log = logging.getLogger("labeling.dicomweb.views")

MAX_STOW_PARTS = 10_000
SPOOL_BYTES = 16 * 1024 * 1024


def target_team(request: HttpRequest) -> Team:
    """The active team, or ``?team=<slug>`` for machine clients in several teams."""
    slug = request.GET.get("team")
    team = visible(Team, request.user).filter(slug=slug).first() if slug else request.team
    if team is None:
        raise Http404
    require_role(request.user, team, CAN_IMPORT)
    return team


def body_stream(request: HttpRequest):
    """The request body as a stream; a chunked upload (no Content-Length) under a server that
    de-chunks it (gunicorn sets ``wsgi.input_terminated``) is read to its end."""
    environ = getattr(request, "environ", {})
    if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"]
    return request


_FAILURES = {"too_large": protocol.OUT_OF_RESOURCES}


def store(request: HttpRequest, study_uid: str | None, urls: search.Urls) -> HttpResponse:
    """Import every part of the request's body into the target team; the STOW-RS answer."""
    team = target_team(request)
    boundary = protocol.boundary_of(request.headers.get("Content-Type", ""), DICOM)
    outcomes: list[StoreOutcome] = []
    warning = ""
    parts = protocol.read_multipart(
        body_stream(request), boundary, _spool, max_part_bytes=settings.DICOM_MAX_FILE_BYTES
    )
    try:
        for number, part in enumerate(parts, start=1):
            if number > MAX_STOW_PARTS:
                raise BadRequest(f"more than {MAX_STOW_PARTS} parts in one request")
            with part.body, _spool() as spool:
                part.body = files.with_preamble(part.body, spool)
                outcomes.append(_store_part(team, part, number, study_uid, urls))
    except BadRequest as exc:
        if not any(o.failure_reason is None for o in outcomes):
            raise
        warning = str(exc)  # the body broke off after some instances were stored
    if not outcomes:
        raise BadRequest("the request holds no parts")
    status, body = protocol.store_response(
        outcomes, urls.study(study_uid) if study_uid else _single_study(outcomes)
    )
    if warning and status == 200:
        status = 202
    response = HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)
    if warning:
        response["Warning"] = f'299 {request.get_host()} "{warning}"'
    return response


def _spool() -> tempfile.SpooledTemporaryFile:
    """Parts up to 16 MB stay in memory, bigger ones go to a temporary file."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


def _single_study(outcomes: list[StoreOutcome]) -> str:
    studies = {o.retrieve_url.split("/series/")[0] for o in outcomes if o.retrieve_url}
    return studies.pop() if len(studies) == 1 else ""


def _store_part(team: Team, part, number: int, study_uid: str | None, urls) -> StoreOutcome:
    """One part: inflated first when it is deflated (bounded, to a spooled file), so that
    nothing, the UIDs reported back included, is read from the deflated bytes."""
    essence = protocol.parse_media_type(part.content_type or DICOM)[0]
    if essence != DICOM:
        return StoreOutcome("", "", failure_reason=protocol.CANNOT_UNDERSTAND)
    try:
        with inflated(part.body, read_limits()) as body:
            return _store_dicom(team, part, body, number, study_uid, urls)
    except DicomRejected as exc:
        log.info("STOW part %s rejected: %s %s", number, exc.code, exc.message)
        too_large = part.overflowed or exc.code == "too_large"
        reason = protocol.OUT_OF_RESOURCES if too_large else protocol.CANNOT_UNDERSTAND
        return StoreOutcome("", "", failure_reason=reason)


def _store_dicom(team: Team, part, body, number: int, study_uid: str | None, urls) -> StoreOutcome:
    sop_class, sop_uid, part_study = _peek_uids(body)
    failed = functools.partial(StoreOutcome, sop_class, sop_uid)
    if part.overflowed:
        return failed(failure_reason=protocol.OUT_OF_RESOURCES)
    if study_uid is not None and part_study != study_uid:
        return failed(failure_reason=protocol.DATA_SET_MISMATCH)
    result = ingest_file(team, body, name=f"STOW part {number}")
    if result.status == "rejected":
        log.info("STOW part %s rejected: %s %s", number, result.code, result.reason)
        return failed(failure_reason=_FAILURES.get(result.code, protocol.CANNOT_UNDERSTAND))
    stored = (
        Instance.objects.of_team(team).select_related("study", "series").get(sop_uid=result.sop_uid)
    )
    url = urls.instance(stored.study.study_uid, stored.series.series_uid, stored.sop_uid)
    return StoreOutcome(stored.sop_class_uid, stored.sop_uid, retrieve_url=url)


_PEEKED = (0x00080016, 0x00080018, 0x0020000D)  # SOP Class, SOP Instance, Study UIDs


def _peek_uids(body) -> tuple[str, str, str]:
    """SOP Class, SOP Instance and Study UIDs of an (inflated) part, to report on it even when
    it is rejected; empty strings when the part is not readable DICOM. Values are taken as
    they were written (never converted) and only when short enough to be a UID."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a broken part is reported in the response
            ds = pydicom.dcmread(
                body, stop_before_pixels=True, specific_tags=list(_PEEKED), defer_size=256
            )
            values = [_raw_text(ds.get_item(tag)) for tag in _PEEKED]
    except files.READ_ERRORS:
        values = ["", "", ""]
    body.seek(0)
    sop_class, sop, study = (
        v if len(v) <= 64 and protocol.UID_PATTERN.fullmatch(v) else "" for v in values
    )
    return sop_class, sop, study


def _raw_text(element) -> str:
    value = getattr(element, "value", None)
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip("\0 ")
    return value if isinstance(value, str) else ""
