"""The worker heartbeat /readyz reads."""

from __future__ import annotations

from django.utils import timezone

from ops.models import Heartbeat

WORKER = "worker"


def stamp(*, name: str = WORKER, detail: str = "") -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now(), "detail": detail[:200]})
