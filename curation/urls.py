"""Curation pages under /curation/ and the curation API under /api/curation/ (lab/urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api, views

app_name = "curation"
urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("clusters/<int:pk>/", views.cluster_detail, name="cluster-detail"),
    path("label-sets/", views.label_sets, name="label-sets"),
    path("label-sets/<int:pk>/", views.label_set_detail, name="label-set-detail"),
    path("review/", views.review_queue, name="review"),
    path("unmapped/", views.unmapped, name="unmapped"),
    path("cues/", views.cues, name="cues"),
    path("cues/review/", views.resplit_review, name="resplit-review"),
    path("distance/", views.distance_settings, name="distance"),
    path("labels/", views.labels, name="labels"),
    path("labels/<int:pk>/", views.label_rename, name="label-rename"),
    path("labels/<int:pk>/move/", views.label_move, name="label-move"),
    path("labels/<int:pk>/delete/", views.label_delete, name="label-delete"),
]

router = SimpleRouter()
router.register("runs", api.RunViewSet, basename="curation-run")
router.register("clusters", api.ClusterViewSet, basename="curation-cluster")
router.register("actions", api.ClusterActionViewSet, basename="curation-action")
router.register("labels", api.LabelViewSet, basename="curation-label")
router.register("label-sets", api.LabelSetViewSet, basename="curation-label-set")
router.register("reviews", api.ReviewViewSet, basename="curation-review")

api_urlpatterns = [
    path("statistics/", api.StatisticsView.as_view(), name="curation-statistics"),
    path("cues/", api.CuesView.as_view(), name="curation-cues"),
    path("distance/", api.DistanceSettingsView.as_view(), name="curation-distance"),
    path("unmapped/", api.UnmappedView.as_view(), name="curation-unmapped"),
    path("unmapped/decide/", api.UnmappedDecisionView.as_view(), name="curation-unmapped-decide"),
    path("auto-label/", api.AutoLabelView.as_view(), name="curation-auto-label"),
    path("", include(router.urls)),
]
