from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Training and results")

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers this app's job kinds)
