from rest_framework import viewsets

from .access import teams_for
from .serializers import TeamSerializer


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TeamSerializer

    def get_queryset(self):
        return teams_for(self.request.user).prefetch_related("memberships")
