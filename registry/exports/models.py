"""One research export job: who asked, with which filters, how far it got, what it wrote."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ExportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    class Format(models.TextChoices):
        CSV = "csv", "CSV bundle (zip)"
        PARQUET = "parquet", "Parquet bundle (zip)"
        FHIR = "fhir", "FHIR R4B NDJSON (zip)"
        PHENOPACKETS = "phenopackets", "GA4GH Phenopackets v2 (zip)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Empty for an export run by the operator at the server's shell (the export command).
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="export_jobs"
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    file = models.CharField(max_length=255, blank=True, help_text="File name under EXPORT_DIR")
    # The command writes into a directory of the operator's choice: where, for the record.
    output = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "registry"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requester", "created_at"], name="exportjob_requester_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="exportjob_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"export {self.public_id} ({self.format}, {self.status})"
