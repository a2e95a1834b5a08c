"""CSV files as people export them: UTF-8 with or without a BOM, UTF-16 (Excel's "Unicode
text"), comma, semicolon, tab or pipe separated. Every row comes with its line number; a row
that cannot be read is a `RowProblem` naming the line (and the column where there is one), never
an exception from deep inside the csv module."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class CsvFileError(UserError):
    """The file as a whole cannot be read (encoding, no header)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str
    column: int | None = None  # 1-based
    field: str | None = None

    def where(self, path: Path) -> str:
        column = f":{self.column}" if self.column else ""
        field = f" {self.field}:" if self.field else ""
        return f"{path}:{self.line}{column}:{field} {self.message}"


@dataclass(frozen=True)
class CsvFile:
    path: Path
    header: list[str]
    delimiter: str
    text: str

    def column(self, name: str) -> int | None:
        """The 1-based column of a header name."""
        return self.header.index(name) + 1 if name in self.header else None

    def rows(self) -> Iterator[tuple[int, dict[str, str] | RowProblem]]:
        """(line, row by header name) in file order, or (line, RowProblem); blank lines skipped."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter, strict=True)
        next(reader)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, RowProblem(start, f"cannot be read as CSV ({exc}); a quote may be left open")
                return  # the reader cannot go on past an unterminated quote
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(self.header):
                more = "more" if len(cells) > len(self.header) else "fewer"
                yield (
                    start,
                    RowProblem(
                        start,
                        f"has {len(cells)} fields, {more} than the header's "
                        f"{len(self.header)} (separator: {DELIMITER_NAMES[self.delimiter]})",
                    ),
                )
                continue
            yield start, dict(zip(self.header, cells))


def _text(raw: bytes, path: Path) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif raw[:2].count(0) == 1 and len(raw) >= 2:  # UTF-16 without a BOM: every other byte of ASCII is 0
        encoding = "utf-16-le" if raw[1] == 0 else "utf-16-be"
    else:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1 if encoding == "utf-8-sig" else None
        where = f"line {line}: " if line else ""
        raise CsvFileError(
            f"{path}: {where}not {encoding.replace('-sig', '')} text (save it as UTF-8 or UTF-16)"
        ) from None


def _delimiter(header_line: str) -> str:
    """The separator the header uses most (a one-column header: a comma)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv(path: Path) -> CsvFile:
    """The file decoded and its separator found from the header; rows are read by `rows()`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CsvFileError(f"{path}: cannot read: {exc.strerror}") from None
    text = _text(raw, path)
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise CsvFileError(f"{path}: the file is empty (expected a header row)")
    delimiter = _delimiter(first)
    try:
        header = next(csv.reader([first], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise CsvFileError(f"{path}:1: the header cannot be read as CSV ({exc})") from None
    return CsvFile(Path(path), [name.strip() for name in header], delimiter, text)
