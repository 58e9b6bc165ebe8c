"""The demo's patients and studies (demographics, dates, UIDs, DICOM choices) and the DICOM file
written for each.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

from .records import MONOCHROME1, MONOCHROME2
from .reports import PlannedReport, pick

# The people's random stream (the text's and the pixels' are in reports.py and demo.py).
_STREAM_PEOPLE = 0xD1C0

_SURNAMES = (
    "WANG LI ZHANG LIU CHEN YANG HUANG ZHAO WU ZHOU XU SUN MA ZHU HU GUO HE LIN LUO GAO".split()
)
_GIVEN = (
    "WEI FANG NA XIUYING MIN JING LI QIANG LEI JUN YANG YONG YAN JIE JUAN TAO MING CHAO XIULAN "
    "XIA PING GANG GUIYING HUA JIANHUA LIHUA ZHIQIANG HAIYAN"
).split()
_INSTITUTIONS = ("CXR Lab Demo Hospital", "Demo City People's Hospital", "Demo District Hospital")
_DEVICES = (("SynthRay Medical", "SR-DR 3000"), ("Demo Imaging", "DI Radiograph 2"))


@dataclass(frozen=True)
class StudyPlan:
    """Everything about one study except its pixels, decided in the parent process."""

    index: int
    seed: int
    patient_id: str
    patient_name: str
    sex: str
    birth_date: date
    study_date: date
    study_time: str
    accession: str
    study_uid: str
    series_uid: str
    sop_uid: str
    labels: tuple[str, ...]
    laterality: tuple[tuple[str, str], ...]
    photometric: str
    view: str
    institution: str
    device: tuple[str, str]
    spacing: float
    rescale: bool
    window: bool
    relpath: str


def _uid(seed: int, kind: str, index: int) -> str:
    """A deterministic UID under the 2.25 (UUID-derived integer) root."""
    digest = hashlib.sha256(f"cxr-lab-demo:{seed}:{kind}:{index}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def plan_studies(n: int, seed: int, reports: list[PlannedReport], size: int) -> list[StudyPlan]:
    """Patients (a few with several studies), demographics, dates, UIDs and DICOM choices.

    Pixel spacing is that of a 43 cm detector at this matrix size: 0.14 mm at 3,072 pixels,
    0.21 mm at 2048.
    """
    rng = np.random.default_rng([seed, _STREAM_PEOPLE])
    prefix = int.from_bytes(hashlib.sha256(f"demo-{seed}".encode()).digest()[:4], "big") % 10**6
    plans: list[StudyPlan] = []
    patient = 0
    while len(plans) < n:
        patient += 1
        n_studies = int(rng.choice((1, 2, 3), p=(0.86, 0.11, 0.03)))
        sex = "M" if rng.random() < 0.52 else "F"
        name = f"{pick(rng, _SURNAMES)}^{pick(rng, _GIVEN)}"
        first = date(2016, 1, 1) + timedelta(days=int(rng.integers(0, 4 * 365)))
        birth = first - timedelta(days=int(rng.integers(20 * 365, 88 * 365)))
        when = first
        for _ in range(min(n_studies, n - len(plans))):
            i = len(plans)
            plans.append(
                StudyPlan(
                    index=i,
                    seed=seed,
                    patient_id=f"P{prefix:06d}{patient:05d}",
                    patient_name=name,
                    sex=sex,
                    birth_date=birth,
                    study_date=when,
                    study_time=f"{int(rng.integers(8, 18)):02d}{int(rng.integers(60)):02d}"
                    f"{int(rng.integers(60)):02d}",
                    accession=f"DX{prefix:06d}{i + 1:06d}",
                    study_uid=_uid(seed, "study", i),
                    series_uid=_uid(seed, "series", i),
                    sop_uid=_uid(seed, "sop", i),
                    labels=reports[i].truth.labels,
                    laterality=reports[i].laterality,
                    photometric=MONOCHROME1 if rng.random() < 0.3 else MONOCHROME2,
                    view="PA" if rng.random() < 0.85 else "AP",
                    institution=pick(rng, _INSTITUTIONS),
                    device=_DEVICES[int(rng.integers(len(_DEVICES)))],
                    spacing=round(430.0 / size * rng.uniform(0.97, 1.0), 4),
                    rescale=bool(rng.random() < 0.5),
                    window=bool(rng.random() < 0.6),
                    relpath=f"dicom/P{prefix:06d}{patient:05d}/DX{prefix:06d}{i + 1:06d}.dcm",
                )
            )
            when += timedelta(days=int(rng.integers(30, 700)))
    return plans


def _window_center_width(pixels: np.ndarray) -> tuple[float, float]:
    """A window that spans the body, as a modality would store it."""
    sample = pixels[:: max(1, pixels.shape[0] // 128), :: max(1, pixels.shape[1] // 128)]
    low, high = np.percentile(sample, (2, 99.5))
    return float(round((low + high) / 2)), float(round(max(high - low, 1)))


def _dicom_dataset(plan: StudyPlan, pixels: np.ndarray) -> Dataset:
    """Every tag but the pixel data, which `write_dicom` appends."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = plan.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "2.25.302530865063547186236592932432476419215"
    meta.ImplementationVersionName = "CXRLAB_SYNTH"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = plan.sop_uid
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = plan.series_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PatientID = plan.patient_id
    ds.PatientName = plan.patient_name
    ds.PatientSex = plan.sex
    ds.PatientBirthDate = plan.birth_date.strftime("%Y%m%d")
    ds.PatientAge = f"{_age(plan.birth_date, plan.study_date):03d}Y"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = plan.study_date.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = plan.study_time
    ds.AccessionNumber = plan.accession
    ds.StudyID = plan.accession[-6:]
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "胸部正位片"
    ds.SeriesDescription = f"CHEST {plan.view}"
    ds.InstitutionName = plan.institution
    ds.Manufacturer, ds.ManufacturerModelName = plan.device
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = plan.view
    ds.PatientOrientation = ["L", "F"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.KVP = "120"
    ds.PixelSpacing = ds.ImagerPixelSpacing = [plan.spacing, plan.spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = plan.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    # -1: higher values mean less X-ray reached the detector (bright bone in MONOCHROME2).
    ds.PixelIntensityRelationshipSign = -1 if plan.photometric == MONOCHROME2 else 1
    if plan.rescale:
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
    if plan.window:
        ds.WindowCenter, ds.WindowWidth = _window_center_width(pixels)
    return ds


def write_dicom(path: Path, plan: StudyPlan, pixels: np.ndarray) -> None:
    """Write the file: pydicom writes preamble, file meta and every tag; the pixel data
    element goes last by hand, straight from the array (Explicit VR Little Endian, OW), which
    saves pydicom's two 8 MB copies per 2048² image."""
    data = np.ascontiguousarray(pixels, dtype="<u2")
    with path.open("wb") as stream:
        _dicom_dataset(plan, pixels).save_as(stream, enforce_file_format=True)
        stream.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, data.nbytes))
        stream.write(data)
