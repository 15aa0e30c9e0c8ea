"""plotly.js from the installed plotly package, as the static file ``vendor/plotly.min.js``.

The plotly wheel ships the exact plotly.js its figures are written for; serving that file
(through ``runserver``/``live_server`` and, after ``collectstatic``, whitenoise) keeps the
two in step on every machine, with nothing vendored in the repository and no CDN (hospital
networks are often closed).
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"
NAME = "plotly.min.js"
STATIC_PATH = f"{PREFIX}/{NAME}"


def _package_data() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(_package_data()))
        self.storage.prefix = PREFIX  # collectstatic copies the file to STATIC_ROOT/vendor/

    def check(self, **kwargs):
        if not (_package_data() / NAME).is_file():
            return [Error(f"{NAME} is missing from the installed plotly package", id="registry.E001")]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        find_all = find_all or kwargs.get("all", False)
        if path != STATIC_PATH:
            return []
        full = str(_package_data() / NAME)
        return [full] if find_all else full

    def list(self, ignore_patterns):
        yield NAME, self.storage
