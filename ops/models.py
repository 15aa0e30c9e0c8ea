"""Operational state kept in the database (it must survive a Redis restart)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Heartbeat(models.Model):
    """The last time a component proved it was alive: ``worker`` is stamped by a task a
    worker runs every minute (scheduled by beat), so it proves beat, broker and worker."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class TaskDelivery(models.Model):
    """How many times one message (task id + retry number) started without finishing.
    The row is deleted when the task body returns or raises; a worker that dies mid-task
    leaves it, so the next delivery counts one more."""

    key = models.CharField(max_length=120, unique=True)
    task_name = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.deliveries} deliveries"


class ParkedTask(models.Model):
    """A message that kept killing its worker: set aside after ``TASK_MAX_DELIVERIES``
    deliveries, reported by /readyz until an operator resolves it."""

    task_id = models.CharField(max_length=80)
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    deliveries = models.PositiveIntegerField()
    parked_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-parked_at"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id} ({self.deliveries} deliveries)"


class LabImportJob(models.Model):
    """The background confirmation of one lab import, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    lab_import = models.OneToOneField("clinical.LabImport", on_delete=models.CASCADE, related_name="job")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    # rows identical to stored results are left out (the preview's "skip existing" choice)
    skip_existing = models.BooleanField(default=False)
    # The user confirmed the rows marked unit-suspect in the preview (one confirmation for all).
    confirm_unusual = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import job {self.lab_import_id} {self.status} {self.processed}/{self.total}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0
