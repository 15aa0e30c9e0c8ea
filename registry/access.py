"""THE scoping layer: which patients, and which of their records, a user may read or write.

Every view, API view, export and task reaches patient data through these functions;
nothing else filters by site. "Not yours" and "does not exist" look the same (404).

Roles (per site, from Membership):
- clinician: read and write the patients of the site, identity included;
- site_lead: as clinician, and manages the site's members;
- researcher: pseudonymous data of consenting patients only, never PatientIdentity,
  never writes;
- registry_admin: every site, read and write (a superuser counts as one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.http import Http404

from registry.models import CLINICAL_ROLES, WRITE_ROLES, Membership, Patient, PatientIdentity, Role, Site

if TYPE_CHECKING:  # pragma: no cover
    from registry.models import User


@dataclass(frozen=True)
class Scope:
    """What one user may reach, computed once per request (memberships are re-read on
    every request, so removing a membership takes effect on the next one)."""

    all_sites: bool
    roles: dict[int, str]  # site id -> role

    @property
    def read_site_ids(self) -> set[int]:
        return set(self.roles)

    @property
    def clinical_site_ids(self) -> set[int]:
        return {s for s, r in self.roles.items() if r in CLINICAL_ROLES}

    @property
    def write_site_ids(self) -> set[int]:
        return {s for s, r in self.roles.items() if r in WRITE_ROLES}

    @property
    def research_only_site_ids(self) -> set[int]:
        return {s for s, r in self.roles.items() if r == Role.RESEARCHER}

    @property
    def is_researcher_only(self) -> bool:
        return not self.all_sites and bool(self.roles) and not self.clinical_site_ids


def scope_for(user: User) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return Scope(False, {})
    cached = getattr(user, "_registry_scope", None)
    if cached is not None:
        return cached
    roles = dict(Membership.objects.filter(user=user).values_list("site_id", "role"))
    all_sites = user.is_superuser or Role.REGISTRY_ADMIN in roles.values()
    scope = Scope(all_sites, roles)
    user._registry_scope = scope
    return scope


def scope_pairs_sql(user_id_sql: str) -> str:
    """A PostgreSQL expression for the memberships of the user whose id is
    ``user_id_sql`` (a column of the outer query), as ``'<site id>:<role>'`` texts: a query
    that reads the user anyway (API token authentication) brings the scope along, one
    query instead of two on every API request (:func:`remember_scope` keeps it)."""
    m = Membership._meta
    site, role, user = (m.get_field(name).column for name in ("site", "role", "user"))
    return f'ARRAY(SELECT m."{site}" || \':\' || m."{role}" FROM "{m.db_table}" m WHERE m."{user}" = {user_id_sql})'


def remember_scope(user: User, pairs: list[str]) -> None:
    """Keep the scope that :func:`scope_pairs_sql` read with the user for the rest of the
    request (the same :class:`Scope` :func:`scope_for` would build)."""
    if not user.is_authenticated or not user.is_active:
        return
    roles = {int(site): role for site, role in (pair.split(":", 1) for pair in pairs)}
    user._registry_scope = Scope(user.is_superuser or Role.REGISTRY_ADMIN in roles.values(), roles)


def is_member(user: User) -> bool:
    """A member of at least one site, or a registry administrator."""
    scope = scope_for(user)
    return scope.all_sites or bool(scope.roles)


def forget_scope(user: User) -> None:
    """Drop the cached scope (after memberships change within one request or test)."""
    if hasattr(user, "_registry_scope"):
        del user._registry_scope


# --- sites ------------------------------------------------------------------------------


def sites_for_user(user: User, *, write: bool = False) -> QuerySet[Site]:
    scope = scope_for(user)
    if scope.all_sites:
        return Site.objects.all()
    ids = scope.write_site_ids if write else scope.read_site_ids
    return Site.objects.filter(id__in=ids)


def lead_site_ids(user: User) -> set[int]:
    """The sites whose members ``user`` manages as their site lead."""
    return {site_id for site_id, role in scope_for(user).roles.items() if role == Role.SITE_LEAD}


def manages_registry(user: User) -> bool:
    """Superusers and registry administrators manage sites and users."""
    return scope_for(user).all_sites


def lead_sites(user: User) -> QuerySet[Site]:
    return Site.objects.filter(id__in=lead_site_ids(user))


def users_managed_by(user: User, users: QuerySet) -> QuerySet:
    """``users`` narrowed to those ``user`` manages: everyone for a registry administrator,
    the members of their sites for a site lead, nobody otherwise."""
    if manages_registry(user):
        return users
    return users.filter(memberships__site_id__in=lead_site_ids(user)).distinct()


def memberships_managed_by(user: User, memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    if manages_registry(user):
        return memberships
    return memberships.filter(site_id__in=lead_site_ids(user))


def memberships_of(user: User) -> QuerySet[Membership]:
    """The user's own memberships (their profile page)."""
    return Membership.objects.filter(user=user).select_related("site").order_by("site__code")


def registry_admin_user_ids() -> QuerySet:
    """Ids of the users holding a registry administrator membership (an administrator's peers)."""
    return Membership.objects.filter(role=Role.REGISTRY_ADMIN).values("user_id")


def membership_row(pk: int | None) -> dict | None:
    """The stored site and role of one membership, to audit what a save changes."""
    return Membership.objects.filter(pk=pk).values("site_id", "role").first() if pk else None


def at_site_code(qs: QuerySet, code: str, *, via: str = "") -> QuerySet:
    """Narrow an already scoped queryset of patients (or of rows reached from a patient
    through ``via``, e.g. ``"patient__"``) to one home site code: a filter the user asked
    for, never a grant (the scope was applied before)."""
    return qs.filter(**{f"{via}home_site__code": code})


def at_sites(qs: QuerySet, sites, *, via: str = "") -> QuerySet:
    """Patients (or rows reached through ``via``) whose home site is one of ``sites``:
    for jobs that work on named sites, such as the demo seed."""
    return qs.filter(**{f"{via}home_site__in": sites})


def identities_at_site(site: Site) -> QuerySet[PatientIdentity]:
    """The identities registered at one site (MRN uniqueness is per site)."""
    return PatientIdentity.objects.filter(site=site)


def identities_at_sites(sites) -> QuerySet[PatientIdentity]:
    return PatientIdentity.objects.filter(site__in=sites)


def identities_for_user(user: User) -> QuerySet[PatientIdentity]:
    """The identities ``user`` may see: patients of their clinical sites, every site for
    registry administrators (the duplicate check at registration looks here)."""
    scope = scope_for(user)
    qs = PatientIdentity.objects.select_related("patient", "patient__home_site")
    if scope.all_sites:
        return qs
    return qs.filter(patient__home_site_id__in=scope.clinical_site_ids)


def site_for_user(user: User, code: str, *, write: bool = False) -> Site:
    site = sites_for_user(user, write=write).filter(code=code).first()
    if site is None:
        raise Http404("No such site.")
    return site


def role_at(user: User, site: Site) -> str | None:
    scope = scope_for(user)
    if scope.all_sites:
        return Role.REGISTRY_ADMIN
    return scope.roles.get(site.id)


# --- patients ---------------------------------------------------------------------------


def _patient_scope_q(scope: Scope, *, write: bool, via: str = "") -> Q:
    """Which patients (or rows reaching their patient through ``via``) ``scope`` reads or
    writes: the one rule behind :func:`patients_for_user` and :func:`patient_records_for_user`."""
    if scope.all_sites:
        return Q()
    if write:
        return Q(**{f"{via}home_site_id__in": scope.write_site_ids})
    clinical = scope.clinical_site_ids
    research = scope.research_only_site_ids - clinical
    if not research:
        return Q(**{f"{via}home_site_id__in": clinical})
    return Q(**{f"{via}home_site_id__in": clinical}) | Q(
        **{f"{via}home_site_id__in": research, f"{via}research_consent": True}
    )


def patients_for_user(user: User, *, write: bool = False) -> QuerySet[Patient]:
    """The patients ``user`` may read (or write, with ``write=True``)."""
    scope = scope_for(user)
    qs = Patient.objects.all()
    if scope.all_sites:
        return qs
    return qs.filter(_patient_scope_q(scope, write=write))


def patient_records_for_user(qs: QuerySet, user: User, patient_public_id, *, via: str = "patient__") -> QuerySet:
    """The rows of ``qs`` (reaching their patient through ``via``) that belong to the
    patient ``patient_public_id``, if ``user`` may read that patient: the rule of
    :func:`patients_for_user` applied on the join, so that a page of one patient's records
    is one query. Empty both for a patient that is not the user's and for one without
    rows: a caller that must answer 404 for the first reads the patient when it is empty."""
    scope = scope_for(user)
    return qs.filter(_patient_scope_q(scope, write=False, via=via), **{f"{via}public_id": patient_public_id})


def patient_for_user(user: User, public_id, *, write: bool = False, with_site: bool = False) -> Patient:
    """One patient by public id, or 404 when it does not exist or is not the user's.
    ``with_site`` fetches the home site (its time zone: the patient's today) in the same
    query."""
    qs = patients_for_user(user, write=write)
    return one_or_404(qs.select_related("home_site") if with_site else qs, public_id, "patient")


def _allowed(user: User, patient: Patient | None, site_ids: str) -> bool:
    """True for registry administrators; else whether ``patient``'s home site (without a
    patient: any site) is among the scope's ``site_ids`` (a Scope property name)."""
    scope = scope_for(user)
    if scope.all_sites:
        return True
    ids = getattr(scope, site_ids)
    return bool(ids) if patient is None else patient.home_site_id in ids


def can_see_identity(user: User, patient: Patient | None = None) -> bool:
    """Clinical roles see identity, for the patients of their clinical sites."""
    return _allowed(user, patient, "clinical_site_ids")


def identity_visible_q(user: User, prefix: str = "") -> Q:
    """A filter on patients (or on ``prefix``-related rows) whose identity ``user`` may
    see: used to keep name / MRN searches inside the clinical sites."""
    scope = scope_for(user)
    if scope.all_sites:
        return Q()
    return Q(**{f"{prefix}home_site_id__in": scope.clinical_site_ids})


def identity_sort_value(user: User, field: str):
    """An ORDER BY expression on an identity column that is NULL for the patients whose
    identity ``user`` may not see (a researcher's sites), so sorting by name never orders
    hidden names."""
    from django.db.models import Case, F, Value, When

    scope = scope_for(user)
    if scope.all_sites or not scope.research_only_site_ids - scope.clinical_site_ids:
        return F(field)
    return Case(When(identity_visible_q(user), then=F(field)), default=Value(None))


def can_write(user: User, patient: Patient | None = None) -> bool:
    return _allowed(user, patient, "write_site_ids")


def is_researcher_only(user: User) -> bool:
    return scope_for(user).is_researcher_only


# --- records under a patient ------------------------------------------------------------


def records_for_user(model, user: User, *, write: bool = False, patient_path: str = "patient"):
    """Rows of ``model`` that belong to the patients ``user`` may read (or write).
    ``patient_path`` is a chain of non-null foreign keys (every row has a patient)."""
    if scope_for(user).all_sites:
        # Every patient, so every row: without the join with the whole patient table
        # (a registry-wide count, such as the header's open alerts, reads one index).
        return model.objects.all()
    return model.objects.filter(**{f"{patient_path}__in": patients_for_user(user, write=write)})


def visits_for_user(user: User, *, write: bool = False):
    from clinical.models import Visit

    return records_for_user(Visit, user, write=write)


def labs_for_user(user: User, *, write: bool = False):
    from clinical.models import LabResult

    return records_for_user(LabResult, user, write=write)


def courses_for_user(user: User, *, write: bool = False):
    from clinical.models import TreatmentCourse

    return records_for_user(TreatmentCourse, user, write=write)


def doses_for_user(user: User, *, write: bool = False):
    from clinical.models import DoseChange

    return records_for_user(DoseChange, user, write=write, patient_path="course__patient")


def alerts_for_user(user: User, *, write: bool = False):
    from clinical.models import Alert

    return records_for_user(Alert, user, write=write)


def one_or_404(qs, public_id, what: str):
    """One row of an already scoped queryset by public id; a malformed id, another
    site's row and no row at all are the same 404."""
    from django.core.exceptions import ValidationError

    try:
        return qs.get(public_id=public_id)
    except (qs.model.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404(f"No such {what}.") from exc


def visit_for_user(user: User, public_id, *, write: bool = False):
    return one_or_404(visits_for_user(user, write=write).select_related("patient"), public_id, "visit")


def lab_for_user(user: User, public_id, *, write: bool = False):
    return one_or_404(labs_for_user(user, write=write).select_related("patient"), public_id, "lab result")


def course_for_user(user: User, public_id, *, write: bool = False):
    return one_or_404(courses_for_user(user, write=write).select_related("patient"), public_id, "treatment course")


def dose_for_user(user: User, public_id, *, write: bool = False):
    return one_or_404(doses_for_user(user, write=write).select_related("course__patient"), public_id, "dose change")


def alert_for_user(user: User, public_id, *, write: bool = False):
    return one_or_404(alerts_for_user(user, write=write).select_related("patient"), public_id, "alert")


def lab_import_for_user(user: User, public_id):
    """One of the user's own lab CSV uploads (never another user's, whatever the site),
    without its content, or 404. The file names patients: it is readable only while its
    uploader may still write."""
    from clinical.models import LabImport

    if not can_write(user):
        raise Http404("No such import.")
    return one_or_404(LabImport.objects.defer("content", "plan").filter(user=user), public_id, "import")


# --- cohort -------------------------------------------------------------------------------


def cohort_patients_for_user(user: User) -> QuerySet[Patient]:
    """The patients behind the cohort dashboard: clinical roles see their own sites;
    a researcher (aggregates only) sees the consenting patients of every site."""
    scope = scope_for(user)
    if scope.all_sites:
        return Patient.objects.all()
    if scope.is_researcher_only:
        return Patient.objects.filter(research_consent=True)
    return Patient.objects.filter(home_site_id__in=scope.clinical_site_ids)


def cohort_is_aggregate_only(user: User) -> bool:
    """Researchers see counts with small cells suppressed, never a patient's point."""
    return scope_for(user).is_researcher_only


def cohort_sites_for_user(user: User) -> QuerySet[Site]:
    """The sites the cohort dashboard can be filtered by."""
    scope = scope_for(user)
    if scope.all_sites or scope.is_researcher_only:
        return Site.objects.order_by("code")
    return Site.objects.filter(id__in=scope.clinical_site_ids).order_by("code")


# --- research exports -------------------------------------------------------------------


def export_sites_for_user(user: User | None) -> QuerySet[Site]:
    """Sites whose de-identified data ``user`` may export: every site of theirs, any role.
    ``None`` is the operator at the server's shell (the export command): every site."""
    if user is None:
        return Site.objects.all()
    return sites_for_user(user)


def export_patients_for_user(user: User | None, *, site_codes=()) -> QuerySet[Patient]:
    """Patients an export of ``user`` may contain: those of the user's sites whose research
    consent is in force now (a clinician's own patients without consent stay out too),
    narrowed to ``site_codes`` when given. ``None`` is the operator at the server's shell:
    every consenting patient."""
    qs = Patient.objects.filter(research_consent=True)
    if site_codes:
        qs = qs.filter(home_site__code__in=list(site_codes))
    if user is None:
        return qs
    scope = scope_for(user)
    if scope.all_sites:
        return qs
    return qs.filter(home_site_id__in=scope.read_site_ids)


def can_see_free_text(user: User, patient: Patient | None = None) -> bool:
    """Free text (notes, reasons) may name people or places: clinical roles only, like identity."""
    return can_see_identity(user, patient)
