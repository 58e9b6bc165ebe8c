from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabConfig(AppConfig):
    """The project shell: settings, root urls, the Celery app, the home page, ``bootstrap``."""

    name = "lab"
    verbose_name = _("CXR Lab")

    def ready(self) -> None:
        from .celery import ensure_broker_folders

        ensure_broker_folders()
