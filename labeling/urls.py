from django.urls import path

from . import views

app_name = "labeling"
urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("upload/", views.upload, name="upload"),
    path("pacs/", views.pacs, name="pacs"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
    path("instances/<int:pk>/thumbnail.png", views.thumbnail, name="instance-thumbnail"),
]
