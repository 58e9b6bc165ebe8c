"""DICOMweb routes (PS3.18): QIDO-RS, WADO-RS and STOW-RS under ``/dicomweb/``.

UIDs are matched by a converter (digits and dots, at most 64 characters), so a malformed UID is
a 404 before any view runs. WADO-URI lives at ``/wado`` (see lab/urls.py).
"""

from django.urls import path, register_converter

from . import views


class UIDConverter:
    regex = r"[0-9]{1,64}(?:\.[0-9]{1,64}){0,63}"

    def to_python(self, value: str) -> str:
        if len(value) > 64:
            raise ValueError("a UID has at most 64 characters")
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameListConverter:
    regex = r"[0-9]{1,6}(?:,[0-9]{1,6}){0,999}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UIDConverter, "uid")
register_converter(FrameListConverter, "frames")

app_name = "dicomweb"
_STUDY = "studies/<uid:study>"
_SERIES = f"{_STUDY}/series/<uid:series>"
_INSTANCE = f"{_SERIES}/instances/<uid:sop>"
urlpatterns = [
    path("studies", views.studies, name="studies"),
    path("series", views.all_series, name="all-series"),
    path("instances", views.all_instances, name="all-instances"),
    path(_STUDY, views.study, name="study"),
    path(f"{_STUDY}/metadata", views.study_metadata, name="study-metadata"),
    path(f"{_STUDY}/rendered", views.study_rendered, name="study-rendered"),
    path(f"{_STUDY}/thumbnail", views.study_thumbnail, name="study-thumbnail"),
    path(f"{_STUDY}/series", views.study_series, name="study-series"),
    path(f"{_STUDY}/instances", views.study_instances, name="study-instances"),
    path(_SERIES, views.series, name="series"),
    path(f"{_SERIES}/metadata", views.series_metadata, name="series-metadata"),
    path(f"{_SERIES}/rendered", views.series_rendered, name="series-rendered"),
    path(f"{_SERIES}/thumbnail", views.series_thumbnail, name="series-thumbnail"),
    path(f"{_SERIES}/instances", views.series_instances, name="series-instances"),
    path(_INSTANCE, views.instance, name="instance"),
    path(f"{_INSTANCE}/metadata", views.instance_metadata, name="instance-metadata"),
    path(f"{_INSTANCE}/rendered", views.instance_rendered, name="instance-rendered"),
    path(f"{_INSTANCE}/thumbnail", views.instance_thumbnail, name="instance-thumbnail"),
    path(f"{_INSTANCE}/frames/<frames:frames>", views.frames, name="frames"),
    path(
        f"{_INSTANCE}/frames/<frames:frames>/rendered", views.frame_rendered, name="frame-rendered"
    ),
    path(
        f"{_INSTANCE}/frames/<frames:frames>/thumbnail",
        views.frame_thumbnail,
        name="frame-thumbnail",
    ),
]
