from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = _("Label curation")

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers this app's job kinds)
