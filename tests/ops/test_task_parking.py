"""Issue item 4: a task that kills its worker on every delivery is parked after
TASK_MAX_DELIVERIES deliveries (not redelivered forever) and reported by /readyz; a task
that finishes leaves no delivery count behind; only connection errors are retried.

A real prefork Celery worker runs against the machine's Redis (this run's REDIS_URL, on a
queue of its own) and the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import IntegrityError, InterfaceError, OperationalError

from clinical import tasks as clinical_tasks
from ops.models import ParkedTask, TaskDelivery
from registry.celery import app
from tests import live
from tests.factories import make_site, make_user

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
MAX_DELIVERIES = 2


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def worker(tmp_path):
    queue = f"ops-poison-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": live.test_database_url(),
        "DJANGO_SECRET_KEY": "worker-test-not-secret",
        "DJANGO_DEBUG": "0",
        "TASK_MAX_DELIVERIES": str(MAX_DELIVERIES),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "registry", "worker", "--include", "tests.ops.poison",
             "-Q", queue, "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{queue}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for(lambda: b"ready." in log.read_bytes() or proc.poll() is not None, 60), log.read_text()
        assert proc.poll() is None, log.read_text()[-3000:]
        yield queue, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)


def test_a_task_that_keeps_killing_its_worker_is_parked(worker, client):
    queue, log = worker
    marker = uuid.uuid4().hex[:8]
    started = time.monotonic()
    result = app.send_task("tests.ops.poison.die", args=[marker], queue=queue)
    parked = wait_for(lambda: ParkedTask.objects.filter(task_id=result.id).first(), 120)
    took = time.monotonic() - started
    deaths = log.read_text().count("WorkerLostError") + log.read_text().count("exited with 'signal 9")
    print(f"\nparked after {took:.1f} s; worker log mentions {deaths} lost workers")
    assert parked is not None, log.read_text()[-4000:]
    assert parked.task_name == "tests.ops.poison.die"
    assert parked.args == [marker]
    assert parked.deliveries == MAX_DELIVERIES
    assert not TaskDelivery.objects.filter(key__startswith=result.id).exists()
    # parked means acknowledged: nothing of it stays in the queue
    time.sleep(2)
    assert ParkedTask.objects.filter(task_id=result.id).count() == 1
    assert redis.Redis.from_url(os.environ["REDIS_URL"]).llen(queue) == 0

    site = make_site("PARK", "Parking site")
    staff = make_user("park_staff", site=site, role="registry_admin", is_staff=True)
    client.force_login(staff)
    checks = {c["name"]: c for c in client.get("/readyz").json()["checks"]}
    print("readyz parked_tasks:", checks["parked_tasks"])
    assert checks["parked_tasks"]["status"] == "warn" and checks["parked_tasks"]["value"] == 1


def test_a_finished_task_leaves_no_delivery_count(worker):
    queue, log = worker
    result = app.send_task("tests.ops.poison.fine", args=["ok"], queue=queue)
    assert wait_for(lambda: f"{result.id}] succeeded" in log.read_text(), 60), log.read_text()[-3000:]
    assert not TaskDelivery.objects.filter(key__startswith=result.id).exists()
    assert not ParkedTask.objects.exists()


def test_only_connection_errors_are_retried():
    for task in (
        clinical_tasks.evaluate_patient,
        clinical_tasks.evaluate_patients,
        clinical_tasks.sweep_dirty_patients,
    ):
        assert set(task.autoretry_for) == {OperationalError, InterfaceError}, task.name
        assert not issubclass(IntegrityError, tuple(task.autoretry_for))
