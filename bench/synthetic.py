"""Registry-scale synthetic data for benchmarks, written with bulk inserts.

Not the demo seeder: this skips the services (their per-row validation and audit would
dominate the set-up time) and writes plausible, already-canonical rows directly.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from decimal import Decimal

from django.db import connection, transaction

from clinical import catalogue
from clinical.models import DoseChange, LabResult, Source, TreatmentCourse, Visit
from registry.models import Membership, MrnKeyField, Patient, PatientIdentity, Role, Site, User

BATCH = 5000
SITES = [
    ("BENCH-A", "Bench Hospital A", "FR"),
    ("BENCH-B", "Bench Hospital B", "DE"),
    ("BENCH-C", "Bench Hospital C", "IT"),
]
LAB_MIX = [
    ("triglycerides", "mg/dL", 80, 3000),
    ("hba1c", "%", 5.0, 12.0),
    ("alt", "U/L", 10, 200),
    ("glucose", "mmol/L", 3.5, 20.0),
    ("leptin", "ng/mL", 0.2, 15),
]


def reset() -> None:
    """Remove earlier benchmark data (everything under the BENCH-* sites)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # The audit table refuses TRUNCATE (append-only); a benchmark database is
            # reset whole, so its owner lifts the guard for this one statement.
            cur.execute("ALTER TABLE registry_auditevent DISABLE TRIGGER audit_append_only_truncate")
            cur.execute(
                "TRUNCATE clinical_labresult, clinical_dosechange, clinical_treatmentcourse, clinical_visit, "
                "clinical_alert, clinical_trendsnapshot, clinical_courseresponse, registry_patientidentity, "
                "registry_auditevent, registry_phenotypeobservation, registry_diagnosis, registry_consent, "
                "registry_geneticfinding, registry_patient CASCADE"
            )
            cur.execute("ALTER TABLE registry_auditevent ENABLE TRIGGER audit_append_only_truncate")
        else:
            Patient.objects.all().delete()


def bench_user(site_code: str = "BENCH-A", role: str = Role.CLINICIAN) -> User:
    site = Site.objects.get(code=site_code)
    user, _ = User.objects.get_or_create(username=f"bench_{role}_{site_code.lower()}")
    Membership.objects.get_or_create(user=user, site=site, defaults={"role": role})
    return user


def _copy(model, rows: list[dict]) -> int:
    """Write ``rows`` (dicts of attname -> value) with PostgreSQL's COPY, filling every
    column a row leaves out as ``bulk_create`` would: callable defaults per row (the
    public UUIDs), other defaults once, ``auto_now``/``auto_now_add`` with one timestamp,
    and each field's ``pre_save`` where it computes the column (the MRN key). An ``id``
    left out comes from the table's sequence. Other databases take ``bulk_create``."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=BATCH)
        return len(rows)
    from django.utils import timezone

    now = timezone.now()
    given = list(rows[0])
    fields = [f for f in model._meta.concrete_fields if f.attname in given or not f.primary_key]
    per_row, constant = [], {}
    for f in fields:
        if f.attname in given:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            constant[f.attname] = now
        elif isinstance(f, MrnKeyField) or f.has_default() and callable(f.default):
            per_row.append(f)
        else:
            constant[f.attname] = f.get_db_prep_save(f.get_default(), connection)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cur, cur.cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            extra = {}
            for f in per_row:
                if isinstance(f, MrnKeyField):
                    extra[f.attname] = f.pre_save(model(mrn=row["mrn"]), True)
                else:
                    extra[f.attname] = f.get_default()
            copy.write_row(
                [row[f.attname] if f.attname in row else extra.get(f.attname, constant.get(f.attname)) for f in fields]
            )
    return len(rows)


def _advance_sequence(model) -> None:
    if connection.vendor == "postgresql":
        table = model._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM \"{table}\"))"
            )


def generate(
    *, patients: int, labs_per_patient: int = 20, seed: int = 1, today: dt.date | None = None
) -> dict[str, float]:
    """Create ``patients`` patients over three sites with visits, labs and metreleptin
    courses (COPY on PostgreSQL; the same rows for the same seed and day). Returns timings
    in seconds."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    t0 = time.perf_counter()
    sites = [Site.objects.get_or_create(code=c, defaults={"name": n, "country": k})[0] for c, n, k in SITES]
    subtypes = list(catalogue.SUBTYPES)
    start_pk = (Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    start_course = (TreatmentCourse.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    timings: dict[str, float] = {}
    with transaction.atomic():
        rows = []
        for i in range(patients):
            pk = start_pk + i
            rows.append(
                {
                    "id": pk,
                    "public_id": uuid.UUID(int=rng.getrandbits(128)),
                    "registry_code": f"LD-{pk:06d}",
                    "home_site_id": sites[i % len(sites)].pk,
                    "sex": rng.choice(["female", "male"]),
                    "birth_year": rng.randint(1950, 2015),
                    "primary_subtype": rng.choice(subtypes),
                    "research_consent": rng.random() < 0.9,
                }
            )
        _copy(Patient, rows)
        _advance_sequence(Patient)
        _copy(
            PatientIdentity,
            [
                {
                    "patient_id": p["id"],
                    "site_id": p["home_site_id"],
                    "family_name": f"Bench{p['id']}",
                    "given_name": "Synthetic",
                    "birth_date": dt.date(p["birth_year"], 1 + p["id"] % 12, 1 + p["id"] % 28),
                    "mrn": f"B{p['id']:08d}",
                    "phone": "",
                    "email": "",
                    "address": "",
                }
                for p in rows
            ],
        )
        timings["patients"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        visits, courses = [], []
        for p in rows:
            years = rng.randint(2, 10)
            first = today - dt.timedelta(days=365 * years)
            for k in range(years * 2):
                visits.append(
                    {
                        "patient_id": p["id"],
                        "site_id": p["home_site_id"],
                        "visit_date": first + dt.timedelta(days=182 * k),
                        "weight_kg": Decimal(rng.randint(35, 95)),
                        "liver_ultrasound": "",
                        "injection_site_finding": "",
                        "injection_site_notes": "",
                        "notes": "",
                        "source": Source.DEMO,
                    }
                )
            if rng.random() < 0.6:
                courses.append(
                    {
                        "id": start_course + len(courses),
                        "patient_id": p["id"],
                        "drug": "metreleptin",
                        "start_date": first + dt.timedelta(days=200),
                        "stop_reason": "",
                        "notes": "",
                        "source": Source.DEMO,
                    }
                )
        _copy(Visit, visits)
        _copy(TreatmentCourse, courses)
        _advance_sequence(TreatmentCourse)
        _copy(
            DoseChange,
            [
                {"course_id": c["id"], "effective_date": c["start_date"], "dose": Decimal("5.000"),
                 "dose_unit": "mg/day", "reason": ""}
                for c in courses
            ],
        )  # fmt: skip
        timings["visits_courses"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        labs = []
        n_labs = 0
        canonical = {}
        for p in rows:
            first = today - dt.timedelta(days=rng.randint(730, 3650))
            span = (today - first).days
            for j in range(labs_per_patient):
                code, unit, lo, hi = LAB_MIX[j % len(LAB_MIX)]
                value = Decimal(str(round(rng.uniform(lo, hi), 1)))
                key = (code, unit, value)
                if key not in canonical:
                    canonical[key] = catalogue.ANALYTES[code].to_canonical(value, unit).quantize(Decimal("1e-10"))
                labs.append(
                    {
                        "patient_id": p["id"],
                        "analyte": code,
                        "value": value,
                        "unit": unit,
                        "canonical_value": canonical[key],
                        "collected_on": first + dt.timedelta(days=span * j // labs_per_patient),
                        "source": Source.DEMO,
                    }
                )
            if len(labs) >= BATCH * 20:
                n_labs += _copy(LabResult, labs)
                labs = []
        n_labs += _copy(LabResult, labs)
        timings["labs"] = time.perf_counter() - t2
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    timings["total"] = time.perf_counter() - t0
    timings["n_labs"] = n_labs
    return timings


def verified_client(user):
    """A test client signed in as ``user`` with a confirmed second factor, as after the
    TOTP step at sign-in (production settings require 2FA for clinical roles)."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from registry import twofactor

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[twofactor.SESSION_ENROLLED] = True
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client
