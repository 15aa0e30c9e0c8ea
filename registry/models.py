"""Who and where: users, sites, memberships, patients and what identifies them.

Identifiable data (names, date of birth, MRN, contact) lives only in PatientIdentity so
that researcher views and exports can never touch it. Clinical data over time lives in
``clinical.models``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinical import catalogue
from registry.normalize import mrn_key
from registry.validators import validate_gene_symbol, validate_hgvs_c, validate_hgvs_p, validate_hpo_id


class User(AbstractUser):
    """A person who signs in. Sites and roles come from Membership rows."""

    UNIT_CHOICES = [(catalogue.CONVENTIONAL, "Conventional (mg/dL, %)"), (catalogue.SI, "SI (mmol/L, mmol/mol)")]
    unit_system = models.CharField(max_length=16, choices=UNIT_CHOICES, default=catalogue.CONVENTIONAL)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


def validate_time_zone(name: str) -> None:
    """An IANA time zone name known to this machine's tz database."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not an IANA time zone name (for example Europe/Berlin).") from None


def site_today(time_zone: str | None) -> dt.date:
    """Today's date in ``time_zone`` (UTC when unknown or blank)."""
    try:
        tz = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return timezone.now().astimezone(tz).date()


class Site(models.Model):
    """A treating centre."""

    code = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", "Use capitals, digits, '-' or '_'.")],
    )
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    # "Today" for this site's patients (future-date checks, course age, overdue
    # monitoring) is the date here; stored dates are calendar dates, never shifted.
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone name, e.g. Europe/Berlin or Asia/Tokyo",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} - {self.name}"

    def today(self) -> dt.date:
        """The calendar date now in the site's time zone."""
        return site_today(self.time_zone)


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    SITE_LEAD = "site_lead", "Site lead"
    RESEARCHER = "researcher", "Researcher"
    REGISTRY_ADMIN = "registry_admin", "Registry administrator"


CLINICAL_ROLES = frozenset({Role.CLINICIAN, Role.SITE_LEAD, Role.REGISTRY_ADMIN})
WRITE_ROLES = frozenset({Role.CLINICIAN, Role.SITE_LEAD, Role.REGISTRY_ADMIN})


class Membership(models.Model):
    """A user's role at one site. A registry_admin membership grants every site."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="membership_unique_user_site")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site.code} ({self.role})"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class VitalStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    DECEASED = "deceased", "Deceased"
    UNKNOWN = "unknown", "Unknown"


class Patient(models.Model):
    """A registry patient: pseudonymous. Identity lives in PatientIdentity."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    registry_code = models.CharField(max_length=20, unique=True, editable=False)
    home_site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    vital_status = models.CharField(max_length=8, choices=VitalStatus.choices, default=VitalStatus.ALIVE)
    # Subtype of the primary (latest) diagnosis, kept here for list filters at scale.
    primary_subtype = models.CharField(max_length=32, choices=catalogue.SUBTYPE_CHOICES, blank=True, db_index=True)
    # Whether the consent in force allows research use; kept by the consent service so
    # researcher views and exports filter without a subquery.
    research_consent = models.BooleanField(default=False)
    # Evaluation outbox: set in the same transaction as any clinical write; cleared by the
    # evaluation task; the periodic sweep evaluates what a lost message left behind.
    needs_evaluation = models.BooleanField(default=False)
    dirty_since = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # What the last evaluation saw (rules version, evaluation date, digest of the inputs:
    # clinical/fingerprint.py): an evaluation that finds the same key has nothing to do.
    evaluation_key = models.CharField(max_length=80, blank=True, default="", editable=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["registry_code"]
        indexes = [
            models.Index(fields=["home_site", "registry_code"], name="patient_site_code_idx"),
            models.Index(fields=["dirty_since"], name="patient_dirty_idx", condition=Q(needs_evaluation=True)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="patient_birth_year_plausible",
            ),
        ]

    def __str__(self) -> str:
        return self.registry_code

    def today(self) -> dt.date:
        """Today for this patient: the date in the time zone of the home site."""
        return self.home_site.today()


class MrnKeyField(models.CharField):
    """The case-folded, normalised MRN, computed from ``mrn`` whenever the row is written
    (``save`` and ``bulk_create`` both call ``pre_save``), so the unique constraint on
    (site, mrn_key) holds for every spelling of one MRN."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 160)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        value = mrn_key(model_instance.mrn)
        setattr(model_instance, self.attname, value)
        return value


class PatientIdentity(models.Model):
    """Everything that identifies a patient. Never shown to researchers, never exported."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="identity")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+", help_text="Site that issued the MRN")
    family_name = models.CharField(max_length=120)
    given_name = models.CharField(max_length=120)
    birth_date = models.DateField()
    mrn = models.CharField("MRN", max_length=40)
    # What uniqueness compares: registry.normalize.mrn_key(mrn).
    mrn_key = MrnKeyField(default="")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "patient identities"
        constraints = [
            models.UniqueConstraint(fields=["site", "mrn_key"], name="identity_unique_site_mrn_key"),
            models.CheckConstraint(condition=~Q(mrn=""), name="identity_mrn_not_empty"),
        ]
        indexes = [
            models.Index(fields=["mrn_key"], name="identity_mrn_key_idx"),
            models.Index(fields=["family_name", "given_name"], name="identity_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name}"


class DiagnosisBasis(models.TextChoices):
    CLINICAL = "clinical", "Clinical"
    GENETIC = "genetic", "Genetic"
    CLINICAL_AND_GENETIC = "clinical_and_genetic", "Clinical and genetic"


class Diagnosis(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="diagnoses")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subtype = models.CharField(max_length=32, choices=catalogue.SUBTYPE_CHOICES)
    basis = models.CharField(max_length=24, choices=DiagnosisBasis.choices, default=DiagnosisBasis.CLINICAL)
    onset_date = models.DateField(null=True, blank=True)
    diagnosis_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "diagnoses"
        ordering = ["-diagnosis_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(onset_date__isnull=True)
                | Q(diagnosis_date__isnull=True)
                | Q(diagnosis_date__gte=F("onset_date")),
                name="diagnosis_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.subtype}"

    @property
    def subtype_info(self) -> catalogue.Subtype | None:
        return catalogue.SUBTYPES.get(self.subtype)


class Zygosity(models.TextChoices):
    HETEROZYGOUS = "heterozygous", "Heterozygous"
    HOMOZYGOUS = "homozygous", "Homozygous"
    COMPOUND_HETEROZYGOUS = "compound_heterozygous", "Compound heterozygous"
    HEMIZYGOUS = "hemizygous", "Hemizygous"
    UNKNOWN = "unknown", "Unknown"


class AcmgClass(models.TextChoices):
    PATHOGENIC = "pathogenic", "Pathogenic"
    LIKELY_PATHOGENIC = "likely_pathogenic", "Likely pathogenic"
    VUS = "vus", "Uncertain significance"
    LIKELY_BENIGN = "likely_benign", "Likely benign"
    BENIGN = "benign", "Benign"


class GeneticFinding(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="genetic_findings")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    gene = models.CharField(max_length=20, validators=[validate_gene_symbol], help_text="HGNC symbol, e.g. LMNA")
    transcript = models.CharField(max_length=30, blank=True, help_text="RefSeq transcript, e.g. NM_170707.4")
    hgvs_c = models.CharField("HGVS c.", max_length=200, validators=[validate_hgvs_c])
    hgvs_p = models.CharField("HGVS p.", max_length=200, blank=True, validators=[validate_hgvs_p])
    zygosity = models.CharField(max_length=24, choices=Zygosity.choices, default=Zygosity.UNKNOWN)
    acmg_class = models.CharField("ACMG class", max_length=20, choices=AcmgClass.choices)
    reported_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["gene", "hgvs_c"]

    def __str__(self) -> str:
        return f"{self.gene} {self.hgvs_c}"


class PhenotypeObservation(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="phenotypes")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    visit = models.ForeignKey(
        "clinical.Visit", on_delete=models.CASCADE, null=True, blank=True, related_name="phenotypes"
    )
    hpo_id = models.CharField("HPO term", max_length=10, validators=[validate_hpo_id])
    label = models.CharField(max_length=200)
    excluded = models.BooleanField(default=False, help_text="Pertinent negative: looked for and absent")
    observed_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-observed_on", "hpo_id"]

    def __str__(self) -> str:
        return f"{self.hpo_id} {'excluded' if self.excluded else 'present'}"


class Consent(models.Model):
    """Consent for research use. The latest row per patient is in force."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    research_use = models.BooleanField()
    version = models.CharField(max_length=20)
    consented_on = models.DateField()
    withdrawn_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-consented_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gte=F("consented_on")),
                name="consent_withdrawn_after_given",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} consent {self.version} ({'yes' if self.research_use else 'no'})"


class AuditEvent(models.Model):
    """One change to clinical data, one access to a patient record, or one account event.

    Append-only: rows are written through ``registry.audit_chain`` only, each carrying the
    previous row's hash and its own, and on PostgreSQL a trigger refuses UPDATE, DELETE and
    TRUNCATE (migration 0002). ``patient`` is PROTECT: deleting a patient must never
    rewrite or drop the trail that records it.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        VIEW = "view", "View"
        EXPORT = "export", "Export"
        SEARCH = "search", "Identity search"
        SIGN_IN = "sign_in", "Sign-in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        LOCKOUT = "lockout", "Lockout"
        PASSWORD_CHANGE = "password_change", "Password change"
        ROLE_CHANGE = "role_change", "Role or membership change"
        TOKEN_ISSUE = "token_issue", "API token issued"
        TOKEN_REVOKE = "token_revoke", "API token revoked"
        TWO_FACTOR_ENROL = "2fa_enrol", "Two-factor enrolment"
        TWO_FACTOR_RESET = "2fa_reset", "Two-factor reset"
        DEACTIVATE = "deactivate", "User deactivated"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    model = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    changes = models.JSONField(default=dict, blank=True)  # field -> [old, new]
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64, default="", editable=False)
    hash = models.CharField(max_length=64, default="", editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "at"], name="audit_patient_at_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.model} {self.object_id}"


class AuditEventPatient(models.Model):
    """A patient that an audit event about several patients concerns (a lab import is
    one event for all its results). Such an event has no ``patient`` of its own and lists
    the patients' ids in its changes (``patients``), so the chain covers them; these rows
    index that list for the readers of one patient's trail, and ``verify_audit`` checks
    that they match it. UPDATE and DELETE are refused like on the trail (migration 0008).
    """

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="patient_links")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "event"], name="audit_patient_event_unique")]

    def __str__(self) -> str:
        return f"event {self.event_id} patient {self.patient_id}"


class ApiToken(models.Model):
    """A per-user API token. Only a SHA-256 hash is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="API token")
    prefix = models.CharField(max_length=12, help_text="First characters of the key, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from this moment on")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


from registry.exports.models import ExportJob  # noqa: E402,F401  (registered with this app)
