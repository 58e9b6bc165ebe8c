"""CXR Lab: the Django project (settings, urls, Celery app) and the teams & access app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
