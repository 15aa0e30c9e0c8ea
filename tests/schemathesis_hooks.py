"""schemathesis hooks for the live API test (loaded through SCHEMATHESIS_HOOKS).

Random UUIDs in paths only ever reach the 404 branch. These hooks also draw the ids of
real, seeded records (REGISTRY_REAL_IDS: a JSON list of {"patient_id": .., "lab_id": ..,
...} sets, one per patient), so that reads, writes and their validation run against
existing patients, labs, visits, courses and alerts of the caller's site and of another.

Updates need the record's current ETag in If-Match (428 without, 412 when stale): a
generated If-Match would only ever reach the 412 branch. Before a PUT/PATCH/DELETE whose
If-Match was generated as a valid header, ``before_call`` reads the record
(REGISTRY_API_URL, REGISTRY_API_AUTH) and sends its ETag, except for every fourth such
request, which keeps the generated (almost always stale) value so that 412 stays covered.
"""

from __future__ import annotations

import itertools
import json
import os

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation

REAL_IDS: list[dict[str, str]] = json.loads(os.environ.get("REGISTRY_REAL_IDS", "[]"))
API_URL = os.environ.get("REGISTRY_API_URL", "")
API_AUTH = os.environ.get("REGISTRY_API_AUTH", "")
_writes = itertools.count()


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


def current_etag(path: str) -> str | None:
    """The ETag of the record at ``path`` as the server has it now (None if unreadable)."""
    try:
        response = requests.get(f"{API_URL}{path}", headers={"Authorization": API_AUTH}, timeout=30)
    except requests.RequestException:
        return None
    return response.headers.get("ETag") if response.status_code == 200 else None


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.method.upper() not in ("PUT", "PATCH", "DELETE") or not API_URL:
        return
    headers = case.headers or {}
    if "If-Match" not in headers:
        return  # a case without the header: the server must answer 428 (or ignore it for DELETE)
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    if next(_writes) % 4 == 3:
        return
    etag = current_etag(case.formatted_path)
    if etag:
        headers["If-Match"] = etag
        case.headers = headers
