"""A worker's write journal: an append-only file of the call writes it has been handed.

Every write is appended here before it is sent to the database, so it survives the
worker's end (a crash, a restart, a deploy) however long the database is away. One file
per worker process, `DATA_DIR/journal/writes-<pid>-<start ns>.jsonl`, held under an
exclusive `flock` while the worker lives: workers on one host never touch each other's
live journals, and a journal whose lock can be taken belongs to a process that has
ended (the kernel drops the lock with the process), so it is safe to adopt.

The format is JSON lines, each one of:

    {"n": 7, "write": {"kind": "turn", "turn": {...}}}    a write, numbered in order
    {"done": [5, 7]}                                      writes that reached the database

`done` lines are buffered and go out with the next write (or when the file is closed):
a crash can lose the last few, and the writes they name are then applied again, which
every kind of write allows (see `persistence.call_writes`). Lines are written with one
`os.write` each, to the kernel at once: a killed process loses nothing it appended, a
power cut may lose the last moments (there is no fsync per write, to keep the event loop
fast). Once every write in the file has been applied and it has grown past
`COMPACT_BYTES`, it is emptied in place.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from persistence.call_writes import CallWrite

SUFFIX = ".jsonl"
COMPACT_BYTES = 1 << 20


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    n: int
    write: CallWrite


class Done(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    done: list[int]


LINE: TypeAdapter[Entry | Done] = TypeAdapter(Entry | Done)


class JournalError(OSError):
    """The journal directory cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a write's line is in the file: enough to read it back, much smaller than it."""

    offset: int
    length: int


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Journal:
    """This worker's own journal file, locked for as long as it is open."""

    def __init__(self, path: Path, fd: int, *, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = path
        self.compact_bytes = compact_bytes
        """Past this size, the file is emptied once nothing in it is waiting."""
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._next = 1
        self._done: list[int] = []

    @classmethod
    def create(cls, directory: Path, *, compact_bytes: int = COMPACT_BYTES) -> Journal:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"writes-{os.getpid()}-{time.time_ns()}{SUFFIX}"
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise JournalError(
                f"cannot keep a write journal in {directory}: {exc.strerror}"
            ) from exc
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        return cls(path, fd, compact_bytes=compact_bytes)

    @property
    def size(self) -> int:
        return self._size

    def append(self, write: CallWrite) -> tuple[int, Place]:
        """Write the line to the file (with any pending `done` line before it)."""
        n, self._next = self._next, self._next + 1
        line = Entry(n=n, write=write).model_dump_json().encode() + b"\n"
        data = self._done_line() + line
        _write_all(self._fd, data)
        self._size += len(data)
        return n, Place(self._size - len(line), len(line))

    def done(self, n: int) -> None:
        """Note that write `n` reached the database (written out with the next line)."""
        self._done.append(n)

    def read(self, place: Place) -> CallWrite:
        """A write appended earlier; ValueError if its line no longer reads back."""
        line = LINE.validate_json(os.pread(self._fd, place.length, place.offset))
        if not isinstance(line, Entry):
            raise ValueError("not a write")
        return line.write

    def empty(self) -> None:
        """Every write in the file has been applied: start it again from nothing."""
        os.ftruncate(self._fd, 0)
        self._size = 0
        self._done.clear()

    def close(self, *, remove: bool) -> None:
        """Release the file: removed when nothing in it is waiting, else left for the
        next start to adopt (removed before the lock goes, so nobody adopts it half-gone)."""
        if remove:
            self.path.unlink(missing_ok=True)
        else:
            _write_all(self._fd, self._done_line())
        os.close(self._fd)

    def _done_line(self) -> bytes:
        if not self._done:
            return b""
        line = Done(done=self._done).model_dump_json().encode() + b"\n"
        self._done = []
        return line


@dataclass
class Leftover:
    """A journal left by a worker that has ended, locked by this one until discarded."""

    path: Path
    writes: list[CallWrite]
    """Writes not marked done, in the order they were handed over."""
    unreadable: int
    """Lines that could not be read (a torn or corrupted line): skipped, and lost."""
    _fd: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self._fd)

    def release(self) -> None:
        os.close(self._fd)


def read_lines(data: bytes) -> tuple[list[CallWrite], int]:
    """The writes still to be applied, in order, and the count of unreadable lines."""
    entries: list[Entry] = []
    done: set[int] = set()
    unreadable = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            line = LINE.validate_json(raw)
        except ValidationError:
            unreadable += 1
            continue
        if isinstance(line, Entry):
            entries.append(line)
        else:
            done.update(line.done)
    return [e.write for e in entries if e.n not in done], unreadable


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def leftovers(directory: Path, own: Path | None = None) -> Iterator[Leftover]:
    """Journals of workers that have ended, oldest first: each is locked before it is
    read, so a live worker's journal (whose lock it holds) is never touched, and two
    workers starting together never adopt the same one."""
    if not directory.is_dir():
        return
    for path in sorted((p for p in directory.glob(f"*{SUFFIX}") if p != own), key=_age):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # adopted by another worker meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a live worker's
            continue
        if os.fstat(fd).st_nlink == 0:  # adopted and removed between open and lock
            os.close(fd)
            continue
        try:
            data = path.read_bytes()
        except OSError:
            os.close(fd)
            raise
        writes, unreadable = read_lines(data)
        yield Leftover(path, writes, unreadable, fd)
