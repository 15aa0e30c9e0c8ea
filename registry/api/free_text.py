"""Free text (visit and injection-site notes, diagnosis and course notes, dose-change
reasons, alert acknowledgement notes) may name people, places or dates: like identity,
it is served to clinical roles only. A researcher's responses leave these keys out."""

from __future__ import annotations

from registry import access


def _patient_of(obj):
    if hasattr(obj, "patient_id"):
        return obj.patient
    course = getattr(obj, "course", None)
    return course.patient if course is not None else None


def free_text_visible(user, obj) -> bool:
    scope = access.scope_for(user)
    if scope.all_sites or not scope.research_only_site_ids:
        return True  # no researcher role anywhere: nothing to hide, no query
    if not scope.clinical_site_ids:
        return False  # researcher only
    return access.can_see_free_text(user, _patient_of(obj))  # mixed roles: by the patient's site


class FreeTextMixin:
    """Drop ``free_text_fields`` from the representation for users who may not read them.
    Declare those fields with ``required=False`` so the OpenAPI schema allows their absence."""

    free_text_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request") if hasattr(self, "context") else None
        if request is not None and not free_text_visible(request.user, instance):
            for name in self.free_text_fields:
                data.pop(name, None)
        return data
