"""Django admin, scoped by ``registry.access`` for everyone but superusers.

Admin permissions come from the registry roles, not from Django's per-model
permissions: what a staff user sees is exactly what the access layer returns, and
another site's object is "not found". Patient records are read-only here: clinical data
is written through the services (validation, unit conversion, audit, reason for change)
by the app's forms and API. Sites, users and memberships are managed here by registry
administrators; a site lead manages the memberships of their own sites.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied

from registry import access, admin_guard
from registry.audit import audit_record
from registry.models import (
    ApiToken,
    Consent,
    Diagnosis,
    GeneticFinding,
    Membership,
    Patient,
    PatientIdentity,
    PhenotypeObservation,
    Role,
    Site,
    User,
)

admin.site.site_header = "Lipodystrophy registry administration"
admin.site.site_title = "Registry admin"

_staff_permission = admin.site.has_permission


def _admin_permission(request) -> bool:
    """Staff who are researchers only get no admin at all: their registry is the cohort
    dashboard and de-identified exports, whatever the staff flag says."""
    return _staff_permission(request) and not access.scope_for(request.user).is_researcher_only


admin.site.has_permission = _admin_permission


manages_registry = access.manages_registry
lead_site_ids = access.lead_site_ids


class ScopedView:
    """Admin mixin: the module is shown to members of a site (or registry administrators),
    and an object can be viewed only when the scoped queryset holds it."""

    def has_module_permission(self, request) -> bool:
        return access.is_member(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        if not self.has_module_permission(request):  # type: ignore[attr-defined]
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()  # type: ignore[attr-defined]


class ManagedView(ScopedView):
    """As :class:`ScopedView`, for what registry administrators and site leads manage."""

    def has_module_permission(self, request) -> bool:
        return manages_registry(request.user) or bool(lead_site_ids(request.user))


class ReadOnlyScopedAdmin(ScopedView, admin.ModelAdmin):
    """A view-only admin whose rows come from the access layer (``scoped``)."""

    def scoped(self, request):
        raise NotImplementedError

    def get_queryset(self, request):
        qs = self.scoped(request)
        if self.list_select_related and self.list_select_related is not True:
            qs = qs.select_related(*self.list_select_related)
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # the parent admin has already scoped ``obj``


# --- sites, users, memberships -----------------------------------------------------------


@admin.register(Site)
class SiteAdmin(ScopedView, admin.ModelAdmin):
    list_display = ("code", "name", "country", "time_zone", "created_at")
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return access.sites_for_user(request.user).order_by("code")

    def has_add_permission(self, request) -> bool:
        return manages_registry(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("site", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(User)
class UserAdmin(ManagedView, DjangoUserAdmin):
    """Registry administrators manage every user; site leads see their sites' members."""

    inlines = [MembershipInline]
    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "unit_system")
    actions = ["reset_two_factor"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Registry", {"fields": ("unit_system",)}),
    )

    def get_queryset(self, request):
        return access.users_managed_by(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return manages_registry(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        # Superusers, peer administrators and oneself are changed by a superuser only.
        return manages_registry(request.user) and admin_guard.may_manage_user(request.user, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:  # no one grants what they do not hold
            readonly += ["is_superuser", "groups", "user_permissions"]
        return readonly

    def user_change_password(self, request, id, form_url=""):
        target = self.get_object(request, id)
        if target is not None and not admin_guard.may_set_password(request.user, target):
            raise PermissionDenied("Only a superuser sets another user's password.")
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Reset two-factor sign-in (lost phone)")
    def reset_two_factor(self, request, queryset):
        from registry.twofactor import two_factor_reset

        done = 0
        for user in queryset:
            if admin_guard.may_manage_user(request.user, user):
                two_factor_reset(user=user, by=request.user)
                done += 1
        self.message_user(request, f"Two-factor sign-in reset for {done} user(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(ManagedView, admin.ModelAdmin):
    list_display = ("user", "site", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "user__last_name", "site__code")
    list_select_related = ("user", "site")

    def get_queryset(self, request):
        return access.memberships_managed_by(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not admin_guard.may_manage_user(request.user, obj.user):
            return False
        if manages_registry(request.user):
            return True
        leads = lead_site_ids(request.user)
        return bool(leads) and (obj is None or obj.site_id in leads)

    has_delete_permission = has_change_permission

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site" and not manages_registry(request.user):
            kwargs["queryset"] = access.lead_sites(request.user)
        if db_field.name == "user":
            kwargs["queryset"] = admin_guard.manageable_users(request.user, User.objects.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        if not admin_guard.may_manage_user(request.user, obj.user):
            raise PermissionDenied("Only a superuser changes this user's roles.")
        super().save_model(request, obj, form, change)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not manages_registry(request.user):
            # a site lead cannot hand out registry-wide rights
            kwargs["choices"] = [c for c in Role.choices if c[0] != Role.REGISTRY_ADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


# --- patients and their registry records -------------------------------------------------


class IdentityInline(ReadOnlyInline):
    model = PatientIdentity
    fields = ("family_name", "given_name", "birth_date", "mrn", "site", "phone", "email")
    readonly_fields = fields


class DiagnosisInline(ReadOnlyInline):
    model = Diagnosis
    fields = ("subtype", "basis", "onset_date", "diagnosis_date")
    readonly_fields = fields


class GeneticFindingInline(ReadOnlyInline):
    model = GeneticFinding
    fields = ("gene", "transcript", "hgvs_c", "hgvs_p", "zygosity", "acmg_class", "reported_on")
    readonly_fields = fields


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ("research_use", "version", "consented_on", "withdrawn_on")
    readonly_fields = fields


class ScopedSiteFilter(admin.SimpleListFilter):
    """Home site, offering only the sites the user may read."""

    title = "home site"
    parameter_name = "site"

    def lookups(self, request, model_admin):
        return [(s.code, s.code) for s in access.sites_for_user(request.user).order_by("code")]

    via = ""  # the path from the listed rows to their patient

    def queryset(self, request, queryset):
        if self.value():
            return access.at_site_code(queryset, self.value(), via=self.via)
        return queryset


class PatientSiteFilter(ScopedSiteFilter):
    via = "patient__"


@admin.register(Patient)
class PatientAdmin(ReadOnlyScopedAdmin):
    list_display = ("registry_code", "home_site", "sex", "birth_year", "primary_subtype", "research_consent")
    list_filter = (ScopedSiteFilter, "primary_subtype", "research_consent", "vital_status")
    list_select_related = ("home_site",)
    ordering = ("registry_code",)
    readonly_fields = (
        "public_id",
        "registry_code",
        "home_site",
        "sex",
        "birth_year",
        "vital_status",
        "primary_subtype",
        "research_consent",
        "needs_evaluation",
        "evaluated_at",
        "version",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def scoped(self, request):
        return access.patients_for_user(request.user)

    def get_search_fields(self, request):
        # Searching by name would tell a researcher who is in the registry.
        if access.can_see_identity(request.user) and not access.scope_for(request.user).research_only_site_ids:
            return ("registry_code", "identity__family_name", "identity__mrn")
        return ("registry_code",)

    def get_inlines(self, request, obj):
        inlines = [DiagnosisInline, GeneticFindingInline, ConsentInline]
        if obj is not None and access.can_see_identity(request.user, obj):
            inlines.insert(0, IdentityInline)
        return inlines

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        patient = self.get_object(request, object_id)
        if response.status_code == 200 and patient is not None and access.can_see_identity(request.user, patient):
            audit_record(user=request.user, action="view", obj=patient, patient=patient, reason="admin")
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None and cl.query and "identity__family_name" in self.get_search_fields(request):
            from registry.access_audit import identity_search_record

            identity_search_record(user=request.user, where="admin", results=cl.result_count)
        return response


class PatientRecordAdmin(ReadOnlyScopedAdmin):
    """A record under a patient: scoped through the patients the user may read."""

    list_filter = (PatientSiteFilter,)
    search_fields = ("patient__registry_code",)

    def scoped(self, request):
        return access.records_for_user(self.model, request.user)


@admin.register(Diagnosis)
class DiagnosisAdmin(PatientRecordAdmin):
    list_display = ("patient", "subtype", "basis", "onset_date", "diagnosis_date")
    list_filter = (PatientSiteFilter, "subtype", "basis")
    list_select_related = ("patient",)
    ordering = ("patient__registry_code", "-diagnosis_date")


@admin.register(GeneticFinding)
class GeneticFindingAdmin(PatientRecordAdmin):
    list_display = ("patient", "gene", "hgvs_c", "hgvs_p", "zygosity", "acmg_class")
    list_filter = (PatientSiteFilter, "gene", "acmg_class", "zygosity")
    list_select_related = ("patient",)
    ordering = ("patient__registry_code", "gene")


@admin.register(Consent)
class ConsentAdmin(PatientRecordAdmin):
    list_display = ("patient", "research_use", "version", "consented_on", "withdrawn_on")
    list_filter = (PatientSiteFilter, "research_use", "version")
    list_select_related = ("patient",)
    ordering = ("patient__registry_code", "-consented_on")


@admin.register(PhenotypeObservation)
class PhenotypeObservationAdmin(PatientRecordAdmin):
    list_display = ("patient", "hpo_id", "label", "excluded", "observed_on")
    list_filter = (PatientSiteFilter, "excluded")
    list_select_related = ("patient",)
    ordering = ("patient__registry_code", "-observed_on")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Registry administrators see and revoke API tokens; keys are created by their owners
    (/profile/tokens/) or ``manage.py issue_api_token``, because a key is shown only once."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at", "expires_at", "revoked_at")
    actions = ["revoke"]

    def has_module_permission(self, request) -> bool:
        return manages_registry(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return manages_registry(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from registry.tokens import token_revoke

        for token in queryset:
            token_revoke(token=token, by=request.user)
