"""The Native DICOM Model (PS3.19 Annex A) written from the DICOM JSON model (PS3.18 Annex F).

pydicom reads and writes DICOM JSON but has no XML, so the XML representation
(``application/dicom+xml``) is produced here from the JSON objects the views already build, so
both carry exactly the same attributes::

    <NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM" xml:space="preserve">
      <DicomAttribute tag="00100010" vr="PN" keyword="PatientName">
        <PersonName number="1"><Alphabetic><FamilyName>Zhang</FamilyName>...</Alphabetic>
      </DicomAttribute>
      <DicomAttribute tag="7FE00010" vr="OW" keyword="PixelData"><BulkData uri="..."/>
      ...

Values are numbered from 1; an empty value in a multi-valued attribute keeps its number free.
Sequences hold numbered ``Item`` elements; binary values are ``InlineBinary`` (Base64) or
``BulkData``. Private attributes name their creator (``privateCreator``) from the creator
element of the same dataset. Pure module (no Django).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from pydicom.datadict import keyword_for_tag

NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
DICOM_XML = "application/dicom+xml"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
# PS3.5 6.2: a PN component group is family^given^middle^prefix^suffix.
_NAME_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_NAME_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
# Characters XML 1.0 cannot carry (C0 controls other than tab, LF, CR; lone surrogates; FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_dataset(attributes: Mapping[str, Mapping]) -> bytes:
    """One dataset in the DICOM JSON model as a UTF-8 Native DICOM Model document."""
    root = ET.Element("NativeDicomModel", {"xmlns": NAMESPACE, _XML_SPACE: "preserve"})
    _add_attributes(root, attributes)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _add_attributes(parent: ET.Element, attributes: Mapping[str, Mapping]) -> None:
    for key in sorted(attributes):
        _add_attribute(parent, key, attributes[key], attributes)


def _add_attribute(
    parent: ET.Element, key: str, attribute: Mapping, dataset: Mapping[str, Mapping]
) -> None:
    tag = int(key, 16)
    vr = str(attribute.get("vr", "UN"))
    element = ET.SubElement(parent, "DicomAttribute", {"tag": key.upper(), "vr": vr})
    if tag >> 16 & 1:
        if creator := _private_creator(tag, dataset):
            element.set("privateCreator", creator)
    elif keyword := keyword_for_tag(tag):
        element.set("keyword", keyword)
    if "BulkDataURI" in attribute:
        ET.SubElement(element, "BulkData", {"uri": _clean(attribute["BulkDataURI"])})
    elif "InlineBinary" in attribute:
        ET.SubElement(element, "InlineBinary").text = _clean(attribute["InlineBinary"])
    for number, value in enumerate(attribute.get("Value") or (), start=1):
        if value is not None:
            _add_value(element, vr, number, value)


def _add_value(element: ET.Element, vr: str, number: int, value: object) -> None:
    if vr == "SQ":
        item = ET.SubElement(element, "Item", {"number": str(number)})
        _add_attributes(item, value)  # type: ignore[arg-type]
    elif vr == "PN":
        _add_person_name(element, number, value)  # type: ignore[arg-type]
    else:
        ET.SubElement(element, "Value", {"number": str(number)}).text = _text(value)


def _add_person_name(element: ET.Element, number: int, value: Mapping[str, str]) -> None:
    name = ET.SubElement(element, "PersonName", {"number": str(number)})
    for group in _NAME_GROUPS:
        if not value.get(group):
            continue
        components = ET.SubElement(name, group)
        for part, text in zip(_NAME_PARTS, value[group].split("^"), strict=False):
            if text:
                ET.SubElement(components, part).text = _clean(text)


def _private_creator(tag: int, dataset: Mapping[str, Mapping]) -> str:
    """The Private Creator value reserving the block of ``tag`` (PS3.5 7.8.1), or ''."""
    element = tag & 0xFFFF
    if element < 0x1000:
        return ""
    creator = dataset.get(f"{tag >> 16:04X}00{element >> 8:02X}", {})
    values = creator.get("Value") or [""]
    return _clean(str(values[0] or ""))


def _text(value: object) -> str:
    if isinstance(value, bool):  # never in DICOM JSON; kept out of the int branch anyway
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return _clean(str(value))


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
