from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        # Account events (sign-in, lockout, password, roles, deactivation) go to the audit trail.
        from registry import account_events

        account_events.connect_axes()
        # The export tasks live below the app package, where Celery's autodiscovery does not
        # look by default: register them with the app (the beat schedule names one).
        from registry.exports import tasks  # noqa: F401
