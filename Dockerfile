# The application image used by web, worker, beat and migrate (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# psycopg-binary brings its own libpq; pg_dump / pg_restore (Debian 12: PostgreSQL 15, the
# server's major version) serve `manage.py backup`, `restore` and the restore drill.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image and served by whitenoise (hashed names).
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_DEBUG=0 python manage.py collectstatic --no-input \
    && useradd --create-home --uid 10001 registry \
    && mkdir -p /app/var \
    && chown -R registry /app/staticfiles /app/var

USER registry
EXPOSE 8000

CMD ["gunicorn", "registry.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--no-control-socket", "--access-logfile", "-"]
