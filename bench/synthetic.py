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
from registry.models import Membership, Patient, PatientIdentity, Role, Site, User

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


def generate(
    *, patients: int, labs_per_patient: int = 20, seed: int = 1, today: dt.date | None = None
) -> dict[str, float]:
    """Create ``patients`` patients over three sites with visits, labs and metreleptin
    courses. Returns timings in seconds."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    t0 = time.perf_counter()
    sites = [Site.objects.get_or_create(code=c, defaults={"name": n, "country": k})[0] for c, n, k in SITES]
    subtypes = list(catalogue.SUBTYPES)
    start_pk = (Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    timings: dict[str, float] = {}
    with transaction.atomic():
        rows = []
        for i in range(patients):
            pk = start_pk + i
            rows.append(
                Patient(
                    pk=pk,
                    public_id=uuid.UUID(int=rng.getrandbits(128)),
                    registry_code=f"LD-{pk:06d}",
                    home_site=sites[i % len(sites)],
                    sex=rng.choice(["female", "male"]),
                    birth_year=rng.randint(1950, 2015),
                    primary_subtype=rng.choice(subtypes),
                    research_consent=rng.random() < 0.9,
                )
            )
        Patient.objects.bulk_create(rows, batch_size=BATCH)
        PatientIdentity.objects.bulk_create(
            [
                PatientIdentity(
                    patient_id=p.pk,
                    site=p.home_site,
                    family_name=f"Bench{p.pk}",
                    given_name="Synthetic",
                    birth_date=dt.date(p.birth_year, 1 + p.pk % 12, 1 + p.pk % 28),
                    mrn=f"B{p.pk:08d}",
                )
                for p in rows
            ],
            batch_size=BATCH,
        )
        timings["patients"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        visits, courses = [], []
        for p in rows:
            years = rng.randint(2, 10)
            first = today - dt.timedelta(days=365 * years)
            for k in range(years * 2):
                visits.append(
                    Visit(
                        patient_id=p.pk,
                        site=p.home_site,
                        visit_date=first + dt.timedelta(days=182 * k),
                        weight_kg=Decimal(rng.randint(35, 95)),
                        source=Source.DEMO,
                    )
                )
            if rng.random() < 0.6:
                courses.append(
                    TreatmentCourse(
                        patient_id=p.pk,
                        drug="metreleptin",
                        start_date=first + dt.timedelta(days=200),
                        source=Source.DEMO,
                    )
                )
        Visit.objects.bulk_create(visits, batch_size=BATCH)
        TreatmentCourse.objects.bulk_create(courses, batch_size=BATCH)
        DoseChange.objects.bulk_create(
            [
                DoseChange(course=c, effective_date=c.start_date, dose=Decimal("5.000"), dose_unit="mg/day")
                for c in courses
            ],
            batch_size=BATCH,
        )
        timings["visits_courses"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        labs = []
        n_labs = 0
        for p in rows:
            first = today - dt.timedelta(days=rng.randint(730, 3650))
            span = (today - first).days
            for j in range(labs_per_patient):
                code, unit, lo, hi = LAB_MIX[j % len(LAB_MIX)]
                analyte = catalogue.ANALYTES[code]
                value = Decimal(str(round(rng.uniform(lo, hi), 1)))
                labs.append(
                    LabResult(
                        patient_id=p.pk,
                        analyte=code,
                        value=value,
                        unit=unit,
                        canonical_value=analyte.to_canonical(value, unit).quantize(Decimal("1e-10")),
                        collected_on=first + dt.timedelta(days=span * j // labs_per_patient),
                        source=Source.DEMO,
                    )
                )
            if len(labs) >= BATCH * 4:
                LabResult.objects.bulk_create(labs, batch_size=BATCH)
                n_labs += len(labs)
                labs = []
        LabResult.objects.bulk_create(labs, batch_size=BATCH)
        n_labs += len(labs)
        timings["labs"] = time.perf_counter() - t2
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    timings["total"] = time.perf_counter() - t0
    timings["n_labs"] = n_labs
    return timings
