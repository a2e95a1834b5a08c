"""`skillgap catalog check`: the default catalog passes; each kind of problem is reported
with its file and line, and the command exits 1."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.catalog import check_catalog, engine_model, load_catalog
from core.settings import ROOT
from skillgap.cli import main

META = """\
id = "tiny"
version = "1"
name = { en = "Tiny", zh = "小" }
default_role = "staff"
[methods]
online = 0.2
quiz = 0.05
"""
POINTS = """\
[[knowledge_points]]
id = "basics"
name = { en = "Basics", zh = "基础" }

[[knowledge_points]]
id = "advanced"
name = { en = "Advanced", zh = "进阶" }
prerequisites = ["basics"]
"""
ROLES = """\
[[roles]]
id = "staff"
name = { en = "Staff", zh = "员工" }
targets = { basics = 0.7, advanced = 0.5 }
"""
MODULES = """\
[[modules]]
id = "m-basics"
title = { en = "Basics course", zh = "基础课程" }
method = "online"
minutes = 30
coverage = { basics = 1.0 }

[[modules]]
id = "m-advanced"
title = { en = "Advanced course", zh = "进阶课程" }
method = "online"
minutes = 60
coverage = { advanced = 1.0, basics = 0.2 }
"""


def write_catalog(folder: Path, **replace: str) -> Path:
    files = {"catalog": META, "knowledge_points": POINTS, "roles": ROLES, "modules": MODULES}
    files.update(replace)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list[str]:
    catalog, problems = check_catalog(folder)
    assert catalog is None
    return [str(p) for p in problems]


def test_default_catalog_is_valid_and_large_enough(capsys):
    assert main(["catalog", "check", str(ROOT / "config" / "catalog")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and ": ok: " in out
    catalog = load_catalog(ROOT / "config" / "catalog")
    assert len(catalog.knowledge_points) >= 25
    assert len(catalog.roles) >= 6
    assert len(catalog.modules) >= 40
    assert {m.method for m in catalog.modules} == {"online", "offline", "lab", "drill", "quiz", "project"}
    assert all(kp.name.zh and kp.name.en for kp in catalog.knowledge_points)
    for role in catalog.roles:
        assert set(role.targets) == set(catalog.point_index), role.id
    model = engine_model(catalog)
    assert model.learn.shape == (len(catalog.modules), len(catalog.knowledge_points))


def test_small_catalog_is_valid(tmp_path):
    catalog, problems = check_catalog(write_catalog(tmp_path))
    assert problems == []
    model = engine_model(catalog)
    # m-advanced teaches 'advanced', whose prerequisite 'basics' it also covers: no requirement.
    assert not model.requires.any()


def test_unknown_ids_are_reported_with_file_and_line(tmp_path):
    modules = MODULES.replace("coverage = { basics = 1.0 }", "coverage = { basics = 1.0, nosuch = 0.5 }")
    points = POINTS.replace('prerequisites = ["basics"]', 'prerequisites = ["missing"]')
    found = problems_of(write_catalog(tmp_path, modules=modules, knowledge_points=points))
    assert any("modules.toml:1: modules[0] 'm-basics'.coverage.nosuch: unknown knowledge point" in p for p in found)
    assert any("knowledge_points.toml:5:" in p and "unknown knowledge point 'missing'" in p for p in found)


def test_prerequisite_cycle(tmp_path):
    points = POINTS.replace('id = "basics"\n', 'id = "basics"\nprerequisites = ["advanced"]\n')
    found = problems_of(write_catalog(tmp_path, knowledge_points=points))
    assert any("prerequisite cycle: " in p and "basics" in p and "advanced" in p for p in found)


def test_weight_outside_unit_interval(tmp_path):
    modules = MODULES.replace("coverage = { basics = 1.0 }", "coverage = { basics = 1.5 }")
    found = problems_of(write_catalog(tmp_path, modules=modules))
    assert any("coverage.basics: weight 1.5 is outside [0, 1]" in p for p in found)


def test_role_target_outside_unit_interval(tmp_path):
    found = problems_of(write_catalog(tmp_path, roles=ROLES.replace("basics = 0.7", "basics = -0.1")))
    assert any("targets.basics: target -0.1 is outside [0, 1]" in p for p in found)


def test_duplicate_id(tmp_path):
    modules = MODULES.replace('id = "m-advanced"', 'id = "m-basics"')
    found = problems_of(write_catalog(tmp_path, modules=modules))
    assert any("modules.toml:8:" in p and "duplicate module id 'm-basics' (first at" in p for p in found)


def test_module_covering_nothing(tmp_path):
    modules = MODULES.replace("coverage = { basics = 1.0 }", "coverage = {}")
    found = problems_of(write_catalog(tmp_path, modules=modules))
    assert any("'m-basics'.coverage: covers no knowledge point" in p for p in found)


def test_role_target_for_unknown_point(tmp_path):
    roles = ROLES.replace("advanced = 0.5", "advanced = 0.5, ghost = 0.3")
    found = problems_of(write_catalog(tmp_path, roles=roles))
    assert any("roles.toml:1: roles[0] 'staff'.targets.ghost: target for unknown knowledge point" in p for p in found)


def test_unknown_default_role_method_and_field(tmp_path):
    meta = META.replace('default_role = "staff"', 'default_role = "nobody"')
    modules = MODULES.replace('method = "online"\nminutes = 30', 'method = "webinar"\nminutes = 30\ncolour = "red"')
    found = problems_of(write_catalog(tmp_path, catalog=meta, modules=modules))
    assert any("default_role: unknown role 'nobody'" in p for p in found)
    assert any("method: unknown method 'webinar'" in p for p in found)
    assert any("unknown field 'colour'" in p for p in found)


def test_invalid_toml_names_the_line(tmp_path):
    found = problems_of(write_catalog(tmp_path, roles=ROLES + "\nthis is not toml\n"))
    assert any("roles.toml:6: not valid TOML" in p for p in found)


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    modules = MODULES.replace("coverage = { basics = 1.0 }", "coverage = { basics = 2.0 }").replace(
        "coverage = { advanced = 1.0, basics = 0.2 }", "coverage = { nowhere = 1.0 }"
    )
    roles = ROLES.replace("advanced = 0.5", "advanced = 0.5, ghost = 1.0")
    folder = write_catalog(tmp_path, modules=modules, roles=roles)
    assert main(["catalog", "check", str(folder)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4  # weight, unknown point, nothing covered, unknown role target
    assert all(str(folder) in line for line in out)


@pytest.mark.parametrize("missing", ["a-folder-that-does-not-exist", "empty"])
def test_missing_or_empty_catalog(tmp_path, missing):
    path = tmp_path / missing
    if missing == "empty":
        path.mkdir()
    assert main(["catalog", "check", str(path)]) == 1
