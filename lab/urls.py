from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from curation.urls import api_urlpatterns as curation_api
from labeling import urls as labeling_urls
from labeling.api import InstanceViewSet, ReportsUploadView, StudyViewSet, UploadView
from labeling.dicomweb.views import wado_uri
from results import studies
from results.api import RunViewSet
from teams.api import TeamViewSet
from training.api import JobViewSet, RegisteredModelViewSet

from . import views

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("studies", StudyViewSet, basename="study")
router.register("instances", InstanceViewSet, basename="instance")
router.register("jobs", JobViewSet, basename="job")
# Read-only, for notebooks (README, "API"): runs with their metrics and predictions, the registry.
router.register("runs", RunViewSet, basename="run")
router.register("models", RegisteredModelViewSet, basename="model")

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/switch/", views.switch_team, name="switch-team"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/uploads/", UploadView.as_view(), name="api-uploads"),
    path("api/reports/import/", ReportsUploadView.as_view(), name="api-reports-import"),
    path("api/curation/", include(curation_api)),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up code as a script of its own (?script), not
    # inline: the Content-Security-Policy runs no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="lab/api_docs.html"),
        name="api-docs",
    ),
    path("curation/", include("curation.urls")),
    # The store's pages and the study pages built above it share the "labeling" namespace.
    path("", include((labeling_urls.urlpatterns + studies.urlpatterns, "labeling"))),
    path("", include("training.urls")),
    path("", include("results.urls")),
    # DICOMweb (PS3.18) and WADO-URI: labeling/dicomweb/urls.py and labeling/dicomweb/views.py
    path("dicomweb/", include("labeling.dicomweb.urls")),
    path("wado", wado_uri, name="wado"),
]
