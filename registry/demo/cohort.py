"""The demo registry's fixed data: sites, logins and the generator's settings (subtype
cycle, place names, value ranges per subtype group, variants, phenotype terms).

Every person here is invented: family names are ``Demo-<place>``, given names ``Test``.
The ranges are generator settings for plausible-looking data, not clinical rules (those
live in ``clinical.catalogue``).
"""

from __future__ import annotations

from dataclasses import dataclass

from clinical import catalogue

# --- sites, users ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    country: str
    lab_units: str  # "conventional", "si" or "mixed": how this site's lab reports arrive


SITES = (
    DemoSite("DEMO-NORTH", "Northfield Demo Hospital", "GB", catalogue.CONVENTIONAL),
    DemoSite("DEMO-SOUTH", "Suedstadt Demo Klinikum", "DE", catalogue.SI),
    DemoSite("DEMO-EAST", "Estuaire Demo Centre", "FR", "mixed"),
)

# One password for every demo login; it passes the project's password validators.
DEMO_PASSWORD = "lipo-demo-registry-2025"  # noqa: S105


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str  # a registry.models.Role value, or "superuser"
    sites: tuple[str, ...]
    unit_system: str = catalogue.CONVENTIONAL


USERS = (
    DemoUser("clin_north", "Nora", "Demo-Clinician", "clinician", ("DEMO-NORTH",)),
    DemoUser("clin_south", "Sven", "Demo-Clinician", "clinician", ("DEMO-SOUTH",), catalogue.SI),
    DemoUser("clin_east", "Elise", "Demo-Clinician", "clinician", ("DEMO-EAST",), catalogue.SI),
    DemoUser("lead_north", "Leo", "Demo-Lead", "site_lead", ("DEMO-NORTH",)),
    DemoUser("researcher", "Rita", "Demo-Researcher", "researcher", tuple(s.code for s in SITES)),
    DemoUser("registry_admin", "Ravi", "Demo-Admin", "registry_admin", ("DEMO-NORTH",)),
    DemoUser("admin", "Ada", "Demo-Superuser", "superuser", ()),
)

CLINICIAN_OF_SITE = {"DEMO-NORTH": "clin_north", "DEMO-SOUTH": "clin_south", "DEMO-EAST": "clin_east"}

# Demo history: alerts whose evidence is older than this were reviewed at the time, so the
# seed acknowledges them (by the site's clinician) and the worklist shows recent ones.
HISTORY_REVIEWED_AFTER_DAYS = 180
HISTORY_NOTE = "Reviewed at the time (demo history)"

# --- generator settings ---------------------------------------------------------------

# Subtype group of patient i is GROUP_CYCLE[i % len]; the first ten cover every group.
GROUP_CYCLE = (
    "FPLD",
    "CGL",
    "AGL",
    "APL",
    "HIV",
    "LOCALIZED",
    "PROGEROID",
    "FPLD",
    "CGL",
    "FPLD",
    "APL",
    "FPLD",
    "AGL",
    "CGL",
    "FPLD",
    "HIV",
    "FPLD",
    "PROGEROID",
    "CGL",
    "FPLD",
)

PLACES = [
    "Ashford",
    "Bexley",
    "Carlow",
    "Dunmore",
    "Elmstead",
    "Fairlie",
    "Glenrock",
    "Harwick",
    "Ilsley",
    "Jarrow",
    "Kelso",
    "Langley",
    "Marlow",
    "Norwood",
    "Oakham",
    "Penrith",
    "Quarley",
    "Ripley",
    "Selsey",
    "Thirsk",
    "Upton",
    "Ventnor",
    "Wetherby",
    "Yarm",
    "Alnwick",
    "Bampton",
    "Cromer",
    "Dalby",
    "Eyam",
    "Fenwick",
    "Goring",
    "Hexham",
    "Ickford",
    "Jevington",
    "Keswick",
    "Ludlow",
    "Malton",
    "Nayland",
    "Olney",
    "Padstow",
    "Quorn",
    "Ryde",
    "Settle",
    "Tetbury",
    "Uley",
    "Wantage",
    "Whitby",
    "Acle",
    "Brough",
    "Clun",
    "Ditton",
    "Epping",
    "Frome",
    "Grange",
    "Hythe",
    "Ingham",
    "Kirkby",
    "Lydd",
    "Mere",
    "Nether",
]

# Per group: (TG mg/dL range, HbA1c % range, leptin ng/mL range, ALT U/L range, BMI range)
GROUP_PROFILE = {
    "CGL": ((450, 1800), (7.5, 11.0), (0.1, 1.0), (55, 160), (18.5, 22.0)),
    "AGL": ((400, 1500), (7.5, 10.5), (0.3, 2.0), (50, 140), (18.5, 22.5)),
    "FPLD": ((200, 700), (6.4, 9.5), (2.0, 8.0), (30, 90), (23.0, 30.0)),
    "APL": ((140, 320), (5.4, 6.6), (3.0, 10.0), (18, 45), (21.0, 27.0)),
    "HIV": ((200, 450), (5.7, 7.2), (2.0, 8.0), (25, 60), (21.0, 27.0)),
    "LOCALIZED": ((90, 180), (7.4, 9.5), (8.0, 20.0), (15, 40), (24.0, 31.0)),
    "PROGEROID": ((150, 500), (5.6, 8.0), (1.0, 5.0), (20, 60), (17.5, 23.0)),
}

# Genetic findings used for the synthetic cohort: gene -> (transcript, c., p., acmg).
VARIANTS = {
    "AGPAT2": [("NM_006412.4", "c.589-2A>G", "p.?", "pathogenic")],
    "BSCL2": [("NM_001122955.4", "c.974dup", "p.(Ala326Glyfs*?)", "pathogenic")],
    "CAV1": [("NM_001753.5", "c.424C>T", "p.(Gln142Ter)", "pathogenic")],
    "CAVIN1": [("NM_012232.6", "c.696_697insC", "p.(Lys233Glnfs*?)", "likely_pathogenic")],
    "LMNA": [
        ("NM_170707.4", "c.1444C>T", "p.(Arg482Trp)", "pathogenic"),
        ("NM_170707.4", "c.1445G>A", "p.(Arg482Gln)", "pathogenic"),
    ],
    "PPARG": [("NM_015869.5", "c.1273G>A", "p.(Val425Met)", "likely_pathogenic")],
    "PLIN1": [("NM_002666.5", "c.1210-1G>C", "p.?", "likely_pathogenic")],
    "CIDEC": [("NM_001199551.2", "c.553G>T", "p.(Glu186Ter)", "pathogenic")],
    "LIPE": [("NM_005357.4", "c.3808_3809del", "p.(Val1270Glufs*?)", "likely_pathogenic")],
    "AKT2": [("NM_001626.6", "c.821G>A", "p.(Arg274His)", "pathogenic")],
    "MFN2": [("NM_014874.4", "c.2119C>T", "p.(Arg707Trp)", "pathogenic")],
    "ZMPSTE24": [("NM_005857.5", "c.1085dup", "p.(Leu362Phefs*19)", "pathogenic")],
    "POLD1": [("NM_002691.4", "c.1812_1814del", "p.(Ser605del)", "pathogenic")],
    "PIK3R1": [("NM_181523.3", "c.1945C>T", "p.(Arg649Trp)", "pathogenic")],
    "PSMB8": [("NM_148919.4", "c.224C>T", "p.(Thr75Met)", "pathogenic")],
}
HGPS_VARIANT = ("NM_170707.4", "c.1824C>T", "p.(Gly608=)", "pathogenic")
MADA_VARIANT = ("NM_170707.4", "c.1580G>A", "p.(Arg527His)", "pathogenic")

PHENOTYPES_BY_PATTERN = {
    "generalized": ["HP:0009125", "HP:0008887", "HP:0001397", "HP:0000956", "HP:0003712", "HP:0002591"],
    "partial": ["HP:0009125", "HP:0003635", "HP:0001397", "HP:0000956"],
    "localized": ["HP:0007552"],
}
