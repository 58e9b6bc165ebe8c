"""The DIMSE storage listener against real peers on loopback: dcmtk's echoscu and storescu, and
pynetdicom as an SCU where a test needs to see the A-ASSOCIATE-RJ or break a transfer off."""

from __future__ import annotations

import io
import socket
import tempfile
import threading

import pydicom
import pytest
from django.conf import settings
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

from labeling.dimse import listener as listener_module
from labeling.models import (
    DicomAssociation,
    DicomListener,
    DicomPeer,
    DicomRejection,
    Instance,
    Series,
    Study,
)
from tests import dicom_factory
from tests.labeling.dimse_support import (
    HOST,
    LISTENER_AE,
    PEER_AE,
    dx_files,
    echoscu,
    free_port,
    listener_port,
    running_listener,
    scu,
    stored_files,
    storescu,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _loopback_peers_allowed(settings):
    """Peers pass the PACS destination policy: loopback must be allowed by the operator."""
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.0/8"]


def associations(team, **filters) -> list[DicomAssociation]:
    return list(DicomAssociation.objects.filter(team=team, **filters).order_by("id"))


def test_echoscu_from_a_peer_is_answered_and_logged(personas):
    with running_listener(personas.team) as listener:
        done = echoscu(listener_port(listener, personas.team))
        assert done.returncode == 0, done.stderr
        (row,) = wait_for(lambda: associations(personas.team, outcome="released"))
    assert (row.calling_ae, row.called_ae, row.address) == (PEER_AE, LISTENER_AE, HOST)
    assert DicomListener.objects.get(team=personas.team).associations == 1


def test_an_unknown_calling_ae_title_is_refused_with_an_a_associate_rj(personas):
    with running_listener(personas.team) as listener:
        port = listener_port(listener, personas.team)
        done = echoscu(port, calling="STRANGER")
        assert done.returncode != 0
        assert "Association Rejected" in done.stderr + done.stdout
        assert "Calling AE Title Not Recognized" in done.stderr + done.stdout
        assoc = scu("STRANGER").associate(HOST, port, ae_title=LISTENER_AE)
        assert assoc.is_rejected and not assoc.is_aborted
        rejection = assoc.acceptor.primitive
        # Rejected permanent, by the service user, calling AE title not recognised (PS3.8).
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 3)
    refused = associations(personas.team, outcome="refused")
    assert len(refused) == 2
    assert "calling AE title 'STRANGER' is not a peer of this team" in refused[0].reason
    assert DicomListener.objects.get(team=personas.team).refused == 2


def test_a_wrong_called_ae_title_is_refused_as_not_recognised(personas):
    with running_listener(personas.team) as listener:
        assoc = scu().associate(HOST, listener_port(listener, personas.team), ae_title="OTHER")
        assert assoc.is_rejected
        assert assoc.acceptor.primitive.diagnostic == 7  # called AE title not recognised
    (row,) = associations(personas.team)
    assert row.outcome == "refused" and "'OTHER' is not this listener's" in row.reason


def test_a_known_title_from_another_address_is_refused(personas):
    with running_listener(personas.team, peers=[(PEER_AE, "127.0.0.2")]) as listener:
        done = echoscu(listener_port(listener, personas.team))
        assert done.returncode != 0 and "Calling AE Title Not Recognized" in done.stderr
    (row,) = associations(personas.team)
    assert row.reason == f"{PEER_AE} is a peer at 127.0.0.2, not at {HOST}"


def test_a_peer_address_the_destination_policy_refuses_is_not_accepted(personas, settings):
    with running_listener(personas.team) as listener:
        settings.CXR_PACS_ALLOWED_HOSTS = []  # the operator withdrew loopback
        done = echoscu(listener_port(listener, personas.team))
        assert done.returncode != 0 and "Association Rejected" in done.stderr
    assert associations(personas.team)[0].outcome == "refused"


def test_peers_port_and_ae_title_changes_reach_the_running_listener(personas):
    team = personas.team
    with running_listener(team, peers=[]) as listener:
        first = listener_port(listener, team)
        assert echoscu(first).returncode != 0
        DicomPeer.objects.create(team=team, ae_title=PEER_AE, host=HOST)
        assert echoscu(first).returncode == 0  # peers are read at every association
        DicomListener.objects.filter(team=team).update(ae_title="NEWTITLE", port=free_port())
        # The AE title is read at every association too; the port moves on the next refresh.
        assert echoscu(first, called="NEWTITLE").returncode == 0
        assert echoscu(first, called=LISTENER_AE).returncode != 0
        listener.refresh()  # what manage.py dicom_listener does every few seconds
        second = listener_port(listener, team)
        assert second != first
        assert "Connection refused" in echoscu(first, called="NEWTITLE").stderr
        assert echoscu(second, called="NEWTITLE").returncode == 0
        assert echoscu(second, called=LISTENER_AE).returncode != 0
        DicomListener.objects.filter(team=team).update(enabled=False)
        listener.refresh()
        assert team.pk not in listener.supervisor.servers


def test_storescu_files_are_stored_once_and_de_identified_like_uploads(personas, tmp_path):
    team = personas.team
    files = dx_files(tmp_path / "in", range(1, 4))
    with running_listener(team) as listener:
        port = listener_port(listener, team)
        done = storescu(port, files)
        assert done.returncode == 0, done.stderr
        again = storescu(port, files)  # the same UIDs again: duplicates, no new rows
        assert again.returncode == 0, again.stderr
        wait_for(lambda: len(associations(team, outcome="released")) == 2)
    instances = Instance.objects.filter(team=team).select_related("study")
    assert instances.count() == 3
    for instance in instances:
        assert instance.cache_row is not None
        stored = pydicom.dcmread(settings.DICOM_STORE_DIR / instance.file_path)
        assert "Zhang" not in str(stored.PatientName)
        assert "InstitutionName" not in stored
        assert instance.study.patient_id == str(stored.PatientID) != "PID0001"
    first, second = associations(team)
    assert (first.stored, first.duplicates, second.stored, second.duplicates) == (3, 0, 0, 3)
    counts = DicomListener.objects.get(team=team)
    assert (counts.stored, counts.duplicates, counts.rejected) == (3, 3, 0)


def test_a_rejected_file_gets_a_failure_status_and_is_logged_with_its_reason(
    personas, tmp_path, caplog
):
    team = personas.team
    bad = dx_files(tmp_path / "bad", [7], PixelData=None)
    good = dx_files(tmp_path / "good", [8])
    with running_listener(team) as listener:
        port = listener_port(listener, team)
        done = storescu(port, [*bad, *good], options=["--no-halt"])
        wait_for(lambda: associations(team, outcome="released"))
    assert "Received Store Response (Error: CannotUnderstand)" in done.stderr
    (rejection,) = DicomRejection.objects.filter(team=team)
    assert rejection.code == "no_pixel_data" and "Pixel Data" in rejection.reason
    assert rejection.sop_uid == dicom_factory.new_uid("3.7")
    assert rejection.calling_ae == PEER_AE
    assert rejection.association == associations(team)[0]
    assert Instance.objects.filter(team=team).count() == 1  # the good file still went in
    assert any("no_pixel_data" in r.getMessage() for r in caplog.records)


def test_a_peer_that_drops_mid_transfer_leaves_no_rows_or_files(personas, monkeypatch, tmp_path):
    team = personas.team
    spool = tmp_path / "temp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    ds = dicom_factory.make_dx(identity=11, rows=512, columns=512)
    with running_listener(team) as listener:
        port = listener_port(listener, team)
        assoc = scu().associate(HOST, port, ae_title=LISTENER_AE)
        assert assoc.is_established
        _send_half_a_c_store(assoc, ds)
        raw = assoc.dul.socket.socket
        raw.shutdown(socket.SHUT_RDWR)  # no A-ABORT, no A-RELEASE: the cable is pulled
        assoc.kill()
        wait_for(lambda: associations(team, outcome="aborted"), what="the drop is noticed")
        # The listener goes on: the same file, sent whole, is stored.
        whole = storescu(port, [dicom_factory.write(ds, tmp_path / "whole.dcm")])
        assert whole.returncode == 0, whole.stderr
    assert Instance.objects.filter(team=team).count() == 1
    assert DicomAssociation.objects.filter(team=team).count() == 2
    files = list(stored_files(settings.DICOM_STORE_DIR))
    assert [p.name for p in files] == [Instance.objects.get().file_path.rsplit("/", 1)[1]]
    assert list(spool.iterdir()) == []


def _send_half_a_c_store(assoc, ds) -> None:
    """The C-STORE request's command and the first half of its data set's P-DATA PDUs."""
    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = DigitalXRayImageStorageForPresentation
    request.AffectedSOPInstanceUID = ds.SOPInstanceUID
    request.Priority = 2
    request.DataSet = io.BytesIO(encode(ds, False, True))  # Explicit VR Little Endian
    message = C_STORE_RQ()
    message.primitive_to_message(request)
    context = next(
        cx
        for cx in assoc.accepted_contexts
        if cx.abstract_syntax == DigitalXRayImageStorageForPresentation
    )
    pdus = list(message.encode_msg(context.context_id, 16382))
    assert len(pdus) > 4
    for primitive in pdus[: len(pdus) // 2]:
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        assoc.dul.socket.send(pdu.encode())


def test_four_parallel_associations_storing_overlapping_studies_leave_one_row_per_uid(
    personas, tmp_path
):
    team = personas.team
    folder = tmp_path / "in"
    # Four peers send 12 files each, eight of them also sent by a neighbour: 30 distinct
    # instances. Two instances per study, so the study and series rows race too.
    sets = [range(start, start + 12) for start in (0, 6, 12, 18)]
    files = {n: p for n, p in zip(range(30), _paired_study_files(folder, 30), strict=True)}
    results: list = [None] * 4
    with running_listener(team) as listener:
        port = listener_port(listener, team)

        def send(index: int) -> None:
            results[index] = storescu(port, [files[n] for n in sets[index]])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(
            lambda: len(associations(team, outcome="released")) == 4,
            what=lambda: [(a.outcome, a.reason, a.stored) for a in associations(team)],
        )
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert Instance.objects.filter(team=team).count() == 30
    assert Study.objects.filter(team=team).count() == 15
    assert Series.objects.filter(team=team).count() == 15
    assert len(list(stored_files(settings.DICOM_STORE_DIR))) == 30
    stored = sum(a.stored for a in associations(team))
    duplicates = sum(a.duplicates for a in associations(team))
    assert (stored, duplicates) == (30, 18)


def _paired_study_files(folder, count: int):
    """``count`` files, two instances per study and series."""
    folder.mkdir(parents=True)
    for n in range(count):
        study = n // 2
        ds = dicom_factory.make_dx(
            identity=1000 + n,
            StudyInstanceUID=dicom_factory.new_uid(f"1.{study}"),
            SeriesInstanceUID=dicom_factory.new_uid(f"2.{study}"),
            PatientID=f"PID{study:04d}",
            InstanceNumber=n % 2 + 1,
        )
        yield dicom_factory.write(ds, folder / f"f{n}.dcm")


def test_a_team_without_settings_gets_the_first_free_port_and_its_own_ae_title(personas, settings):
    settings.DICOM_LISTENER_FIRST_PORT = 11180
    DicomListener.objects.create(team=personas.other_team, ae_title="TAKEN", port=11180)
    specs = listener_module.desired_servers(create_missing=True)
    row = DicomListener.objects.get(team=personas.team)
    assert (row.port, row.ae_title) == (11181, "CXR_RADIOLOGY-A")
    assert {(s.key, s.port) for s in specs} == {
        (personas.team.pk, 11181),
        (personas.other_team.pk, 11180),
    }


def test_a_port_another_process_holds_is_shown_as_the_listener_s_problem(personas):
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        DicomListener.objects.create(team=personas.team, ae_title="CXR", port=taken)
        listener = listener_module.Listener(host=HOST, create_missing=False)
        try:
            (state,) = listener.refresh()
        finally:
            listener.close()
    assert not state.listening and f"port {taken} cannot be opened" in state.problem
    row = DicomListener.objects.get(team=personas.team)
    assert f"port {taken} cannot be opened" in row.problem


def test_the_event_log_keeps_the_latest_rows_per_team(personas):
    for n in range(5):
        DicomAssociation.objects.create(team=personas.team, calling_ae=f"A{n}", outcome="released")
    DicomListener.objects.create(team=personas.team, ae_title="CXR", port=free_port())
    listener_module.prune_events(keep=2)
    assert [a.calling_ae for a in associations(personas.team)] == ["A3", "A4"]
