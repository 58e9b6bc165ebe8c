"""Talking to a hospital PACS over classic DICOM networking (DIMSE), as a service class user.

pynetdicom does the protocol. This module opens one association per operation, with the
connection's calling and called AE titles, to the address that the destination policy accepted
(``pacs.check_peer``: the host name is resolved once, checked, and never resolved again):

- :func:`echo`: C-ECHO, the "test connection" button;
- :func:`search`: C-FIND at STUDY level in the Study Root model, at most ``pacs.SEARCH_LIMIT``
  answers;
- :func:`move_study`: C-MOVE of one study to an AE title (our listener), yielding the PACS's
  progress; the instances arrive at the listener, which imports them;
- :func:`get_study`: C-GET of one study; the PACS sends the instances back on the same
  association (C-STORE sub-operations, for which we negotiate the SCP role). Each arrives as it
  was encoded, is written to a file in a folder the caller owns, and is handed over through a
  queue: the handler runs in pynetdicom's thread and never touches the database; the caller
  imports the files through the same service as uploads.

What users see of a failure is a class of problem (:class:`pacs.PacsError`, in words); status
codes, rejection details and addresses go to the operator's log (``cxr.egress``).
"""

from __future__ import annotations

import itertools
import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from . import netpolicy
from .dicom.rules import ACCEPTED_SYNTAXES, NATIVE_SYNTAXES
from .models import PacsConnection
from .pacs import SEARCH_LIMIT, PacsError, PacsRefused, RemoteStudy, check_peer, refusal_message

egress_log = logging.getLogger("cxr.egress")
DEFAULT_CALLING_AET = "CXRLAB"
# Seconds: to connect and negotiate, for each DIMSE message, and idle on the network.
ACSE_TIMEOUT = 10
DIMSE_TIMEOUT = 60
NETWORK_TIMEOUT = 60
# Associate-reject reasons (PS3.8 9.3.4) that a user can act on.
CALLING_AET_UNKNOWN = 0x03
CALLED_AET_UNKNOWN = 0x07
# C-STORE statuses we answer with (PS3.4 B.2.3).
STORED = 0x0000
OUT_OF_RESOURCES = 0xA700
PENDING = frozenset({0xFF00, 0xFF01})
# Preferred first: native syntaxes need no decoder, so the PACS need not transcode.
RECEIVE_SYNTAXES = sorted(NATIVE_SYNTAXES, reverse=True) + sorted(
    ACCEPTED_SYNTAXES - NATIVE_SYNTAXES
)


@dataclass(frozen=True)
class Progress:
    """A C-MOVE or C-GET response: the PACS's sub-operation counts so far."""

    remaining: int
    completed: int
    failed: int
    warning: int
    final: bool


@dataclass(frozen=True)
class Received:
    """One instance that arrived over C-GET: its file (ours to delete), or why it was refused."""

    sop_uid: str
    path: Path | None
    code: str = ""  # a rejection code of ``labeling.dicom.rules``, when ``path`` is None
    problem: str = ""


@contextmanager
def associate(connection: PacsConnection, contexts: list, **kwargs) -> Iterator[Association]:
    """An established association with the connection's PACS, released (or aborted) at the end.

    Raises :class:`PacsRefused` when the policy refuses the host, :class:`PacsError` when the
    PACS cannot be reached or refuses the association.
    """
    try:
        destination = check_peer(connection.host, connection.port or 0)
    except netpolicy.DestinationRefused as refusal:
        egress_log.warning("DIMSE peer of team %s refused: %s", connection.team_id, refusal)
        raise PacsRefused(
            _("The PACS address is not allowed: %(reason)s")
            % {"reason": refusal_message(refusal.reason)}
        ) from None
    ae = AE(ae_title=connection.calling_aet or DEFAULT_CALLING_AET)
    ae.connection_timeout = ae.acse_timeout = ACSE_TIMEOUT
    ae.dimse_timeout, ae.network_timeout = DIMSE_TIMEOUT, NETWORK_TIMEOUT
    try:
        assoc = ae.associate(
            destination.address,
            destination.port,
            contexts=contexts,
            ae_title=connection.called_aet,
            **kwargs,
        )
        if not assoc.is_established:
            raise _not_established(connection, assoc)
        try:
            yield assoc
        except BaseException:
            assoc.abort()  # mid-operation: a release would wait for a PACS that may be gone
            raise
        if assoc.is_established:
            assoc.release()
    finally:
        ae.shutdown()


def _not_established(connection: PacsConnection, assoc: Association) -> PacsError:
    acceptor = f"{connection.called_aet}@{connection.host}:{connection.port}"
    if not assoc.is_rejected:
        egress_log.warning("DIMSE: %s could not be reached (aborted or no answer)", acceptor)
        return PacsError(_("The PACS could not be reached."))
    rejection = assoc.acceptor.primitive
    reason = getattr(rejection, "reason_diagnostic", None)
    egress_log.warning(
        "DIMSE: %s rejected the association: result %s, source %s, reason %s",
        acceptor,
        getattr(rejection, "result", None),
        getattr(rejection, "result_source", None),
        reason,
    )
    if reason == CALLING_AET_UNKNOWN:
        return PacsError(
            _("The PACS refused the association: it does not know our calling AE title.")
        )
    if reason == CALLED_AET_UNKNOWN:
        return PacsError(_("The PACS refused the association: its AE title is not the called one."))
    return PacsError(_("The PACS refused the association."))


def echo(connection: PacsConnection) -> None:
    """C-ECHO: returns when the PACS answered with success, raises :class:`PacsError` if not."""
    with associate(connection, [build_context(Verification)]) as assoc:
        status = assoc.send_c_echo()
    if getattr(status, "Status", None) is None:
        raise PacsError(_broken_off(connection))
    if status.Status != STORED:
        _log_status(connection, "C-ECHO", status)
        raise PacsError(_("The PACS answered the echo with a failure."))


def search(
    connection: PacsConnection,
    *,
    patient: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    modality: str = "",
    accession: str = "",
) -> list[RemoteStudy]:
    """C-FIND at STUDY level, with the same filters as the DICOMweb search."""
    query = _study_query(patient, date_from, date_to, modality, accession)
    model = StudyRootQueryRetrieveInformationModelFind
    found: list[RemoteStudy] = []
    with associate(connection, [build_context(model)]) as assoc:
        _require_context(assoc, model, _("The PACS does not offer study search (C-FIND)."))
        for status, identifier in assoc.send_c_find(query, model):
            code = getattr(status, "Status", None)
            if code in PENDING and identifier is not None:
                found.append(_remote_study(identifier))
                if len(found) >= SEARCH_LIMIT:
                    assoc.abort()  # bounded: stop the PACS sending more answers
                    break
            elif code is None:  # no answer in time, or the PACS broke off the association
                egress_log.warning("DIMSE C-FIND to team %s's PACS: no answer", connection.team_id)
                raise PacsError(_broken_off(connection))
            elif code != STORED:
                _log_status(connection, "C-FIND", status)
                raise PacsError(_("The PACS could not answer the search (C-FIND)."))
    return found


def _broken_off(connection: PacsConnection) -> str:
    """Orthanc, for one, breaks off the association when it does not know the calling AE."""
    return _(
        "The PACS broke off the association without an answer: does it know our calling AE "
        "title (%(aet)s) and address?"
    ) % {"aet": connection.calling_aet or DEFAULT_CALLING_AET}


def _study_query(
    patient: str, date_from: date | None, date_to: date | None, modality: str, accession: str
) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.PatientID = patient
    query.PatientName = ""
    query.AccessionNumber = accession
    query.ModalitiesInStudy = modality
    query.StudyDescription = ""
    query.NumberOfStudyRelatedInstances = ""
    query.StudyDate = ""
    if date_from or date_to:
        start = date_from.strftime("%Y%m%d") if date_from else ""
        end = date_to.strftime("%Y%m%d") if date_to else ""
        query.StudyDate = f"{start}-{end}"
    return query


def _remote_study(identifier: Dataset) -> RemoteStudy:
    def text(keyword: str) -> str:
        value = identifier.get(keyword, "")
        if value is None:
            return ""
        if not isinstance(value, str) and hasattr(value, "__iter__"):
            return "\\".join(str(item) for item in value)
        return str(value)

    count = text("NumberOfStudyRelatedInstances").strip()
    return RemoteStudy(
        study_uid=text("StudyInstanceUID"),
        patient_id=text("PatientID"),
        patient_name=text("PatientName"),
        study_date=text("StudyDate"),
        accession_number=text("AccessionNumber"),
        modalities=text("ModalitiesInStudy"),
        description=text("StudyDescription"),
        instances=int(count) if count.isdigit() else None,
    )


def move_study(connection: PacsConnection, study_uid: str, destination: str) -> Iterator[Progress]:
    """C-MOVE one study to the AE title ``destination``, which the PACS must know (its host
    and port are configured on the PACS, never sent by us). Yields the PACS's progress."""
    model = StudyRootQueryRetrieveInformationModelMove
    with associate(connection, [build_context(model)]) as assoc:
        _require_context(assoc, model, _("The PACS does not offer retrieval by C-MOVE."))
        responses = assoc.send_c_move(_retrieve_query(study_uid), destination, model)
        yield from _progress(connection, "C-MOVE", responses, destination)


def get_study(connection: PacsConnection, study_uid: str, folder: Path) -> Iterator[object]:
    """C-GET one study. Yields each :class:`Received` instance as soon as it was written to
    ``folder`` (the caller imports and deletes it) and the PACS's :class:`Progress`."""
    model = StudyRootQueryRetrieveInformationModelGet
    arrived: queue.SimpleQueue[Received] = queue.SimpleQueue()
    handlers = [(evt.EVT_C_STORE, _store_handler, [folder, arrived, itertools.count()])]
    storage = [
        build_context(c.abstract_syntax, RECEIVE_SYNTAXES) for c in StoragePresentationContexts
    ]
    roles = [build_role(c.abstract_syntax, scp_role=True) for c in storage]
    contexts = [build_context(model), *storage]
    with associate(connection, contexts, ext_neg=roles, evt_handlers=handlers) as assoc:
        _require_context(assoc, model, _("The PACS does not offer retrieval by C-GET."))
        for progress in _progress(
            connection, "C-GET", assoc.send_c_get(_retrieve_query(study_uid), model)
        ):
            yield from _drain(arrived)
            yield progress
    yield from _drain(arrived)


def _drain(arrived: queue.SimpleQueue) -> Iterator[Received]:
    while True:
        try:
            yield arrived.get_nowait()
        except queue.Empty:
            return


def _store_handler(event, folder: Path, arrived: queue.SimpleQueue, numbers) -> int:
    """A C-STORE sub-operation of our C-GET (pynetdicom's thread): the bytes as the PACS encoded
    them, with a file meta header, into a new file; parsing and inflating are the import's."""
    sop_uid = str(getattr(event.request, "AffectedSOPInstanceUID", ""))[:64]
    data = event.encoded_dataset(include_meta=True)
    if len(data) > settings.DICOM_MAX_FILE_BYTES:
        limit = settings.DICOM_MAX_FILE_BYTES
        problem = f"file is larger than the limit of {limit} bytes"
        arrived.put(Received(sop_uid, None, "too_large", problem))
        return OUT_OF_RESOURCES
    path = folder / f"{next(numbers):06d}.dcm"
    try:
        with open(path, "xb") as out:
            out.write(data)
    except OSError as exc:
        egress_log.warning("C-GET: cannot write %s: %s", path, exc)
        path.unlink(missing_ok=True)
        arrived.put(Received(sop_uid, None, "bad_value", "the file could not be written here"))
        return OUT_OF_RESOURCES
    arrived.put(Received(sop_uid, path))
    return STORED


def _retrieve_query(study_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    return query


def _progress(
    connection: PacsConnection, operation: str, responses, destination: str = ""
) -> Iterator[Progress]:
    for status, _identifier in responses:
        code = getattr(status, "Status", None)
        if code is None:  # no answer in time, or the association went away
            egress_log.warning(
                "DIMSE %s to team %s's PACS: no answer", operation, connection.team_id
            )
            raise PacsError(_broken_off(connection))
        progress = Progress(
            remaining=int(status.get("NumberOfRemainingSuboperations", 0) or 0),
            completed=int(status.get("NumberOfCompletedSuboperations", 0) or 0),
            failed=int(status.get("NumberOfFailedSuboperations", 0) or 0),
            warning=int(status.get("NumberOfWarningSuboperations", 0) or 0),
            final=code not in PENDING,
        )
        if progress.final and not _counted(code, progress):
            _log_status(connection, operation, status)
            raise _retrieval_refused(code, operation, destination)
        yield progress


def _retrieval_refused(code: int, operation: str, destination: str) -> PacsError:
    """A failed retrieval in words. Only "out of resources" (0xA7xx) may pass if tried again;
    any other failure is the PACS's configuration or our request, and the job stops."""
    transient = (code & 0xFF00) == 0xA700
    error = PacsError if transient else PacsRefused
    if destination and not transient:
        # Orthanc answers 0xC000, the standard says 0xA801: the destination is not known.
        return error(
            _(
                "The PACS refused the retrieval (C-MOVE): does it know our listener's AE "
                "title (%(aet)s) as a move destination?"
            )
            % {"aet": destination}
        )
    return error(_("The PACS refused the retrieval (%(operation)s).") % {"operation": operation})


def _counted(code: int, progress: Progress) -> bool:
    """Whether a final status is an outcome that the sub-operation counts describe: success,
    0xB000 (some failed), or 0xA702 as Orthanc answers when every sub-operation failed."""
    return code in (STORED, 0xB000) or (code == 0xA702 and progress.failed > 0)


def _require_context(assoc: Association, sop_class: str, message: str) -> None:
    if not any(c.abstract_syntax == sop_class for c in assoc.accepted_contexts):
        assoc.release()
        raise PacsError(message)


def _log_status(connection: PacsConnection, operation: str, status: Dataset) -> None:
    code = getattr(status, "Status", None)
    comment = getattr(status, "ErrorComment", "") if status is not None else ""
    egress_log.warning(
        "DIMSE %s to team %s's PACS: status %s %s",
        operation,
        connection.team_id,
        f"0x{code:04X}" if isinstance(code, int) else code,
        comment,
    )
