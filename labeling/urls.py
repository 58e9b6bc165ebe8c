from django.urls import path

from . import dimse_views, views

app_name = "labeling"  # lab/urls.py adds the study pages (results/studies.py) to it
urlpatterns = [
    path("upload/", views.upload, name="upload"),
    path("pacs/", views.pacs, name="pacs"),
    path("pacs/listener/", dimse_views.dicom_listener, name="dicom-listener"),
    path("pacs/<int:pk>/test/", views.pacs_test, name="pacs-test"),
    path("instances/<int:pk>/thumbnail.png", views.thumbnail, name="instance-thumbnail"),
]
