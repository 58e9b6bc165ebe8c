"""QIDO-RS searches over the caller's studies, series and instances (PS3.18 §10.6).

Parsing lives in :mod:`labeling.dicomweb.protocol`; this module turns a parsed query into one
scoped queryset (always through :func:`teams.access.visible`) and the page of rows into DICOM JSON.
A page costs a fixed number of queries whatever its size: the rows, then one grouped query per
computed attribute (series and instance counts, modalities in a study).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from django.db.models import Count, Q, QuerySet
from pydicom.datadict import tag_for_keyword

from teams.access import visible

from ..models import Instance, Series, Study
from .protocol import Match, SearchQuery, json_dataset, vr_of, wildcard_regex

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")
MODELS = {"study": Study, "series": Series, "instance": Instance}
# The most rows one response carries; more are announced with a Warning header (PS3.18 §8.3.4).
MAX_RESULTS = 1000


@dataclass(frozen=True)
class Attribute:
    """A QIDO attribute: stored in ``field`` of its level's model, computed (``field`` None,
    ``computed`` True), or known but not kept (neither: returned empty, never matched)."""

    keyword: str
    tag: int
    vr: str
    level: Level
    field: str | None = None
    computed: bool = False

    @property
    def matchable(self) -> bool:
        return self.field is not None or self.keyword == "ModalitiesInStudy"


ATTRIBUTES = {
    a.keyword: a
    for a in [
        Attribute("StudyInstanceUID", 0x0020000D, "UI", "study", "study_uid"),
        Attribute("StudyDate", 0x00080020, "DA", "study", "study_date"),
        Attribute("StudyTime", 0x00080030, "TM", "study", "study_time"),
        Attribute("AccessionNumber", 0x00080050, "SH", "study", "accession_number"),
        Attribute("PatientName", 0x00100010, "PN", "study", "patient_name"),
        Attribute("PatientID", 0x00100020, "LO", "study", "patient_id"),
        Attribute("PatientSex", 0x00100040, "CS", "study", "patient_sex"),
        Attribute("PatientAge", 0x00101010, "AS", "study", "patient_age"),
        Attribute("StudyDescription", 0x00081030, "LO", "study", "description"),
        Attribute("ModalitiesInStudy", 0x00080061, "CS", "study", computed=True),
        Attribute("NumberOfStudyRelatedSeries", 0x00201206, "IS", "study", computed=True),
        Attribute("NumberOfStudyRelatedInstances", 0x00201208, "IS", "study", computed=True),
        Attribute("ReferringPhysicianName", 0x00080090, "PN", "study"),
        Attribute("PatientBirthDate", 0x00100030, "DA", "study"),
        Attribute("StudyID", 0x00200010, "SH", "study"),
        Attribute("SeriesInstanceUID", 0x0020000E, "UI", "series", "series_uid"),
        Attribute("Modality", 0x00080060, "CS", "series", "modality"),
        Attribute("SeriesNumber", 0x00200011, "IS", "series", "series_number"),
        Attribute("SeriesDescription", 0x0008103E, "LO", "series", "description"),
        Attribute("BodyPartExamined", 0x00180015, "CS", "series", "body_part"),
        Attribute("NumberOfSeriesRelatedInstances", 0x00201209, "IS", "series", computed=True),
        Attribute("PerformedProcedureStepStartDate", 0x00400244, "DA", "series"),
        Attribute("SOPInstanceUID", 0x00080018, "UI", "instance", "sop_uid"),
        Attribute("SOPClassUID", 0x00080016, "UI", "instance", "sop_class_uid"),
        Attribute("InstanceNumber", 0x00200013, "IS", "instance", "instance_number"),
        Attribute("Rows", 0x00280010, "US", "instance", "rows"),
        Attribute("Columns", 0x00280011, "US", "instance", "columns"),
        Attribute("BitsStored", 0x00280101, "US", "instance", "bits_stored"),
        Attribute("BitsAllocated", 0x00280100, "US", "instance", computed=True),
        Attribute("NumberOfFrames", 0x00280008, "IS", "instance", "number_of_frames"),
        Attribute("PhotometricInterpretation", 0x00280004, "CS", "instance", "photometric"),
        Attribute("ViewPosition", 0x00185101, "CS", "instance", "view_position"),
        Attribute("AvailableTransferSyntaxUID", 0x00083002, "UI", "instance", "transfer_syntax"),
    ]
}
INSTANCE_AVAILABILITY = 0x00080056
RETRIEVE_URL = 0x00081190

# Returned without includefield (PS3.18 Tables 10.6.3-3, -4 and -5).
DEFAULTS: dict[Level, tuple[str, ...]] = {
    "study": (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "series": (
        "Modality",
        "SeriesDescription",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate",
    ),
    "instance": (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}
# The ORM path from each level's model to the attributes of a level at or above it.
_PREFIX = {
    ("study", "study"): "",
    ("series", "study"): "study__",
    ("series", "series"): "",
    ("instance", "study"): "study__",
    ("instance", "series"): "series__",
    ("instance", "instance"): "",
}
_ORDER: dict[Level, tuple[str, ...]] = {
    "study": ("-study_date", "-id"),
    "series": ("study_id", "series_number", "id"),
    "instance": ("study_id", "series_id", "instance_number", "id"),
}


def levels_up_to(level: Level) -> tuple[Level, ...]:
    return LEVELS[: LEVELS.index(level) + 1]


def matchable_keys(level: Level) -> dict[str, str]:
    """Keyword → VR of every attribute a search at ``level`` can match on."""
    allowed = levels_up_to(level)
    return {a.keyword: a.vr for a in ATTRIBUTES.values() if a.level in allowed and a.matchable}


@dataclass(frozen=True)
class Urls:
    """Absolute RetrieveURLs below the service root (``.../dicomweb``)."""

    root: str

    def study(self, study: str) -> str:
        return f"{self.root}/studies/{study}"

    def series(self, study: str, series: str) -> str:
        return f"{self.study(study)}/series/{series}"

    def instance(self, study: str, series: str, sop: str) -> str:
        return f"{self.series(study, series)}/instances/{sop}"


@dataclass
class SearchResult:
    rows: list[dict]
    more: bool  # a further page exists


def search(
    user,
    level: Level,
    query: SearchQuery,
    urls: Urls,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    with_parents: Iterable[Level] = (),
) -> SearchResult:
    """One page of matches at ``level``, inside a study / series when given.

    ``with_parents`` adds the default attributes of those levels (a top-level ``/series``
    search returns the study attributes too).
    """
    queryset = _scoped(user, level, study_uid, series_uid)
    for match in query.matches.values():
        queryset = _apply(queryset, level, match)
    limit = MAX_RESULTS if query.limit is None else min(query.limit, MAX_RESULTS)
    keywords = _returned(level, query, with_parents)
    fields = _fields(level, keywords)
    window = queryset.order_by(*_ORDER[level]).values(*fields)
    page = list(window[query.offset : query.offset + limit + 1])
    more = len(page) > limit or (query.limit is not None and query.limit > MAX_RESULTS)
    page = page[:limit]
    computed = _computed(level, keywords, page)
    return SearchResult([_row(level, row, keywords, computed, urls) for row in page], more)


def _scoped(user, level: Level, study_uid: str | None, series_uid: str | None) -> QuerySet:
    queryset = visible(MODELS[level], user)
    if study_uid is not None:
        path = "study_uid" if level == "study" else "study__study_uid"
        queryset = queryset.filter(**{path: study_uid})
    if series_uid is not None:
        path = "series_uid" if level == "series" else "series__series_uid"
        queryset = queryset.filter(**{path: series_uid})
    return queryset


def _apply(queryset: QuerySet, level: Level, match: Match) -> QuerySet:
    attribute = ATTRIBUTES[match.keyword]
    if match.kind == "universal":
        return queryset
    if attribute.keyword == "ModalitiesInStudy":
        studies = Series.objects.filter(modality__in=_values(match)).values("study_id")
        path = "pk" if level == "study" else "study_id"
        return queryset.filter(**{f"{path}__in": studies})
    path = _PREFIX[(level, attribute.level)] + attribute.field
    return queryset.filter(_condition(path, match))


def _values(match: Match) -> tuple:
    return match.values if match.kind == "list" else match.values[:1]


def _condition(path: str, match: Match) -> Q:
    if match.kind == "list":
        return Q(**{f"{path}__in": match.values})
    if match.kind == "range":
        low, high = match.values
        condition = Q()
        if low is not None:
            condition &= Q(**{f"{path}__gte": low})
        if high is not None:
            condition &= Q(**{f"{path}__lte": high})
        return condition
    value = match.values[0]
    if match.kind == "wildcard":
        return _wildcard(path, value, case_insensitive=match.vr == "PN")
    if match.vr == "PN":
        return Q(**{f"{path}__iexact": value})
    return Q(**{path: value})


def _wildcard(path: str, pattern: str, *, case_insensitive: bool) -> Q:
    """``ABC*`` becomes a prefix match (indexable); anything else a regular expression."""
    stem = pattern[:-1]
    if pattern.endswith("*") and "*" not in stem and "?" not in stem:
        lookup = "istartswith" if case_insensitive else "startswith"
        return Q(**{f"{path}__{lookup}": stem})
    lookup = "iregex" if case_insensitive else "regex"
    return Q(**{f"{path}__{lookup}": wildcard_regex(pattern)})


def _returned(level: Level, query: SearchQuery, with_parents: Iterable[Level]) -> list[str]:
    allowed = levels_up_to(level)
    keywords = list(DEFAULTS[level])
    for parent in with_parents:
        keywords += DEFAULTS[parent]
    # Each result names its parents, so a client can build the retrieve URL itself.
    keywords += ["StudyInstanceUID", "SeriesInstanceUID"][: LEVELS.index(level)]
    keywords += list(query.matches)
    if query.include_all:
        keywords += [a.keyword for a in ATTRIBUTES.values() if a.level in allowed]
    keywords += sorted(query.include)
    return list(dict.fromkeys(keywords))


def _fields(level: Level, keywords: list[str]) -> list[str]:
    """ORM paths to fetch: the requested stored attributes plus what RetrieveURLs need."""
    fields = ["id", _path(level, "StudyInstanceUID")]
    if level != "study":
        fields += ["study_id", _path(level, "SeriesInstanceUID")]
    if level == "instance":
        fields += ["series_id", "sop_uid", "bits_stored"]
    for keyword in keywords:
        attribute = ATTRIBUTES.get(keyword)
        if attribute and attribute.field and attribute.level in levels_up_to(level):
            fields.append(_path(level, keyword))
    return list(dict.fromkeys(fields))


def _path(level: Level, keyword: str) -> str:
    attribute = ATTRIBUTES[keyword]
    return _PREFIX[(level, attribute.level)] + attribute.field


def _computed(level: Level, keywords: list[str], page: list[dict]) -> dict[str, dict]:
    """Grouped counts and modality sets for the page's studies and series: one query each."""
    wanted = set(keywords)
    study_ids = {row["id"] if level == "study" else row["study_id"] for row in page}
    series_ids = {row["id"] if level == "series" else row.get("series_id") for row in page}
    out: dict[str, dict] = {}
    if "ModalitiesInStudy" in wanted:
        modalities: dict[int, set[str]] = defaultdict(set)
        pairs = Series.objects.filter(study_id__in=study_ids).values_list("study_id", "modality")
        for study_id, modality in pairs.distinct():
            if modality:
                modalities[study_id].add(modality)
        out["ModalitiesInStudy"] = {k: sorted(v) for k, v in modalities.items()}
    if "NumberOfStudyRelatedSeries" in wanted:
        out["NumberOfStudyRelatedSeries"] = _counts(Series, "study_id", study_ids)
    if "NumberOfStudyRelatedInstances" in wanted:
        out["NumberOfStudyRelatedInstances"] = _counts(Instance, "study_id", study_ids)
    if "NumberOfSeriesRelatedInstances" in wanted and level != "study":
        out["NumberOfSeriesRelatedInstances"] = _counts(Instance, "series_id", series_ids)
    return out


def _counts(model, key: str, ids: set[int]) -> dict[int, int]:
    rows = model.objects.filter(**{f"{key}__in": ids}).values(key).annotate(n=Count("id"))
    return {row[key]: row["n"] for row in rows}


def _row(level: Level, row: dict, keywords: list[str], computed: dict, urls: Urls) -> dict:
    study_uid = row[_path(level, "StudyInstanceUID")]
    elements = [(INSTANCE_AVAILABILITY, "CS", ["ONLINE"])]
    if level == "study":
        url = urls.study(study_uid)
    elif level == "series":
        url = urls.series(study_uid, row["series_uid"])
    else:
        url = urls.instance(study_uid, row[_path(level, "SeriesInstanceUID")], row["sop_uid"])
    elements.append((RETRIEVE_URL, "UR", [url]))
    for keyword in keywords:
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None:
            elements.append((_tag(keyword), vr_of(keyword), None))
            continue
        elements.append((attribute.tag, attribute.vr, _value(level, attribute, row, computed)))
    return json_dataset(elements)


def _tag(keyword: str) -> int:
    return tag_for_keyword(keyword)


def _value(level: Level, attribute: Attribute, row: dict, computed: dict) -> list | None:
    if attribute.level not in levels_up_to(level):
        return None
    if attribute.field:
        value = row.get(_path(level, attribute.keyword))
        return None if value is None else [value]
    if attribute.keyword == "BitsAllocated":
        return [16 if row["bits_stored"] > 8 else 8]
    if attribute.keyword in ("ModalitiesInStudy", "NumberOfStudyRelatedSeries") or (
        attribute.keyword == "NumberOfStudyRelatedInstances"
    ):
        key = row["id"] if level == "study" else row["study_id"]
        value = computed.get(attribute.keyword, {}).get(key, 0)
        return value if isinstance(value, list) else [value]
    if attribute.keyword == "NumberOfSeriesRelatedInstances":
        key = row["id"] if level == "series" else row["series_id"]
        return [computed.get(attribute.keyword, {}).get(key, 0)]
    return None
