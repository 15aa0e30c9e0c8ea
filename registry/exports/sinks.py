"""Where export files go: entries of a zip (the downloadable bundle) or plain files in a
directory (the command's FHIR and Phenopacket output). Every entry is hashed (SHA-256)
and measured while it is written, for the manifest."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class _Counting:
    """A write-only binary stream that hashes and counts what passes through."""

    def __init__(self, raw: BinaryIO, on_close):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0
        self._on_close = on_close

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        self._on_close(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Sink:
    # How entries are compressed, for the manifest (None: plain files).
    compression: str | None = None

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}
        self.paths: list[Path] = []

    def _done(self, name: str, stream: _Counting) -> None:
        self.entries[name] = {"sha256": stream.sha.hexdigest(), "bytes": stream.size}

    def open(self, name: str) -> _Counting:  # pragma: no cover - interface
        raise NotImplementedError

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.open(name) as fh:
            fh.write(data)

    def close(self) -> list[Path]:  # pragma: no cover - interface
        raise NotImplementedError


class ZipSink(Sink):
    """Deflate level 1 by default: on the export's CSV it keeps most of deflate's gain
    (a 70 MB labs table becomes 14 MB, 11 MB at zlib's default level 6) in a quarter of
    the time, and the time is what a large export waits for."""

    def __init__(self, path: Path, *, compresslevel: int = 1) -> None:
        super().__init__()
        self.path = Path(path)
        self.compresslevel = compresslevel
        self.compression = f"deflate, level {compresslevel}"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # readable by the service only
        self.zf = zipfile.ZipFile(os.fdopen(fd, "wb"), "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)

    def open(self, name: str) -> _Counting:
        info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        # ZipFile.open() takes the archive's level only for entries it names itself; a
        # ZipInfo of ours would be deflated at zlib's default (6) without this.
        info._compresslevel = self.compresslevel
        info.external_attr = 0o600 << 16
        raw = self.zf.open(info, "w", force_zip64=True)
        return _Counting(raw, lambda s: self._done(name, s))

    def close(self) -> list[Path]:
        fh = self.zf.fp
        self.zf.close()
        if fh is not None:
            fh.close()  # ZipFile leaves a file object it did not open to its owner
        return [self.path]


class DirSink(Sink):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def open(self, name: str) -> _Counting:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.paths.append(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        return _Counting(os.fdopen(fd, "wb"), lambda s: self._done(name, s))

    def close(self) -> list[Path]:
        return list(self.paths)


class BackgroundWriter:
    """Hands blocks to ``write`` on a thread of its own, through a queue of at most
    ``depth`` blocks: the caller goes on reading its stream while the blocks before are
    hashed, deflated and written. zlib, hashlib and file writes release the GIL on large
    blocks, so the two threads run on two cores; memory stays bounded by the queue.

    Use as a context manager; leaving it waits for the last block. An error of ``write``
    is raised in the caller, at its next ``write`` or on leaving."""

    _DONE = object()

    def __init__(self, write: Callable[[bytes], object], *, depth: int = 4) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is self._DONE:
                return
            if self._error is None:
                try:
                    self._write(block)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self._error = exc
            # after an error, keep taking blocks (and drop them): the caller never blocks

    def write(self, block: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(block)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._DONE)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self._error = self._error or exc  # the caller failed: drop what is still queued
        self._queue.put(self._DONE)
        self._thread.join()


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
