"""The Celery app, started as ``celery -A apps.config.celery:app worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

app = Celery("vivid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
