"""The ``pacs_pull`` job: retrieve chosen studies into the job's team, over the connection's
protocol.

DICOMweb: instance by instance (WADO-RS). Each instance goes through ``services.ingest_file``
like any other import, so de-identification, validation, inflation of deflated files and
duplicate handling apply unchanged. The instance is fetched as the PACS sends it, into a spooled
file, and never parsed here: dicomweb-client's ``retrieve_instance`` parses it with pydicom,
which inflates a deflated one in memory without a limit.

DIMSE (``dimse_scu``): C-GET brings each instance back on our association, as a file that is
imported here exactly like a WADO-RS one; C-MOVE asks the PACS to send the study to the team's
DICOM listener (another process, which imports what arrives), and the job follows the PACS's
progress. Registered from ``LabelingConfig.ready()``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import BinaryIO

from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from jobs.registry import runner
from jobs.worker import JobContext

from . import dimse_scu, services
from .dicomweb import protocol
from .models import DicomListener, Instance, PacsConnection
from .pacs import PACS_ERRORS, UNUSABLE_ANSWER, PacsError, PacsRefused, client_for, failure

log = logging.getLogger("labeling.pacs")
egress = logging.getLogger("cxr.egress")


@runner("pacs_pull", label=_("PACS pull"), permanent=(PacsRefused,))
def pull(context: JobContext) -> dict:
    """Retrieve the chosen studies, instance by instance, into the job's team."""
    job = context.job
    connection = PacsConnection.objects.filter(team=job.team).first()
    if connection is None:
        raise PacsError("this team has no PACS connection any more")
    if connection.is_dimse:
        return _pull_dimse(context, connection)
    client = client_for(connection, retry=True)
    try:
        return _pull(context, connection, client)
    except (*PACS_ERRORS, *UNUSABLE_ANSWER) as exc:
        # The job's error, traceback and log are the team's to read: details go to the operator.
        raise failure(exc) from None


def _pull(context: JobContext, connection: PacsConnection, client: DICOMwebClient) -> dict:
    job = context.job
    wanted = _instances(client, job.config.get("studies", []))
    counts = {"imported": 0, "duplicate": 0, "rejected": 0}
    rejected = []
    for done, (study, series, sop) in enumerate(wanted, start=1):
        result = _pull_instance(client, job.team, f"{connection.name}:{sop}", study, series, sop)
        counts[result.status] += 1
        if result.status == "rejected":
            rejected.append(result.as_dict())
            log.warning("rejected %s: %s", sop, result.reason)
        context.report({"phase": "pull", "step": done, "total_steps": len(wanted), **counts})
    log.info("pulled %d instances: %s", len(wanted), counts)
    return {"metrics": {**counts, "rejected_files": rejected[:100]}}


def _instances(client: DICOMwebClient, studies: list[str]) -> list[tuple[str, str, str]]:
    found = []
    for study in studies:
        for item in client.search_for_instances(study_instance_uid=study):
            series = item["0020000E"]["Value"][0]
            sop = item["00080018"]["Value"][0]
            found.append((study, series, sop))
    return found


# Retrieve as stored: the ingest service reads, inflates (bounded) and decodes what it gets.
RETRIEVE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
SPOOL_BYTES = 16 * 1024 * 1024


def _pull_instance(
    client: DICOMwebClient, team, name: str, study: str, series: str, sop: str
) -> services.IngestResult:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        problem = _retrieve(client, (study, series, sop), spool)
        if problem is not None:
            return services.IngestResult("rejected", name, code=problem[0], reason=problem[1])
        spool.seek(0)
        return services.ingest_file(team, spool, name=name)


def _retrieve(
    client: DICOMwebClient, uids: tuple[str, str, str], out: BinaryIO
) -> tuple[str, str] | None:
    """The instance's bytes into ``out``, at most the file size limit; (code, reason) when the
    answer holds no usable file. Goes through the client's ``_http_get`` (its session, retries
    and error handling): dicomweb-client has no public call that returns an instance unparsed."""
    if not all(len(uid) <= 64 and protocol.UID_PATTERN.fullmatch(uid) for uid in uids):
        return "bad_uid", "the PACS listed the instance with a malformed UID"  # not a URL path
    url = "{}/studies/{}/series/{}/instances/{}".format(client.base_url.rstrip("/"), *uids)
    headers = {"Accept": RETRIEVE_ACCEPT, "Accept-Encoding": "identity"}
    limit = settings.DICOM_MAX_FILE_BYTES
    with client._http_get(url, headers=headers, stream=True) as response:
        content_type = response.headers.get("Content-Type", "")
        try:
            if protocol.parse_media_type(content_type)[0] == protocol.DICOM:
                size = services.copy_capped(response.raw, out, limit)  # one part, sent bare
            else:
                boundary = protocol.boundary_of(content_type, protocol.DICOM)
                parts = protocol.read_multipart(
                    response.raw, boundary, lambda: out, max_part_bytes=limit
                )
                part = next(parts, None)
                if part is None:
                    return "unreadable", "the PACS answered without an instance"
                size = limit + 1 if part.overflowed else part.size
        except (protocol.BadRequest, protocol.Unsupported) as exc:
            # What the PACS said stays in the operator's log, like the other PACS errors.
            egress.warning("unusable instance answer (%r): %s", content_type[:200], exc)
            return "unreadable", "the PACS's answer holds no DICOM instance"
    if size > limit:
        return "too_large", f"file is larger than the limit of {limit} bytes"
    return None


def _pull_dimse(context: JobContext, connection: PacsConnection) -> dict:
    studies = [uid for uid in context.job.config.get("studies", []) if _valid_uid(uid)]
    if connection.retrieve == PacsConnection.Retrieve.GET:
        return _get_studies(context, connection, studies)
    return _move_studies(context, connection, studies)


def _valid_uid(uid: str) -> bool:
    return isinstance(uid, str) and len(uid) <= 64 and bool(protocol.UID_PATTERN.fullmatch(uid))


def _get_studies(context: JobContext, connection: PacsConnection, studies: list[str]) -> dict:
    """C-GET each study; every instance is imported as soon as it arrived, then deleted."""
    team = context.job.team
    counts = {"imported": 0, "duplicate": 0, "rejected": 0, "failed": 0}
    rejected, done = [], 0
    for number, study in enumerate(studies, start=1):
        with tempfile.TemporaryDirectory(prefix="cxr-cget-") as folder:
            failed = 0
            for item in dimse_scu.get_study(connection, study, Path(folder)):
                if isinstance(item, dimse_scu.Progress):
                    failed = item.failed  # counts so far; the last response has the total
                    continue
                result = _import_received(team, f"{connection.name}:{item.sop_uid}", item)
                counts[result.status] += 1
                done += 1
                if result.status == "rejected":
                    rejected.append(result.as_dict())
                    log.warning("rejected %s: %s", item.sop_uid, result.reason)
                context.report(
                    {"phase": "pull", "step": number - 1, "total_steps": len(studies),
                     "instances": done, **counts}
                )  # fmt: skip
            counts["failed"] += failed
        context.report(
            {"phase": "pull", "step": number, "total_steps": len(studies), "instances": done,
             **counts}
        )  # fmt: skip
    log.info("pulled %d studies over C-GET: %s", len(studies), counts)
    return {"metrics": {**counts, "rejected_files": rejected[:100]}}


def _import_received(team, name: str, item: dimse_scu.Received) -> services.IngestResult:
    if item.path is None:
        return services.IngestResult("rejected", name, code=item.code, reason=item.problem)
    try:
        return services.ingest_file(team, item.path, name=name)
    finally:
        item.path.unlink(missing_ok=True)


def _move_studies(context: JobContext, connection: PacsConnection, studies: list[str]) -> dict:
    """C-MOVE each study to the team's listener; the listener imports what the PACS sends."""
    destination = _listener_title(context.job.team)
    totals = {"moved": 0, "failed": 0, "warning": 0}
    for number, study in enumerate(studies, start=1):
        last = None
        for progress in dimse_scu.move_study(connection, study, destination):
            last = progress
            context.report(
                {"phase": "move", "step": number - int(not progress.final),
                 "total_steps": len(studies), "moved": totals["moved"] + progress.completed,
                 "remaining": progress.remaining}
            )  # fmt: skip
        if last is not None:
            totals["moved"] += last.completed
            totals["failed"] += last.failed
            totals["warning"] += last.warning
    stored = Instance.objects.of_team(context.job.team).filter(study__study_uid__in=studies)
    metrics = {**totals, "instances_here": stored.count()}
    context.report({"phase": "move", "step": len(studies), "total_steps": len(studies), **metrics})
    log.info("moved %d studies to %s: %s", len(studies), destination, metrics)
    return {"metrics": metrics}


def _listener_title(team) -> str:
    """The AE title of the team's DICOM listener: the C-MOVE destination."""
    listener = DicomListener.objects.filter(team=team, enabled=True).first()
    if listener is None:
        raise PacsRefused(
            str(
                _(
                    "This team has no enabled DICOM listener to receive a C-MOVE: set it up on "
                    "the listener page, or choose C-GET."
                )
            )
        )
    return listener.ae_title
