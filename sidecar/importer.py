"""`skillgap import-events`: events from a CSV file (one column per envelope field) or from an
export (newline-delimited JSON, gzip'd or not) onto the log, checked whole before anything is
written, with progress output.

Events keep their ids (given, or derived from the content), so importing a file twice applies
it once while the processed-event marks are retained.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from core.errors import UserError
from core.eventlog import append_events
from core.events import FIELDS, EventError, parse_event
from core.people import PERSON_FIELDS, PersonError, parse_person, save_people
from core.services import Services
from sidecar.csv_file import DELIMITER_NAMES, RowProblem, read_csv

CHUNK = 5_000
MAX_PROBLEMS = 20


class ImportProblem(UserError):
    """A file that cannot be imported; the message lists the lines at fault."""


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, event object, or RowProblem) for each event of the file."""
    name = path.name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        yield number, orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        yield number, RowProblem(number, f"not JSON: {exc}")
        return
    if not name.endswith((".csv", ".tsv", ".txt")):
        raise ImportProblem(f"{path}: expected a .csv, .ndjson or .ndjson.gz file")
    table = read_csv(path)
    unknown = [name for name in table.header if name not in FIELDS]
    if unknown:
        raise ImportProblem(
            f"{path}:1:{table.column(unknown[0])}: unknown column {unknown[0]!r} "
            f"(columns: {', '.join(FIELDS)}; separator read: {DELIMITER_NAMES[table.delimiter]})"
        )
    for line, row in table.rows():
        yield line, row if isinstance(row, RowProblem) else (_typed(row), table)


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
    """(line, Event) or (line, RowProblem) for each row."""
    for line, data in _rows(path):
        if isinstance(data, RowProblem):
            yield line, data
            continue
        table = None
        if isinstance(data, tuple):  # a CSV row and its file, for the column of a bad cell
            data, table = data
        row_tenant = data.get("tenant", tenant) if isinstance(data, dict) else tenant
        try:
            yield line, parse_event(data, tenant=row_tenant, catalog=services.catalog, default_source="import")
        except EventError as exc:
            column = table.column(exc.field.split(".")[0].split("[")[0]) if table is not None else None
            yield line, RowProblem(line, exc.message, column, exc.field)


def import_events(services: Services, path: Path, tenant: str, progress: Callable[[str], None]) -> int:
    """Check every row, then append them all; returns how many events were imported."""
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"{path}: no such file")
    problems = []
    total = 0
    for _, item in _events(services, path, tenant):
        if isinstance(item, RowProblem):
            problems.append(item.where(path))
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
    append_events(services.redis, services.keys, s.partitions, events)
    return len(events)


def _rate(done: int, total: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    return f"imported {done:,}/{total:,} events ({done / elapsed:,.0f}/s)"


def import_people(services: Services, path: Path, tenant: str, progress: Callable[[str], None]) -> int:
    """People from an HR file (columns: person, role, department, manager, start_date; the last
    three optional), every row checked before any is stored; returns how many."""
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"{path}: no such file")
    table = read_csv(path)
    for required in ("person", "role"):
        if required not in table.header:
            raise ImportProblem(
                f"{path}:1: no {required!r} column (columns: {', '.join(PERSON_FIELDS)}; "
                f"separator read: {DELIMITER_NAMES[table.delimiter]})"
            )
    people, problems = [], []
    for line, row in table.rows():
        if isinstance(row, RowProblem):
            problems.append(row)
            continue
        try:
            people.append(parse_person({k: v for k, v in row.items() if v.strip()}, services.catalog))
        except PersonError as exc:
            problems.append(RowProblem(line, exc.message, table.column(exc.field), exc.field))
    if problems:
        shown = "\n".join(p.where(path) for p in problems[:MAX_PROBLEMS])
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise ImportProblem(f"{len(problems)} rows cannot be imported; nothing was written:\n{shown}{more}")
    if not people:
        raise ImportProblem(f"{path}: no people in the file")
    s = services.settings
    save_people(services.redis, services.keys, s.partitions, tenant, people, services.catalog)
    progress(f"imported {len(people):,} people")
    return len(people)
