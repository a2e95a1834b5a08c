"""The archive of trimmed log entries (SKILLGAP_ARCHIVE_DIR): gzip'd newline-delimited JSON,
one line per entry:

    {"entry": "1790000000000-0", "events": [<the entry's events, wire form>]}

Retention writes entries here before it trims them (`sidecar/snapshots.py`), so replay and
`fit --from-log` can read a partition's whole history: the archive, then the retained log
after the last archived entry. One file per partition and day of the entries' ids
(`p3-2026-12-07.ndjson.gz`); each write appends one gzip member (concatenated members are one
gzip stream), fsync'd. A crash mid-write leaves a truncated last member: readers stop before
it, and the next write cuts it off first. Its entries were not trimmed (the trim follows the
write), so the next trim archives them again; a trim repeated after a crash appends entries
already there, and readers skip an id not above the one before it. A lock per partition
(`p3.lock`) keeps a writer from appending while history erasure rewrites a file.
Installs before day files wrote one file per trim, named by its first entry
(`p3-2026-12-07-1796600000000-0.ndjson.gz`); those are still read, before that day's file.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import orjson

from core.eventlog import ENTRY_FIELD, entry_chunks, entry_key
from core.services import Services

Entry = tuple[bytes, dict[bytes, bytes]]
FILE_PATTERN = re.compile(r"^p(\d+)-(\d{4}-\d{2}-\d{2})(?:-(\d+-\d+))?\.ndjson\.gz\Z")
READ_BYTES = 1 << 20
GZIP = 16 + zlib.MAX_WBITS  # one gzip member


@contextmanager
def locked(directory: Path, partition: int) -> Iterator[None]:
    """The partition's archive lock, held by a writer's append and by erasure's rewrite."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"p{partition}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def members(handle: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """The complete gzip members from the handle's position: (decompressed data, the offset
    just past the member). Stops at a truncated or damaged member (a crash mid-append)."""
    offset = handle.tell()
    pending = b""
    while True:
        inflate, out, used = zlib.decompressobj(GZIP), [], 0
        while not inflate.eof:
            data = pending or handle.read(READ_BYTES)
            pending = b""
            if not data:
                return  # truncated (or nothing more)
            try:
                out.append(inflate.decompress(data))
            except zlib.error:
                return  # damaged
            used += len(data) - len(inflate.unused_data)
        pending = inflate.unused_data
        offset += used
        yield b"".join(out), offset


def records(path: Path) -> Iterator[dict]:
    """The entry records of one archive file, in file order, its complete members only."""
    with open(path, "rb") as handle:
        for data, _ in members(handle):
            for line in data.splitlines():
                if line.strip():
                    yield orjson.loads(line)


def _whole_length(path: Path) -> int:
    with open(path, "rb") as handle:
        return max((end for _, end in members(handle)), default=0)


def member_count(path: Path) -> int:
    """How many complete gzip members (appends) a file holds."""
    with open(path, "rb") as handle:
        return sum(1 for _ in members(handle))


_checked: dict[Path, tuple[int, int]] = {}  # a day file's (inode, size) after this process's last append


def _append(path: Path, member: bytes) -> None:
    """Append one gzip member, cutting off first what a crash left of a member (checked once
    per process and whenever the file is not as this process left it, e.g. rewritten)."""
    with open(path, "ab") as handle:
        status = os.fstat(handle.fileno())
        if status.st_size and _checked.get(path) != (status.st_ino, status.st_size):
            whole = _whole_length(path)
            if whole < status.st_size:
                handle.truncate(whole)
        handle.write(member)
        handle.flush()
        os.fsync(handle.fileno())
        _checked[path] = (status.st_ino, os.fstat(handle.fileno()).st_size)


def day_file(directory: Path, partition: int, day: str) -> Path:
    return directory / f"p{partition}-{day}.ndjson.gz"


def write(directory: Path, partition: int, entries: list[Entry]) -> None:
    """Append entries (in stream order) to the file of their ids' day, one gzip member each."""
    by_day: dict[str, list[Entry]] = {}
    for entry in entries:
        by_day.setdefault(time.strftime("%Y-%m-%d", time.gmtime(entry_key(entry[0])[0] / 1000)), []).append(entry)
    with locked(directory, partition):
        for day, day_entries in by_day.items():
            lines = b"".join(
                b'{"entry":"%s","events":%s}\n' % (entry_id, fields.get(ENTRY_FIELD, b"[]"))
                for entry_id, fields in day_entries
            )
            _append(day_file(directory, partition, day), gzip.compress(lines, mtime=0))


def partition_files(directory: Path, partition: int) -> list[Path]:
    """A partition's archive files, oldest first: by day, a day's per-trim files (older
    installs) by their first entry, then the day's file."""
    named = [
        ((m[2], 0, entry_key(m[3])) if m[3] else (m[2], 1, (0, 0)), path)
        for path in directory.glob(f"p{partition}-*.ndjson.gz")
        if (m := FILE_PATTERN.match(path.name)) and int(m[1]) == partition
    ]
    return [path for _, path in sorted(named)]


def read(directory: Path, partition: int, chunk: int = 500) -> Iterator[list[Entry]]:
    """A partition's archived entries, oldest first, `chunk` at a time (as the log's are)."""
    last = (-1, -1)
    entries: list[Entry] = []
    for path in partition_files(directory, partition):
        for record in records(path):
            entry_id = record["entry"].encode()
            if entry_key(entry_id) <= last:
                continue  # archived twice
            last = entry_key(entry_id)
            entries.append((entry_id, {ENTRY_FIELD: orjson.dumps(record["events"])}))
            if len(entries) >= chunk:
                yield entries
                entries = []
    if entries:
        yield entries


def history_chunks(
    services: Services, partition: int, directory: Path | None, chunk: int = 500, after: bytes | None = None
) -> Iterator[list[Entry]]:
    """A partition's entries after `after` (None: from the start), oldest first: the archived
    ones (with a `directory`), then the retained log's newer than the last of them."""
    last = after
    if directory is not None:
        for entries in read(directory, partition, chunk):
            if last is not None:
                entries = [entry for entry in entries if entry_key(entry[0]) > entry_key(last)]
            if entries:
                last = entries[-1][0]
                yield entries
    yield from entry_chunks(services.redis, services.keys, partition, chunk, after=last)
