"""Parked tasks and heartbeats, for registry administrators (read, and resolve)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from ops.models import Heartbeat, ParkedTask
from registry.admin import manages_registry


class OperatorOnly(admin.ModelAdmin):
    def has_module_permission(self, request) -> bool:
        return manages_registry(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ParkedTask)
class ParkedTaskAdmin(OperatorOnly):
    list_display = ("task_name", "task_id", "deliveries", "parked_at", "resolved_at")
    list_filter = ("resolved_at",)
    readonly_fields = ("task_id", "task_name", "args", "kwargs", "deliveries", "parked_at", "resolved_at")
    actions = ["mark_resolved"]

    def has_change_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)

    @admin.action(description="Mark resolved (the cause is fixed and the work redone)")
    def mark_resolved(self, request, queryset) -> None:
        n = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, f"{n} parked tasks marked resolved.")


@admin.register(Heartbeat)
class HeartbeatAdmin(OperatorOnly):
    list_display = ("name", "seen_at", "detail")
    readonly_fields = ("name", "seen_at", "detail")
