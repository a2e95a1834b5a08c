"""The archive of trimmed log entries (SKILLGAP_ARCHIVE_DIR): gzip'd newline-delimited JSON,
one line per entry:

    {"entry": "1790000000000-0", "events": [<the entry's events, wire form>]}

Retention writes entries here before it trims them (`sidecar/snapshots.py`), so replay and
`fit --from-log` can read a partition's whole history: the archive, then the retained log
after the last archived entry. Files are by partition and day of the entries' ids, one per
trim of that day, named by its first entry (`p3-2026-12-07-1796600000000-0.ndjson.gz`) and
written whole under a temporary name first, so a crash leaves no partial file; a trim repeated
after a crash rewrites the same file, and readers skip an id not above the one before it.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from core.eventlog import ENTRY_FIELD, entry_chunks, entry_key
from core.services import Services

Entry = tuple[bytes, dict[bytes, bytes]]
FILE_PATTERN = re.compile(r"^p(\d+)-\d{4}-\d{2}-\d{2}-(\d+-\d+)\.ndjson\.gz\Z")


def write(directory: Path, partition: int, entries: list[Entry]) -> None:
    """Write entries (in stream order) to a file per day of their ids."""
    directory.mkdir(parents=True, exist_ok=True)
    by_day: dict[str, list[Entry]] = {}
    for entry in entries:
        by_day.setdefault(time.strftime("%Y-%m-%d", time.gmtime(entry_key(entry[0])[0] / 1000)), []).append(entry)
    for day, day_entries in by_day.items():
        path = directory / f"p{partition}-{day}-{day_entries[0][0].decode()}.ndjson.gz"
        partial = path.with_suffix(".partial")
        with gzip.open(partial, "wb") as handle:
            handle.writelines(
                b'{"entry":"%s","events":%s}\n' % (entry_id, fields.get(ENTRY_FIELD, b"[]"))
                for entry_id, fields in day_entries
            )
        os.replace(partial, path)


def partition_files(directory: Path, partition: int) -> list[Path]:
    """A partition's archive files, oldest first."""
    named = [
        (entry_key(m[2]), path)
        for path in directory.glob(f"p{partition}-*.ndjson.gz")
        if (m := FILE_PATTERN.match(path.name)) and int(m[1]) == partition
    ]
    return [path for _, path in sorted(named)]


def read(directory: Path, partition: int, chunk: int = 500) -> Iterator[list[Entry]]:
    """A partition's archived entries, oldest first, `chunk` at a time (as the log's are)."""
    last = (-1, -1)
    entries: list[Entry] = []
    for path in partition_files(directory, partition):
        with gzip.open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = orjson.loads(line)
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
