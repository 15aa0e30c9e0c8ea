"""Upload limits enforced on the bytes actually received, not on what the client declares.

- ``LimitedUploadHandler`` (first in ``FILE_UPLOAD_HANDLERS``) counts each file's bytes as
  they stream in and stops the upload as soon as one passes ``LAB_IMPORT_MAX_BYTES``: nothing
  more is buffered or written to disk, and the view answers 413 (``upload_too_large``).
- ``BodyLimitMiddleware`` (WSGI, around Django) refuses a declared ``Content-Length`` above
  the largest accepted body before reading it, and gives chunked request bodies (which
  Django would otherwise see as empty) a length by spooling them, up to the same limit.
"""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# room for the multipart boundaries and the small form fields around the file
ENVELOPE_BYTES = 1024 * 1024
SPOOL_MEMORY_BYTES = 1024 * 1024
READ_CHUNK = 64 * 1024


def file_limit() -> int:
    return settings.LAB_IMPORT_MAX_BYTES


def body_limit() -> int:
    return max(settings.LAB_IMPORT_MAX_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE) + ENVELOPE_BYTES


def upload_too_large(request) -> bool:
    """True if the request's upload was stopped at the limit (read ``request.FILES`` first)."""
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    return bool(getattr(request, "upload_too_large", False))


class LimitedUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > file_limit():
            if self.request is not None:
                self.request.upload_too_large = True
            # stop reading the rest of the body: the remaining bytes are at most the
            # body limit, which BodyLimitMiddleware enforced on the way in
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file


def _too_large(start_response) -> list[bytes]:
    body = (
        b'{"detail": "The request body is larger than the limit of %d bytes.", "code": "payload_too_large"}'
        % body_limit()
    )
    start_response(
        "413 Payload Too Large",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")],
    )
    return [body]


class BodyLimitMiddleware:
    """WSGI middleware: see the module docstring."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        limit = body_limit()
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit:
            return _too_large(start_response)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not declared:
            spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - closed by the server
            stream = environ["wsgi.input"]
            size = 0
            while True:
                block = stream.read(READ_CHUNK)
                if not block:
                    break
                size += len(block)
                if size > limit:
                    spooled.close()
                    return _too_large(start_response)
                spooled.write(block)
            spooled.seek(0)
            environ["wsgi.input"] = spooled
            environ["CONTENT_LENGTH"] = str(size)
        return self.app(environ, start_response)
