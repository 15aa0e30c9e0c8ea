"""A real Celery worker process on the Redis and PostgreSQL of the run (the machine's, or
the embedded ones `make test` started when none answered).

The worker runs ``celery -A registry worker`` against the test database (committed rows:
these tests are transactional) and the Redis of ``REDIS_URL``. No test here stops the
machine's Redis: "Redis down" means this process publishes to a port nobody listens on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from clinical import services
from clinical.evaluation_store import EVALUATION_LOCK_NAMESPACE
from clinical.models import Alert
from registry.celery import app
from registry.models import Patient
from tests import live
from tests.factories import make_lab, make_patient, make_site, make_user

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
VISIBILITY_TIMEOUT = 3  # seconds: how long a killed worker's message waits before redelivery


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    assert url, "REDIS_URL must point at a Redis for the worker tests (make test provides one)"
    return url


def _database_url() -> str:
    assert connection.settings_dict["ENGINE"].endswith("postgresql"), "the worker tests need PostgreSQL"
    return live.test_database_url()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class Worker:
    def __init__(self, log_dir: Path):
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": _redis_url(),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "DJANGO_SECRET_KEY": "worker-test-not-secret",
            "DJANGO_DEBUG": "0",
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
        ]
        self._out = self.log.open("wb")
        # Own session: a SIGKILL of the group takes every process of this worker with it.
        self.proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        ready = wait_for(lambda: b"ready." in self.log.read_bytes() or self.proc.poll() is not None, 30, 0.1)
        assert ready and self.proc.poll() is None, self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()


@pytest.fixture
def start_worker(tmp_path):
    client = redis.Redis.from_url(_redis_url())
    # Leftovers of an earlier run (queue and unacked messages) would confuse the counts.
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(tmp_path)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def people():
    site = make_site("WRK", "Worker test site", "FR")
    user = make_user("wrk_clin", site=site, role="clinician")
    return site, user


def save_tg(patient, user, value="1200"):
    return make_lab(patient=patient, value=value, collected_on=dt.date(2025, 1, 10), by=user)


def tg_severe(patient):
    return Alert.objects.filter(patient=patient, rule="TG_SEVERE")


def test_lab_saved_through_the_service_raises_tg_severe_and_never_twice(start_worker, people):
    from clinical.tasks import evaluate_patient, recompute_registry

    site, user = people
    start_worker()
    patient = make_patient(site=site, by=user)
    t0 = time.monotonic()
    lab = save_tg(patient, user)
    assert wait_for(lambda: tg_severe(patient).exists(), 10), "no TG_SEVERE within 10 s"
    latency = time.monotonic() - t0
    assert latency < 10

    # The same result saved again unchanged, a repeated evaluation and a full recompute.
    services.lab_result_update(
        result=lab, by=user, reason="saved again", expected_version=lab.version, value="1200", unit="mg/dL"
    )
    before = Patient.objects.get(pk=patient.pk).evaluated_at
    evaluate_patient.delay(patient.pk)
    recompute_registry.delay(chunk_size=10)
    assert wait_for(lambda: Patient.objects.get(pk=patient.pk).evaluated_at > before, 10)
    time.sleep(0.5)  # let the second evaluation (recompute) finish too
    assert tg_severe(patient).count() == 1
    assert Alert.objects.filter(patient=patient).count() == 1


def test_worker_killed_mid_task_redelivers_and_alert_exists_once(start_worker, people):
    site, user = people
    patient = make_patient(site=site, by=user)
    first = start_worker()
    client = redis.Redis.from_url(_redis_url())
    # The registration's own evaluation is done: nothing queued, nothing unacked.
    assert wait_for(lambda: client.llen("celery") == 0 and client.hlen("unacked") == 0, 10)
    # Hold the evaluation lock of this patient from a separate connection, so the worker
    # is provably inside the task (waiting on the lock) when it is killed.
    with psycopg.connect(_database_url().replace("postgres://", "postgresql://"), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", [EVALUATION_LOCK_NAMESPACE, patient.pk])
        save_tg(patient, user)

        def worker_waiting() -> bool:
            row = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s AND objid = %s",
                [EVALUATION_LOCK_NAMESPACE, patient.pk],
            ).fetchone()
            return row[0] > 0

        assert wait_for(worker_waiting, 10), "the worker never started the task"
        first.kill()  # SIGKILL: no ack was sent (acks_late)
        # The message is neither queued nor done: only redelivery can complete it.
        assert client.llen("celery") == 0 and client.hlen("unacked") == 1
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", [EVALUATION_LOCK_NAMESPACE, patient.pk])
    time.sleep(0.5)
    assert not tg_severe(patient).exists()  # the killed task wrote nothing
    time.sleep(VISIBILITY_TIMEOUT)  # the message becomes visible again
    start_worker()
    assert wait_for(lambda: tg_severe(patient).exists(), 20), "the task was not redelivered"
    time.sleep(0.5)
    assert tg_severe(patient).count() == 1


@contextlib.contextmanager
def broker_at(url: str):
    """Point this process's Celery publisher at ``url`` (the web side only)."""
    old = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.broker_url = old
        app._pool = None
        app.amqp._producer_pool = None


def test_redis_unreachable_save_succeeds_and_the_sweep_catches_up(start_worker, people):
    from clinical.tasks import sweep_dirty_patients

    site, user = people
    patient = make_patient(site=site, by=user)
    dead = f"redis://127.0.0.1:{_free_port()}/2"
    with broker_at(dead):
        t0 = time.monotonic()
        lab = save_tg(patient, user)
        elapsed = time.monotonic() - t0
    assert lab.pk and elapsed < 3, f"the save took {elapsed:.1f} s with Redis unreachable"
    p = Patient.objects.get(pk=patient.pk)
    assert p.needs_evaluation and not tg_severe(patient).exists()

    start_worker()  # Redis is reachable again
    sweep_dirty_patients.delay(older_than_seconds=0)
    assert wait_for(lambda: tg_severe(patient).exists(), 10), "the sweep did not evaluate the patient"
    assert wait_for(lambda: not Patient.objects.get(pk=patient.pk).needs_evaluation, 5)


def test_the_worker_keeps_its_database_connection_across_tasks(start_worker, people):
    """A new connection per task costs a new server process and its cold catalogue caches;
    the worker keeps one (checked around each task) while it is usable and young."""
    from clinical.tasks import evaluate_patient

    site, user = people
    patients = [make_patient(site=site, by=user) for _ in range(3)]
    start_worker()

    def worker_backends() -> set[int]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return {row[0] for row in cur.fetchall()}

    def evaluated(patient, after) -> bool:
        at = Patient.objects.get(pk=patient.pk).evaluated_at
        return at is not None and (after is None or at > after)

    before = Patient.objects.get(pk=patients[0].pk).evaluated_at
    evaluate_patient.delay(patients[0].pk)
    assert wait_for(lambda: evaluated(patients[0], before), 10)
    time.sleep(0.3)  # the task's end (acknowledgement, connection check) is done
    first = worker_backends()
    assert first, "the worker closed its connection after the task"
    for p in patients[1:]:
        before = Patient.objects.get(pk=p.pk).evaluated_at
        evaluate_patient.delay(p.pk)
        assert wait_for(lambda p=p, before=before: evaluated(p, before), 10)
    time.sleep(0.3)
    assert worker_backends() == first
