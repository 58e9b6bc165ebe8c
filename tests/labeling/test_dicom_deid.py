"""De-identification: nothing identifying survives, pseudonyms are stable, options are recorded."""

from __future__ import annotations

import io

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from labeling import deid
from labeling.dicom import read_dicom, to_uint8
from tests.dicom_factory import make_dx, to_bytes

SECRET = b"team-one-secret-0123456789"
OTHER_SECRET = b"team-two-secret-9876543210"
IDENTIFYING = [
    b"Zhang",
    b"PID0001",
    b"OTHER1",
    b"Hospital",
    b"Li^Si",
    b"Wang^Wu",
    b"Zhao^Liu",
    b"19600102",
    b"SN12345",
    b"DR-ROOM",
    b"ACC00001",
    b"bed 12",
    b"RP1",
    b"vendor private",
]


def deidentified(**options: object) -> tuple[Dataset, deid.DeidReport]:
    ds = make_dx()
    report = deid.deidentify(ds, pseudonym=deid.pseudonym_for(SECRET, "PID0001"), **options)
    return ds, report


def test_no_identifying_value_survives_anywhere_in_the_written_file():
    ds, _report = deidentified(uid_map=deid.hashed_uid_map(SECRET))
    data = to_bytes(ds)
    for needle in IDENTIFYING:
        assert needle not in data, needle
    assert b"1.2.826.0.1.3680043.10.999" not in data  # the original UID root is gone too


def test_the_patient_becomes_the_pseudonym_and_the_rest_is_removed_or_emptied():
    ds, report = deidentified()
    assert ds.PatientName == ds.PatientID == report.pseudonym
    assert report.pseudonym.startswith("ANON-")
    assert ds.PatientBirthDate == "" and ds.ReferringPhysicianName == "" and ds.StudyID == ""
    for keyword in ("OtherPatientIDs", "PatientAddress", "InstitutionName", "OperatorsName"):
        assert keyword not in ds and keyword in report.removed
    assert "RequestAttributesSequence" not in ds and "ImageComments" not in ds
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Chest"  # not identifying: kept


def test_private_elements_are_removed_and_counted():
    ds, report = deidentified()
    assert report.private_removed == 1
    assert not any(elem.tag.is_private for elem in ds.iterall())


def test_person_names_inside_unlisted_sequences_are_emptied():
    ds = make_dx()
    observer = Dataset()
    observer.VerifyingObserverName = "Chen^Qi"
    observer.VerifyingOrganization = "Radiology"
    ds.VerifyingObserverSequence = Sequence([observer])
    deid.deidentify(ds, pseudonym="ANON-X")
    assert ds.VerifyingObserverSequence[0].VerifyingObserverName == ""


def test_overlays_are_removed_because_they_can_carry_text():
    ds = make_dx()
    ds.add_new(0x60000010, "US", 64)
    ds.add_new(0x60003000, "OW", b"\xff" * 512)
    deid.deidentify(ds, pseudonym="ANON-X")
    assert 0x60003000 not in ds and 0x60000010 not in ds


def test_dates_are_dropped_by_default():
    ds, report = deidentified()
    assert ds.StudyDate == "" and ds.ContentDate == "" and "SeriesDate" not in ds
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert report.method_codes == ("113100", "113110")


def test_dates_can_be_kept():
    ds, report = deidentified(keep_dates=True)
    assert ds.StudyDate == "20190315" and ds.StudyTime == "101530.25"
    assert "113106" in report.method_codes
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_dates_can_be_shifted_keeping_intervals():
    ds, report = deidentified(date_shift_days=-20)
    assert ds.StudyDate == "20190223" and ds.SeriesDate == "20190223"
    assert ds.PatientBirthDate == ""  # the birth date goes whatever the option
    assert "113107" in report.method_codes
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_keeping_and_shifting_dates_together_is_refused():
    with pytest.raises(ValueError, match="alternatives"):
        deidentified(keep_dates=True, date_shift_days=3)


def test_patient_characteristics_can_be_kept():
    ds, report = deidentified(keep_patient_characteristics=True)
    assert ds.PatientSex == "M" and ds.PatientAge == "064Y"
    assert "113108" in report.method_codes
    plain, _ = deidentified()
    assert plain.PatientSex == "" and "PatientAge" not in plain


def test_the_method_is_recorded_as_codes_and_text():
    ds, _report = deidentified(uid_map=deid.hashed_uid_map(SECRET))
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    assert ds.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"
    assert "Basic Application Confidentiality Profile" in ds.DeidentificationMethod


def test_without_a_uid_map_uids_are_kept_and_the_option_is_recorded():
    original = make_dx()
    ds, report = deidentified()
    assert ds.SOPInstanceUID == original.SOPInstanceUID
    assert report.uids_remapped == 0 and "113110" in report.method_codes


def test_uid_remapping_is_consistent_across_files_and_keeps_class_uids():
    remap = deid.hashed_uid_map(SECRET)
    first, second = make_dx(identity=1), make_dx(identity=2)
    second.StudyInstanceUID = first.StudyInstanceUID  # two instances of one study
    reports = [deid.deidentify(ds, pseudonym="ANON-X", uid_map=remap) for ds in (first, second)]
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.StudyInstanceUID != reports[0].original_study_uid
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert reports[0].original_sop_uid == make_dx(identity=1).SOPInstanceUID
    assert deid.hashed_uid_map(OTHER_SECRET)(reports[0].original_study_uid) != (
        first.StudyInstanceUID
    )


def test_a_deidentified_file_reads_back_and_renders_the_same_pixels():
    image = to_uint8(make_dx())
    ds, _report = deidentified(uid_map=deid.hashed_uid_map(SECRET))
    again = read_dicom(io.BytesIO(to_bytes(ds)), max_bytes=1 << 20)
    assert (to_uint8(again) == image).all()


def test_the_accession_is_emptied_or_replaced_and_the_original_reported():
    emptied, report = deidentified()
    assert emptied.AccessionNumber == "" and report.original_accession == "ACC00001"
    mapped, report = deidentified(accession_map=lambda a: deid.accession_for(SECRET, a))
    assert mapped.AccessionNumber == report.accession == deid.accession_for(SECRET, "ACC00001")
    assert len(report.accession) <= 16 and report.original_accession == "ACC00001"


def test_burned_in_annotation_is_reported_for_quarantine():
    ds = make_dx(BurnedInAnnotation="YES")
    report = deid.deidentify(ds, pseudonym="ANON-X")
    assert report.burned_in_annotation and report.needs_quarantine
    assert not deidentified()[1].needs_quarantine


def test_pseudonyms_are_stable_per_team_and_distinct_between_teams_and_patients():
    one = deid.pseudonym_for(SECRET, "PID0001")
    assert one == deid.pseudonym_for(SECRET, " PID0001 ")
    assert one != deid.pseudonym_for(OTHER_SECRET, "PID0001")
    assert one != deid.pseudonym_for(SECRET, "PID0002")
    assert len(one) <= 64


def test_pseudonyms_refuse_empty_ids_and_weak_secrets():
    with pytest.raises(ValueError, match="empty"):
        deid.pseudonym_for(SECRET, "  ")
    with pytest.raises(ValueError, match="16 bytes"):
        deid.pseudonym_for(b"short", "PID0001")


def test_every_profile_keyword_is_a_real_dicom_keyword():
    unknown = [k for k in deid.BASIC_PROFILE if tag_for_keyword(k) is None]
    assert unknown == []
