"""Heavy read-only queries on a streaming replica (``DATABASE_REPLICA_URL``).

Nothing is routed to the replica implicitly: a replica lags, and a user who has just saved
a record must see it. Code that runs a heavy, lag-tolerant read (registry-wide scans,
cohort statistics, research exports) wraps it in ``reading_from_replica()``; without a
replica configured the block reads from the primary. Writes always go to the primary.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

REPLICA = "replica"
_use_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("use_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def reading_from_replica() -> Iterator[str]:
    """Within the block, reads go to the replica when one is configured; yields the alias."""
    token = _use_replica.set(True)
    try:
        yield REPLICA if replica_configured() else "default"
    finally:
        _use_replica.reset(token)


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        if _use_replica.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model, **hints) -> str:
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # both aliases are the same database (the replica is a copy of the primary)
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == "default"
