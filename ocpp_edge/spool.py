"""The edge's local durable spool (DESIGN.md decision 4): records that Kafka could not ack in time.

An append-only file of length-prefixed records, fsync'd before the charger is answered. The drainer re-sends
records in file order (so per-station order holds) and truncates the file once all are acked. A record re-sent
after a timed-out (but in fact delivered) first attempt keeps its `event_id`; processors drop the duplicate.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _encode(record: SpooledRecord) -> bytes:
    parts = [record.topic.encode(), record.key, record.value]
    for name, value in record.headers:
        parts += [name.encode(), value]
    body = b"".join(_HEADER.pack(len(p)) + p for p in parts)
    return _HEADER.pack(len(body)) + body


def _decode(body: bytes) -> SpooledRecord:
    parts, i = [], 0
    while i < len(body):
        (n,) = _HEADER.unpack_from(body, i)
        parts.append(body[i + 4 : i + 4 + n])
        i += 4 + n
    headers = tuple((parts[j].decode(), parts[j + 1]) for j in range(3, len(parts), 2))
    return SpooledRecord(parts[0].decode(), parts[1], parts[2], headers)


class Spool:
    """One spool file per edge instance.

    Its methods run in worker threads (asyncio.to_thread), and a cancelled awaiter does not stop its thread: a lock
    keeps `close` from closing the file under a `drop_prefix` that is still replacing it."""

    def __init__(self, directory: Path, edge_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{edge_id}.spool"
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.count = sum(1 for _ in self.read())

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("the spool is closed")
        return self._fd

    def append(self, records: Sequence[SpooledRecord]) -> None:
        """Write and fsync (blocking: call from a thread when latency matters)."""
        data = b"".join(_encode(r) for r in records)
        with self._lock:
            fd = self._open_fd()
            os.write(fd, data)
            os.fsync(fd)
            self.count += len(records)

    def read(self) -> Iterator[SpooledRecord]:
        with self.path.open("rb") as f:
            data = f.read()
        i = 0
        while i + 4 <= len(data):
            (n,) = _HEADER.unpack_from(data, i)
            if i + 4 + n > len(data):
                break  # a torn final write (crash mid-append): that record was never acknowledged
            yield _decode(data[i + 4 : i + 4 + n])
            i += 4 + n

    def drop_prefix(self, count: int) -> None:
        """Remove the first `count` records (they reached Kafka); records appended since stay, in order."""
        with self._lock:
            self._open_fd()
            self._drop_prefix(count)

    def _drop_prefix(self, count: int) -> None:
        with self.path.open("rb") as f:
            data = f.read()
        i = 0
        for _ in range(count):
            (n,) = _HEADER.unpack_from(data, i)
            i += 4 + n
        rest = data[i:]
        tmp = self.path.with_name(self.path.name + ".tmp")  # <edge>.spool.tmp: the edge's other files have their own
        with tmp.open("wb") as f:
            f.write(rest)
            f.flush()
            os.fsync(f.fileno())
        os.close(self._open_fd())
        self._fd = None
        try:
            os.replace(tmp, self.path)
        finally:  # replaced or not, appends go on to the spool file (a failed drop keeps its records: re-sent later)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.count = max(0, self.count - count)

    def clear(self) -> None:
        with self._lock:
            fd = self._open_fd()
            os.ftruncate(fd, 0)
            os.fsync(fd)
            self.count = 0

    def close(self) -> None:
        """Close the file (idempotent); waits for a write or truncation in progress."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
