"""WADO-RS (instances, metadata, frames, rendered) and WADO-URI: Accept negotiation, streaming,
and pixels that match the training pipeline."""

import email
import io
import json

import numpy as np
import pydicom
import pytest
from django.http import StreamingHttpResponse
from PIL import Image

from labeling.dicom import read_dicom, to_uint8
from tests.dicom_factory import phantom
from tests.labeling.dicomweb_support import token_client_fixture, world_fixture  # noqa: F401

DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
OCTET = 'multipart/related; type="application/octet-stream"'
ELE, RLE, J2K = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"


def body_of(response) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return response.content


def parts_of(response) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part, parsed by the standard library, not our reader."""
    head = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body_of(response))
    assert message.is_multipart()
    return [(p["Content-Type"], p.get_payload(decode=True)) for p in message.get_payload()]


def stored_bytes(world, sop) -> bytes:
    from django.conf import settings

    return (settings.DICOM_STORE_DIR / world.instance(sop).file_path).read_bytes()


def test_retrieve_streams_the_stored_file_as_one_part(world, token_client):
    response = token_client().get(world.url(), HTTP_ACCEPT=DICOM_ANY)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"')
    ((content_type, data),) = parts_of(response)
    assert content_type == f"application/dicom; transfer-syntax={ELE}"
    assert data == stored_bytes(world, world.sop)


def test_compressed_instances_come_as_stored_or_transcoded_as_asked(world, token_client):
    client = token_client()
    as_stored = client.get(world.url(world.rle_sop), HTTP_ACCEPT=DICOM_ANY)
    ((content_type, data),) = parts_of(as_stored)
    assert content_type.endswith(RLE) and data == stored_bytes(world, world.rle_sop)
    default = client.get(world.url(world.rle_sop), HTTP_ACCEPT=DICOM_ANY.rsplit(";", 1)[0])
    ((content_type, data),) = parts_of(default)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert content_type.endswith(ELE) and ds.file_meta.TransferSyntaxUID == ELE
    assert np.array_equal(ds.pixel_array, phantom())


def test_q_values_and_order_choose_between_representations(world, token_client):
    client = token_client()
    prefer_native = f"{DICOM_ANY}; q=0.5, multipart/related; type=application/dicom"
    ((content_type, _),) = parts_of(client.get(world.url(world.rle_sop), HTTP_ACCEPT=prefer_native))
    assert content_type.endswith(ELE)
    ((content_type, _),) = parts_of(client.get(world.url(world.rle_sop), HTTP_ACCEPT="*/*"))
    assert content_type.endswith(RLE)  # anything goes: the cheapest, as stored


@pytest.mark.parametrize(
    "accept",
    [
        f'multipart/related; type="application/dicom"; transfer-syntax={J2K}',
        "image/jpeg",
        "application/dicom+json",
        f"{DICOM_ANY}; q=0",
        'multipart/related; type="application/dicom"; q=0, */*; q=0',
    ],
)
def test_unmeetable_accept_is_406(world, token_client, accept):
    assert token_client().get(world.url(), HTTP_ACCEPT=accept).status_code == 406


def test_malformed_accept_is_400(world, token_client):
    assert token_client().get(world.url(), HTTP_ACCEPT="dicom; q=x").status_code == 400


def test_single_part_application_dicom_has_a_length(world, token_client):
    response = token_client().get(world.url(), HTTP_ACCEPT="application/dicom")
    assert response["Content-Type"] == f"application/dicom; transfer-syntax={ELE}"
    assert int(response["Content-Length"]) == len(body_of(response))


def test_study_and_series_retrieve_every_instance(world, token_client):
    client = token_client()
    study = parts_of(client.get(f"/dicomweb/studies/{world.study}", HTTP_ACCEPT=DICOM_ANY))
    sops = {str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID) for _, data in study}
    assert sops == {world.sop, world.rle_sop, world.j2k_sop}
    series = client.get(
        f"/dicomweb/studies/{world.study}/series/{world.series}", HTTP_ACCEPT=DICOM_ANY
    )
    assert isinstance(series, StreamingHttpResponse) and len(parts_of(series)) == 2


def test_metadata_holds_the_header_and_a_bulk_data_uri_for_pixels(world, token_client):
    client = token_client()
    response = client.get(world.url(suffix="/metadata"))
    assert response["Content-Type"] == "application/dicom+json"
    (item,) = json.loads(body_of(response))
    assert item["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Zhang^San"}]}
    assert item["00280010"] == {"vr": "US", "Value": [64]}
    assert item["00020010"]["Value"] == [ELE]
    pixel = item["7FE00010"]
    assert pixel["vr"] == "OW" and "InlineBinary" not in pixel
    assert pixel["BulkDataURI"].endswith(world.url(suffix="/frames/1"))
    series = json.loads(
        body_of(client.get(f"/dicomweb/studies/{world.study}/series/{world.series}/metadata"))
    )
    study = json.loads(body_of(client.get(f"/dicomweb/studies/{world.study}/metadata")))
    assert (len(series), len(study)) == (2, 3)
    rle = next(i for i in study if i["00080018"]["Value"] == [world.rle_sop])
    assert rle["7FE00010"]["vr"] == "OB" and rle["00020010"]["Value"] == [RLE]


def test_native_frames_are_byte_ranges_with_their_syntax_stated(world, token_client):
    response = token_client().get(world.url(suffix="/frames/1"), HTTP_ACCEPT=OCTET)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith(
        f'multipart/related; type="application/octet-stream"; transfer-syntax={ELE}'
    )
    ((content_type, data),) = parts_of(response)
    assert content_type == f"application/octet-stream; transfer-syntax={ELE}"
    assert data == phantom().astype("<u2").tobytes()


def test_compressed_frames_as_stored_when_accepted_else_decoded(world, token_client):
    client = token_client()
    url = world.url(world.rle_sop, "/frames/1")
    ((content_type, data),) = parts_of(client.get(url, HTTP_ACCEPT=f"{OCTET}; transfer-syntax=*"))
    assert content_type == f"application/octet-stream; transfer-syntax={RLE}"
    stored = pydicom.dcmread(io.BytesIO(stored_bytes(world, world.rle_sop)))
    assert data == pydicom.encaps.get_frame(stored.PixelData, 0, number_of_frames=1)
    ((content_type, data),) = parts_of(client.get(url, HTTP_ACCEPT=OCTET))
    assert content_type.endswith(ELE) and data == phantom().astype("<u2").tobytes()
    jp2 = client.get(
        world.url(world.j2k_sop, "/frames/1"), HTTP_ACCEPT='multipart/related; type="image/jp2"'
    )
    ((content_type, data),) = parts_of(jp2)
    assert content_type == f"image/jp2; transfer-syntax={J2K}" and data[:4] == b"\xff\x4f\xff\x51"


def test_frames_out_of_range_or_unacceptable(world, token_client):
    client = token_client()
    assert client.get(world.url(suffix="/frames/2"), HTTP_ACCEPT=OCTET).status_code == 400
    jpeg = 'multipart/related; type="image/jpeg"'
    assert client.get(world.url(suffix="/frames/1"), HTTP_ACCEPT=jpeg).status_code == 406


def image_of(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_rendered_is_what_the_model_sees(world, token_client):
    client = token_client()
    png = client.get(world.url(suffix="/rendered"), HTTP_ACCEPT="image/png")
    assert png["Content-Type"] == "image/png"
    pipeline = to_uint8(read_dicom(io.BytesIO(world.files["pa"]), max_bytes=10**7))
    assert np.array_equal(image_of(png), pipeline)
    jpeg = client.get(world.url(suffix="/rendered"))
    assert jpeg["Content-Type"] == "image/jpeg" and image_of(jpeg).shape == (64, 64)
    framed = client.get(world.url(world.j2k_sop, "/frames/1/rendered"), HTTP_ACCEPT="image/*")
    assert framed["Content-Type"] == "image/jpeg"


def test_rendered_window_viewport_and_quality(world, token_client):
    client = token_client()
    url = world.url(suffix="/rendered")
    windowed = image_of(client.get(url, {"window": "2048,1000,linear"}, HTTP_ACCEPT="image/png"))
    ds = read_dicom(io.BytesIO(world.files["pa"]), max_bytes=10**7)
    assert np.array_equal(windowed, to_uint8(ds, window=(2048, 1000)))
    small = client.get(url, {"viewport": "32,16"}, HTTP_ACCEPT="image/png")
    assert image_of(small).shape == (16, 16)
    cropped = client.get(url, {"viewport": "10,10,0,0,10,10"}, HTTP_ACCEPT="image/png")
    assert np.array_equal(image_of(cropped), to_uint8(ds)[:10, :10])
    low = client.get(url, {"quality": "5"})
    high = client.get(url, {"quality": "95"})
    assert len(low.content) < len(high.content)


@pytest.mark.parametrize(
    "params",
    [
        {"window": "1,0"},
        {"window": "a,b"},
        {"window": "1,2,cubic"},
        {"viewport": "0,10"},
        {"quality": "101"},
        {"viewport": "10,10,99,99,5,5"},
    ],
)
def test_bad_rendering_parameters_are_400(world, token_client, params):
    assert token_client().get(world.url(suffix="/rendered"), params).status_code == 400


def test_rendered_refuses_media_types_it_cannot_make(world, token_client):
    response = token_client().get(world.url(suffix="/rendered"), HTTP_ACCEPT="image/gif")
    assert response.status_code == 406


def wado(client, world, sop=None, **params):
    sop = sop or world.sop
    series = world.lateral_series if sop == world.j2k_sop else world.series
    query = {
        "requestType": "WADO",
        "studyUID": world.study,
        "seriesUID": series,
        "objectUID": sop,
        **params,
    }
    return client.get("/wado", {k: v for k, v in query.items() if v is not None})


def test_wado_uri_defaults_to_jpeg_and_serves_png_and_dicom(world, token_client):
    client = token_client()
    assert wado(client, world)["Content-Type"] == "image/jpeg"
    png = wado(client, world, contentType="image/png", windowCenter="2048", windowWidth="1000")
    ds = read_dicom(io.BytesIO(world.files["pa"]), max_bytes=10**7)
    assert np.array_equal(image_of(png), to_uint8(ds, window=(2048, 1000)))
    assert image_of(wado(client, world, contentType="image/png", rows="32")).shape == (32, 32)
    dicom = wado(client, world, contentType="application/dicom")
    assert isinstance(dicom, StreamingHttpResponse)
    assert body_of(dicom) == stored_bytes(world, world.sop)
    listed = wado(client, world, contentType="image/gif,image/png")
    assert listed["Content-Type"] == "image/png"
    rle = wado(client, world, world.rle_sop, contentType="application/dicom", transferSyntax=RLE)
    assert body_of(rle) == stored_bytes(world, world.rle_sop)


@pytest.mark.parametrize(
    "params, status",
    [
        ({"requestType": "WADOX"}, 400),
        ({"requestType": None}, 400),
        ({"objectUID": None}, 400),
        ({"studyUID": "1.2.x"}, 400),
        ({"windowCenter": "10"}, 400),
        ({"frameNumber": "0"}, 400),
        ({"contentType": "text/html"}, 406),
        ({"contentType": "application/dicom", "transferSyntax": J2K}, 406),
        ({"objectUID": "1.2.3"}, 404),
    ],
)
def test_wado_uri_rejects_bad_requests(world, token_client, params, status):
    assert wado(token_client(), world, **params).status_code == status
