"""application/dicom+xml: the Native DICOM Model (PS3.19 Annex A) for WADO-RS metadata and QIDO-RS
results, as ``multipart/related; type="application/dicom+xml"`` with one document per part."""

import base64
import email
import json
import xml.etree.ElementTree as ET

import pytest
from django.http import StreamingHttpResponse
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from labeling.dicomweb.xml import NAMESPACE, xml_dataset
from tests.labeling.dicomweb_support import token_client_fixture, world_fixture  # noqa: F401

XML = 'multipart/related; type="application/dicom+xml"'
NS = {"d": NAMESPACE}
NAME_PARTS = ["FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"]
NUMBER_VRS = {"IS", "DS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}


def _attribute(root: ET.Element, tag: str) -> ET.Element:
    (found,) = [a for a in root.findall("d:DicomAttribute", NS) if a.get("tag") == tag]
    return found


def read_native(element: ET.Element) -> dict:
    """A Native DICOM Model dataset read back into the DICOM JSON model, written for the test
    from PS3.19 A.1 (not from the serialiser)."""
    out = {}
    for attribute in element.findall("d:DicomAttribute", NS):
        item: dict = {"vr": attribute.get("vr")}
        values = []
        for child in attribute:
            name = child.tag.removeprefix("{" + NAMESPACE + "}")
            if name == "Value":
                values.append((int(child.get("number")), child.text or ""))
            elif name == "PersonName":
                values.append((int(child.get("number")), _person_name(child)))
            elif name == "Item":
                values.append((int(child.get("number")), read_native(child)))
            elif name == "InlineBinary":
                item["InlineBinary"] = child.text
            elif name == "BulkData":
                item["BulkDataURI"] = child.get("uri")
        if values:
            assert [n for n, _ in values] == sorted(n for n, _ in values)
            item["Value"] = [_typed(item["vr"], v) for _, v in values]
        out[attribute.get("tag")] = item
    return out


def _person_name(element: ET.Element) -> dict:
    groups = {}
    for group in element:
        parts = [""] * 5
        for part in group:
            parts[NAME_PARTS.index(part.tag.split("}")[1])] = part.text or ""
        groups[group.tag.split("}")[1]] = "^".join(parts).rstrip("^")
    return groups


def _typed(vr: str, value):
    return float(value) if vr in NUMBER_VRS else value


def _numbers_as_floats(model: dict) -> dict:
    """The JSON model with numbers as floats, to compare with what the reader makes of text."""
    out = {}
    for key, item in model.items():
        item = dict(item)
        if item["vr"] == "SQ":
            item["Value"] = [_numbers_as_floats(v) for v in item.get("Value", [])]
        elif item["vr"] in NUMBER_VRS and "Value" in item:
            item["Value"] = [float(v) for v in item["Value"]]
        out[key] = item
    return out


def _dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Zhang^San^^Dr"
    ds.PatientID = "PID<&>"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows = 64
    ds.PixelSpacing = [0.5, 0.25]
    ds.FrameIncrementPointer = 0x00181063
    ds.add_new(0x00091010, "LO", "")
    ds.ReferencedImageSequence = Sequence([Dataset(), Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence[1].ReferencedSOPInstanceUID = "1.2.4"
    ds.add_new(0x00190010, "LO", "ACME 1.0")
    ds.add_new(0x00191001, "OB", b"\x01\x02\x03\x04")
    return ds


def test_native_model_structure_follows_ps3_19():
    root = ET.fromstring(xml_dataset(_dataset().to_json_dict()))
    assert root.tag == f"{{{NAMESPACE}}}NativeDicomModel"
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    name = _attribute(root, "00100010")
    assert (name.get("vr"), name.get("keyword")) == ("PN", "PatientName")
    alphabetic = name.find("d:PersonName[@number='1']/d:Alphabetic", NS)
    assert [(c.tag.split("}")[1], c.text) for c in alphabetic] == [
        ("FamilyName", "Zhang"),
        ("GivenName", "San"),
        ("NamePrefix", "Dr"),
    ]
    image_type = _attribute(root, "00080008").findall("d:Value", NS)
    assert [(v.get("number"), v.text) for v in image_type] == [
        ("1", "ORIGINAL"),
        ("2", "PRIMARY"),
    ]
    assert _attribute(root, "00100020").find("d:Value", NS).text == "PID<&>"
    assert _attribute(root, "00280010").find("d:Value", NS).text == "64"
    assert _attribute(root, "00280009").find("d:Value", NS).text == "00181063"  # AT: a tag
    assert len(_attribute(root, "00091010")) == 0  # empty value: the attribute alone
    items = _attribute(root, "00081140").findall("d:Item", NS)
    assert [i.get("number") for i in items] == ["1", "2"]
    assert _attribute(items[1], "00081155").find("d:Value", NS).text == "1.2.4"
    private = _attribute(root, "00191001")
    assert private.get("privateCreator") == "ACME 1.0" and private.get("keyword") is None
    assert base64.b64decode(private.find("d:InlineBinary", NS).text) == b"\x01\x02\x03\x04"


def test_the_xml_carries_what_the_json_carries():
    json_model = _dataset().to_json_dict()
    back = read_native(ET.fromstring(xml_dataset(json_model)))
    assert back == _numbers_as_floats(json_model)


def test_gaps_bulk_data_and_unsafe_characters():
    model = {
        "00080008": {"vr": "CS", "Value": ["A", None, "C"]},
        "00081030": {"vr": "LO", "Value": ["bell\x07here"]},
        "7FE00010": {"vr": "OW", "BulkDataURI": "http://x/frames/1?a=1&b=2"},
    }
    root = ET.fromstring(xml_dataset(model))
    numbers = [v.get("number") for v in _attribute(root, "00080008").findall("d:Value", NS)]
    assert numbers == ["1", "3"]
    assert _attribute(root, "00081030").find("d:Value", NS).text == "bell\ufffdhere"
    bulk = _attribute(root, "7FE00010").find("d:BulkData", NS)
    assert bulk.get("uri") == "http://x/frames/1?a=1&b=2"


def xml_parts(response) -> list[ET.Element]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith(XML + "; boundary=")
    head = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + b"".join(response.streaming_content))
    parts = message.get_payload() if message.is_multipart() else []
    assert all(p["Content-Type"] == "application/dicom+xml" for p in parts)
    return [ET.fromstring(p.get_payload(decode=True)) for p in parts]


def test_metadata_in_xml_at_every_level(world, token_client):
    client = token_client()
    (root,) = xml_parts(client.get(world.url(suffix="/metadata"), HTTP_ACCEPT=XML))
    as_json = json.loads(b"".join(client.get(world.url(suffix="/metadata")).streaming_content))
    back = read_native(root)
    assert back["00100010"]["Value"] == [{"Alphabetic": "Zhang^San"}]
    assert back["7FE00010"]["BulkDataURI"] == as_json[0]["7FE00010"]["BulkDataURI"]
    assert back["00020010"]["Value"] == ["1.2.840.10008.1.2.1"]
    series = client.get(
        f"/dicomweb/studies/{world.study}/series/{world.series}/metadata", HTTP_ACCEPT=XML
    )
    study = client.get(f"/dicomweb/studies/{world.study}/metadata", HTTP_ACCEPT=XML)
    assert (len(xml_parts(series)), len(xml_parts(study))) == (2, 3)


def test_qido_results_in_xml_one_part_per_match(world, token_client):
    client = token_client()
    parts = xml_parts(client.get(f"/dicomweb/studies/{world.study}/series", HTTP_ACCEPT=XML))
    found = {_attribute(p, "0020000E").find("d:Value", NS).text for p in parts}
    assert found == {world.series, world.lateral_series}
    query = {"PatientID": "PID-70", "includefield": "all"}
    (study,) = xml_parts(client.get("/dicomweb/studies", query, HTTP_ACCEPT=XML))
    assert read_native(study) == _numbers_as_floats(
        client.get("/dicomweb/studies", query).json()[0]
    )
    assert (
        xml_parts(client.get("/dicomweb/studies", {"PatientID": "nobody"}, HTTP_ACCEPT=XML)) == []
    )


@pytest.mark.parametrize(
    "accept, expected",
    [
        (f"{XML}; q=0.9, application/dicom+json; q=0.5", "multipart/related"),
        (f"{XML}; q=0.5, application/dicom+json", "application/dicom+json"),
        ("*/*", "application/dicom+json"),
    ],
)
def test_q_values_choose_json_or_xml(world, token_client, accept, expected):
    response = token_client().get("/dicomweb/studies", HTTP_ACCEPT=accept)
    assert response.status_code == 200 and response["Content-Type"].startswith(expected)


@pytest.mark.parametrize(
    "accept",
    ["application/dicom+xml", "text/xml", f"{XML}; q=0", 'multipart/related; type="text/xml"'],
)
def test_xml_outside_multipart_is_406(world, token_client, accept):
    client = token_client()
    assert client.get("/dicomweb/studies", HTTP_ACCEPT=accept).status_code == 406
    assert client.get(world.url(suffix="/metadata"), HTTP_ACCEPT=accept).status_code == 406


def test_outsider_gets_404_for_xml_metadata(world, token_client):
    outsider = token_client(world.personas.outsider)
    assert outsider.get(world.url(suffix="/metadata"), HTTP_ACCEPT=XML).status_code == 404
    parts = xml_parts(
        outsider.get("/dicomweb/instances", {"StudyInstanceUID": world.study}, HTTP_ACCEPT=XML)
    )
    assert parts == []


def test_xml_metadata_equals_the_json_metadata(world, token_client):
    """Every attribute the JSON metadata of each instance holds, the XML holds, value for value."""
    client = token_client()
    url = f"/dicomweb/studies/{world.study}/metadata"
    as_json = json.loads(b"".join(client.get(url).streaming_content))
    as_xml = [read_native(root) for root in xml_parts(client.get(url, HTTP_ACCEPT=XML))]
    assert as_xml == [_numbers_as_floats(item) for item in as_json]
