"""Per-project pseudonymisation keys, kept outside the database.

A project's key comes from the environment (``EXPORT_KEY_<PROJECT>``, hex or any text of
at least 32 characters) or from the key file ``<EXPORT_KEY_DIR>/<project>.key``. When
neither exists and ``EXPORT_KEY_AUTOCREATE`` is on (the default), a random 256-bit key
file is created with mode 0600. Whoever holds the key can recompute a pseudonym from a
patient UUID; the database never does, so a copy of the database alone links nothing.
Several machines that build exports share the key through the environment or a shared
key directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from registry.exports.deid import check_project_name

MIN_KEY_CHARS = 32


def env_name(project: str) -> str:
    return "EXPORT_KEY_" + check_project_name(project).upper().replace("-", "_")


def key_path(project: str) -> Path:
    return Path(settings.EXPORT_KEY_DIR) / f"{check_project_name(project)}.key"


def _decode(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        raise ImproperlyConfigured(f"The export key in {where} is shorter than {MIN_KEY_CHARS} characters.")
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def project_key(project: str) -> bytes:
    """The key of ``project``; created on first use when allowed."""
    name = env_name(project)
    if os.environ.get(name):
        return _decode(os.environ[name], name)
    path = key_path(project)
    if path.exists():
        return _decode(path.read_text(), str(path))
    if not settings.EXPORT_KEY_AUTOCREATE:
        raise ImproperlyConfigured(f"No export key for project {project!r}: set {name} or create {path}.")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32)
    # O_EXCL: two workers creating the same project's key at once keep the first one.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode(path.read_text(), str(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return bytes.fromhex(key)
