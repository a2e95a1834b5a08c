"""Read a catalog from TOML and report every problem in it, with file, line and location.

A catalog is one .toml file or a folder of them; their top-level tables merge. Entries
are arrays of tables (``[[knowledge_points]]``, ``[[roles]]``, ``[[modules]]``), so each
entry's line is the line of its header.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType

from core.catalog.model import (
    DEFAULT_XAPI_VERBS,
    LANGUAGES,
    METHODS,
    XAPI_VERB_KINDS,
    Catalog,
    KnowledgePoint,
    Mandatory,
    Module,
    Names,
    Role,
)
from core.errors import UserError

SECTIONS = ("knowledge_points", "roles", "modules")
SCALARS = ("id", "version", "name", "default_role", "defaults", "methods", "xapi")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DEFAULTS = {"prior": 0.1, "guess": 0.2, "slip": 0.1, "half_life_days": 180.0}
# An absolute IRI (xAPI 1.0.3, part 2, 2.2: ids are IRIs); patterns may hold '*'.
IRI_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
MANDATORY_FIELDS = ("roles", "within_days", "due_date")
MAX_DUE_DAYS = 3650


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


class CatalogError(UserError):
    """The catalog has problems; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"the catalog has {len(problems)} problem(s):\n{shown}{more}")


@dataclass
class _Entry:
    """One table of a catalog file, with where it came from."""

    data: dict
    file: str
    line: int | None
    location: str


class _Reader:
    """Reads typed fields from an entry, recording a problem for each bad one."""

    def __init__(self, entry: _Entry, problems: list[Problem], allowed: tuple[str, ...]):
        self.entry = entry
        self.problems = problems
        for key in entry.data:
            if key not in allowed:
                self.problem(f"unknown field {key!r} (expected one of: {', '.join(allowed)})")

    def problem(self, message: str, field: str = "") -> None:
        location = f"{self.entry.location}.{field}" if field else self.entry.location
        self.problems.append(Problem(self.entry.file, self.entry.line, location, message))

    def ident(self, key: str = "id") -> str | None:
        value = self.entry.data.get(key)
        if value is None:
            self.problem("missing id")
        elif not isinstance(value, str) or not ID_PATTERN.match(value):
            self.problem(f"id {value!r} must be lowercase letters, digits, '.', '_' or '-'", key)
        else:
            return value
        return None

    def text(self, key: str, required: bool = True) -> str | None:
        value = self.entry.data.get(key)
        if value is None:
            if required:
                self.problem("missing", key)
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(f"must be a non-empty string, not {value!r}", key)
            return None
        return value

    def names(self, key: str) -> Names | None:
        value = self.entry.data.get(key)
        if not isinstance(value, dict):
            self.problem("missing { en = ..., zh = ... }" if value is None else "must be a table", key)
            return None
        ok = True
        for language in LANGUAGES:
            if not isinstance(value.get(language), str) or not value[language].strip():
                self.problem(f"missing the {language} name", f"{key}.{language}")
                ok = False
        return Names(value["en"], value["zh"]) if ok else None

    def number(
        self,
        key: str,
        low: float,
        high: float,
        default: float | None = None,
        open_low: bool = False,
        allow_inf: bool = False,
    ) -> float | None:
        value = self.entry.data.get(key, default)
        if value is None:
            self.problem("missing", key)
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.problem(f"must be a number, not {value!r}", key)
            return None
        if allow_inf and value == math.inf:
            return float(value)
        too_low = value <= low if open_low else value < low
        if too_low or value > high:
            bracket = "(" if open_low else "["
            self.problem(f"{value} is outside {bracket}{low:g}, {high:g}]", key)
            return None
        return float(value)

    def id_list(self, key: str) -> list[str]:
        value = self.entry.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("must be a list of ids", key)
            return []
        return value

    def iri_list(self, key: str) -> tuple[str, ...]:
        value = self.entry.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("must be a list of IRIs", key)
            return ()
        for index, iri in enumerate(value):
            if not IRI_PATTERN.match(iri):
                self.problem(
                    f"{iri!r} is not an absolute IRI such as 'https://lms.example.com/mod/quiz/view.php?id=7'",
                    f"{key}[{index}]",
                )
        return tuple(value)

    def weights(self, key: str, what: str) -> dict[str, float]:
        value = self.entry.data.get(key, {})
        if not isinstance(value, dict):
            self.problem("must be a table of knowledge point id = number", key)
            return {}
        out = {}
        for point, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or math.isnan(weight):
                self.problem(f"{what} must be a number, not {weight!r}", f"{key}.{point}")
            elif not 0.0 <= weight <= 1.0:
                self.problem(f"{what} {weight} is outside [0, 1]", f"{key}.{point}")
            else:
                out[point] = float(weight)
        return out


def _header_lines(text: str, section: str) -> list[int]:
    pattern = re.compile(rf"^\s*\[\[\s*{section}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]


def _read_files(path: Path, problems: list[Problem]) -> tuple[dict, dict[str, list[_Entry]]]:
    scalars: dict[str, tuple[object, str]] = {}
    sections: dict[str, list[_Entry]] = {s: [] for s in SECTIONS}
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if not path.exists():
        problems.append(Problem(str(path), None, "", "no such file or folder"))
        return {}, sections
    if not files:
        problems.append(Problem(str(path), None, "", "no .toml files in this folder"))
    for file in files:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8")
            doc = tomllib.loads(text)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, None, "", f"cannot read: {exc}"))
            continue
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            line = int(match.group(1)) if match else None
            problems.append(Problem(name, line, "", f"not valid TOML: {exc}"))
            continue
        for key, value in doc.items():
            if key in SECTIONS:
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    problems.append(Problem(name, None, key, "must be an array of tables [[...]]"))
                    continue
                lines = _header_lines(text, key)
                for index, entry in enumerate(value):
                    line = lines[index] if len(lines) == len(value) else None
                    ident = entry.get("id")
                    label = f"{key}[{index}]" + (f" {ident!r}" if isinstance(ident, str) else "")
                    sections[key].append(_Entry(entry, name, line, label))
            elif key in SCALARS:
                if key in scalars:
                    problems.append(Problem(name, None, key, f"also set in {scalars[key][1]}"))
                scalars[key] = (value, name)
            else:
                problems.append(
                    Problem(name, None, key, f"unknown top-level key (expected: {', '.join(SECTIONS + SCALARS)})")
                )
    return scalars, sections


def _top_entry(scalars: dict, path: Path) -> _Entry:
    data = {k: v for k, (v, _) in scalars.items()}
    files = {f for _, f in scalars.values()}
    return _Entry(data, files.pop() if len(files) == 1 else str(path), None, "catalog")


def _find_cycles(prerequisites: dict[str, list[str]]) -> list[list[str]]:
    """Every elementary cycle reachable by depth-first search, each reported once."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(prerequisites, white)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        colour[node] = grey
        path.append(node)
        for nxt in prerequisites.get(node, []):
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                cycle = path[path.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif colour[nxt] == white:
                visit(nxt, path)
        path.pop()
        colour[node] = black

    for node in prerequisites:
        if colour[node] == white:
            visit(node, [])
    return cycles


def _unique(entries: list[_Entry], ids: list[str | None], kind: str, problems: list[Problem]) -> None:
    first: dict[str, _Entry] = {}
    for entry, ident in zip(entries, ids):
        if ident is None:
            continue
        if ident in first:
            other = first[ident]
            where = f"{other.file}:{other.line}" if other.line else other.file
            problems.append(
                Problem(entry.file, entry.line, entry.location, f"duplicate {kind} id {ident!r} (first at {where})")
            )
        else:
            first[ident] = entry


def _xapi_verbs(raw: object, top: _Reader, problems: list[Problem]) -> dict[str, str]:
    """The default verb table with the catalog's `[xapi.verbs]` entries applied."""
    verbs = dict(DEFAULT_XAPI_VERBS)
    if not isinstance(raw, dict):
        top.problem("must be a table with a 'verbs' table", "xapi")
        return verbs
    reader = _Reader(_Entry(raw, top.entry.file, None, "xapi"), problems, ("verbs",))
    table = raw.get("verbs", {})
    if not isinstance(table, dict):
        reader.problem("must be a table of verb IRI = kind", "verbs")
        return verbs
    for verb, kind in table.items():
        if not IRI_PATTERN.match(verb) or "*" in verb:
            reader.problem("is not an absolute IRI", f"verbs.{verb!r}")
        elif kind == "ignore":
            verbs.pop(verb, None)
        elif kind not in XAPI_VERB_KINDS:
            reader.problem(f"kind {kind!r} must be one of: {', '.join(XAPI_VERB_KINDS)}, ignore", f"verbs.{verb!r}")
        else:
            verbs[verb] = kind
    return verbs


def _due_date(value: object, reader: _Reader) -> date | None:
    """A TOML date (due_date = 2027-03-31) or the same as a string."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    reader.problem(f"must be a date such as 2027-03-31 (no time of day), not {value!r}", "due_date")
    return None


def _mandatory(raw: object, module: _Reader, role_ids: set[str]) -> tuple[Mandatory, ...]:
    """A module's `mandatory` rules: one table or an array of them (see modules.toml's header)."""
    rules = [raw] if isinstance(raw, dict) else raw
    if not isinstance(rules, list) or not rules or not all(isinstance(rule, dict) for rule in rules):
        module.problem(
            'must be a table { roles = "all" or [role ids], within_days = N or due_date = YYYY-MM-DD } '
            "or an array of them",
            "mandatory",
        )
        return ()
    entry = module.entry
    parsed = []
    for index, rule in enumerate(rules):
        location = f"{entry.location}.mandatory" + (f"[{index}]" if isinstance(raw, list) else "")
        r = _Reader(_Entry(rule, entry.file, entry.line, location), module.problems, MANDATORY_FIELDS)
        ok = True
        roles = rule.get("roles")
        if roles == "all":
            roles = None
        elif isinstance(roles, list) and roles and all(isinstance(role, str) for role in roles):
            for i, role in enumerate(roles):
                if role not in role_ids:
                    r.problem(f"unknown role {role!r}", f"roles[{i}]")
                    ok = False
                elif role in roles[:i]:
                    r.problem(f"role {role!r} is listed twice", f"roles[{i}]")
                    ok = False
            roles = tuple(roles)
        else:
            r.problem(
                "missing" if roles is None else f'must be "all" or a non-empty list of role ids, not {roles!r}', "roles"
            )
            ok = False
        within = due = None
        if ("within_days" in rule) == ("due_date" in rule):
            r.problem("give exactly one of within_days (days after enrolment) or due_date (a fixed date)")
            ok = False
        elif "within_days" in rule:
            within = r.number("within_days", 0, MAX_DUE_DAYS, open_low=True)
            ok = ok and within is not None
        else:
            due = _due_date(rule["due_date"], r)
            ok = ok and due is not None
        if ok:
            parsed.append(Mandatory(roles, within, due))
    return tuple(parsed)


def check_catalog(path: Path | str) -> tuple[Catalog | None, list[Problem]]:
    """Parse and validate; the catalog is returned only when there is no problem."""
    path = Path(path)
    problems: list[Problem] = []
    scalars, sections = _read_files(path, problems)
    top = _Reader(_top_entry(scalars, path), problems, SCALARS)
    catalog_id = top.ident()
    version = top.text("version")
    name = top.names("name")
    default_role = top.text("default_role")

    defaults = dict(DEFAULTS)
    raw_defaults = scalars.get("defaults", ({}, ""))[0]
    if isinstance(raw_defaults, dict):
        defaults_reader = _Reader(_Entry(raw_defaults, top.entry.file, None, "defaults"), problems, tuple(DEFAULTS))
        for key, (low, high) in {"prior": (0, 1), "guess": (0, 1), "slip": (0, 1)}.items():
            defaults[key] = defaults_reader.number(key, low, high, DEFAULTS[key], open_low=True) or DEFAULTS[key]
        defaults["half_life_days"] = (
            defaults_reader.number("half_life_days", 0, math.inf, DEFAULTS["half_life_days"], True, True)
            or DEFAULTS["half_life_days"]
        )
    else:
        top.problem("must be a table", "defaults")

    method_rates: dict[str, float] = {}
    raw_methods = scalars.get("methods", ({}, ""))[0]
    if isinstance(raw_methods, dict):
        methods_reader = _Reader(_Entry(raw_methods, top.entry.file, None, "methods"), problems, METHODS)
        for method in METHODS:
            if method in raw_methods:
                rate = methods_reader.number(method, 0, 1)
                if rate is not None:
                    method_rates[method] = rate
    else:
        top.problem("must be a table of method = learning rate", "methods")

    xapi_verbs = _xapi_verbs(scalars.get("xapi", ({}, ""))[0], top, problems)

    points: list[KnowledgePoint] = []
    point_ids: list[str | None] = []
    prerequisite_readers: list[tuple[_Reader, str, list[str]]] = []
    for entry in sections["knowledge_points"]:
        r = _Reader(entry, problems, ("id", "name", "track", "prerequisites", *DEFAULTS))
        ident = r.ident()
        point_ids.append(ident)
        kp_name = r.names("name")
        track = r.text("track", required=False) or "general"
        prerequisites = r.id_list("prerequisites")
        prior = r.number("prior", 0, 1, defaults["prior"], open_low=True)
        guess = r.number("guess", 0, 1, defaults["guess"], open_low=True)
        slip = r.number("slip", 0, 1, defaults["slip"], open_low=True)
        half_life = r.number("half_life_days", 0, math.inf, defaults["half_life_days"], True, True)
        if guess is not None and slip is not None and guess + slip >= 1.0:
            r.problem(f"guess + slip = {guess + slip:g} must be below 1, or a score says nothing")
        if ident is not None:
            prerequisite_readers.append((r, ident, prerequisites))
        if None not in (ident, kp_name, prior, guess, slip, half_life):
            points.append(KnowledgePoint(ident, kp_name, track, tuple(prerequisites), prior, guess, slip, half_life))
    _unique(sections["knowledge_points"], point_ids, "knowledge point", problems)
    known_points = {i for i in point_ids if i is not None}

    graph: dict[str, list[str]] = {}
    for r, ident, prerequisites in prerequisite_readers:
        for index, prerequisite in enumerate(prerequisites):
            if prerequisite not in known_points:
                r.problem(f"unknown knowledge point {prerequisite!r}", f"prerequisites[{index}]")
            elif prerequisite == ident:
                r.problem("a knowledge point cannot be its own prerequisite", f"prerequisites[{index}]")
        graph.setdefault(ident, []).extend(p for p in prerequisites if p != ident)
    where = {ident: r for r, ident, _ in prerequisite_readers}
    for cycle in _find_cycles(graph):
        where[cycle[0]].problem("prerequisite cycle: " + " -> ".join(cycle), "prerequisites")

    roles: list[Role] = []
    role_ids: list[str | None] = []
    for entry in sections["roles"]:
        r = _Reader(entry, problems, ("id", "name", "targets"))
        ident = r.ident()
        role_ids.append(ident)
        role_name = r.names("name")
        targets = r.weights("targets", "target")
        for point in targets:
            if point not in known_points:
                r.problem(f"target for unknown knowledge point {point!r}", f"targets.{point}")
        if ident is not None and role_name is not None:
            roles.append(Role(ident, role_name, MappingProxyType(targets)))
    _unique(sections["roles"], role_ids, "role", problems)
    known_roles = {i for i in role_ids if i is not None}
    if default_role is not None and default_role not in {i for i in role_ids if i}:
        top.problem(f"unknown role {default_role!r}", "default_role")

    modules: list[Module] = []
    module_ids: list[str | None] = []
    for entry in sections["modules"]:
        r = _Reader(
            entry,
            problems,
            (
                "id",
                "title",
                "description",
                "method",
                "minutes",
                "coverage",
                "learn_rate",
                "url",
                "xapi_activities",
                "xapi_verbs",
                "mandatory",
            ),
        )
        ident = r.ident()
        module_ids.append(ident)
        title = r.names("title")
        description = r.names("description") if "description" in entry.data else None
        method = r.text("method")
        if method is not None and method not in METHODS:
            r.problem(f"unknown method {method!r} (expected one of: {', '.join(METHODS)})", "method")
            method = None
        minutes = r.number("minutes", 0, 100_000, open_low=True)
        coverage = r.weights("coverage", "weight")
        for point in coverage:
            if point not in known_points:
                r.problem(f"unknown knowledge point {point!r}", f"coverage.{point}")
        if not any(w > 0 for w in coverage.values()):
            r.problem("covers no knowledge point (coverage is empty or all zero)", "coverage")
        learn_rate = None
        if "learn_rate" in entry.data:
            learn_rate = r.number("learn_rate", 0, 1)
        elif method is not None:
            learn_rate = method_rates.get(method)
            if learn_rate is None:
                r.problem(f"no learn_rate, and [methods] gives no default for {method!r}", "learn_rate")
        url = r.text("url", required=False)
        activities = r.iri_list("xapi_activities")
        verbs = r.iri_list("xapi_verbs")
        for index, verb in enumerate(verbs):
            if verb not in xapi_verbs:
                r.problem(f"verb {verb!r} is not in the [xapi.verbs] table", f"xapi_verbs[{index}]")
        mandatory = _mandatory(entry.data["mandatory"], r, known_roles) if "mandatory" in entry.data else ()
        if None not in (ident, title, method, minutes, learn_rate):
            modules.append(
                Module(
                    ident,
                    title,
                    method,
                    minutes,
                    MappingProxyType(coverage),
                    learn_rate,
                    url,
                    activities,
                    verbs,
                    description,
                    mandatory,
                )
            )
    _unique(sections["modules"], module_ids, "module", problems)

    for section in SECTIONS:
        if not sections[section]:
            problems.append(Problem(str(path), None, section, "no entries"))
    if problems:
        return None, problems
    catalog = Catalog(
        catalog_id,
        version,
        name,
        default_role,
        tuple(points),
        tuple(roles),
        tuple(modules),
        MappingProxyType(xapi_verbs),
    )
    return catalog, []


def load_catalog(path: Path | str) -> Catalog:
    catalog, problems = check_catalog(path)
    if problems:
        raise CatalogError(problems)
    return catalog
