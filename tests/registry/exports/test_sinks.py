"""Export sinks without the database: the zip's compression level, the background writer
(order, errors in either thread, bounded memory)."""

from __future__ import annotations

import threading
import time
import zipfile
import zlib

import pytest

from registry.exports.sinks import BackgroundWriter, ZipSink

# CSV-like text on which deflate levels 1 and 6 give different sizes.
DATA = b"".join(f"P{i * 7919 % 100003:08x},{i % 13},triglycerides,{i * 37 % 991 / 10}\n".encode() for i in range(20000))


def _raw_deflate_size(data: bytes, level: int) -> int:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(c.compress(data) + c.flush())


@pytest.mark.parametrize("level", [1, 6])
def test_zip_entries_are_deflated_at_the_sinks_level(tmp_path, level):
    assert _raw_deflate_size(DATA, 1) != _raw_deflate_size(DATA, 6)
    sink = ZipSink(tmp_path / "x.zip", compresslevel=level)
    with sink.open("labs.csv") as fh:
        fh.write(DATA)
    sink.close()
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        info = zf.getinfo("labs.csv")
        assert zf.read("labs.csv") == DATA
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert info.compress_size == _raw_deflate_size(DATA, level)
    assert sink.compression == f"deflate, level {level}"
    assert sink.entries["labs.csv"]["bytes"] == len(DATA)


def test_background_writer_writes_every_block_in_order_on_another_thread():
    got, threads = [], set()

    def write(block):
        got.append(block)
        threads.add(threading.current_thread().name)

    with BackgroundWriter(write) as writer:
        for i in range(100):
            writer.write(b"%d\n" % i)
    assert got == [b"%d\n" % i for i in range(100)]
    assert threads == {"export-writer"}


def test_an_error_of_the_writer_reaches_the_caller():
    def write(block):
        if block == b"3":
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), BackgroundWriter(write, depth=1) as writer:
        for i in range(1000):  # raised at a later write, or at the latest on leaving
            writer.write(b"%d" % i)
    assert not writer._thread.is_alive()


def test_an_error_of_the_caller_stops_the_writer_without_writing_the_rest():
    started, release = threading.Event(), threading.Event()
    got = []

    def write(block):
        started.set()
        release.wait(5)
        got.append(block)

    with pytest.raises(RuntimeError, match="stream broke"), BackgroundWriter(write, depth=4) as writer:
        for i in range(3):
            writer.write(b"%d" % i)
        assert started.wait(5)
        threading.Timer(0.2, release.set).start()  # the writer is still on the first block when the caller fails
        raise RuntimeError("stream broke")
    assert not writer._thread.is_alive()
    assert got == [b"0"]  # the block in hand; the queued ones are dropped


def test_at_most_depth_blocks_wait_while_the_writer_is_busy():
    release = threading.Event()
    accepted = []

    def write(block):
        release.wait(5)

    writer = BackgroundWriter(write, depth=2)

    def produce():
        for i in range(10):
            writer.write(b"x" * 1000)
            accepted.append(i)

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 5
    while not writer._queue.full() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    # one block in the writer's hands, two queued: the producer waits instead of piling up
    assert producer.is_alive() and len(accepted) <= 3
    release.set()
    producer.join(5)
    writer.close()
    assert len(accepted) == 10
