"""pyBKT-format CSV files: read them fast, and the fitted-parameters JSON.

pyBKT's columns: user_id, skill_name, correct (0 or 1; -1 for no response), order_id
(optional; rows are taken in file order without it), and a resource column for per-module
learning rates (`--multilearn COLUMN`). pyBKT's Cognitive Tutor names ('Anon Student Id',
'KC(Default)', 'Correct First Attempt', 'Row') are accepted too. Comma or tab separated;
fields may be double-quoted but may not contain line breaks.

The file is parsed by Numba kernels in parallel chunks: each chunk tokenises its lines,
parses correctness and order, and codes string columns through its own hash table; the
chunks' tables are then merged by name.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numba import prange

from engine.fit import FittedParameters
from engine.jit import dynamic_schedule, inline, kernel, parallel_kernel
from skillgap.errors import UserError

COLUMNS = {
    "user_id": ("user_id", "Anon Student Id"),
    "skill_name": ("skill_name", "KC(Default)"),
    "correct": ("correct", "Correct First Attempt"),
    "order_id": ("order_id", "Row"),
}
PARAMS_FORMAT = "skillgap-bkt-params/1"
DEFAULT_RESOURCE = "default"

# Per-row problems found by the parsing kernel.
MISSING_FIELD, BAD_CORRECT, BAD_ORDER, BAD_QUOTE, TABLE_FULL = 1, 2, 3, 4, 5
CHUNKS_PER_THREAD = 4  # handed out dynamically, so a busy core holds up only a small chunk
FIRST_TABLE_SLOTS = 2**14  # per string column and chunk; quadrupled and parsed again when full
PROBLEMS = {
    MISSING_FIELD: "has fewer fields than the header",
    BAD_CORRECT: "correct must be 0 or 1 (or -1 for no response)",
    BAD_ORDER: "order_id must be an integer",
    BAD_QUOTE: "has an unterminated quoted field",
}


class CsvError(UserError, ValueError):
    """A pyBKT CSV or parameters file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class BktTable:
    """The rows of a pyBKT CSV: string columns as codes into their name lists."""

    learner: np.ndarray  # (N,) int64
    skill: np.ndarray  # (N,) int64
    resource: np.ndarray | None  # (N,) int64, with a resource column
    correct: np.ndarray  # (N,) 1.0, 0.0, or NaN for no response
    order: np.ndarray | None  # (N,) int64 order_id
    learners: list[str]
    skills: list[str]
    resources: list[str]
    line_start: np.ndarray  # (N,) byte offsets of each row's line in the file
    line_end: np.ndarray  # (N,) end of the line, without its line break
    header: str

    @property
    def rows(self) -> int:
        return self.learner.shape[0]


# ---------------------------------------------------------------- kernels


@inline
def _count_lines(data, lo, hi):
    """Non-blank lines in data[lo:hi]."""
    count = 0
    blank = True
    for k in range(lo, hi):
        c = data[k]
        if c == 10:
            if not blank:
                count += 1
            blank = True
        elif c != 13 and c != 32:
            blank = False
    if not blank:
        count += 1
    return count


@inline
def _fingerprint(data, lo, hi):
    """A 128-bit key of data[lo:hi]: the bytes themselves and the length when at most 7 bytes
    (exact, and most ids are that short), else two independent 64-bit hashes (FNV-1a and a
    polynomial one). Strings are told apart by the key, so the file is never read again at a
    string's first occurrence (a cache miss)."""
    n = hi - lo
    if n <= 7:
        key = np.uint64(n) << np.uint64(56)
        for k in range(n):
            key |= np.uint64(data[lo + k]) << np.uint64(8 * k)
        return key, np.uint64(0)
    h1 = np.uint64(14695981039346656037)
    h2 = np.uint64(n)
    for k in range(lo, hi):
        h1 = (h1 ^ np.uint64(data[k])) * np.uint64(1099511628211)
        h2 = h2 * np.uint64(0x9E3779B97F4A7C15) + np.uint64(data[k]) + np.uint64(1)
    return h1, h2


@inline
def _same_as(data, lo, hi, other_lo, other_hi):
    if hi - lo != other_hi - other_lo:
        return False
    for k in range(hi - lo):
        if data[lo + k] != data[other_lo + k]:
            return False
    return True


@inline
def _code(data, lo, hi, slots, u_start, u_end, u_hash, n_unique):
    """Code of the string data[lo:hi] in one chunk's table (open addressing on `slots`,
    kept at most half full); a new string becomes code n_unique. -1: the table is full."""
    h1, h2 = _fingerprint(data, lo, hi)
    mask = slots.shape[0] - 1
    mixed = (h1 ^ (h1 >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)  # spread FNV's low bits
    k = np.int64((mixed ^ (mixed >> np.uint64(29))) & np.uint64(mask))
    while True:
        u = slots[k]
        if u < 0:
            break
        if u_hash[u, 0] == h1 and u_hash[u, 1] == h2:
            return u
        k = (k + 1) & mask
    if 2 * (n_unique + 1) > slots.shape[0]:
        return -1
    u_start[n_unique] = lo
    u_end[n_unique] = hi
    u_hash[n_unique, 0] = h1
    u_hash[n_unique, 1] = h2
    slots[k] = n_unique
    return n_unique


@inline
def _trimmed(data, lo, hi):
    while lo < hi and (data[lo] == 32 or data[lo] == 9):
        lo += 1
    while hi > lo and (data[hi - 1] == 32 or data[hi - 1] == 9 or data[hi - 1] == 13):
        hi -= 1
    return lo, hi


@inline
def _parse_int(data, lo, hi):
    """(value, ok) of an optionally signed integer, allowing a '.0...' tail (pandas writes 3.0)."""
    lo, hi = _trimmed(data, lo, hi)
    negative = lo < hi and data[lo] == 45
    if negative or (lo < hi and data[lo] == 43):
        lo += 1
    if lo >= hi:
        return 0, False
    value = 0
    k = lo
    while k < hi and 48 <= data[k] <= 57:
        value = value * 10 + (np.int64(data[k]) - 48)
        k += 1
    if k == lo or k - lo > 18:  # no digits, or more than an int64 holds
        return 0, False
    if k < hi and data[k] == 46:
        k += 1
        while k < hi and data[k] == 48:
            k += 1
    if k != hi:
        return 0, False
    return (-value if negative else value), True


@kernel
def _parse_chunk(
    data, lo, hi, delimiter, n_fields, field_role, first_row,
    codes, correct, order, line_start, line_end, slots, u_start, u_end, u_hash, problem,
):  # fmt: skip
    """Parse the lines of data[lo:hi] into rows first_row, first_row + 1, ... in one pass.

    field_role[f]: 0 ignore, 1 learner, 2 skill, 3 resource (string columns, coded into
    codes[role - 1]), 4 correct, 5 order. Stops at the first problem, stored as
    problem = (code, byte offset of its line). Returns the number of uniques per string column.
    """
    n_unique = np.zeros(3, np.int64)
    # One name per table: views made once, not per field (each view costs reference counting).
    slots_0, u_start_0, u_end_0, u_hash_0 = slots[0], u_start[0], u_end[0], u_hash[0]
    slots_1, u_start_1, u_end_1, u_hash_1 = slots[1], u_start[1], u_end[1], u_hash[1]
    slots_2, u_start_2, u_end_2, u_hash_2 = slots[2], u_start[2], u_end[2], u_hash[2]
    previous = np.zeros((3, 2), np.int64)  # the last string seen per column: [start, end)
    row = first_row
    k = lo
    while k < hi:
        line = k
        while k < hi and (data[k] == 13 or data[k] == 32):
            k += 1
        if k >= hi or data[k] == 10:  # a blank line
            k += 1
            continue
        k = line
        f = 0
        while True:
            # One field from k: content [a, b), quotes removed; k ends on its delimiter or line end.
            a = k
            if k < hi and data[k] == 34:
                a = k + 1
                k = a
                while True:
                    while k < hi and data[k] != 34 and data[k] != 10:
                        k += 1
                    if k < hi and data[k] == 34 and k + 1 < hi and data[k + 1] == 34:
                        k += 2
                        continue
                    break
                if k >= hi or data[k] != 34:
                    problem[0] = BAD_QUOTE
                    problem[1] = line
                    return n_unique
                b = k
                while k < hi and data[k] != delimiter and data[k] != 10:
                    k += 1
            else:
                while k < hi and data[k] != delimiter and data[k] != 10:
                    k += 1
                b = k - 1 if k > a and data[k - 1] == 13 else k
            if f < n_fields:
                role = field_role[f]
                if 1 <= role <= 3:
                    c = role - 1
                    if row > first_row and _same_as(data, a, b, previous[c, 0], previous[c, 1]):
                        codes[c, row] = codes[c, row - 1]  # a learner's rows come in runs
                        f += 1
                        if k >= hi or data[k] == 10:
                            break
                        k += 1
                        continue
                    previous[c, 0] = a
                    previous[c, 1] = b
                    if c == 0:
                        u = _code(data, a, b, slots_0, u_start_0, u_end_0, u_hash_0, n_unique[0])
                    elif c == 1:
                        u = _code(data, a, b, slots_1, u_start_1, u_end_1, u_hash_1, n_unique[1])
                    else:
                        u = _code(data, a, b, slots_2, u_start_2, u_end_2, u_hash_2, n_unique[2])
                    if u < 0:
                        problem[0] = TABLE_FULL
                        problem[1] = line
                        return n_unique
                    if u == n_unique[c]:
                        n_unique[c] += 1
                    codes[c, row] = u
                elif role == 4:
                    value, ok = _parse_int(data, a, b)
                    if not ok or value < -1 or value > 1:
                        problem[0] = BAD_CORRECT
                        problem[1] = line
                        return n_unique
                    correct[row] = np.nan if value == -1 else float(value)
                elif role == 5:
                    value, ok = _parse_int(data, a, b)
                    if not ok:
                        problem[0] = BAD_ORDER
                        problem[1] = line
                        return n_unique
                    order[row] = value
            f += 1
            if k >= hi or data[k] == 10:
                break
            k += 1  # past the delimiter
        if f < n_fields:
            problem[0] = MISSING_FIELD
            problem[1] = line
            return n_unique
        line_start[row] = line
        line_end[row] = k - 1 if k > line and data[k - 1] == 13 else k
        row += 1
        k += 1  # past the line break
    return n_unique


@parallel_kernel
def _parse_chunks(data, bounds, delimiter, n_fields, field_role, first_rows, codes, correct, order,
                  line_start, line_end, slots, u_start, u_end, u_hash, problems, uniques):  # fmt: skip
    for c in prange(bounds.shape[0] - 1):
        uniques[c] = _parse_chunk(
            data, bounds[c], bounds[c + 1], delimiter, n_fields, field_role, first_rows[c],
            codes, correct, order, line_start, line_end, slots[c], u_start[c], u_end[c], u_hash[c], problems[c],
        )  # fmt: skip


@parallel_kernel
def _count_chunks(data, bounds, out):
    for c in prange(bounds.shape[0] - 1):
        out[c] = _count_lines(data, bounds[c], bounds[c + 1])


# ---------------------------------------------------------------- reading


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # pyBKT reads its CSVs as latin-1


def _column(header: list[str], names: tuple[str, ...], path: Path, required: bool) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    if required:
        raise CsvError(f"{path}: no {names[0]!r} column (columns: {', '.join(header)})")
    return None


def _chunk_bounds(data: np.ndarray, start: int, n_chunks: int) -> np.ndarray:
    """Chunk boundaries at line starts, so that no line is split."""
    bounds = [start]
    size = data.shape[0]
    for c in range(1, n_chunks):
        cut = max(bounds[-1], start + (size - start) * c // n_chunks)
        window = 4096
        while True:  # the next line break after the cut, looking further only when lines are long
            newline = np.flatnonzero(data[cut : cut + window] == 10)
            if newline.size or cut + window >= size:
                break
            window *= 16
        bounds.append(min(size, cut + int(newline[0]) + 1) if newline.size else size)
    bounds.append(size)
    return np.array(bounds, dtype=np.int64)


def read_bkt_csv(path: Path, resource_column: str | None = None, need_correct: bool = True) -> BktTable:
    """Read a pyBKT CSV; CsvError names the file, the line and the problem."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise CsvError(f"{path}: cannot read: {exc.strerror}") from None
    if data.size == 0:
        raise CsvError(f"{path}: the file is empty")
    newline = np.flatnonzero(data[:1_000_000] == 10)
    header_end = int(newline[0]) if newline.size else data.size
    header_text = _decode(data[:header_end].tobytes()).lstrip("\ufeff").rstrip("\r")
    delimiter = "," if "," in header_text or "\t" not in header_text else "\t"
    header = next(csv.reader(io.StringIO(header_text), delimiter=delimiter), [])
    if not any(header):
        raise CsvError(f"{path}: the first line must name the columns")
    roles = np.zeros(len(header), np.int64)
    roles[_column(header, COLUMNS["user_id"], path, True)] = 1
    roles[_column(header, COLUMNS["skill_name"], path, True)] = 2
    if resource_column is not None:
        roles[_column(header, (resource_column,), path, True)] = 3
    correct_at = _column(header, COLUMNS["correct"], path, need_correct)
    if correct_at is not None:
        roles[correct_at] = 4
    order_at = _column(header, COLUMNS["order_id"], path, False)
    if order_at is not None:
        roles[order_at] = 5
    n_fields = int(np.flatnonzero(roles)[-1]) + 1  # fields past the last needed one are not read

    body = min(header_end + 1, data.size)
    bounds = _chunk_bounds(data, body, CHUNKS_PER_THREAD * max(1, numba.get_num_threads()))
    counts = np.zeros(bounds.size - 1, np.int64)
    _count_chunks(data, bounds, counts)
    first_rows = np.concatenate([[0], np.cumsum(counts)])
    n = int(first_rows[-1])
    if n == 0:
        raise CsvError(f"{path}: no rows after the header")
    n_chunks = bounds.size - 1
    most = int(counts.max())
    codes = np.zeros((3, n), np.int64)
    correct = np.full(n, np.nan)
    order = np.zeros(n, np.int64)
    line_start = np.empty(n, np.int64)
    line_end = np.empty(n, np.int64)
    slots_per_table = FIRST_TABLE_SLOTS
    while True:
        capacity = min(most, slots_per_table // 2)
        slots = np.full((n_chunks, 3, slots_per_table), -1, np.int64)
        u_start = np.empty((n_chunks, 3, capacity), np.int64)
        u_end = np.empty((n_chunks, 3, capacity), np.int64)
        u_hash = np.empty((n_chunks, 3, capacity, 2), np.uint64)
        problems = np.zeros((n_chunks, 2), np.int64)
        uniques = np.zeros((n_chunks, 3), np.int64)
        with dynamic_schedule():
            _parse_chunks(
                data, bounds, ord(delimiter), n_fields, roles, first_rows, codes, correct, order, line_start,
                line_end, slots, u_start, u_end, u_hash, problems, uniques,
            )  # fmt: skip
        if not np.any(problems[:, 0] == TABLE_FULL):
            break
        slots_per_table *= 4
    for code, offset in problems:
        if code:
            line = 1 + int(np.count_nonzero(data[:offset] == 10))
            raise CsvError(f"{path}, line {line}: {PROBLEMS[int(code)]}")

    names: list[list[str]] = []
    for column in range(3):
        merged: dict[bytes, int] = {}
        for c in range(n_chunks):
            local = np.empty(uniques[c, column], np.int64)
            for u in range(uniques[c, column]):
                raw = data[u_start[c, column, u] : u_end[c, column, u]].tobytes()
                local[u] = merged.setdefault(raw, len(merged))
            rows = slice(first_rows[c], first_rows[c + 1])
            if local.size:
                codes[column, rows] = local[codes[column, rows]]
        names.append([_decode(raw).replace('""', '"') for raw in merged])
    return BktTable(
        learner=codes[0], skill=codes[1], resource=codes[2] if resource_column is not None else None,
        correct=correct, order=order if order_at is not None else None,
        learners=names[0], skills=names[1], resources=names[2] if resource_column is not None else [],
        line_start=line_start, line_end=line_end, header=header_text,
    )  # fmt: skip


# ---------------------------------------------------------------- parameters


def params_to_json(params: FittedParameters, skills: list[str], resources: list[str], forgets: bool,
                   resource_column: str | None) -> dict:  # fmt: skip
    """The parameters file: per skill prior, guess, slip, forget and a learning rate per resource
    with its standard error and the number of learners behind it (rates per observation)."""
    resources = resources or [DEFAULT_RESOURCE]
    out = {}
    for p, skill in enumerate(skills):
        learns = {
            resources[r]: {
                "rate": float(params.learn[p, r]),
                "se": float(params.learn_se[p, r]),
                "learners": int(params.learners[p, r]),
            }
            for r in range(len(resources))
            if params.learners[p, r] > 0
        }
        out[skill] = {
            "prior": float(params.prior[p]),
            "guess": float(params.guess[p]),
            "slip": float(params.slip[p]),
            "forget": float(params.forget[p]),
            "learns": learns,
            "observations": int(params.observations[p]),
            "log_likelihood": float(params.log_likelihood[p]),
            "iterations": int(params.iterations[p]),
        }
    return {"format": PARAMS_FORMAT, "forgets": forgets, "multilearn": resource_column, "skills": out}


def align(table: BktTable, skills: list[str], resources: list[str], source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(point, resource) codes of the table's rows in the parameters' skill and resource order."""
    index = {name: p for p, name in enumerate(skills)}
    unknown = [name for name in table.skills if name not in index]
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise CsvError(f"{source}: skills with no fitted parameters: {', '.join(map(repr, unknown[:5]))}{more}")
    point = np.array([index[name] for name in table.skills], dtype=np.int64)[table.skill]
    if table.resource is None:
        return point, None
    index = {name: r for r, name in enumerate(resources)}
    unknown = [name for name in table.resources if name not in index]
    if unknown:
        raise CsvError(f"{source}: resources with no fitted learning rate: {', '.join(map(repr, unknown[:5]))}")
    return point, np.array([index[name] for name in table.resources], dtype=np.int64)[table.resource]


def params_from_json(doc: object, source: str) -> tuple[FittedParameters, list[str], list[str], str | None]:
    """(parameters, skills, resources, resource column) from a parameters file's content."""
    if not isinstance(doc, dict) or doc.get("format") != PARAMS_FORMAT or not isinstance(doc.get("skills"), dict):
        raise CsvError(f"{source}: not a parameters file written by `skillgap fit` ({PARAMS_FORMAT})")
    skills = list(doc["skills"])
    resources = sorted({r for s in doc["skills"].values() for r in s.get("learns", {})})
    index = {r: k for k, r in enumerate(resources)}
    learn = np.full((len(skills), max(1, len(resources))), np.nan)
    fields = {name: np.empty(len(skills)) for name in ("prior", "guess", "slip", "forget")}
    try:
        for p, skill in enumerate(skills):
            entry = doc["skills"][skill]
            for name, values in fields.items():
                values[p] = float(entry[name])
            for resource, rate in entry["learns"].items():
                learn[p, index[resource]] = float(rate["rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CsvError(f"{source}: skill {skill!r} is incomplete ({exc!r})") from None
    params = FittedParameters.initial(fields["prior"], learn, fields["forget"], fields["guess"], fields["slip"])
    return params, skills, resources, doc.get("multilearn")


# ---------------------------------------------------------------- predictions


@parallel_kernel
def _format_rows(data, line_start, line_end, delimiter, values, offsets, out):
    """Each row's line, then its values in [0, 1] with six decimals, into out at offsets[row]."""
    for row in prange(line_start.shape[0]):
        k = offsets[row]
        for b in range(line_start[row], line_end[row]):
            out[k] = data[b]
            k += 1
        for v in range(values.shape[0]):
            out[k] = delimiter
            micro = np.int64(np.round(min(max(values[v, row], 0.0), 1.0) * 1e6))
            out[k + 1] = 48 + micro // 1000000
            out[k + 2] = 46
            rest = micro % 1000000
            for d in range(6):
                out[k + 8 - d] = 48 + rest % 10
                rest //= 10
            k += 9
        out[k] = 10


def write_predictions(source: Path, out: Path, table: BktTable, columns: dict[str, np.ndarray]) -> None:
    """The source CSV's rows in their order, each with the given columns appended."""
    data = np.fromfile(source, dtype=np.uint8)
    delimiter = "\t" if "," not in table.header and "\t" in table.header else ","
    header = (table.header + "".join(delimiter + name for name in columns) + "\n").encode()
    values = np.ascontiguousarray(np.stack(list(columns.values())), dtype=np.float64)
    sizes = table.line_end - table.line_start + 9 * values.shape[0] + 1
    offsets = len(header) + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    buffer = np.empty(len(header) + int(sizes.sum()), np.uint8)
    buffer[: len(header)] = np.frombuffer(header, np.uint8)
    _format_rows(data, table.line_start, table.line_end, ord(delimiter), values, offsets, buffer)
    try:
        buffer.tofile(out)
    except OSError as exc:
        raise CsvError(f"{out}: cannot write: {exc.strerror}") from None
