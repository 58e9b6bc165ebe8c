from django.urls import path

from . import heatmap_views, views

app_name = "results"
urlpatterns = [
    path("results/", views.run_list, name="run-list"),
    path("results/compare/", views.compare, name="compare"),
    path("results/runs/<int:pk>/", views.run_detail, name="run"),
    path("results/runs/<int:pk>/cases/", views.cases, name="cases"),
    path(
        "results/runs/<int:pk>/heatmaps/<int:instance>/<str:label>/",
        heatmap_views.heatmap,
        name="heatmap",
    ),
    path("results/runs/<int:pk>/disagreements/", views.disagreements, name="disagreements"),
    path(
        "results/runs/<int:pk>/disagreements/review/",
        views.send_disagreements,
        name="disagreements-review",
    ),
    path("results/runs/<int:pk>/card.md", views.model_card_markdown, name="model-card-markdown"),
    path("results/runs/<int:pk>/card.json", views.model_card_json, name="model-card-json"),
    path("results/runs/<int:pk>/metrics.json", views.metrics_json, name="metrics-json"),
    path("results/runs/<int:pk>/metrics.csv", views.metrics_csv, name="metrics-csv"),
    path("results/runs/<int:pk>/predictions.csv", views.predictions_csv, name="predictions-csv"),
]
