"""MRN uniqueness on the normalised, case-folded value (registry.normalize): the column.
0004 fills it (and reports collisions), 0005 adds the constraint: separate migrations so
that the row updates and the ALTER TABLEs do not share a transaction."""

from django.db import migrations

import registry.models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_audit_chain_token_expiry"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="patientidentity",
            name="identity_unique_site_mrn",
        ),
        migrations.RemoveIndex(
            model_name="patientidentity",
            name="identity_mrn_idx",
        ),
        migrations.AddField(
            model_name="patientidentity",
            name="mrn_key",
            field=registry.models.MrnKeyField(default="", editable=False, max_length=160),
        ),
    ]
