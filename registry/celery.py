"""The Celery application (Celery's Django guide). Configuration comes from the
``CELERY_*`` settings; tasks are discovered in each app's ``tasks.py``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

# every task counts its deliveries and is parked if it keeps killing its worker
app = Celery("registry", task_cls="ops.task_base:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["registry.exports"])  # registry/exports/tasks.py
