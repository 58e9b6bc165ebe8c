from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TeamsConfig(AppConfig):
    """The bottom layer: teams, memberships, roles and the team-scoped querysets that decide
    who sees what. It imports no other project app."""

    name = "teams"
    verbose_name = _("Teams and access")
