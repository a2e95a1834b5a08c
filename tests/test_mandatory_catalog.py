"""Mandatory modules in the catalog: the TOML forms that parse, every malformed one reported
with its file, module and field, and the due times the rules give (core/mandatory.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from core.catalog import check_catalog, load_catalog
from core.catalog.model import Mandatory
from core.mandatory import DONE, DUE, OVERDUE, SECONDS_PER_DAY, DueRules, day_end
from core.settings import ROOT
from test_catalog_check import MODULES, ROLES, write_catalog

TWO_ROLES = (
    ROLES
    + """
[[roles]]
id = "lead"
name = { en = "Lead", zh = "主管" }
targets = { basics = 0.9 }
"""
)


def with_mandatory(tmp_path: Path, rule: str) -> Path:
    """The tiny catalog with `rule` as the first module's `mandatory` line."""
    modules = MODULES.replace(
        "coverage = { basics = 1.0 }\n", f"coverage = {{ basics = 1.0 }}\nmandatory = {rule}\n", 1
    )
    return write_catalog(tmp_path / "catalog", roles=TWO_ROLES, modules=modules)


def test_the_forms_that_parse(tmp_path):
    catalog = load_catalog(with_mandatory(tmp_path, '{ roles = "all", within_days = 30 }'))
    assert catalog.modules[0].mandatory == (Mandatory(None, 30.0, None),)
    assert catalog.modules[1].mandatory == ()
    rules = '[{ roles = ["lead"], due_date = 2027-03-31 }, { roles = ["staff", "lead"], due_date = "2027-04-30" }]'
    catalog = load_catalog(with_mandatory(tmp_path / "2", rules))
    assert catalog.modules[0].mandatory == (
        Mandatory(("lead",), None, date(2027, 3, 31)),
        Mandatory(("staff", "lead"), None, date(2027, 4, 30)),
    )


def test_default_catalog_makes_privacy_and_ai_safety_mandatory_for_every_role_within_30_days():
    catalog = load_catalog(ROOT / "config" / "catalog")
    mandatory = {m.id: m.mandatory for m in catalog.modules if m.mandatory}
    assert mandatory == {
        "m-privacy": (Mandatory(None, 30.0, None),),
        "m-responsible-ai": (Mandatory(None, 30.0, None),),
    }
    rules = DueRules.of(catalog)
    assert np.all(rules.after == 30 * SECONDS_PER_DAY) and np.all(np.isinf(rules.fixed))


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ("true", "mandatory", "must be a table"),
        ("[]", "mandatory", "must be a table"),
        ('["staff"]', "mandatory", "must be a table"),
        ('{ roles = "all", within_days = 30, by = 3 }', "mandatory", "unknown field 'by'"),
        ("{ within_days = 30 }", "mandatory.roles", "missing"),
        ('{ roles = "everyone", within_days = 30 }', "mandatory.roles", 'must be "all" or a non-empty list'),
        ("{ roles = [], within_days = 30 }", "mandatory.roles", 'must be "all" or a non-empty list'),
        ('{ roles = ["staff", "ghost"], within_days = 30 }', "mandatory.roles[1]", "unknown role 'ghost'"),
        ('{ roles = ["staff", "staff"], within_days = 30 }', "mandatory.roles[1]", "listed twice"),
        ('{ roles = "all" }', "mandatory", "exactly one of within_days"),
        ('{ roles = "all", within_days = 3, due_date = 2027-01-01 }', "mandatory", "exactly one of within_days"),
        ('{ roles = "all", within_days = 0 }', "mandatory.within_days", "outside (0, 3650]"),
        ('{ roles = "all", within_days = -5 }', "mandatory.within_days", "outside (0, 3650]"),
        ('{ roles = "all", within_days = 4000 }', "mandatory.within_days", "outside (0, 3650]"),
        ('{ roles = "all", within_days = "30" }', "mandatory.within_days", "must be a number"),
        ('{ roles = "all", within_days = nan }', "mandatory.within_days", "must be a number"),
        ('{ roles = "all", due_date = 2027-03-31T12:00:00Z }', "mandatory.due_date", "no time of day"),
        ('{ roles = "all", due_date = "31/03/2027" }', "mandatory.due_date", "must be a date such as"),
        ('{ roles = "all", due_date = 20270331 }', "mandatory.due_date", "must be a date such as"),
        (
            '[{ roles = "all", within_days = 30 }, { roles = ["nobody"], within_days = 5 }]',
            "mandatory[1].roles[0]",
            "unknown role 'nobody'",
        ),
    ],
)
def test_each_malformed_rule_names_file_module_and_field(tmp_path, rule, field, message):
    folder = with_mandatory(tmp_path, rule)
    catalog, problems = check_catalog(folder)
    assert catalog is None
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file == str(folder / "modules.toml")
    assert problem.line == 1  # the module's [[modules]] header
    assert problem.location == f"modules[0] 'm-basics'.{field}"
    assert message in problem.message
    assert str(problem).startswith(f"{folder / 'modules.toml'}:1: modules[0] 'm-basics'.{field}: ")


def test_due_times_the_earliest_rule_wins_and_a_due_date_ends_at_midnight_utc(tmp_path):
    rules = '[{ roles = "all", within_days = 30 }, { roles = ["lead"], due_date = 2027-01-10 }]'
    catalog = load_catalog(with_mandatory(tmp_path, rules))
    due_rules = DueRules.of(catalog)
    staff, lead = catalog.role_index["staff"], catalog.role_index["lead"]
    enrolled = day_end(date(2026, 12, 31))  # 2027-01-01T00:00Z
    due = due_rules.due(np.array([staff, lead, lead]), np.full(3, enrolled), np.full((3, 1), np.inf), 2)
    assert due[0, 0] == enrolled + 30 * SECONDS_PER_DAY
    assert due[1, 0] == day_end(date(2027, 1, 10)) == enrolled + 10 * SECONDS_PER_DAY  # the date is earlier
    assert np.isinf(due[:, 1]).all()  # m-advanced is mandatory for no one
    later = enrolled - 40 * SECONDS_PER_DAY  # enrolled long before: 30 days is earlier than the date
    assert due_rules.due(np.array([lead]), np.array([later]), np.full((1, 1), np.inf), 2)[0, 0] == later + 30 * 86400
    done = due_rules.due(np.array([staff]), np.array([enrolled]), np.array([[enrolled + 5]]), 2)
    assert np.isinf(done).all()  # completed: no longer due

    now = enrolled + 29.5 * SECONDS_PER_DAY
    (status,) = due_rules.statuses(staff, enrolled, {}, now)
    assert (status.module, status.state, status.days) == ("m-basics", DUE, 1)
    assert status.due_within(1) and not status.due_within(0.4)
    (status,) = due_rules.statuses(staff, enrolled, {}, enrolled + 32.2 * SECONDS_PER_DAY)
    assert (status.state, status.days) == (OVERDUE, 3)
    (status,) = due_rules.statuses(staff, enrolled, {"m-basics": enrolled + 40 * SECONDS_PER_DAY}, now)
    assert (status.state, status.completed) == (DONE, enrolled + 40 * SECONDS_PER_DAY)
    assert not status.due_within(100)
