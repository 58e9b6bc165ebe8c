"""The pure DICOMweb wire formats: Accept, multipart, DICOM JSON, QIDO parameters, rendering
parameters. No Django, no files."""

import io
from datetime import date, time

import numpy as np
import pytest

from labeling.dicomweb import files
from labeling.dicomweb import protocol as p

ELE, RLE, J2K = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"
FRAME_OFFERS = [
    p.Offer(p.OCTET_STREAM, RLE, multipart=True),
    p.Offer("image/dicom-rle", RLE, multipart=True),
    p.Offer(p.OCTET_STREAM, ELE, multipart=True),
]


def choose(accept: str | None, offers=FRAME_OFFERS) -> p.Offer:
    return p.negotiate(p.parse_accept(accept), offers)


def test_accept_parsing_keeps_quoted_commas_and_reads_q():
    ranges = p.parse_accept('multipart/related; type="a/b,c"; q=0.3, image/*;q=1')
    assert [(r.essence, dict(r.params), r.q) for r in ranges] == [
        ("multipart/related", {"type": "a/b,c"}, 0.3),
        ("image/*", {}, 1.0),
    ]
    assert p.parse_accept(None)[0].essence == "*/*"


@pytest.mark.parametrize("header", ["text", "a/b; q=2", "a/b; q=high", "a/b; =x"])
def test_malformed_accept_headers_are_bad_requests(header):
    with pytest.raises(p.BadRequest):
        p.parse_accept(header)


def test_frames_default_to_native_and_wildcard_syntax_takes_what_is_stored():
    assert choose('multipart/related; type="application/octet-stream"').transfer_syntax == ELE
    wildcard = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    assert choose(wildcard).transfer_syntax == RLE
    assert (
        choose(f"multipart/related; type=application/octet-stream; transfer-syntax={RLE}")
        == (FRAME_OFFERS[0])
    )
    assert choose('multipart/related; type="image/dicom-rle"').media_type == "image/dicom-rle"
    assert choose("*/*") == FRAME_OFFERS[0]
    assert choose('multipart/related; type="*/*"') == FRAME_OFFERS[0]
    assert choose("multipart/related") == FRAME_OFFERS[2]  # no type: octet-stream, native


def test_the_more_specific_range_and_then_the_higher_q_win():
    accept = (
        'multipart/related; type="application/octet-stream"; transfer-syntax=*; q=0.4, '
        f'multipart/related; type="application/octet-stream"; transfer-syntax={ELE}'
    )
    assert choose(accept).transfer_syntax == ELE
    refuse_native = "*/*, multipart/related; type=application/octet-stream; q=0"
    assert choose(refuse_native).transfer_syntax == RLE


def test_nothing_acceptable_raises_not_acceptable_with_the_alternatives():
    with pytest.raises(p.NotAcceptable, match="application/octet-stream"):
        choose(f'multipart/related; type="application/octet-stream"; transfer-syntax={J2K}')
    with pytest.raises(p.NotAcceptable):
        choose("image/jpeg")


def test_content_types_state_the_transfer_syntax():
    offer = p.Offer(p.DICOM, ELE, multipart=True)
    assert offer.content_type("b1") == (
        f'multipart/related; type="application/dicom"; transfer-syntax={ELE}; boundary=b1'
    )
    assert offer.part_content_type == f"application/dicom; transfer-syntax={ELE}"
    assert p.Offer("image/png").content_type() == "image/png"


class Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, to split boundaries."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


def roundtrip(bodies: list[bytes], step: int, chunk_size: int, limit: int = 10**6):
    boundary = p.new_boundary()
    parts = [p.OutPart("application/dicom", [b[:3], b[3:]]) for b in bodies]
    wire = b"preamble to ignore\r\n" + b"".join(p.multipart_body(parts, boundary))
    received = []
    for part in p.read_multipart(
        Trickle(wire, step), boundary, io.BytesIO, max_part_bytes=limit, chunk_size=chunk_size
    ):
        received.append((part.content_type, part.body.read(), part.overflowed))
    return received


@pytest.mark.parametrize("step, chunk_size", [(1, 1), (7, 5), (4096, 64), (10**6, 10**6)])
def test_multipart_written_is_read_back_whatever_the_chunking(step, chunk_size):
    bodies = [b"\r\n--almost a boundary\r\n" * 3, b"", bytes(range(256)) * 10]
    received = roundtrip(bodies, step, chunk_size)
    assert [body for _, body, _ in received] == bodies
    assert {content_type for content_type, _, _ in received} == {"application/dicom"}


def test_a_part_over_the_limit_is_flagged_not_kept():
    (_, body, overflowed), (_, small, ok) = roundtrip([b"x" * 100, b"y" * 10], 16, 8, limit=50)
    assert overflowed and len(body) == 50 and small == b"y" * 10 and not ok


@pytest.mark.parametrize(
    "wire",
    [
        b"no boundary here",
        b"--B\r\nContent-Type: a/b\r\n\r\nbody never closed",
        b"--B\r\nno colon header line\r\n\r\nbody\r\n--B--",
        b"--Bjunk\r\n\r\nbody\r\n--B--",
    ],
)
def test_malformed_multipart_bodies_raise(wire):
    with pytest.raises(p.MultipartError):
        list(p.read_multipart(io.BytesIO(wire), "B", io.BytesIO, max_part_bytes=100))


def test_request_content_types_for_stow():
    assert p.boundary_of('multipart/related; type="application/dicom"; boundary="x y"', p.DICOM)
    with pytest.raises(p.Unsupported):
        p.boundary_of("application/dicom", p.DICOM)
    with pytest.raises(p.BadRequest):
        p.boundary_of("multipart/related; type=application/dicom", p.DICOM)


def test_dicom_json_values_by_vr():
    body = p.json_dataset(
        [
            (0x00100010, "PN", ["Li^Si"]),
            (0x00080020, "DA", [date(2019, 3, 15)]),
            (0x00080030, "TM", [time(10, 15, 30, 250000)]),
            (0x00200013, "IS", ["12"]),
            (0x00080090, "PN", [""]),
            (0x00080005, "CS", None),
        ]
    )
    assert list(body) == ["00080005", "00080020", "00080030", "00080090", "00100010", "00200013"]
    assert body["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Li^Si"}]}
    assert body["00080020"]["Value"] == ["20190315"]
    assert body["00080030"]["Value"] == ["101530.250000"]
    assert body["00200013"]["Value"] == [12]
    assert body["00080090"] == {"vr": "PN"} and body["00080005"] == {"vr": "CS"}


def test_store_response_statuses_and_sequences():
    ok = p.StoreOutcome("1.2", "1.2.3", retrieve_url="http://x/studies/9/series/8/instances/1.2.3")
    bad = p.StoreOutcome("", "", failure_reason=p.CANNOT_UNDERSTAND)
    assert p.store_response([ok])[0] == 200
    status, body = p.store_response([ok, bad], "http://x/studies/9")
    assert status == 202 and body["00081190"]["Value"] == ["http://x/studies/9"]
    assert body["00081198"]["Value"][0]["00081197"] == {"vr": "US", "Value": [0xC000]}
    assert body["00081199"]["Value"][0]["00081155"]["Value"] == ["1.2.3"]
    assert p.store_response([bad])[0] == 409


MATCHABLE = {"PatientID": "LO", "StudyDate": "DA", "StudyTime": "TM", "StudyInstanceUID": "UI"}


def test_search_parameters_parse_into_typed_matches():
    query = p.parse_search(
        [
            ("00100020", "AB*"),
            ("StudyDate", "20190101-"),
            ("StudyTime", "1015"),
            ("StudyInstanceUID", "1.2,3.4"),
            ("limit", "5"),
            ("includefield", "PatientAge,all"),
            ("StationName", "X"),
            ("", ""),
        ],
        MATCHABLE,
    )
    assert query.matches["PatientID"] == p.Match("PatientID", "LO", "wildcard", ("AB*",))
    assert query.matches["StudyDate"].values == (date(2019, 1, 1), None)
    assert query.matches["StudyTime"].values == (time(10, 15), time(10, 15, 59, 999999))
    assert query.matches["StudyInstanceUID"].values == ("1.2", "3.4")
    assert (query.limit, query.include, query.include_all) == (5, {"PatientAge"}, True)
    assert query.ignored == ["StationName"] and "StationName" in query.warnings()[0]


def test_wildcards_become_anchored_regular_expressions():
    assert p.wildcard_regex("Zh?ng*.x") == r"^Zh.ng.*\.x$"


def test_window_viewport_and_quality_parameters():
    assert files.parse_window("40,400") == (40.0, 400.0, "LINEAR")
    assert files.parse_window("40,400,SIGMOID") == (40.0, 400.0, "SIGMOID")
    assert files.parse_viewport("64,32") == files.Viewport(64, 32)
    assert files.parse_viewport("8,8,1,2,3,-4").region == (1, 2, 3, -4)
    for bad in ("1", "1,2,3", "a,b", "1,0"):
        with pytest.raises(p.BadRequest):
            files.parse_window(bad)
    with pytest.raises(p.BadRequest):
        files.parse_viewport("1.5,2")
    with pytest.raises(p.BadRequest):
        files.parse_quality("0")


def test_viewport_keeps_the_aspect_ratio_and_flips_negative_regions():
    image = np.arange(40 * 20, dtype=np.uint8).reshape(40, 20)
    assert files.apply_viewport(image, files.Viewport(10, 10)).shape == (10, 5)
    flipped = files.apply_viewport(image, files.Viewport(20, 40, (20, 0, -20, 40)))
    assert np.array_equal(flipped, image[:, ::-1])


def test_frame_lists():
    assert files.parse_frame_list("1,3,2") == [1, 3, 2]
    with pytest.raises(p.BadRequest):
        files.parse_frame_list("1,,2")
    with pytest.raises(p.BadRequest):
        files.check_frames([1, 2], 1)
