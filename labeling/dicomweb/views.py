"""DICOMweb (PS3.18) and WADO-URI views, scoped to the caller's teams.

Each view authenticates (session or ``Authorization: Token <key>``), finds the objects through
:func:`teams.access.visible` (another team's UID is a 404, exactly like an unknown one), negotiates
the representation with the Accept header, and streams. Formats are in
:mod:`labeling.dicomweb.protocol`, file access in :mod:`labeling.dicomweb.files`, searches in
:mod:`labeling.dicomweb.search`; imports go through :func:`labeling.services.ingest_file`.

Conformance choices, where PS3.18 leaves room:

* no ``transfer-syntax`` parameter means the default (Explicit VR Little Endian: compressed or
  implicit files are transcoded through a spool file); ``transfer-syntax=*`` or ``*/*`` sends
  the file or frame as stored, with its syntax on the Content-Type;
* a search without matches is 200 with ``[]`` (CP-2473); attributes we cannot match on, and
  ``fuzzymatching=true``, are ignored with a ``Warning: 299`` header; more than
  ``search.MAX_RESULTS`` rows are cut with a Warning too;
* metadata and QIDO results are DICOM JSON unless the client asks for
  ``multipart/related; type="application/dicom+xml"`` (one PS3.19 Native DICOM Model document per
  instance or match, :mod:`labeling.dicomweb.xml`); a bare ``application/dicom+xml`` is 406;
* a rendered study or series is ``multipart/related; type="image/jpeg"`` (or png), one part per
  instance (its first frame) with a Content-Location, undecodable instances left out with a
  Warning; a resource of one instance also answers a bare ``image/jpeg`` / ``image/png``.
  Thumbnails are the first decodable instance fitted in ``viewport`` (default 256×256);
* STOW-RS (:mod:`labeling.dicomweb.stow`) answers 200 (all stored, duplicates included), 202
  (some failed), 409 (none stored); FailureReason 0xA700 for a part over the size limit (or a
  deflated one inflating past its cap), 0xA900 for a study mismatch, 0xC000 for anything
  unreadable. Instances go to the active team, or ``?team=<slug>`` for a token client in
  several teams; parts without the Part 10 preamble (dicomweb-client sends them) are taken. A
  deflated part is inflated (bounded, to a spooled file) before anything reads it, its UIDs
  included. The body of a refused request is drained, so that the client's kept-alive
  connection stays usable (see ``_drain``);
* metadata tolerates values pydicom cannot convert (see ``files.json_dataset``): a DS or IS
  that is not a number is sent as the string it is, which PS3.18 allows since CP-1861.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from teams.access import visible
from teams.middleware import active_team
from teams.models import Team
from teams.tokens import ApiTokenAuthentication

from ..dicom import DicomRejected
from ..models import Instance, PacsConnection, Series, Study
from . import files, protocol, proxy, search, stow, xml
from .protocol import (
    DICOM,
    DICOM_JSON,
    EXPLICIT_VR_LE,
    FRAME_MEDIA_TYPES,
    OCTET_STREAM,
    BadRequest,
    NotAcceptable,
    Offer,
    OutPart,
    Unsupported,
)

log = logging.getLogger(__name__)

# DICOM JSON by default; the Native DICOM Model (PS3.19) as one XML document per part.
JSON_OFFERS = (Offer(DICOM_JSON), Offer("application/json"))
XML_OFFER = Offer(xml.DICOM_XML, multipart=True)
DATASET_OFFERS = (*JSON_OFFERS, XML_OFFER)
RENDERED_OFFERS = (Offer("image/jpeg"), Offer("image/png"))
RENDERED_PARTS = (Offer("image/jpeg", multipart=True), Offer("image/png", multipart=True))
THUMBNAIL_SIDE = 256
TRANSCODE_SPOOL_BYTES = 16 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Authentication, errors, lookups
# --------------------------------------------------------------------------------------------


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):  # return the reason instead of a response
        return reason


def _csrf_problem(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def _authenticate(request: HttpRequest) -> bool:
    """Session or token; sets ``request.user`` and ``request.team``. True if by token."""
    if request.user.is_authenticated:
        return False
    found = ApiTokenAuthentication().authenticate(request)
    if found is None:
        raise AuthenticationFailed("authentication required: log in or send 'Token <key>'")
    request.user = found[0]
    request.team = active_team(request)
    return True


def _proxy_connection(request: HttpRequest) -> PacsConnection | None:
    """The PACS to forward to, when the team asked for (``?team=``, else the active one) keeps
    its images there. A team the caller is not in never gets this far: it is not visible."""
    slug = request.GET.get("team")
    team = visible(Team, request.user).filter(slug=slug).first() if slug else request.team
    if team is None:
        return None
    return PacsConnection.objects.filter(team=team, proxy=True).first()


def _subpath(request: HttpRequest) -> str:
    prefix = reverse("dicomweb:studies").rsplit("studies", 1)[0]
    return request.path[len(prefix) :]


def _text(status: int, message: str, **headers: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def dicomweb_view(*methods: str) -> Callable:
    """Method check, authentication, CSRF for session POSTs only, and errors as statuses; the
    unread rest of a POST body is drained (see :func:`_drain`)."""

    def decorate(view: Callable) -> Callable:
        answer = _answering(view, methods)

        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            response = answer(request, *args, **kwargs)
            if request.method == "POST":
                _drain(request)
            return response

        return wrapper

    return decorate


# A refused request's body is read and dropped up to this size, so the connection stays usable.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
_DRAIN_CHUNK = 256 * 1024


def _drain(request: HttpRequest) -> None:
    """Read and drop what is left of the request body, up to :data:`DRAIN_MAX_BYTES`.

    An early refusal (415, 400, 401, ...) does not read the body, and gunicorn drains at most
    64 KiB of an unread body before it reuses a kept-alive connection: past that it closes the
    connection after answering ``Connection: keep-alive``, and the client's next request on it
    fails. A WSGI application cannot answer ``Connection: close`` itself (a hop-by-hop header:
    gunicorn drops it, wsgiref refuses it), so the body is drained here. A body declared larger
    than the bound is left alone: reading it would only delay the same close.
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > DRAIN_MAX_BYTES:
        return
    stream = stow.body_stream(request)
    left = DRAIN_MAX_BYTES
    try:
        while left > 0 and (chunk := stream.read(min(_DRAIN_CHUNK, left))):
            left -= len(chunk)
    except OSError:  # the client went away, or the body was consumed another way
        return


def _answering(view: Callable, methods: tuple[str, ...]) -> Callable:
    def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in methods:
            return _text(405, f"{request.method} not allowed", Allow=", ".join(methods))
        try:
            by_token = _authenticate(request)
        except AuthenticationFailed as exc:
            return _text(
                exc.status_code, str(exc.detail), WWW_Authenticate='Token realm="dicomweb"'
            )
        if request.method == "POST" and not by_token and (problem := _csrf_problem(request)):
            return _text(403, f"CSRF check failed: {problem}")
        if request.method == "GET" and (connection := _proxy_connection(request)):
            return proxy.forward(request, connection, _subpath(request))
        try:
            return view(request, *args, **kwargs)
        except Unsupported as exc:
            return _text(415, str(exc))
        except BadRequest as exc:
            return _text(400, str(exc))
        except NotAcceptable as exc:
            return _text(406, str(exc))
        except Http404:
            return _text(404, "not found")
        except PermissionDenied as exc:
            return _text(403, str(exc) or "forbidden")
        except files.StoredFileError:
            log.exception("stored DICOM file unreadable")
            return _text(500, "a stored file could not be read; the administrator is told")

    return answer


def _prefer_active_team(request: HttpRequest, queryset: QuerySet) -> QuerySet:
    """A user in two teams holding the same UID gets the active team's copy, and only one."""
    active = getattr(request, "team", None)
    ranked = queryset.annotate(
        _mine=Case(When(team=active, then=Value(0)), default=Value(1), output_field=IntegerField())
    )
    team_id = ranked.order_by("_mine", "team_id").values_list("team_id", flat=True).first()
    if team_id is None:
        raise Http404
    return queryset.filter(team_id=team_id)


def _instances(request, study: str, series: str | None = None, sop: str | None = None):
    queryset = visible(Instance, request.user).filter(study__study_uid=study)
    if series is not None:
        queryset = queryset.filter(series__series_uid=series)
    if sop is not None:
        queryset = queryset.filter(sop_uid=sop)
    queryset = _prefer_active_team(request, queryset).select_related("study", "series")
    return list(queryset.order_by("series__series_number", "series_id", "instance_number", "id"))


def _instance(request, study: str, series: str, sop: str) -> Instance:
    return _instances(request, study, series, sop)[0]


def _path(instance: Instance) -> str:
    root = Path(settings.DICOM_STORE_DIR)
    path = root / instance.file_path
    if not files.is_safe_part(str(path), str(root)):
        raise files.StoredFileError(f"instance {instance.pk} path leaves the store")
    return str(path)


def _urls(request: HttpRequest) -> search.Urls:
    studies_url = request.build_absolute_uri(reverse("dicomweb:studies"))
    return search.Urls(studies_url.removesuffix("/studies"))


def _accept(request: HttpRequest) -> list[protocol.MediaRange]:
    return protocol.parse_accept(request.headers.get("Accept"))


# --------------------------------------------------------------------------------------------
# QIDO-RS
# --------------------------------------------------------------------------------------------


def _query_pairs(request: HttpRequest) -> list[tuple[str, str]]:
    return [(key, value) for key, values in request.GET.lists() for value in values]


def _search(request, level, *, study=None, series=None, parents=()) -> HttpResponse:
    offer = protocol.negotiate(_accept(request), DATASET_OFFERS)
    query = protocol.parse_search(_query_pairs(request), search.matchable_keys(level))
    if study is not None:
        scope = visible(Study, request.user).filter(study_uid=study)
        if series is not None:
            scope = visible(Series, request.user).filter(study__study_uid=study, series_uid=series)
        if not scope.exists():
            raise Http404
    result = search.search(
        request.user,
        level,
        query,
        _urls(request),
        study_uid=study,
        series_uid=series,
        with_parents=parents,
    )
    # An empty match is 200 with [] (CP-2473 retires the 204 of earlier editions); in XML, a
    # multipart body without parts.
    if offer is XML_OFFER:
        response = _xml_parts(iter(result.rows))
    else:
        response = HttpResponse(json.dumps(result.rows), content_type=offer.content_type())
    warnings = query.warnings()
    if result.more:
        warnings.append("There are additional results that can be requested")
    if warnings:
        host = request.get_host()
        response["Warning"] = ", ".join(f'299 {host} "{text}"' for text in warnings)
    return response


@dicomweb_view("GET", "POST")
def studies(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return stow.store(request, None, _urls(request))
    return _search(request, "study")


@dicomweb_view("GET")
def all_series(request: HttpRequest) -> HttpResponse:
    return _search(request, "series", parents=("study",))


@dicomweb_view("GET")
def all_instances(request: HttpRequest) -> HttpResponse:
    return _search(request, "instance", parents=("study", "series"))


@dicomweb_view("GET")
def study_series(request: HttpRequest, study: str) -> HttpResponse:
    return _search(request, "series", study=study)


@dicomweb_view("GET")
def study_instances(request: HttpRequest, study: str) -> HttpResponse:
    return _search(request, "instance", study=study, parents=("series",))


@dicomweb_view("GET")
def series_instances(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _search(request, "instance", study=study, series=series)


# --------------------------------------------------------------------------------------------
# WADO-RS: instances, metadata
# --------------------------------------------------------------------------------------------


def _dicom_offers(stored: str, *, single_part: bool) -> list[Offer]:
    """Stored syntax first (sent as is), Explicit VR Little Endian (transcoded) second."""
    syntaxes = [stored] if stored == EXPLICIT_VR_LE else [stored, EXPLICIT_VR_LE]
    offers = [Offer(DICOM, s, multipart=True) for s in syntaxes]
    if single_part:
        offers += [Offer(DICOM, s) for s in syntaxes]
    return offers


def _instance_chunks(instance: Instance, syntax: str) -> Iterator[bytes]:
    """The stored file as it is, or transcoded through a spool file when the client asked for
    Explicit VR Little Endian and the file is stored otherwise."""
    path = _path(instance)
    if syntax == instance.transfer_syntax:
        yield from protocol.file_chunks(path)
        return
    with tempfile.SpooledTemporaryFile(max_size=TRANSCODE_SPOOL_BYTES) as spool:
        files.transcode_to_explicit(path, spool)
        spool.seek(0)
        while chunk := spool.read(256 * 1024):
            yield chunk


def _check_transcodable(instance: Instance, syntax: str) -> None:
    if syntax != instance.transfer_syntax and instance.decode_error:
        raise NotAcceptable(
            f"instance {instance.sop_uid} is stored as {instance.transfer_syntax} and cannot be "
            "decoded; accept transfer-syntax=* to receive it as stored"
        )


def _retrieve(request: HttpRequest, instances: list[Instance], single: bool) -> HttpResponse:
    ranges = _accept(request)
    chosen = []
    for instance in instances:
        stored = instance.transfer_syntax or EXPLICIT_VR_LE
        offer = protocol.negotiate(ranges, _dicom_offers(stored, single_part=single))
        _check_transcodable(instance, offer.transfer_syntax)
        chosen.append((instance, offer))
    if not chosen[0][1].multipart:
        instance, offer = chosen[0]
        response = StreamingHttpResponse(
            _instance_chunks(instance, offer.transfer_syntax), content_type=offer.content_type()
        )
        if offer.transfer_syntax == instance.transfer_syntax:
            response["Content-Length"] = str(instance.file_size)
        return response
    boundary = protocol.new_boundary()
    parts = (
        OutPart(offer.part_content_type, _instance_chunks(instance, offer.transfer_syntax))
        for instance, offer in chosen
    )
    syntaxes = {offer.transfer_syntax for _, offer in chosen}
    head = Offer(DICOM, syntaxes.pop() if len(syntaxes) == 1 else None, multipart=True)
    return StreamingHttpResponse(
        protocol.multipart_body(parts, boundary), content_type=head.content_type(boundary)
    )


@dicomweb_view("GET", "POST")
def study(request: HttpRequest, study: str) -> HttpResponse:
    if request.method == "POST":
        return stow.store(request, study, _urls(request))
    return _retrieve(request, _instances(request, study), single=False)


@dicomweb_view("GET")
def series(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _retrieve(request, _instances(request, study, series), single=False)


@dicomweb_view("GET")
def instance(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponse:
    return _retrieve(request, [_instance(request, study, series, sop)], single=True)


def _metadata(request: HttpRequest, instances: list[Instance]) -> HttpResponse:
    """Streamed, so a study of many instances is never held whole. Values that do not convert
    are tolerated (:func:`files.json_dataset`). The first instance is read before the status
    line goes out, so a stored file that cannot be read is a proper error; one that fails
    later is left out and logged, never a stream cut off after its 200."""
    offer = protocol.negotiate(_accept(request), DATASET_OFFERS)
    urls = _urls(request)

    def body(item: Instance) -> dict:
        ds = files.read_header(_path(item))
        frames = ",".join(str(n) for n in range(1, item.number_of_frames + 1))
        uri = urls.instance(item.study.study_uid, item.series.series_uid, item.sop_uid)
        return files.metadata(ds, f"{uri}/frames/{frames}")

    first = body(instances[0])

    def bodies() -> Iterator[dict]:
        yield first
        for item in instances[1:]:
            try:
                yield body(item)
            except (files.StoredFileError, *files.READ_ERRORS):
                log.exception("instance %s left out of a metadata response", item.pk)

    if offer is XML_OFFER:
        return _xml_parts(bodies())

    def items() -> Iterator[str]:
        yield "["
        for position, body in enumerate(bodies()):
            yield ("," if position else "") + json.dumps(body)
        yield "]"

    return StreamingHttpResponse(items(), content_type=offer.content_type())


def _xml_parts(datasets: Iterator[dict]) -> StreamingHttpResponse:
    """``multipart/related; type="application/dicom+xml"``: one Native DICOM Model document
    per dataset (PS3.18 §8.7.3.3.2), written as the response reaches it."""
    boundary = protocol.new_boundary()
    parts = (OutPart(xml.DICOM_XML, _lazy(functools.partial(xml.xml_dataset, d))) for d in datasets)
    return StreamingHttpResponse(
        protocol.multipart_body(parts, boundary), content_type=XML_OFFER.content_type(boundary)
    )


@dicomweb_view("GET")
def study_metadata(request: HttpRequest, study: str) -> HttpResponse:
    return _metadata(request, _instances(request, study))


@dicomweb_view("GET")
def series_metadata(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _metadata(request, _instances(request, study, series))


@dicomweb_view("GET")
def instance_metadata(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponse:
    return _metadata(request, [_instance(request, study, series, sop)])


# --------------------------------------------------------------------------------------------
# WADO-RS: frames and rendered
# --------------------------------------------------------------------------------------------


def _frame_offers(stored: str, encapsulated: bool, count: int) -> list[Offer]:
    """Native frames are byte ranges of the file; compressed ones are sent as stored (with
    their syntax) when the client takes it, else decoded to native."""
    offers = []
    if encapsulated:
        offers.append(Offer(OCTET_STREAM, stored, multipart=True))
        if stored in FRAME_MEDIA_TYPES:
            offers.append(Offer(FRAME_MEDIA_TYPES[stored], stored, multipart=True))
    offers.append(Offer(OCTET_STREAM, EXPLICIT_VR_LE, multipart=True))
    if not encapsulated and stored != EXPLICIT_VR_LE:
        offers.append(Offer(OCTET_STREAM, stored, multipart=True))
    if count == 1:
        offers += [Offer(o.media_type, o.transfer_syntax) for o in list(offers)]
    return offers


@dicomweb_view("GET")
def frames(request: HttpRequest, study: str, series: str, sop: str, frames: str) -> HttpResponse:
    numbers = files.parse_frame_list(frames)
    item = _instance(request, study, series, sop)
    path = _path(item)
    header = files.read_header(path)
    pixels = files.stored_pixels(header)
    files.check_frames(numbers, pixels.frames)
    offer = protocol.negotiate(
        _accept(request), _frame_offers(pixels.transfer_syntax, pixels.encapsulated, len(numbers))
    )
    decode = pixels.encapsulated and offer.transfer_syntax == EXPLICIT_VR_LE
    if decode and item.decode_error:
        raise NotAcceptable(
            f"frames are stored as {pixels.transfer_syntax} and cannot be decoded here; "
            "accept transfer-syntax=* to receive them as stored"
        )
    bodies = [_frame_body(path, pixels, n, decode) for n in numbers]
    if not offer.multipart:
        return StreamingHttpResponse(bodies[0], content_type=offer.content_type())
    boundary = protocol.new_boundary()
    parts = (OutPart(offer.part_content_type, body) for body in bodies)
    return StreamingHttpResponse(
        protocol.multipart_body(parts, boundary), content_type=offer.content_type(boundary)
    )


def _frame_body(path: str, pixels: files.StoredPixels, number: int, decode: bool):
    if not pixels.encapsulated:
        return files.native_frame_chunks(path, pixels, number)
    return _lazy(lambda: _compressed_frame(path, pixels, number, decode))


def _compressed_frame(path: str, pixels: files.StoredPixels, number: int, decode: bool) -> bytes:
    if not decode:
        return files.encapsulated_frame(path, pixels, number)
    return files.decoded_frame(files.read_full(path), number)


def _lazy(produce: Callable[[], bytes]) -> Iterator[bytes]:
    """Produce a part's bytes only when the response reaches it."""
    yield produce()


def _render(item: Instance, number: int, options: files.RenderOptions, media_type: str) -> bytes:
    if item.decode_error:
        raise NotAcceptable(f"the image cannot be decoded: {item.decode_error}")
    try:
        return files.render_file(_path(item), number, options, media_type)
    except DicomRejected as exc:
        raise NotAcceptable(f"the image cannot be rendered: {exc.message}") from exc


def _rendered(request: HttpRequest, item: Instance, number: int) -> HttpResponse:
    offer = protocol.negotiate(_accept(request), RENDERED_OFFERS)
    options = files.render_options(request.GET)
    body = _render(item, number, options, offer.media_type)
    return HttpResponse(body, content_type=offer.media_type)


@dicomweb_view("GET")
def instance_rendered(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponse:
    return _rendered(request, _instance(request, study, series, sop), 1)


@dicomweb_view("GET")
def frame_rendered(
    request: HttpRequest, study: str, series: str, sop: str, frames: str
) -> HttpResponse:
    return _rendered(request, _instance(request, study, series, sop), _one_frame(frames))


def _one_frame(frames: str) -> int:
    numbers = files.parse_frame_list(frames)
    if len(numbers) != 1:
        raise BadRequest("a rendered frame or thumbnail takes exactly one frame number")
    return numbers[0]


def _rendered_many(request: HttpRequest, instances: list[Instance]) -> HttpResponse:
    """A study or series rendered: one image per instance (its first frame), as the parts of
    ``multipart/related; type="image/jpeg"`` (or png); a resource of one instance may also be
    answered with the bare image when that is what the client asks for. Instances that cannot
    be decoded are left out and named in a Warning; none left is 406."""
    single = RENDERED_OFFERS if len(instances) == 1 else ()
    offer = protocol.negotiate(_accept(request), (*RENDERED_PARTS, *single))
    options = files.render_options(request.GET)
    usable = [item for item in instances if not item.decode_error]
    if not usable:
        raise NotAcceptable("none of the instances can be decoded")
    if not offer.multipart:
        body = _render(usable[0], 1, options, offer.media_type)
        return HttpResponse(body, content_type=offer.media_type)
    urls = _urls(request)
    boundary = protocol.new_boundary()
    parts = (
        OutPart(
            offer.media_type,
            _lazy(functools.partial(_render, item, 1, options, offer.media_type)),
            location=urls.instance(item.study.study_uid, item.series.series_uid, item.sop_uid)
            + "/rendered",
        )
        for item in usable
    )
    response = StreamingHttpResponse(
        protocol.multipart_body(parts, boundary), content_type=offer.content_type(boundary)
    )
    if skipped := len(instances) - len(usable):
        response["Warning"] = f'299 {request.get_host()} "{skipped} instance(s) cannot be decoded"'
    return response


@dicomweb_view("GET")
def study_rendered(request: HttpRequest, study: str) -> HttpResponse:
    return _rendered_many(request, _instances(request, study))


@dicomweb_view("GET")
def series_rendered(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _rendered_many(request, _instances(request, study, series))


def _thumbnail(request: HttpRequest, instances: list[Instance], number: int = 1) -> HttpResponse:
    """One small image standing for the resource (PS3.18 §10.4.1.1.4): its first decodable
    instance, fitted in ``viewport`` (default 256×256), never enlarged."""
    offer = protocol.negotiate(_accept(request), RENDERED_OFFERS)
    item = next((i for i in instances if not i.decode_error), instances[0])
    if text := request.GET.get("viewport"):
        viewport = files.parse_viewport(text)
    else:
        side = min(THUMBNAIL_SIDE, max(item.rows or 1, item.columns or 1))
        viewport = files.Viewport(side, side)
    options = files.RenderOptions(viewport=viewport)
    body = _render(item, number, options, offer.media_type)
    return HttpResponse(body, content_type=offer.media_type)


@dicomweb_view("GET")
def study_thumbnail(request: HttpRequest, study: str) -> HttpResponse:
    return _thumbnail(request, _instances(request, study))


@dicomweb_view("GET")
def series_thumbnail(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _thumbnail(request, _instances(request, study, series))


@dicomweb_view("GET")
def instance_thumbnail(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponse:
    return _thumbnail(request, [_instance(request, study, series, sop)])


@dicomweb_view("GET")
def frame_thumbnail(
    request: HttpRequest, study: str, series: str, sop: str, frames: str
) -> HttpResponse:
    return _thumbnail(request, [_instance(request, study, series, sop)], _one_frame(frames))


# --------------------------------------------------------------------------------------------
# WADO-URI (PS3.18 §9)
# --------------------------------------------------------------------------------------------

URI_CONTENT_TYPES = (DICOM, "image/jpeg", "image/png")


@dicomweb_view("GET")
def wado_uri(request: HttpRequest) -> HttpResponse:
    params = request.GET
    if params.get("requestType") != "WADO":
        raise BadRequest("requestType must be WADO")
    uids = [params.get(name, "") for name in ("studyUID", "seriesUID", "objectUID")]
    for name, value in zip(("studyUID", "seriesUID", "objectUID"), uids, strict=True):
        if not value or len(value) > 64 or not protocol.UID_PATTERN.fullmatch(value):
            raise BadRequest(f"{name} is missing or not a UID")
    media_type = _uri_content_type(params.get("contentType", ""))
    item = _instance(request, *uids)
    if media_type == DICOM:
        syntax = params.get("transferSyntax") or EXPLICIT_VR_LE
        if syntax not in (item.transfer_syntax, EXPLICIT_VR_LE):
            raise NotAcceptable(f"transferSyntax {syntax[:64]} is not available for this object")
        _check_transcodable(item, syntax)
        response = StreamingHttpResponse(
            _instance_chunks(item, syntax), content_type=Offer(DICOM, syntax).content_type()
        )
        if syntax == item.transfer_syntax:
            response["Content-Length"] = str(item.file_size)
        return response
    return _uri_rendered(request, item, media_type)


def _uri_content_type(value: str) -> str:
    """The first supported type of the contentType list (default image/jpeg)."""
    if not value.strip():
        return "image/jpeg"
    requested = [protocol.parse_media_type(v)[0] for v in value.split(",") if v.strip()]
    for media_type in requested:
        if media_type in URI_CONTENT_TYPES:
            return media_type
    raise NotAcceptable(f"contentType {value[:80]!r}: available are {', '.join(URI_CONTENT_TYPES)}")


def _uri_rendered(request: HttpRequest, item: Instance, media_type: str) -> HttpResponse:
    params = request.GET
    number = _positive(params, "frameNumber", 1)
    center, width = params.get("windowCenter"), params.get("windowWidth")
    if (center is None) != (width is None):
        raise BadRequest("windowCenter and windowWidth go together")
    window = files.parse_window(f"{center},{width}") if center is not None else None
    rows, columns = _positive(params, "rows", 0), _positive(params, "columns", 0)
    viewport = None
    if rows or columns:
        viewport = files.Viewport(columns or files.MAX_VIEWPORT, rows or files.MAX_VIEWPORT)
    quality = files.parse_quality(params["imageQuality"]) if params.get("imageQuality") else 90
    options = files.RenderOptions(window=window, viewport=viewport, quality=quality)
    return HttpResponse(_render(item, number, options, media_type), content_type=media_type)


def _positive(params, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= files.MAX_VIEWPORT:
        raise BadRequest(f"{name}={value[:20]!r} must be an integer 1..{files.MAX_VIEWPORT}")
    return int(value)
