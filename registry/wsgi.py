import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
from ops.uploads import BodyLimitMiddleware  # noqa: E402 - after the settings module is set

# bodies are limited by what arrives, chunked ones included (ops/uploads.py)
application = BodyLimitMiddleware(get_wsgi_application())
