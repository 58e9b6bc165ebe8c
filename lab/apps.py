from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabConfig(AppConfig):
    name = "lab"
    verbose_name = _("Teams and access")

    def ready(self) -> None:
        from .celery import ensure_broker_folders

        ensure_broker_folders()
