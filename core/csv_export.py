"""CSV for people to open in a spreadsheet: a text cell that starts with =, +, -, @ (or a tab or
carriage return) would be read as a formula (`=HYPERLINK(...)` in a cohort name), so it gets a
leading apostrophe. Every CSV the tool and the API export is written here."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import quote

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def safe_cell(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # lines end in CRLF (RFC 4180): a CR inside a cell is quoted
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()


def attachment(filename: str) -> str:
    """A Content-Disposition for a download (RFC 6266): a file name holding nothing a header or a
    file system could misread (accents dropped, anything else `-`), and the exact name as
    RFC 5987 `filename*` when that differs."""
    letters = "".join(c for c in unicodedata.normalize("NFKD", filename) if not unicodedata.combining(c))
    ascii_name = re.sub("-+", "-", UNSAFE_IN_FILENAME.sub("-", letters)) or "download"
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
