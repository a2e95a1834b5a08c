"""pyBKT-format CSV files: read them fast, the fitted-parameters JSON, and predictions.

pyBKT's columns: user_id, skill_name, correct (0 or 1; -1 for no response), order_id
(optional; rows are taken in file order without it), and a resource column for per-module
learning rates (`--multilearn COLUMN`). pyBKT's Cognitive Tutor names ('Anon Student Id',
'KC(Default)', 'Correct First Attempt', 'Row') are accepted too. Comma or tab separated;
fields may be double-quoted but may not contain line breaks. The parsing kernels are in
bkt_csv/kernels.py.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numba
import numpy as np

from bkt_csv import kernels
from core.errors import UserError
from engine.fit import FittedParameters
from engine.jit import dynamic_schedule

COLUMNS = {
    "user_id": ("user_id", "Anon Student Id"),
    "skill_name": ("skill_name", "KC(Default)"),
    "correct": ("correct", "Correct First Attempt"),
    "order_id": ("order_id", "Row"),
}
PARAMS_FORMAT = "skillgap-bkt-params/1"
DEFAULT_RESOURCE = "default"
# Pieces parsed in parallel: several per thread, handed out dynamically, so that a core
# taken by another process holds up only a small piece; none under 256 KiB.
PIECES_PER_THREAD = 4
MIN_PIECE_BYTES = 1 << 18
PROBLEMS = {
    kernels.MISSING_FIELD: "has fewer fields than the header",
    kernels.BAD_CORRECT: "correct must be 0 or 1 (or -1 for no response)",
    kernels.BAD_ORDER: "order_id must be an integer",
    kernels.BAD_QUOTE: "has an unterminated quoted field",
}


class CsvError(UserError, ValueError):
    """A pyBKT CSV or parameters file that cannot be used; the message says where and why."""


@dataclass(frozen=True, eq=False)
class BktTable:
    """The rows of a pyBKT CSV: string columns as codes (in order of first appearance) into
    their name lists, which are decoded from the file when first asked for."""

    learner: np.ndarray  # (N,) int32
    skill: np.ndarray  # (N,) int32
    resource: np.ndarray | None  # (N,) int32, with a resource column
    correct: np.ndarray  # (N,) 1.0, 0.0, or NaN for no response
    order: np.ndarray | None  # (N,) int64 order_id
    header: str
    delimiter: str
    source: np.ndarray  # the file's bytes: names and predictions are read from them
    pieces: np.ndarray  # (K + 1,) byte offsets at line starts that cut the body into pieces
    piece_rows: np.ndarray  # (K + 1,) the first row of each piece, then N
    spans: tuple[np.ndarray, np.ndarray, np.ndarray]  # per string column: (start, end, escaped) per code

    @property
    def rows(self) -> int:
        return self.learner.shape[0]

    @cached_property
    def learners(self) -> list[str]:
        return self._names(0)

    @cached_property
    def skills(self) -> list[str]:
        return self._names(1)

    @cached_property
    def resources(self) -> list[str]:
        return self._names(2) if self.resource is not None else []

    def _names(self, column: int) -> list[str]:
        names = []
        for start, end, escaped in self.spans[column].tolist():
            raw = self.source[start:end].tobytes()
            names.append(_decode(raw.replace(b'""', b'"') if escaped else raw))
        return names


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


def _piece_bounds(data: np.ndarray, start: int, n_pieces: int) -> np.ndarray:
    """Piece boundaries at line starts, so that no line is split; no piece is empty, so the
    last one holds the end of the file."""
    bounds = [start]
    size = data.shape[0]
    for c in range(1, n_pieces):
        cut = max(bounds[-1], start + (size - start) * c // n_pieces)
        window = 4096
        while True:  # the next line break after the cut, looking further only when lines are long
            newline = np.flatnonzero(data[cut : cut + window] == 10)
            if newline.size or cut + window >= size:
                break
            window *= 16
        bounds.append(min(size, cut + int(newline[0]) + 1) if newline.size else size)
    bounds.append(size)
    return np.unique(np.array(bounds, dtype=np.int64))


def read_bkt_csv(
    path: Path, resource_column: str | None = None, need_correct: bool = True, pieces: int | None = None
) -> BktTable:
    """Read a pyBKT CSV; CsvError names the file, the line and the problem. `pieces`: how many
    parts to parse in parallel (default: by the file's size and Numba's threads)."""
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
    roles[_column(header, COLUMNS["user_id"], path, True)] = kernels.LEARNER
    roles[_column(header, COLUMNS["skill_name"], path, True)] = kernels.SKILL
    if resource_column is not None:
        roles[_column(header, (resource_column,), path, True)] = kernels.RESOURCE
    correct_at = _column(header, COLUMNS["correct"], path, need_correct)
    if correct_at is not None:
        roles[correct_at] = kernels.CORRECT
    order_at = _column(header, COLUMNS["order_id"], path, False)
    if order_at is not None:
        roles[order_at] = kernels.ORDER
    roles = roles[: int(np.flatnonzero(roles)[-1]) + 1]  # fields past the last needed one are skipped

    body = min(header_end + 1, data.size)
    if body == data.size:
        raise CsvError(f"{path}: no rows after the header")
    if pieces is None:
        pieces = min(PIECES_PER_THREAD * numba.get_num_threads(), (data.size - body) // MIN_PIECE_BYTES)
    bounds = _piece_bounds(data, body, max(1, pieces))
    n_pieces = bounds.size - 1
    # Rows at most per piece: its line breaks, and a last line without one. The kernels write
    # rows and distinct strings into room sized by this, so it must not fall short.
    room = np.zeros(n_pieces, np.int64)
    kernels.count_newlines(data, bounds, room)
    room[-1] += data[-1] != 10
    first_rows = np.concatenate([[0], np.cumsum(room)])
    codes = np.empty((kernels.STRING_COLUMNS, first_rows[-1]), np.int32)
    correct = np.empty(first_rows[-1]) if correct_at is not None else np.full(first_rows[-1], np.nan)
    order = np.empty(first_rows[-1] if order_at is not None else 0, np.int64)
    keys, spans = kernels.string_stores(n_pieces, max(1, int(room.max())))
    problems = np.zeros((n_pieces, 2), np.int64)
    rows = np.zeros(n_pieces, np.int64)
    uniques = np.zeros((n_pieces, kernels.STRING_COLUMNS), np.int64)
    with dynamic_schedule():
        kernels.parse_pieces(
            data, bounds, ord(delimiter), roles, first_rows, codes, correct, order, keys, spans, problems, rows, uniques
        )
    for code, offset in problems:
        if code:  # the first piece with a problem has the file's first problem
            line = 1 + int(np.count_nonzero(data[:offset] == 10))
            raise CsvError(f"{path}, line {line}: {PROBLEMS[int(code)]}")
    if rows.sum() == 0:
        raise CsvError(f"{path}: no rows after the header")

    to_file_code = np.empty((n_pieces, kernels.STRING_COLUMNS, max(1, int(uniques.max()))), np.int64)
    file_spans = np.empty((kernels.STRING_COLUMNS, max(1, int(uniques.sum(axis=0).max())), 3), np.int64)
    totals = kernels.merge_strings(keys, spans, uniques, to_file_code, file_spans)
    with dynamic_schedule():
        kernels.recode(codes, first_rows[:-1], rows, to_file_code, uniques)
    if np.any(rows < room):  # blank lines: close the gaps
        kept = np.concatenate([np.arange(first, first + n) for first, n in zip(first_rows[:-1], rows)])
        codes, correct, order = codes[:, kept], correct[kept], order[kept] if order.size else order
        first_rows = np.concatenate([[0], np.cumsum(rows)])
    return BktTable(
        learner=codes[0],
        skill=codes[1],
        resource=codes[2] if resource_column is not None else None,
        correct=correct,
        order=order if order_at is not None else None,
        header=header_text,
        delimiter=delimiter,
        source=data,
        pieces=bounds,
        piece_rows=first_rows,
        spans=tuple(file_spans[c, : totals[c]] for c in range(kernels.STRING_COLUMNS)),
    )


# ---------------------------------------------------------------- parameters


def params_to_json(
    params: FittedParameters, skills: list[str], resources: list[str], forgets: bool, resource_column: str | None
) -> dict:
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


def align(
    table: BktTable, skills: list[str], resources: list[str], source: str, unknown_skills: str = "error"
) -> tuple[np.ndarray, np.ndarray | None]:
    """(point, resource) codes of the table's rows in the parameters' skill and resource order.
    A skill the parameters do not know is an error, or with unknown_skills="default" point -1."""
    index = {name: p for p, name in enumerate(skills)}
    unknown = [name for name in table.skills if name not in index]
    if unknown and unknown_skills == "error":
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise CsvError(
            f"{source}: skills with no fitted parameters: {', '.join(map(repr, unknown[:5]))}{more} "
            "(--unknown-skills default predicts their rows with the default instead)"
        )
    point = np.array([index.get(name, -1) for name in table.skills], dtype=np.int32)[table.skill]
    if table.resource is None:
        return point, None
    index = {name: r for r, name in enumerate(resources)}
    unknown = [name for name in table.resources if name not in index]
    if unknown:
        raise CsvError(f"{source}: resources with no fitted learning rate: {', '.join(map(repr, unknown[:5]))}")
    return point, np.array([index[name] for name in table.resources], dtype=np.int32)[table.resource]


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


def write_predictions(out: Path, table: BktTable, columns: dict[str, np.ndarray]) -> None:
    """The table's rows in their order, each line as in the file with the given columns
    (values in [0, 1], six decimals) appended."""
    delimiter = table.delimiter
    header = (table.header + "".join(delimiter + name for name in columns) + "\n").encode()
    values = np.ascontiguousarray(np.stack(list(columns.values())), dtype=np.float64)
    # Room per piece: its bytes, 9 per value and row, and a line break the last line may lack.
    room = np.diff(table.pieces) + np.diff(table.piece_rows) * 9 * values.shape[0] + 1
    starts = np.concatenate([[0], np.cumsum(room)[:-1]])
    ends = np.empty_like(starts)
    buffer = np.empty(int(room.sum()), np.uint8)
    with dynamic_schedule():
        kernels.format_pieces(
            table.source, table.pieces, ord(delimiter), values, table.piece_rows, buffer, starts, ends
        )
    try:
        with open(out, "wb") as handle:
            handle.write(header)
            for start, end in zip(starts.tolist(), ends.tolist()):
                handle.write(memoryview(buffer[start:end]))
    except OSError as exc:
        raise CsvError(f"{out}: cannot write: {exc.strerror}") from None
