"""CXR Lab's project shell: settings, root urls, the Celery app, the home page and ``bootstrap``.

The top layer: the only package that may import every app. No app imports it; they read settings
through ``django.conf.settings`` and send tasks through ``celery.current_app``.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
