from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: health and readiness, logging, fault handling, background jobs, backups."""

    name = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ops import celery_hooks  # noqa: F401 - connects the Celery signal handlers
