from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/new/", views.launch, name="launch"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/<int:pk>/cancel/", views.job_action, {"action": "cancel"}, name="job-cancel"),
    path("jobs/<int:pk>/retry/", views.job_action, {"action": "retry"}, name="job-retry"),
    path("models/", views.model_list, name="model-list"),
    path("models/<int:pk>/", views.model_detail, name="model-detail"),
    path("models/<int:pk>/edit/", views.model_edit, name="model-edit"),
    path("models/<int:pk>/current/", views.model_current, name="model-current"),
    path("models/<int:pk>/evaluate/", views.model_evaluate, name="model-evaluate"),
    path("models/<int:pk>/predict/", views.model_predict, name="model-predict"),
    path("models/<int:pk>/weights/", views.model_weights, name="model-weights"),
    path("models/<int:pk>/card.md", views.model_card_markdown, name="model-card-markdown"),
]
