"""De-identification per DICOM PS3.15 Annex E, Basic Application Confidentiality Profile.

Pure module (no Django). :func:`deidentify` edits a dataset in place and returns a
:class:`DeidReport` holding what the store must remember (original patient ID, accession and
UIDs) and whether the image must be quarantined (burned-in annotation).

The profile table below names attributes explicitly; four rules catch what a table misses:
every private element is removed, every person name left over is emptied, every date / time
left over is removed (or kept / shifted by option), and every instance UID (anything outside
the DICOM root ``1.2.840.10008``) is remapped when a ``uid_map`` is given. Overlays and curves
(groups 60xx / 50xx) are removed because they can carry burned-in text.

Pseudonyms are HMACs keyed by a per-team secret: stable across imports (patient-level splits
still work), different between teams, and not reversible without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from labeling.dicom import parse_da, text_of

DICOM_ROOT = "1.2.840.10008."

# Action per keyword (PS3.15 Table E.1-1, Basic Profile column). Compound actions are resolved
# for the DX / CR IODs: Z where the attribute is Type 2 there, X otherwise. D on a name or ID
# means "the pseudonym". Dates absent here fall to the date rule, names to the name rule.
BASIC_PROFILE: dict[str, str] = {
    # patient identity
    "PatientName": "D",
    "PatientID": "D",
    "IssuerOfPatientID": "X",
    "IssuerOfPatientIDQualifiersSequence": "X",
    "TypeOfPatientID": "X",
    "PatientBirthDate": "Z",
    "PatientBirthTime": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "PatientBirthName": "X",
    "PatientMotherBirthName": "X",
    "PatientAddress": "X",
    "PatientTelephoneNumbers": "X",
    "PatientTelecomInformation": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "MedicalRecordLocator": "X",
    "MedicalAlerts": "X",
    "Allergies": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "Occupation": "X",
    "AdditionalPatientHistory": "X",
    "LastMenstrualDate": "X",
    "PatientReligiousPreference": "X",
    "PatientComments": "X",
    "PatientState": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "PatientPrimaryLanguageCodeSequence": "X",
    "ResponsiblePerson": "X",
    "ResponsiblePersonRole": "X",
    "ResponsibleOrganization": "X",
    "ReferencedPatientSequence": "X",
    "ReferencedPatientPhotoSequence": "X",
    "PatientInstitutionResidence": "X",
    "CurrentPatientLocation": "X",
    "ConfidentialityConstraintOnPatientDataDescription": "X",
    # patient characteristics (kept by the Retain Patient Characteristics Option)
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "PatientSexNeutered": "X",
    "EthnicGroup": "X",
    "SmokingStatus": "X",
    "PregnancyStatus": "X",
    # study, visit and request
    "AccessionNumber": "Z",
    "IssuerOfAccessionNumberSequence": "X",
    "StudyID": "Z",
    "StudyDescription": "X",
    "SeriesDescription": "X",
    "StudyComments": "X",
    "ReasonForStudy": "X",
    "ReasonForTheRequestedProcedure": "X",
    "RequestingPhysician": "X",
    "RequestingService": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "ReferringPhysicianIdentificationSequence": "X",
    "ConsultingPhysicianName": "X",
    "PhysiciansOfRecord": "X",
    "PhysiciansOfRecordIdentificationSequence": "X",
    "PerformingPhysicianName": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X",
    "OperatorsName": "X",
    "OperatorIdentificationSequence": "X",
    "ScheduledPerformingPhysicianName": "X",
    "AdmittingDiagnosesDescription": "X",
    "AdmittingDiagnosesCodeSequence": "X",
    "AdmissionID": "X",
    "IssuerOfAdmissionIDSequence": "X",
    "ServiceEpisodeID": "X",
    "ServiceEpisodeDescription": "X",
    "VisitComments": "X",
    "RequestAttributesSequence": "X",
    "RequestedProcedureDescription": "X",
    "RequestedProcedureID": "X",
    "ScheduledProcedureStepDescription": "X",
    "ScheduledProcedureStepID": "X",
    "ScheduledProcedureStepLocation": "X",
    "PerformedProcedureStepDescription": "X",
    "PerformedProcedureStepID": "X",
    "PerformedLocation": "X",
    "PlacerOrderNumberImagingServiceRequest": "X",
    "FillerOrderNumberImagingServiceRequest": "X",
    "OrderEnteredBy": "X",
    "OrderEntererLocation": "X",
    "OrderCallbackPhoneNumber": "X",
    "ReferencedStudySequence": "X",
    "ReferencedPerformedProcedureStepSequence": "X",
    "ProtocolName": "X",
    # institution and device
    "InstitutionName": "X",
    "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X",
    "InstitutionCodeSequence": "X",
    "StationName": "X",
    "ScheduledStationName": "X",
    "PerformedStationName": "X",
    "ScheduledStationAETitle": "X",
    "PerformedStationAETitle": "X",
    "DeviceSerialNumber": "X",
    "DetectorID": "X",
    "PlateID": "X",
    "CassetteID": "X",
    "GantryID": "X",
    # free text and structures that can carry anything
    "ImageComments": "X",
    "FrameComments": "X",
    "DerivationDescription": "X",
    "AcquisitionComments": "X",
    "AcquisitionDeviceProcessingDescription": "X",
    "TextComments": "X",
    "TextString": "X",
    "ContentSequence": "X",
    "IconImageSequence": "X",
    "DigitalSignaturesSequence": "X",
    "ModifiedAttributesSequence": "X",
    "OriginalAttributesSequence": "X",
    "DataSetTrailingPadding": "X",
    "ContentCreatorName": "Z",
}

PATIENT_CHARACTERISTICS = frozenset(
    {
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "PatientSexNeutered",
        "EthnicGroup",
        "SmokingStatus",
        "PregnancyStatus",
    }
)
# Type 2 dates and times of the DX / CR IODs: emptied, not removed, when dates are dropped.
_TYPE2_DATES = frozenset({"StudyDate", "StudyTime", "ContentDate", "ContentTime"})
# Never touched: the profile's own markers and what the pixel pipeline needs.
_KEEP = frozenset(
    {
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
        "BurnedInAnnotation",
    }
)
_FILE_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SourcePresentationAddress",
    "SendingPresentationAddress",
    "ReceivingPresentationAddress",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)

PROFILE_CODES = {
    "113100": "Basic Application Confidentiality Profile",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113110": "Retain UIDs Option",
}
METHOD_NAME = "CXR Lab de-identification 1"


@dataclass(frozen=True)
class DeidReport:
    """What de-identification changed, and what the store must remember about the original."""

    pseudonym: str
    original_patient_id: str
    original_accession: str
    accession: str
    original_study_uid: str
    original_series_uid: str
    original_sop_uid: str
    burned_in_annotation: bool
    method_codes: tuple[str, ...]
    removed: tuple[str, ...]
    emptied: tuple[str, ...]
    replaced: tuple[str, ...]
    private_removed: int
    uids_remapped: int

    @property
    def needs_quarantine(self) -> bool:
        """Burned-in text may name the patient: keep the image out of training until reviewed."""
        return self.burned_in_annotation


@dataclass
class _Options:
    uid_map: Callable[[str], str] | None
    keep_dates: bool
    date_shift: timedelta | None
    keep_characteristics: bool
    removed: set[str] = field(default_factory=set)
    emptied: set[str] = field(default_factory=set)
    replaced: set[str] = field(default_factory=set)
    uids_remapped: int = 0


# --------------------------------------------------------------------------------------------
# Pseudonyms
# --------------------------------------------------------------------------------------------


def _keyed(team_secret: bytes, purpose: str, value: str) -> bytes:
    if not isinstance(team_secret, bytes) or len(team_secret) < 16:
        raise ValueError("team_secret must be at least 16 bytes")
    message = purpose.encode() + b"\0" + value.encode("utf-8")
    return hmac.new(team_secret, message, hashlib.sha256).digest()


def pseudonym_for(team_secret: bytes, patient_id: str) -> str:
    """Stable per-team pseudonym for a Patient ID, e.g. ``ANON-K7Q2...`` (21 characters).

    An empty ID raises: mapping every ID-less image to one pseudonym would merge strangers into
    one "patient" and break patient-level splits, so the caller must choose a stand-in.
    """
    patient_id = patient_id.strip()
    if not patient_id:
        raise ValueError("patient_id is empty; choose a stand-in (e.g. the Study Instance UID)")
    digest = _keyed(team_secret, "patient", patient_id)
    return "ANON-" + base64.b32encode(digest).decode()[:16]


def accession_for(team_secret: bytes, accession: str) -> str:
    """Stable per-team replacement Accession Number (16 characters, the SH limit)."""
    return base64.b32encode(_keyed(team_secret, "accession", accession.strip())).decode()[:16]


def hashed_uid_map(team_secret: bytes) -> Callable[[str], str]:
    """A consistent UID remapping without a lookup table: ``2.25.`` + 128 bits of HMAC.

    The same original UID always maps to the same new one within a team, so studies and series
    stay grouped across files and re-imports.
    """
    _keyed(team_secret, "uid", "")  # validate the secret now, not on first use

    def remap(uid: str) -> str:
        digest = _keyed(team_secret, "uid", uid.strip())
        return "2.25." + str(int.from_bytes(digest[:16], "big"))

    return remap


# --------------------------------------------------------------------------------------------
# De-identification
# --------------------------------------------------------------------------------------------


def deidentify(
    ds: Dataset,
    *,
    pseudonym: str,
    uid_map: Callable[[str], str] | None = None,
    keep_dates: bool = False,
    date_shift_days: int | None = None,
    keep_patient_characteristics: bool = False,
    accession_map: Callable[[str], str] | None = None,
) -> DeidReport:
    """Apply the basic profile to ``ds`` in place (file meta included) and report.

    Options, each recorded in DeidentificationMethodCodeSequence: ``uid_map`` remaps instance
    UIDs (without it UIDs are kept: Retain UIDs Option); ``keep_dates`` keeps dates and times,
    ``date_shift_days`` moves dates instead (use one per patient); ``keep_patient_characteristics``
    keeps sex, age, size and weight. The Accession Number is emptied, or replaced by
    ``accession_map(original)`` (see :func:`accession_for`) so reports keyed by the original
    still match through the report's ``original_accession``.
    """
    if not pseudonym.strip():
        raise ValueError("pseudonym is empty")
    if keep_dates and date_shift_days is not None:
        raise ValueError("keep_dates and date_shift_days are alternatives; give one")
    original_accession = text_of(ds.get("AccessionNumber", "") or "")
    originals = [text_of(ds.get(k, "") or "") for k in ("PatientID", "StudyInstanceUID")]
    originals += [str(ds.get(k, "") or "") for k in ("SeriesInstanceUID", "SOPInstanceUID")]
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    options = _Options(
        uid_map=uid_map,
        keep_dates=keep_dates,
        date_shift=None if date_shift_days is None else timedelta(days=date_shift_days),
        keep_characteristics=keep_patient_characteristics,
    )
    private_removed = _remove_private(ds)
    _clean(ds, options, pseudonym.strip())
    accession = ""
    if original_accession and accession_map is not None:
        accession = accession_map(original_accession)
        set_value(ds, "AccessionNumber", accession)
        options.replaced.add("AccessionNumber")
    codes = _method_codes(options)
    _mark(ds, codes, options)
    _clean_file_meta(ds, options)
    return DeidReport(
        pseudonym=pseudonym.strip(),
        original_patient_id=originals[0].strip(),
        original_accession=original_accession,
        accession=accession,
        original_study_uid=originals[1],
        original_series_uid=originals[2],
        original_sop_uid=originals[3],
        burned_in_annotation=burned_in,
        method_codes=codes,
        removed=tuple(sorted(options.removed)),
        emptied=tuple(sorted(options.emptied)),
        replaced=tuple(sorted(options.replaced)),
        private_removed=private_removed,
        uids_remapped=options.uids_remapped,
    )


def set_value(ds: Dataset, keyword: str, value: object) -> None:
    """Set an attribute as a new element with its dictionary VR.

    Assigning to an existing element keeps the element's VR, and a file may carry Patient ID
    as OB, say: bytes where text now goes, which the writer then refuses.
    """
    if keyword in ds:
        delattr(ds, keyword)
    setattr(ds, keyword, value)


def _remove_private(ds: Dataset) -> int:
    count = 0
    for tag in list(ds.keys()):
        if tag.is_private:
            del ds[tag]
            count += 1
        elif ds[tag].VR == "SQ":
            count += sum(_remove_private(item) for item in ds[tag].value)
    return count


def _clean(ds: Dataset, options: _Options, pseudonym: str) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        name = elem.keyword or str(tag)
        action = _action(elem.keyword, _rule_vr(elem), tag.group, options)
        if action in ("S", "U", "SQ") and elem.VR != _rule_vr(elem):
            action = "X"  # a date, UID or sequence written with another VR cannot be edited
        if action == "X":
            del ds[tag]
            options.removed.add(name)
        elif action == "Z":
            elem.value = empty_value_for_VR(elem.VR)
            options.emptied.add(name)
        elif action == "D":
            set_value(ds, elem.keyword, pseudonym)
            options.replaced.add(name)
        elif action == "S":
            _shift_dates(ds, tag, options)
        elif action == "U":
            _remap_uids(elem, options)
        elif action == "SQ":
            for item in elem.value:
                _clean(item, options, pseudonym)


def _rule_vr(elem: DataElement) -> str:
    """The VR the profile's rules go by: the dictionary's, so that a date or a name written with
    a wrong VR (OB, say) is still treated as a date or a name; the element's own when the tag
    is not in the dictionary (private, or a retired one pydicom does not know)."""
    try:
        return str(dictionary_VR(elem.tag))
    except KeyError:
        return str(elem.VR)


def _action(keyword: str, vr: str, group: int, options: _Options) -> str:
    """One of X (remove), Z (empty), D (pseudonym), S (shift), U (remap), SQ (recurse), K."""
    if keyword in _KEEP:
        return "K"
    if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
        return "X"  # curves and overlays may draw text onto the image
    if keyword in BASIC_PROFILE:
        if options.keep_characteristics and keyword in PATIENT_CHARACTERISTICS:
            return "K"
        return BASIC_PROFILE[keyword]
    if vr in ("DA", "DT", "TM"):
        return _date_action(keyword, vr, options)
    if vr == "PN":
        return "Z"
    if vr == "UI":
        return "U" if options.uid_map is not None else "K"
    return "SQ" if vr == "SQ" else "K"


def _date_action(keyword: str, vr: str, options: _Options) -> str:
    if options.keep_dates:
        return "K"
    if options.date_shift is not None:
        return "K" if vr == "TM" else "S"
    return "Z" if keyword in _TYPE2_DATES else "X"


def _shift_dates(ds: Dataset, tag: int, options: _Options) -> None:
    """Move DA / DT values by the shift; a value that does not parse is removed instead."""
    elem = ds[tag]
    values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
    shifted = [_shift_one(str(v or ""), elem.VR, options.date_shift) for v in values]
    name = elem.keyword or str(tag)
    if any(v is None for v in shifted):
        del ds[tag]
        options.removed.add(name)
        return
    elem.value = shifted if len(shifted) > 1 else shifted[0]
    options.replaced.add(name)


def _shift_one(value: str, vr: str, shift: timedelta | None) -> str | None:
    if not value or shift is None:
        return value
    day = parse_da(value[:8] if vr == "DT" else value)
    if day is None:
        return None
    return (day + shift).strftime("%Y%m%d") + (value[8:] if vr == "DT" else "")


def _remap_uids(elem: DataElement, options: _Options) -> None:
    values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
    mapped = [_remap_one(str(v or ""), options) for v in values]
    elem.value = mapped if len(mapped) > 1 else mapped[0]


def _remap_one(uid: str, options: _Options) -> str:
    if not uid or uid.startswith(DICOM_ROOT) or options.uid_map is None:
        return uid  # SOP classes, transfer syntaxes, coding schemes: public, not identifying
    options.uids_remapped += 1
    return options.uid_map(uid)


def _method_codes(options: _Options) -> tuple[str, ...]:
    codes = ["113100"]
    if options.keep_dates:
        codes.append("113106")
    if options.date_shift is not None:
        codes.append("113107")
    if options.keep_characteristics:
        codes.append("113108")
    if options.uid_map is None:
        codes.append("113110")
    return tuple(codes)


def _mark(ds: Dataset, codes: tuple[str, ...], options: _Options) -> None:
    set_value(ds, "PatientIdentityRemoved", "YES")
    set_value(ds, "DeidentificationMethod", [METHOD_NAME, *(PROFILE_CODES[c] for c in codes)])
    items = []
    for code in codes:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = PROFILE_CODES[code]
        items.append(item)
    set_value(ds, "DeidentificationMethodCodeSequence", Sequence(items))
    if options.keep_dates:
        modified = "UNMODIFIED"
    elif options.date_shift is not None:
        modified = "MODIFIED"
    else:
        modified = "REMOVED"
    set_value(ds, "LongitudinalTemporalInformationModified", modified)


def _clean_file_meta(ds: Dataset, options: _Options) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for keyword in _FILE_META_REMOVED:
        if keyword in meta:
            delattr(meta, keyword)
            options.removed.add(keyword)
    if "SOPInstanceUID" in ds:
        set_value(meta, "MediaStorageSOPInstanceUID", ds.SOPInstanceUID)
