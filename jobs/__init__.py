"""The jobs layer, shared by every app: the ``Job`` row (the source of truth for long work), the
services that move it through its states, the runner registry each app fills from its own
``jobs.py``, and the Celery task and worker loop (claim, heartbeat, progress, reaper).

It imports ``teams`` and no domain app: a new job kind is one ``@runner("kind")`` in its own
app's ``jobs.py``, imported from that app's ``AppConfig.ready()``.
"""
