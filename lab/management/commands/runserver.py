"""Django's development server, refusing DEBUG=1 on a non-loopback address."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.core.management.commands.runserver import Command as RunserverCommand

from lab.safety import check_bind


class Command(RunserverCommand):
    def handle(self, *args, **options):
        addrport = options.get("addrport") or f"{self.default_addr}:{self.default_port}"
        bind = addrport if ":" in addrport else f"{self.default_addr}:{addrport}"
        try:
            check_bind(bind, settings.DEBUG)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        return super().handle(*args, **options)
