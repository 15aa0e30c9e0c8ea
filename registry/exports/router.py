"""Database router: research exports read from the ``replica`` alias when one is
configured (``DATABASE_REPLICA_URL``); everything else uses ``default``.

Exports mark their reads with :func:`export_reads`; the router sees the mark through a
context variable, so no query elsewhere moves to the replica (a replica lags a little,
which a clinician who just saved a visit must never see)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.conf import settings

REPLICA = "replica"
_exporting: contextvars.ContextVar[bool] = contextvars.ContextVar("exporting", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def export_alias() -> str:
    """The database alias export reads go to."""
    return REPLICA if replica_configured() else "default"


@contextlib.contextmanager
def export_reads() -> Iterator[str]:
    token = _exporting.set(True)
    try:
        yield export_alias()
    finally:
        _exporting.reset(token)


class ExportReadRouter:
    def db_for_read(self, model, **hints):
        if _exporting.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as default

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
