"""``/healthz`` (liveness) and ``/readyz`` (readiness) for load balancers, compose and
operators.

``/healthz`` touches nothing: it answers while the process can serve at all, so a
restart is the right remedy when it stops answering. ``/readyz`` checks what serving and
evaluating need: a failed check (database, migrations, broker, worker heartbeat) answers
503; a warning (evaluation backlog, parked tasks) keeps 200 with status "degraded".
Anonymous callers get the status code only; staff get the details as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skipped"
HEARTBEAT_WORKER = "worker"


@dataclass
class Check:
    name: str
    status: str
    detail: str = ""
    value: float | int | None = None


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests; no dependency is consulted."""
    return JsonResponse({"status": "ok"})


_migrations_applied = False  # once true it stays true for this process (new code = new process)


def check_database() -> Check:
    started = time.monotonic()
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check("database", OK, value=round((time.monotonic() - started) * 1000, 1), detail="round trip in ms")


def check_migrations() -> Check:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return Check("migrations", FAIL, detail=f"{len(plan)} migrations not applied", value=len(plan))
        _migrations_applied = True
    return Check("migrations", OK)


def check_broker() -> Check:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return Check("broker", SKIP, detail="no broker configured: tasks run in-process")
    import redis

    timeout = settings.REDIS_SOCKET_TIMEOUT
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check("broker", FAIL, detail=type(exc).__name__)
    finally:
        client.close()
    return Check("broker", OK)


def check_worker() -> Check:
    from ops.models import Heartbeat

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return Check("worker", SKIP, detail="no broker configured: tasks run in-process")
    beat = Heartbeat.objects.filter(name=HEARTBEAT_WORKER).first()
    if beat is None:
        return Check("worker", FAIL, detail="no worker heartbeat recorded yet")
    age = (timezone.now() - beat.seen_at).total_seconds()
    limit = settings.READYZ_HEARTBEAT_MAX_AGE_SECONDS
    status = OK if age <= limit else FAIL
    return Check("worker", status, detail=f"last heartbeat {age:.0f} s ago (limit {limit} s)", value=round(age, 1))


def check_backlog() -> Check:
    from django.db.models import Count, Min

    from registry.models import Patient

    row = Patient.objects.filter(needs_evaluation=True).aggregate(n=Count("id"), oldest=Min("dirty_since"))
    if not row["n"]:
        return Check("evaluation_backlog", OK, detail="no patient awaiting evaluation", value=0)
    age = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
    limit = settings.READYZ_BACKLOG_WARN_SECONDS
    status = OK if age <= limit else WARN
    return Check(
        "evaluation_backlog",
        status,
        detail=f"{row['n']} patients awaiting evaluation, oldest for {age:.0f} s (warning above {limit} s)",
        value=round(age, 1),
    )


def check_parked_tasks() -> Check:
    from ops.models import ParkedTask

    n = ParkedTask.objects.filter(resolved_at__isnull=True).count()
    if n:
        return Check("parked_tasks", WARN, detail=f"{n} tasks parked after repeated worker deaths", value=n)
    return Check("parked_tasks", OK, value=0)


CHECKS: list[Callable[[], Check]] = [
    check_database,
    check_migrations,
    check_broker,
    check_worker,
    check_backlog,
    check_parked_tasks,
]
NEEDS_DATABASE = {"migrations", "worker", "evaluation_backlog", "parked_tasks"}


def run_checks() -> list[Check]:
    results: list[Check] = []
    database_ok = True
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        name = "evaluation_backlog" if name == "backlog" else name
        if not database_ok and name in NEEDS_DATABASE:
            results.append(Check(name, FAIL, detail="database unreachable"))
            continue
        try:
            results.append(check())
        except DatabaseError as exc:
            connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()
            results.append(Check(name, FAIL, detail=type(exc).__name__))
            if name == "database":
                database_ok = False
    return results


def overall(results: list[Check]) -> str:
    statuses = {r.status for r in results}
    if FAIL in statuses:
        return "unavailable"
    return "degraded" if WARN in statuses else "ready"


def _is_staff(request: HttpRequest) -> bool:
    try:
        user = request.user
        if user.is_authenticated:
            return bool(user.is_staff or user.is_superuser)
        from registry.api.authentication import ApiTokenAuthentication

        found = ApiTokenAuthentication().authenticate(request)
        return bool(found and (found[0].is_staff or found[0].is_superuser))
    except Exception:  # database down or a bad token: answer as to an anonymous caller
        return False


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    results = run_checks()
    status = overall(results)
    code = 503 if status == "unavailable" else 200
    if not _is_staff(request):
        return HttpResponse(status=code)
    return JsonResponse(
        {"status": status, "checked_at": timezone.now().isoformat(), "checks": [asdict(r) for r in results]},
        status=code,
    )
