"""Serializer fields shared by the registry and clinical APIs."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from registry import normalize


class IdentityTextField(serializers.CharField):
    """A name or an identifier: cleaned by ``registry.normalize`` (NFKC, stripped,
    invisible and control characters refused with a field error)."""

    label_text = "value"

    def __init__(self, *, label_text: str = "value", **kwargs):
        self.label_text = label_text
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            text = normalize.clean_text(text, label=self.label_text)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        if not text and not self.allow_blank:
            self.fail("blank")
        return text
