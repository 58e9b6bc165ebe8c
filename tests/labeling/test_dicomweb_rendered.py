"""Rendered studies and series (one image per instance, multipart/related), thumbnails at every
level, and the cache that spares repeated requests a decode."""

import email
import io
import threading
import time

import numpy as np
import pytest
from django.http import StreamingHttpResponse
from PIL import Image

from labeling.dicom import read_dicom, render_jpeg, to_uint8
from labeling.dicomweb import files
from labeling.models import Instance
from tests.dicom_factory import make_dx
from tests.labeling.dicomweb_support import token_client_fixture, world_fixture  # noqa: F401

JPEG_PARTS = 'multipart/related; type="image/jpeg"'
PNG_PARTS = 'multipart/related; type="image/png"'


@pytest.fixture(autouse=True)
def empty_render_cache():
    files.RENDER_CACHE.clear()
    yield
    files.RENDER_CACHE.clear()


def pipeline(data: bytes, **kwargs) -> np.ndarray:
    return to_uint8(read_dicom(io.BytesIO(data), max_bytes=10**7), **kwargs)


def image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def parts_of(response) -> list[tuple[dict, bytes]]:
    """(headers, body) of each part, parsed by the standard library."""
    assert isinstance(response, StreamingHttpResponse)
    head = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + b"".join(response.streaming_content))
    assert message.is_multipart()
    return [(dict(p.items()), p.get_payload(decode=True)) for p in message.get_payload()]


def series_url(world, series=None, suffix="/rendered") -> str:
    return f"/dicomweb/studies/{world.study}/series/{series or world.series}{suffix}"


def test_series_rendered_is_one_png_per_instance_in_order(world, token_client):
    response = token_client().get(series_url(world), HTTP_ACCEPT=PNG_PARTS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(PNG_PARTS + "; boundary=")
    (pa_headers, pa), (rle_headers, rle) = parts_of(response)
    assert pa_headers["Content-Type"] == "image/png"
    assert pa_headers["Content-Location"].endswith(world.url(suffix="/rendered"))
    assert rle_headers["Content-Location"].endswith(world.url(world.rle_sop, "/rendered"))
    assert np.array_equal(image(pa), pipeline(world.files["pa"]))
    assert np.array_equal(image(rle), pipeline(world.files["rle"]))


def test_study_rendered_defaults_to_jpeg_parts(world, token_client):
    response = token_client().get(f"/dicomweb/studies/{world.study}/rendered")
    assert response["Content-Type"].startswith(JPEG_PARTS)
    parts = parts_of(response)
    assert [h["Content-Type"] for h, _ in parts] == ["image/jpeg"] * 3
    assert all(image(body).shape == (64, 64) for _, body in parts)


def test_rendering_parameters_apply_to_every_part(world, token_client):
    client = token_client()
    params = {"window": "2048,1000", "viewport": "32,16"}
    parts = parts_of(client.get(series_url(world), params, HTTP_ACCEPT=PNG_PARTS))
    expected = files.apply_viewport(
        pipeline(world.files["pa"], window=(2048, 1000)), files.Viewport(32, 16)
    )
    assert np.array_equal(image(parts[0][1]), expected)
    assert all(image(body).shape == (16, 16) for _, body in parts)
    low = parts_of(client.get(series_url(world), {"quality": "5"}))
    high = parts_of(client.get(series_url(world), {"quality": "95"}))
    assert len(low[0][1]) < len(high[0][1])


def test_a_series_of_one_instance_may_be_answered_with_the_bare_image(world, token_client):
    client = token_client()
    bare = client.get(series_url(world, world.lateral_series), HTTP_ACCEPT="image/png")
    assert bare["Content-Type"] == "image/png"
    assert np.array_equal(image(bare.content), pipeline(world.files["lat"]))
    multipart = client.get(series_url(world, world.lateral_series))
    assert len(parts_of(multipart)) == 1  # */*: the multipart form, as for any series


@pytest.mark.parametrize(
    "accept, status, content_type",
    [
        ("image/jpeg", 406, None),  # two instances do not fit one image
        ("image/gif", 406, None),
        ('multipart/related; type="application/dicom"', 406, None),
        ("multipart/related", 406, None),
        (f"{JPEG_PARTS}; q=0.5, {PNG_PARTS}", 200, PNG_PARTS),
        (f"{JPEG_PARTS}, {PNG_PARTS}; q=0.9", 200, JPEG_PARTS),
        (f"{JPEG_PARTS}; q=0, image/*", 406, None),
        ('multipart/related; type="image/*"', 200, JPEG_PARTS),
    ],
)
def test_accept_negotiation_for_series_rendered(world, token_client, accept, status, content_type):
    response = token_client().get(series_url(world), HTTP_ACCEPT=accept)
    assert response.status_code == status
    if content_type:
        assert response["Content-Type"].startswith(content_type)


@pytest.mark.parametrize(
    "params", [{"window": "1,0"}, {"viewport": "0,10"}, {"quality": "0"}, {"window": "x,y"}]
)
def test_bad_parameters_are_400_before_anything_is_sent(world, token_client, params):
    assert token_client().get(series_url(world), params).status_code == 400


def test_undecodable_instances_are_left_out_with_a_warning(world, token_client):
    Instance.objects.filter(sop_uid=world.rle_sop).update(decode_error="codec missing")
    response = token_client().get(series_url(world), HTTP_ACCEPT=PNG_PARTS)
    ((headers, body),) = parts_of(response)
    assert headers["Content-Location"].endswith(world.url(suffix="/rendered"))
    assert "1 instance(s) cannot be decoded" in response["Warning"]
    Instance.objects.filter(sop_uid=world.sop).update(decode_error="codec missing")
    assert token_client().get(series_url(world)).status_code == 406


def test_thumbnails_at_every_level(world, token_client):
    client = token_client()
    urls = [
        f"/dicomweb/studies/{world.study}/thumbnail",
        series_url(world, suffix="/thumbnail"),
        world.url(suffix="/thumbnail"),
        world.url(suffix="/frames/1/thumbnail"),
    ]
    for url in urls:
        response = client.get(url)
        assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg"), url
        assert image(response.content).shape == (64, 64)  # small images are not enlarged
    small = client.get(urls[1], {"viewport": "16,16"}, HTTP_ACCEPT="image/png")
    expected = files.apply_viewport(pipeline(world.files["pa"]), files.Viewport(16, 16))
    assert np.array_equal(image(small.content), expected)
    assert client.get(urls[2], HTTP_ACCEPT="image/gif").status_code == 406
    assert client.get(world.url(suffix="/frames/2/thumbnail")).status_code == 400
    assert client.get(world.url(suffix="/frames/1,1/thumbnail")).status_code == 400


def test_thumbnail_of_a_big_image_fits_256(tmp_path):
    ds = make_dx(rows=600, columns=300, identity=5)
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    options = files.RenderOptions(viewport=files.Viewport(256, 256))
    assert image(files.render_file(str(path), 1, options, "image/png")).shape == (256, 128)


def test_outsider_gets_404_for_rendered_and_thumbnails(world, token_client):
    outsider = token_client(world.personas.outsider)
    for suffix in ("/rendered", "/thumbnail"):
        assert outsider.get(f"/dicomweb/studies/{world.study}{suffix}").status_code == 404
        assert outsider.get(series_url(world, suffix=suffix)).status_code == 404


# --------------------------------------------------------------------------------------------
# The render cache
# --------------------------------------------------------------------------------------------


def test_repeated_requests_are_served_from_the_cache(world, token_client, monkeypatch):
    client = token_client()
    url = world.url(suffix="/rendered")
    first = client.get(url, {"window": "2048,1000"})
    reads, read_full = [], files.read_full

    def counted(path):
        reads.append(path)
        return read_full(path)

    monkeypatch.setattr(files, "read_full", counted)
    again = client.get(url, {"window": "2048,1000"})
    assert again.content == first.content and reads == []
    wado = {
        "requestType": "WADO",
        "studyUID": world.study,
        "seriesUID": world.series,
        "objectUID": world.sop,
        "windowCenter": "2048",
        "windowWidth": "1000",
    }
    assert client.get("/wado", wado).content == first.content  # same image, same parameters
    assert reads == []
    other = client.get(url, {"window": "2048,999"})  # other parameters: rendered afresh
    assert other.status_code == 200 and len(reads) == 1


def test_wado_uri_jpeg_is_the_pipeline_image_encoded_once_cached_or_not(world, token_client):
    client = token_client()
    query = {
        "requestType": "WADO",
        "studyUID": world.study,
        "seriesUID": world.series,
        "objectUID": world.sop,
        "contentType": "image/jpeg",
    }
    expected = render_jpeg(pipeline(world.files["pa"]), quality=90)
    assert client.get("/wado", query).content == expected  # rendered
    assert client.get("/wado", query).content == expected  # from the cache


def test_a_rewritten_file_is_rendered_afresh(tmp_path):
    path = tmp_path / "one.dcm"
    make_dx(identity=1, WindowCenter=2048, WindowWidth=4096).save_as(path, enforce_file_format=True)
    before = files.render_file(str(path), 1, files.RenderOptions(), "image/png")
    time.sleep(0.01)
    ds = make_dx(identity=1, WindowCenter=1000, WindowWidth=500)
    ds.save_as(path, enforce_file_format=True)
    after = files.render_file(str(path), 1, files.RenderOptions(), "image/png")
    assert before != after
    assert np.array_equal(image(after), pipeline(path.read_bytes()))


def test_cache_is_bounded_least_recently_used_first():
    cache = files.RenderCache(max_bytes=10, max_item_bytes=6)
    cache.get(("a",), lambda: b"aaaa")
    cache.get(("b",), lambda: b"bbbb")
    cache.get(("a",), lambda: b"never")  # a hit: a becomes the most recent
    cache.get(("c",), lambda: b"cccc")  # over 10 bytes: b goes
    assert cache.get(("a",), lambda: b"new") == b"aaaa"
    assert cache.get(("b",), lambda: b"BBBB") == b"BBBB"
    cache.get(("big",), lambda: b"x" * 7)  # over the item limit: served, not kept
    assert cache.get(("big",), lambda: b"again") == b"again"


def test_failures_are_not_cached():
    cache = files.RenderCache(max_bytes=100, max_item_bytes=100)

    def broken() -> bytes:
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.get(("k",), broken)
    assert cache.get(("k",), lambda: b"fine") == b"fine"


def test_concurrent_requests_for_one_image_render_it_once():
    cache = files.RenderCache(max_bytes=100, max_item_bytes=100)
    calls = []

    def slow() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return b"image"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("k",), slow))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b"image"] * 6 and len(calls) == 1


def test_later_frames_of_a_multi_frame_image_render(tmp_path):
    """Frame 2 goes through the same lookup table as frame 1, on its own values."""
    ds = make_dx(identity=3, WindowCenter=2048, WindowWidth=4096)
    first = ds.pixel_array
    second = (4095 - first).astype(first.dtype)
    ds.NumberOfFrames = 2
    ds.PixelData = first.tobytes() + second.tobytes()
    path = tmp_path / "two.dcm"
    ds.save_as(path, enforce_file_format=True)
    png = files.render_file(str(path), 2, files.RenderOptions(), "image/png")
    single = make_dx(identity=3, WindowCenter=2048, WindowWidth=4096)
    single.PixelData = second.tobytes()
    assert np.array_equal(image(png), to_uint8(single))
