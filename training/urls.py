from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/new/", views.launch, name="launch"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/<int:pk>/cancel/", views.job_action, {"action": "cancel"}, name="job-cancel"),
    path("jobs/<int:pk>/retry/", views.job_action, {"action": "retry"}, name="job-retry"),
]
