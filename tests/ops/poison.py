"""Tasks for the parking test, loaded only by the test's worker (``--include``)."""

from __future__ import annotations

import os
import signal

from celery import shared_task


@shared_task(name="tests.ops.poison.die", acks_late=True, reject_on_worker_lost=True)
def die(marker: str) -> None:
    """Kills its own worker process, like a task that runs out of memory every time."""
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name="tests.ops.poison.fine", acks_late=True, reject_on_worker_lost=True)
def fine(marker: str) -> str:
    return marker
