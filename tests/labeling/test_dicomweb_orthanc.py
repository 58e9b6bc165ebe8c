"""The shared Orthanc fixture is a working PACS: store through its DICOMweb, read it back."""

import io

import numpy as np
import pydicom

from tests.dicom_factory import make_dx, to_bytes
from tests.orthanc import orthanc_fixture  # noqa: F401


def test_orthanc_stores_and_serves_an_instance_over_dicomweb(orthanc):
    # Read back from a Part 10 file: dicomweb-client writes an in-memory dataset without the
    # preamble, and Orthanc would store (and serve) it that way.
    ds = pydicom.dcmread(io.BytesIO(to_bytes(make_dx(identity=901, PatientName="Orthanc^Smoke"))))
    client = orthanc.client()
    client.store_instances([ds])
    (study,) = client.search_for_studies(search_filters={"StudyInstanceUID": ds.StudyInstanceUID})
    assert study["00100010"]["Value"] == [{"Alphabetic": "Orthanc^Smoke"}]
    back = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert np.array_equal(back.pixel_array, ds.pixel_array)
    (frame,) = client.retrieve_instance_frames(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        frame_numbers=[1],
        media_types=("application/octet-stream",),  # this Orthanc refuses type="*/*"
    )
    assert frame == ds.PixelData
