"""`skillgap import-events`: events from a CSV file (one column per envelope field) or from an
export (newline-delimited JSON, gzip'd or not) onto the log, checked whole before anything is
written, with progress output.

Events keep their ids (given, or derived from the content), so importing a file twice applies
it once while the processed-event marks are retained.
"""

from __future__ import annotations

import csv
import gzip
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from core.errors import UserError
from core.eventlog import append_events
from core.events import FIELDS, EventError, parse_event
from core.services import Services

CHUNK = 5_000
MAX_PROBLEMS = 20


class ImportProblem(UserError):
    """A file that cannot be imported; the message lists the lines at fault."""


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, event object) for each event of the file."""
    name = path.name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        yield number, orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        yield number, EventError("line", f"not JSON: {exc}")
        return
    if not name.endswith(".csv"):
        raise ImportProblem(f"{path}: expected a .csv, .ndjson or .ndjson.gz file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        unknown = sorted(set(reader.fieldnames or ()) - set(FIELDS))
        if not reader.fieldnames:
            raise ImportProblem(f"{path}: the file is empty (expected a header row)")
        if unknown:
            raise ImportProblem(f"{path}: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})")
        for row in reader:
            yield reader.line_num, _typed(row)


def _typed(row: dict[str, str]) -> dict[str, object]:
    """CSV cells are text: numbers become numbers, empty cells are left out."""
    event: dict[str, object] = {}
    for name, cell in row.items():
        if cell is None or cell.strip() == "":
            continue
        cell = cell.strip()
        if name in ("score", "timestamp", "v"):
            try:
                number = float(cell)
                event[name] = int(number) if name == "v" else number
                continue
            except ValueError:
                pass
        event[name] = cell
    return event


def _events(services: Services, path: Path, tenant: str) -> Iterator[tuple[int, object]]:
    """(line, Event) or (line, EventError) for each row."""
    for line, data in _rows(path):
        if isinstance(data, EventError):
            yield line, data
            continue
        row_tenant = data.get("tenant", tenant) if isinstance(data, dict) else tenant
        try:
            yield line, parse_event(data, tenant=row_tenant, catalog=services.catalog, default_source="import")
        except EventError as exc:
            yield line, exc


def import_events(services: Services, path: Path, tenant: str, progress: Callable[[str], None]) -> int:
    """Check every row, then append them all; returns how many events were imported."""
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"{path}: no such file")
    problems = []
    total = 0
    for line, item in _events(services, path, tenant):
        if isinstance(item, EventError):
            problems.append(f"{path}:{line}: {item.field}: {item.message}")
        total += 1
    if problems:
        shown = "\n".join(problems[:MAX_PROBLEMS])
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise ImportProblem(f"{len(problems)} of {total} rows cannot be imported; nothing was written:\n{shown}{more}")
    if total == 0:
        raise ImportProblem(f"{path}: no events in the file")
    started = time.monotonic()
    done = 0
    batch = []
    for _, event in _events(services, path, tenant):
        batch.append(event)
        if len(batch) == CHUNK:
            done += _append(services, batch)
            batch = []
            progress(_rate(done, total, started))
    if batch:
        done += _append(services, batch)
        progress(_rate(done, total, started))
    return done


def _append(services: Services, events: list) -> int:
    s = services.settings
    append_events(services.redis, services.keys, s.partitions, events, s.retention_days)
    return len(events)


def _rate(done: int, total: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    return f"imported {done:,}/{total:,} events ({done / elapsed:,.0f}/s)"

