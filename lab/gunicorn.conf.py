"""gunicorn settings: ``gunicorn -c lab/gunicorn.conf.py lab.wsgi``.

BIND (default 127.0.0.1:8000), WEB_WORKERS and WEB_THREADS come from the environment. Loading the
Django settings here makes a production start without a proper SECRET_KEY fail at once.
"""

import os
import sys

import django
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
bind = [os.environ.get("BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 120
accesslog = "-"


def on_starting(server) -> None:
    try:
        django.setup()
        from django.conf import settings

        from lab.safety import check_bind

        for address in server.cfg.bind:
            check_bind(address, settings.DEBUG)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"cxr-lab: {exc}\n")
        sys.exit(1)
