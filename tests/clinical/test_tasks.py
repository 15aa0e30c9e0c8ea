"""Tasks in layers: options, JSON arguments, enqueue on commit, the plain bodies with the
database, retries of transient errors only, the sweep, the fan-out and the command."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from clinical import tasks
from clinical.models import Alert, TrendSnapshot
from registry.celery import app
from registry.models import Patient
from tests.factories import make_course, make_lab, make_patient

pytestmark = pytest.mark.django_db


def tg_lab(patient, by, value="1200", on=dt.date(2025, 1, 10)):
    return make_lab(patient=patient, value=value, collected_on=on, by=by)


def test_task_options():
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit
    for t in (tasks.evaluate_patient, tasks.evaluate_patients, tasks.sweep_dirty_patients):
        assert t.acks_late and t.reject_on_worker_lost
        assert OperationalError in t.autoretry_for and Exception not in t.autoretry_for


def test_beat_schedule_names_match_registered_tasks():
    from django.conf import settings

    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_arguments_are_plain_json(patient_a):
    for args in ([patient_a.pk], [[patient_a.pk, 2, 3]], [30, 1000], [500]):
        assert json.loads(json.dumps(args)) == args


def test_enqueue_on_commit_evaluates(patient_a, clinician_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        tg_lab(patient_a, clinician_a)
        assert Patient.objects.get(pk=patient_a.pk).needs_evaluation is True
        assert not Alert.objects.exists()  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: publishes evaluate_patient (eager here)
    assert Alert.objects.get(patient=patient_a).rule == "TG_SEVERE"
    assert Patient.objects.get(pk=patient_a.pk).needs_evaluation is False


def test_enqueue_publishes_the_patient_id(patient_a, clinician_a, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.evaluate_patient, "delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        tg_lab(patient_a, clinician_a)
    assert sent == [(patient_a.pk,)]


def test_transient_error_is_retried(patient_a, monkeypatch):
    calls = []

    def flaky(*, patient_id):
        calls.append(patient_id)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "patient_evaluate", flaky)
    result = tasks.evaluate_patient.apply(args=[patient_a.pk])
    assert result.successful() and calls == [patient_a.pk] * 3


def test_programming_error_is_not_retried(patient_a, monkeypatch):
    calls = []

    def broken(*, patient_id):
        calls.append(patient_id)
        raise ValueError("a bug")

    monkeypatch.setattr(tasks, "patient_evaluate", broken)
    result = tasks.evaluate_patient.apply(args=[patient_a.pk])
    assert result.failed() and len(calls) == 1


def test_sweep_evaluates_flagged_patients_after_the_grace_period(patient_a, patient_b, clinician_a, clinician_b):
    tg_lab(patient_a, clinician_a)  # on_commit never runs in this test transaction: a "lost" message
    tg_lab(patient_b, clinician_b)
    Patient.objects.filter(pk=patient_a.pk).update(dirty_since=timezone.now() - dt.timedelta(minutes=5))
    assert tasks.sweep_dirty_patients.apply().get() == 1  # patient_b is within the grace period
    assert list(Alert.objects.values_list("patient_id", flat=True)) == [patient_a.pk]
    assert tasks.sweep_dirty_patients.apply(kwargs={"older_than_seconds": 0}).get() == 1
    assert Alert.objects.count() == 2
    assert not Patient.objects.filter(needs_evaluation=True).exists()
    assert tasks.sweep_dirty_patients.apply(kwargs={"older_than_seconds": 0}).get() == 0


def test_recompute_registry_fans_out_in_chunks(site_a, clinician_a, monkeypatch):
    patients = [make_patient(site=site_a, by=clinician_a) for _ in range(5)]
    for p in patients:
        tg_lab(p, clinician_a)
    published = []
    real_delay = tasks.evaluate_patients.delay
    monkeypatch.setattr(tasks.evaluate_patients, "delay", lambda ids: published.append(ids) or real_delay(ids))
    assert tasks.recompute_registry.apply(kwargs={"chunk_size": 2}).get() == 3
    assert published == [[p.pk for p in patients[:2]], [p.pk for p in patients[2:4]], [patients[4].pk]]
    assert Alert.objects.filter(rule="TG_SEVERE").count() == 5
    tasks.recompute_registry.apply(kwargs={"chunk_size": 2})  # again: nothing new
    assert Alert.objects.count() == 5


def test_monitoring_check_targets_active_metreleptin_and_open_overdue(patient_a, patient_b, clinician_a, clinician_b):
    make_course(patient=patient_a, by=clinician_a)
    make_course(
        patient=patient_b,
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2021, 1, 1),
        stop_reason="other",
        by=clinician_b,
    )
    assert tasks.monitoring_patient_ids(timezone.localdate()) == [patient_a.pk]
    assert tasks.check_monitoring_overdue.apply().get() == 1
    alert = Alert.objects.get(rule="MONITORING_OVERDUE")
    assert alert.patient_id == patient_a.pk and alert.status == "open"


def test_command_in_process(site_a, clinician_a):
    for _ in range(3):
        tg_lab(make_patient(site=site_a, by=clinician_a), clinician_a)
    out = io.StringIO()
    call_command("recompute_trends", "--chunk-size", "2", "--no-progress", stdout=out)
    assert "Recomputed 3 patient(s), 3 lab result(s)" in out.getvalue()
    assert "3 new alert(s)" in out.getvalue()
    assert TrendSnapshot.objects.count() == 3
    out = io.StringIO()
    call_command("recompute_trends", "--no-progress", stdout=out)
    assert "0 new alert(s); 3 unchanged" in out.getvalue() and Alert.objects.count() == 3
    # computed rows removed by hand: only --force writes them again
    Alert.objects.all().delete()
    call_command("recompute_trends", "--no-progress", stdout=io.StringIO())
    assert not Alert.objects.exists()
    out = io.StringIO()
    call_command("recompute_trends", "--no-progress", "--force", stdout=out)
    assert "3 new alert(s); 0 unchanged" in out.getvalue() and Alert.objects.count() == 3


def test_command_async_publishes_chunks(site_a, clinician_a, monkeypatch):
    for _ in range(3):
        make_patient(site=site_a, by=clinician_a)
    published = []
    monkeypatch.setattr(tasks.evaluate_patients, "delay", lambda ids: published.append(ids))
    out = io.StringIO()
    call_command("recompute_trends", "--async", "--chunk-size", "2", stdout=out)
    assert "Published 2 chunk(s) for 3 patient(s)" in out.getvalue()
    assert [len(c) for c in published] == [2, 1]
    forced = []
    monkeypatch.setattr(tasks.evaluate_patients, "delay", lambda ids, force=False: forced.append(force))
    call_command("recompute_trends", "--async", "--force", "--chunk-size", "2", stdout=io.StringIO())
    assert forced == [True, True]


def test_command_unknown_patient(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="LD-999999"):
        call_command("recompute_trends", "--patient", "LD-999999")
