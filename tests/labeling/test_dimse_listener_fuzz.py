"""The fuzz suite's fifth entry point (tests/labeling/test_fuzz.py): every case of the corpus
sent to the DIMSE storage listener by C-STORE, as a peer would send it.

pynetdicom sends each file without decoding it (``STORE_SEND_CHUNKED_DATASET``): its file meta
information gives the SOP Class, SOP Instance UID and transfer syntax of the request, and the
data set bytes travel as they are, damage included. A case whose file meta information the
sender cannot read, or whose SOP Class / transfer syntax was not negotiated, never reaches the
listener: that is the sender's refusal ("unsendable"), allowed in place of the reader's verdict.
The listener rebuilds the file meta information from the request, so the verdict it must
reproduce is the reader's on that rebuilt file (:func:`as_dimse_reads`). A handler that raised
(status 0xC211) or an association the listener aborted is a finding.
"""

from __future__ import annotations

import functools
import io

import pytest
from pydicom import uid as dcm_uid
from pydicom.filereader import read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, _config
from pynetdicom.dsutils import create_file_meta
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

from tests.labeling.dimse_support import HOST, LISTENER_AE, PEER_AE, listener_port, running_listener
from tests.labeling.test_fuzz import Fuzz, quiet, run, temp_dir  # noqa: F401 (fixtures)

HANDLER_FAILED = 0xC211
# The listener decodes on database threads of its own, so its peak grows more than a
# single-threaded entry point's: +187 MB measured on this corpus, +158 MB with
# MALLOC_ARENA_MAX=1 (the threads' malloc arenas are part of it). A bomb that got through would
# still pass this limit by gigabytes.
RSS_LIMIT_MB = 300
RESPONSE_SECONDS = 20
UNSENDABLE = "unsendable"
SYNTAXES = [
    dcm_uid.ExplicitVRLittleEndian,
    dcm_uid.ImplicitVRLittleEndian,
    dcm_uid.ExplicitVRBigEndian,
    dcm_uid.DeflatedExplicitVRLittleEndian,
    dcm_uid.RLELossless,
    dcm_uid.JPEG2000Lossless,
    dcm_uid.JPEG2000,
    dcm_uid.JPEGBaseline8Bit,
    dcm_uid.JPEGLSLossless,
    dcm_uid.JPEGLSNearLossless,
    dcm_uid.JPEGLosslessSV1,
]


@functools.lru_cache(maxsize=4096)
def as_dimse_reads(data: bytes) -> bytes:
    """The file the listener reads: file meta information made from what the request says,
    then the case's data set bytes (what pynetdicom's ``encoded_dataset`` builds)."""
    try:
        meta, offset = _split(data)
        built = create_file_meta(
            sop_class_uid=meta.MediaStorageSOPClassUID,
            sop_instance_uid=meta.MediaStorageSOPInstanceUID,
            transfer_syntax=meta.TransferSyntaxUID,
        )
        out = io.BytesIO()
        out.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(out, built, enforce_standard=True)
    except Exception:  # noqa: BLE001 - unsendable: the verdict is never asked for
        return data
    return out.getvalue() + data[offset:]


def _split(data: bytes):
    """The file meta information and where the data set starts, read as pynetdicom's
    ``split_dataset`` reads a file it is asked to send."""
    fp = io.BytesIO(data)
    read_preamble(fp, False)
    meta = read_dataset(
        fp, is_implicit_VR=False, is_little_endian=True, stop_when=lambda tag, *_: tag.group != 2
    )
    return meta, fp.tell()


def via_dimse(fuzz: Fuzz, cases, *, folder, listener) -> dict[str, str]:
    """C-STORE each case to the team's running listener over one association (a new one when
    the last ended); {case id: "stored" | "rejected" | "unsendable"}."""
    folder.mkdir()
    outcomes: dict[str, str] = {}
    port = listener_port(listener, fuzz.team)
    ae = AE(ae_title=PEER_AE)
    # A response slower than this is a finding (a listener that hangs), not a hung test.
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = RESPONSE_SECONDS
    for syntax in SYNTAXES:
        ae.add_requested_context(DigitalXRayImageStorageForPresentation, [syntax])
    assoc = None
    for case in cases:
        if assoc is None or not assoc.is_established:
            assoc = ae.associate(HOST, port, ae_title=LISTENER_AE)
            if not assoc.is_established:
                fuzz.note(case.id, "dimse", "refused", "the listener refused a peer")
                break
        path = folder / case.filename
        path.write_bytes(case.data)
        try:
            status = assoc.send_c_store(path)
        except Exception:  # noqa: BLE001 - the sender cannot send this file: not ours
            outcomes[case.id] = UNSENDABLE
            continue
        finally:
            path.unlink()
        if "Status" not in status:
            fuzz.note(case.id, "dimse", "aborted", "no C-STORE response")
            continue
        code = int(status.Status)
        if code == HANDLER_FAILED:
            fuzz.note(case.id, "dimse", "crash", str(status.get("ErrorComment", "")))
        outcomes[case.id] = "stored" if code == 0 else "rejected"
    if assoc is not None and assoc.is_established:
        assoc.release()
    return outcomes


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_case_through_the_dimse_listener(personas, tmp_path, temp_dir, quiet, monkeypatch):  # noqa: F811
    # The listener runs in this process, on its own threads and database connections.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    from django.conf import settings

    monkeypatch.setattr(settings, "CXR_PACS_ALLOWED_HOSTS", ["127.0.0.1"])
    allowed = frozenset({UNSENDABLE})
    # Started before run() measures peak RSS: the listener's threads, database connections and
    # pynetdicom's first imports are its fixed cost, not growth caused by the cases.
    with running_listener(personas.team) as listener:
        feed = functools.partial(via_dimse, folder=tmp_path / "outgoing", listener=listener)
        run("dimse", feed, personas, temp_dir, every_route=False, reads=as_dimse_reads,
            allowed=allowed, rss_limit_mb=RSS_LIMIT_MB)  # fmt: skip
