"""MRN uniqueness on the normalised, case-folded value (registry.normalize).

Existing MRNs and names are brought into the normalised form (NFKC, surrounding
whitespace stripped, invisible and control characters dropped). When two patients of
one site turn out to share an MRN that way, the migration stops and lists them: merging
patients is a clinical decision, not something to do silently.
"""

from django.db import migrations

from registry import normalize


def normalise_identities(apps, schema_editor):
    PatientIdentity = apps.get_model("registry", "PatientIdentity")
    rows = list(
        PatientIdentity.objects.select_related("site", "patient").values_list(
            "pk", "site__code", "patient__registry_code", "mrn", "family_name", "given_name"
        )
    )
    collisions = normalize.mrn_collisions([(site, code, mrn) for _pk, site, code, mrn, _f, _g in rows])
    if collisions:
        raise RuntimeError(
            "Cannot make MRNs unique per site on their normalised value: these patients share an MRN "
            "(or have none) once case, spacing and invisible characters are ignored.\n"
            f"{normalize.describe_collisions(collisions)}\n"
            "Correct or merge them (admin or API, with a reason for the change), then run migrate again."
        )
    for pk, _site, _code, mrn, family, given in rows:
        clean = {
            "mrn": normalize.without_refused(mrn),
            "family_name": normalize.without_refused(family),
            "given_name": normalize.without_refused(given),
        }
        PatientIdentity.objects.filter(pk=pk).update(mrn_key=normalize.mrn_key(clean["mrn"]), **clean)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_mrn_key"),
    ]

    operations = [
        migrations.RunPython(normalise_identities, migrations.RunPython.noop, elidable=False),
    ]
