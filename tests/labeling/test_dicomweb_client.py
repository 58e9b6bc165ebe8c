"""A real DICOMweb client (dicomweb-client, as a PACS viewer or a pull job would use it) against
our /dicomweb/ served by a live server, authenticated by token."""

import io
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image

from labeling.dicom import read_dicom, to_uint8
from teams.tokens import issue_token
from tests.dicom_factory import make_dx, phantom
from tests.labeling.dicomweb_support import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
ELE, RLE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5"


@pytest.fixture
def dicomweb(live_server, world) -> Iterator[DICOMwebClient]:
    """Closes its session after the test: a kept-alive connection keeps the live server's request
    thread, and with it that thread's database connection (CONN_MAX_AGE), alive until garbage
    collection, and one still open at the end of the run stops the test database's removal."""
    key = issue_token(world.personas.owner)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Token {key}"
        yield DICOMwebClient(url=f"{live_server.url}/dicomweb", session=session)


def test_search_finds_studies_series_and_instances(world, dicomweb):
    (study,) = dicomweb.search_for_studies(search_filters={"PatientName": "zhang*"})
    assert study["0020000D"]["Value"] == [world.study]
    series = dicomweb.search_for_series(world.study, fields=["SeriesDescription"])
    assert {s["0020000E"]["Value"][0] for s in series} == {world.series, world.lateral_series}
    instances = dicomweb.search_for_instances(world.study, world.series, limit=1, offset=1)
    assert [i["00080018"]["Value"][0] for i in instances] == [world.rle_sop]
    assert dicomweb.search_for_studies(search_filters={"PatientID": "nobody"}) == []


def test_metadata_and_its_bulk_data_uri(world, dicomweb, live_server):
    study = dicomweb.retrieve_study_metadata(world.study)
    assert len(study) == 3
    item = dicomweb.retrieve_instance_metadata(world.study, world.series, world.sop)
    ds = pydicom.Dataset.from_json({k: v for k, v in item.items() if k != "7FE00010"})
    assert ds.PatientName == "Zhang^San" and ds.Rows == 64
    uri = item["7FE00010"]["BulkDataURI"]
    assert uri.endswith(world.url(suffix="/frames/1"))
    # dicomweb-client sends "Host: localhost" without the port, so absolute URIs we build from
    # it lack the live server's port: fetch the path from the client's own base URL.
    path = uri[uri.index("/dicomweb/") :]
    (pixels,) = dicomweb.retrieve_bulkdata(
        live_server.url + path, media_types=("application/octet-stream",)
    )
    assert pixels == phantom().astype("<u2").tobytes()


def test_retrieve_instances_as_stored_or_decompressed(world, dicomweb):
    native = dicomweb.retrieve_instance(world.study, world.series, world.sop)
    assert np.array_equal(native.pixel_array, phantom())
    stored = dicomweb.retrieve_instance(world.study, world.series, world.rle_sop)
    assert stored.file_meta.TransferSyntaxUID == RLE
    explicit = dicomweb.retrieve_instance(
        world.study, world.series, world.rle_sop, media_types=(("application/dicom", ELE),)
    )
    assert explicit.file_meta.TransferSyntaxUID == ELE
    assert np.array_equal(explicit.pixel_array, phantom())
    assert len(dicomweb.retrieve_series(world.study, world.series)) == 2
    assert len(dicomweb.retrieve_study(world.study)) == 3


def test_frames_native_and_compressed(world, dicomweb):
    (native,) = dicomweb.retrieve_instance_frames(
        world.study, world.series, world.sop, [1], media_types=("application/octet-stream",)
    )
    assert native == phantom().astype("<u2").tobytes()
    (compressed,) = dicomweb.retrieve_instance_frames(
        world.study,
        world.series,
        world.rle_sop,
        [1],
        media_types=(("application/octet-stream", "*"),),
    )
    stored = dicomweb.retrieve_instance(world.study, world.series, world.rle_sop)
    assert compressed == pydicom.encaps.get_frame(stored.PixelData, 0, number_of_frames=1)
    (decoded,) = dicomweb.retrieve_instance_frames(
        world.study, world.series, world.rle_sop, [1], media_types=("application/octet-stream",)
    )
    assert decoded == native


def test_rendered_matches_the_pipeline(world, dicomweb):
    png = dicomweb.retrieve_instance_rendered(
        world.study, world.series, world.sop, media_types=("image/png",)
    )
    pipeline = to_uint8(read_dicom(io.BytesIO(world.files["pa"]), max_bytes=10**7))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), pipeline)
    jpeg = dicomweb.retrieve_instance_frames_rendered(
        world.study, world.series, world.sop, [1], media_types=("image/jpeg",)
    )
    assert jpeg[:2] == b"\xff\xd8"


def test_series_rendered(world, dicomweb):
    """dicomweb-client hands back the body as it came: one PNG for a series of one instance,
    a multipart/related of JPEGs (one per instance) when it asks for nothing in particular."""
    png = dicomweb.retrieve_series_rendered(
        world.study, world.lateral_series, media_types=("image/png",)
    )
    pipeline = to_uint8(read_dicom(io.BytesIO(world.files["lat"]), max_bytes=10**7))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), pipeline)
    multipart = dicomweb.retrieve_series_rendered(world.study, world.series)
    assert multipart.count(b"Content-Type: image/jpeg") == 2 and b"\xff\xd8" in multipart


def test_store_instances_then_find_them(world, dicomweb):
    ds = make_dx(identity=301, PatientName="Stored^ByClient")  # in memory: sent without preamble
    result = dicomweb.store_instances([ds])
    (referenced,) = result.ReferencedSOPSequence
    assert referenced.ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert "FailedSOPSequence" not in result or not result.FailedSOPSequence
    found = dicomweb.search_for_instances(search_filters={"SOPInstanceUID": ds.SOPInstanceUID})
    assert len(found) == 1
