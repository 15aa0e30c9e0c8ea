"""The unique constraint on (site, normalised MRN), once 0004 has filled the column."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0004_normalise_identities"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="patientidentity",
            index=models.Index(fields=["mrn_key"], name="identity_mrn_key_idx"),
        ),
        migrations.AddConstraint(
            model_name="patientidentity",
            constraint=models.UniqueConstraint(fields=("site", "mrn_key"), name="identity_unique_site_mrn_key"),
        ),
    ]
