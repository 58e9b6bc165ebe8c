from django.db.models import Count
from rest_framework import viewsets

from lab.access import TeamScopedViewSetMixin

from .models import Instance, Study
from .serializers import InstanceSerializer, StudySerializer


class StudyViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = (
        Study.objects.select_related("team", "report")
        .annotate(instance_count=Count("instances"))
        .order_by("-study_date", "-id")
    )
    serializer_class = StudySerializer


class InstanceViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Instance.objects.select_related("study", "series").order_by("id")
    serializer_class = InstanceSerializer
