"""Seed the synthetic demo cohort and the demo users (idempotent).

Everything is written through the services, so the demo data passes the same
validation as a clinician's entries. Patients already present (same site and MRN) and
users already present (same username) are left as they are.
"""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from clinical import services as clinical_services
from clinical.evaluation import patients_evaluate
from clinical.models import Alert, AlertStatus, Source
from registry import access, demo
from registry import services as registry_services
from registry.models import Membership, Patient, Site, User


class Command(BaseCommand):
    help = "Create the synthetic demo cohort (3 sites, ~60 patients) and a demo user for every role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=60, help="number of demo patients (default 60)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--i-know-this-is-not-production",
            action="store_true",
            dest="not_production",
            help="seed even though DJANGO_DEBUG is off (a test or benchmark database)",
        )

    def handle(self, *args, patients: int, seed: int, not_production: bool = False, **options) -> None:
        # The demo users share a published password: never on a production database.
        if not (settings.DEBUG or not_production):
            raise CommandError(
                "seed_demo creates logins with a published password. It runs only with DJANGO_DEBUG=1, "
                "or with --i-know-this-is-not-production on a database that is not production."
            )
        started = time.monotonic()
        today = timezone.localdate()
        sites = self._sites()
        users = self._users(sites)
        existing = set(access.identities_at_sites(sites.values()).values_list("site__code", "mrn"))
        created = 0
        for plan in demo.cohort_plan(patients, seed=seed, today=today):
            if (plan.site, plan.mrn) in existing:
                continue
            self._patient(plan, sites[plan.site], users[demo.CLINICIAN_OF_SITE[plan.site]])
            created += 1
        evaluated = self._evaluate(sites)
        acknowledged = self._acknowledge_history(sites, users, today)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Demo cohort: {created} patients created, {patients - created} already present "
            f"(seed {seed}, {elapsed:.1f} s); {evaluated} evaluated, "
            f"{acknowledged} historic alert(s) acknowledged."
        )
        self._print_logins()

    # -- sites and users -------------------------------------------------------------
    def _sites(self) -> dict[str, Site]:
        out = {}
        for s in demo.SITES:
            out[s.code] = Site.objects.get_or_create(code=s.code, defaults={"name": s.name, "country": s.country})[0]
        return out

    def _users(self, sites: dict[str, Site]) -> dict[str, User]:
        out = {}
        hashed = None  # one password for every demo login: hash it once (PBKDF2 is slow on purpose)
        for u in demo.USERS:
            user = User.objects.filter(username=u.username).first()
            if user is None:
                user = User(
                    username=u.username,
                    first_name=u.first_name,
                    last_name=u.last_name,
                    unit_system=u.unit_system,
                    email=f"{u.username}@demo.invalid",
                    is_staff=u.role != "researcher",  # researchers have no admin
                    is_superuser=u.role == "superuser",
                )
                validate_password(demo.DEMO_PASSWORD, user)
                hashed = hashed or make_password(demo.DEMO_PASSWORD)
                user.password = hashed
                user.save()
            for code in u.sites:
                Membership.objects.get_or_create(user=user, site=sites[code], defaults={"role": u.role})
            out[u.username] = user
        return out

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {demo.DEMO_PASSWORD}):")
        for u in demo.USERS:
            where = ", ".join(u.sites) if u.sites else "all sites, Django admin"
            self.stdout.write(f"  {u.username:<15} {u.role:<15} {where}")

    # -- alerts ------------------------------------------------------------------------
    def _evaluate(self, sites: dict[str, Site]) -> int:
        """Evaluate the demo patients still flagged now, whether or not a worker runs, so
        the historic alerts below exist."""
        ids = list(
            access.at_sites(Patient.objects.filter(needs_evaluation=True), sites.values())
            .order_by("id")
            .values_list("id", flat=True)
        )
        done = 0
        for i in range(0, len(ids), 500):
            done += patients_evaluate(patient_ids=ids[i : i + 500]).patients
        return done

    def _acknowledge_history(self, sites: dict[str, Site], users: dict[str, User], today: dt.date) -> int:
        """Open alerts with evidence older than the demo history window were reviewed at
        the time: acknowledge them by the site's clinician (open ones only: idempotent)."""
        before = today - dt.timedelta(days=demo.HISTORY_REVIEWED_AFTER_DAYS)
        old = (
            access.at_sites(
                Alert.objects.filter(status=AlertStatus.OPEN, observed_on__lt=before), sites.values(), via="patient__"
            )
            .select_related("patient", "patient__home_site")
            .order_by("id")
        )
        n = 0
        for alert in old:
            by = users[demo.CLINICIAN_OF_SITE[alert.patient.home_site.code]]
            clinical_services.alert_acknowledge(alert=alert, by=by, note=demo.HISTORY_NOTE)
            n += 1
        return n

    # -- one patient -----------------------------------------------------------------
    def _patient(self, plan: demo.PatientPlan, site: Site, by: User) -> None:
        with transaction.atomic(), clinical_services.evaluations_batched():
            patient = registry_services.patient_register(
                site=site,
                sex=plan.sex,
                birth_date=plan.birth_date,
                family_name=plan.family_name,
                given_name=plan.given_name,
                mrn=plan.mrn,
                by=by,
                subtype=plan.subtype,
                diagnosis_basis=plan.diagnosis_basis,
                diagnosis_date=plan.diagnosis_date,
                onset_date=plan.onset_date,
                research_consent=plan.consent,
                consent_version=plan.consent_version,
                consented_on=plan.consented_on,
            )
            for g in plan.genetics:
                registry_services.genetic_finding_add(
                    patient=patient,
                    gene=g.gene,
                    transcript=g.transcript,
                    hgvs_c=g.hgvs_c,
                    hgvs_p=g.hgvs_p,
                    zygosity=g.zygosity,
                    acmg_class=g.acmg_class,
                    reported_on=plan.diagnosis_date,
                    by=by,
                )
            courses = sorted(plan.courses, key=lambda c: c.start)
            pending = list(courses)
            # Courses start once the visit carrying the weight on their start date exists
            # (the metreleptin dose check uses the latest weight on or before the date).
            for v in plan.visits:
                for c in [c for c in pending if c.start < v.day]:
                    self._course(patient, c, by)
                    pending.remove(c)
                clinical_services.visit_record(
                    patient=patient,
                    by=by,
                    site=site,
                    source=Source.DEMO,
                    labs=[
                        clinical_services.LabEntry(lab.analyte, lab.value, lab.unit, fasting=lab.fasting)
                        for lab in v.labs
                    ],
                    skinfolds=v.skinfolds,
                    phenotypes=v.phenotypes,
                    **v.fields,
                )
                for c in [c for c in pending if c.start == v.day]:
                    self._course(patient, c, by)
                    pending.remove(c)
            for c in pending:
                self._course(patient, c, by)

    def _course(self, patient, c: demo.CoursePlan, by: User) -> None:
        course = clinical_services.course_start(
            patient=patient,
            drug=c.drug,
            start_date=c.start,
            dose=c.dose,
            dose_unit=c.unit,
            end_date=c.end,
            stop_reason=c.stop_reason,
            source=Source.DEMO,
            by=by,
        )
        for day, dose in c.changes:
            clinical_services.dose_change_record(
                course=course, effective_date=day, dose=dose, dose_unit=c.unit, reason="titration", by=by
            )
