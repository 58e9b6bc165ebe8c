"""An instance's identity: the UIDs and the patient, study and series attributes the store
indexes it by, with DICOM dates and times parsed leniently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


@dataclass(frozen=True)
class InstanceIdentity:
    """What the store indexes an instance by, read once at ingest (before de-identification)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    modality: str
    accession_number: str
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_age: str
    patient_birth_date: date | None
    study_date: date | None
    study_time: time | None
    study_description: str
    series_description: str
    series_number: int | None
    instance_number: int | None
    rows: int
    columns: int
    number_of_frames: int
    photometric: str
    bits_stored: int
    view_position: str
    body_part: str
    burned_in_annotation: bool | None


def identity(ds: Dataset) -> InstanceIdentity:
    """Extract the indexing attributes; call it on a dataset that :func:`read_dicom` returned.

    Free-text values come back stripped and never ``None`` (empty string when absent); dates
    and times that do not parse come back ``None`` instead of rejecting the image.
    """
    return InstanceIdentity(
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        modality=_text(ds, "Modality"),
        accession_number=_text(ds, "AccessionNumber"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_sex=_text(ds, "PatientSex"),
        patient_age=_text(ds, "PatientAge"),
        patient_birth_date=parse_da(_text(ds, "PatientBirthDate")),
        study_date=parse_da(_text(ds, "StudyDate")),
        study_time=parse_tm(_text(ds, "StudyTime")),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_optional_int(ds, "SeriesNumber"),
        instance_number=_optional_int(ds, "InstanceNumber"),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=_optional_int(ds, "NumberOfFrames") or 1,
        photometric=_text(ds, "PhotometricInterpretation"),
        bits_stored=int(ds.BitsStored),
        view_position=_text(ds, "ViewPosition"),
        body_part=_text(ds, "BodyPartExamined"),
        burned_in_annotation=_yes_no(_text(ds, "BurnedInAnnotation")),
    )


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return text_of(value)


def text_of(value: object) -> str:
    """A value as text, stripped; bytes (a text attribute written with a binary VR such as
    OB) are read as Latin-1 without their padding, never as ``"b'...'"``."""
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \0")
    return str(value).strip()


def _optional_int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if isinstance(value, MultiValue):
        value = value[0] if value else None
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _yes_no(value: str) -> bool | None:
    return {"YES": True, "NO": False}.get(value.upper())


def parse_da(value: str) -> date | None:
    """DICOM DA (YYYYMMDD, or the retired YYYY.MM.DD) to a date; ``None`` if unparsable."""
    digits = value.replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def parse_tm(value: str) -> time | None:
    """DICOM TM (HH, HHMM, HHMMSS, HHMMSS.FFFFFF; retired colons allowed) to a time."""
    main, _, fraction = value.replace(":", "").partition(".")
    if len(main) not in (2, 4, 6) or not main.isdigit() or (fraction and not fraction.isdigit()):
        return None
    parts = [int(main[i : i + 2]) for i in range(0, len(main), 2)] + [0, 0]
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return time(parts[0], parts[1], min(parts[2], 59), micro)  # 60: leap second
    except ValueError:
        return None
