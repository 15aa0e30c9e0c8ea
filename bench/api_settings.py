"""Settings for the API benchmark's gunicorn: the production settings, with the bench-only
URLconf (``bench/api_urls.py``: the real URLs plus the bare reference view). Never used
outside ``bench/api.py``; the product's URLconf has no such view."""

from __future__ import annotations

from registry.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
