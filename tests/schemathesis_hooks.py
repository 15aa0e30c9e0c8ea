"""schemathesis hooks for the live API test (loaded through SCHEMATHESIS_HOOKS).

Random UUIDs in paths only ever reach the 404 branch. These hooks also draw the ids of
real, seeded records (REGISTRY_REAL_IDS: a JSON list of {"patient_id": .., "lab_id": ..,
...} sets, one per patient), so that reads, writes and their validation run against
existing patients, labs, visits, courses and alerts of the caller's site and of another.
"""

from __future__ import annotations

import json
import os

import schemathesis
from hypothesis import strategies as st

REAL_IDS: list[dict[str, str]] = json.loads(os.environ.get("REGISTRY_REAL_IDS", "[]"))


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    options = [path_parameters]
    for ids in REAL_IDS:
        chosen = {key: value for key, value in ids.items() if key in path_parameters}
        if chosen:
            options.append({**path_parameters, **chosen})
    return st.sampled_from(options)
