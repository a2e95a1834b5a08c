"""Erasure of one learner from the history the workers keep beside the log: the partition's
snapshots (their value and their events' marks) and the archive of trimmed entries. The rest
of a person's data is erased by `core/erasure.py` and `lti_tool/erasure.py`; the launcher's
`skillgap forget-learner` runs all three, so replay and `fit --from-log` never bring them back."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import redis

from core.erasure import Erased, drop_marks
from core.keys import Keys, partition_of
from core.settings import SECONDS_PER_DAY
from sidecar import snapshots
from sidecar.archive import locked, partition_files, records


def forget_in_history(
    client: redis.Redis,
    keys: Keys,
    partitions: int,
    archive_dir: Path | None,
    tenant: str,
    learner: str,
    erased: Erased,
) -> None:
    """Remove the learner from the archive files and every snapshot of their partition; counts
    go to `erased`, whose `event_ids` (the events the log held) gain the archived ones, so their
    processed-event marks go too. Without an archive, the ids of events retention trimmed are
    unknown: their marks stay (an id the intake derived is a hash that names no one)."""
    partition = partition_of(tenant, learner, partitions)
    known = set(erased.event_ids)
    if archive_dir is not None and archive_dir.is_dir():
        with locked(archive_dir, partition):  # no append while a file is rewritten
            for path in partition_files(archive_dir, partition):
                erased.add("archived events", _rewrite_archive(path, tenant, learner, erased))
    archived = {i: day for i, day in erased.event_ids.items() if i not in known}
    for day in sorted(set(archived.values())):
        erased.add("processed-event marks", drop_marks(client, keys.marks(partition, tenant, day), set(archived)))
    values, marks = snapshots.forget(client, keys, partition, tenant, learner, set(erased.event_ids))
    erased.add("snapshot values", values)
    erased.add("snapshot marks", marks)


def _rewrite_archive(path: Path, tenant: str, learner: str, erased: Erased) -> int:
    """Rewrite one archive file without the learner's events (under a temporary name, then
    renamed, so a crash leaves the old file or the new one, each whole); returns how many were
    dropped. A truncated last member (a crash mid-append) goes: its entries were not trimmed."""
    removed = 0
    lines = []
    for record in records(path):
        events = record["events"]
        kept = []
        for event in events:
            if isinstance(event, dict) and event.get("tenant") == tenant and event.get("learner") == learner:
                erased.event_ids[str(event.get("id"))] = int(float(event.get("timestamp", 0)) // SECONDS_PER_DAY)
            else:
                kept.append(event)
        removed += len(events) - len(kept)
        record["events"] = kept
        lines.append(orjson.dumps(record) + b"\n")
    if removed:
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.write(gzip.compress(b"".join(lines), mtime=0))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    return removed
