from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = _("Studies and labels")

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers this app's job kinds)
