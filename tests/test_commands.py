"""The sidecar's commands: export-events, import-events, replay, params (run in-process
through the CLI's main, against the test's Redis and key prefix)."""

from __future__ import annotations

import gzip

import orjson
import pytest

from core.services import build_services
from lms_helpers import cli_env, delete_prefix, first_quiz
from sidecar.worker import Worker
from skillgap.cli import main

NOW_ISO = "2026-11-20T10:00:00Z"


@pytest.fixture
def cli(settings, monkeypatch):
    cli_env(monkeypatch, settings, SKILLGAP_DATA_DIR=str(settings.data_dir))
    return main


def write_csv(path, rows):
    path.write_text("learner,module,kind,score,timestamp,cohort\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def csv_rows(services, n):
    quiz = first_quiz(services.catalog).id
    return [(f"hr-{i}", quiz, "graded", "0.75", NOW_ISO, "workshop-3") for i in range(n)]


def test_import_a_csv_then_process_it(cli, services, tmp_path, capsys):
    path = write_csv(tmp_path / "attendance.csv", csv_rows(services, 12))
    assert cli(["import-events", str(path), "--tenant", "acme"]) == 0
    err = capsys.readouterr().err
    assert "imported 12/12 events" in err and "Imported 12 events" in err
    Worker(services).run(burst=True)
    assert services.learners.cohort_learners("acme", "workshop-3") == sorted(f"hr-{i}" for i in range(12))
    assert cli(["import-events", str(path), "--tenant", "acme"]) == 0  # the same file again
    Worker(services).run(burst=True)
    assert services.learners.get("acme", "hr-3").events == 1


def test_a_csv_with_bad_rows_is_refused_whole_naming_each_line(cli, services, tmp_path, capsys):
    rows = csv_rows(services, 3)
    rows[1] = ("hr-1", "m-nowhere", "graded", "0.5", NOW_ISO, "c")
    rows.append(("someone@example.com", rows[0][1], "graded", "2", NOW_ISO, "c"))
    path = write_csv(tmp_path / "bad.csv", rows)
    assert cli(["import-events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 of 4 rows cannot be imported; nothing was written" in err
    assert f"{path}:3:2: module: unknown module 'm-nowhere'" in err  # line and column
    assert f"{path}:5:1: learner:" in err
    assert all(services.redis.xlen(services.keys.stream(p)) == 0 for p in range(services.settings.partitions))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "the file is empty"),
        ("cols.csv", "learner,colour\nx,red\n", "unknown column 'colour'"),
        ("data.xlsx", "x", "expected a .csv"),
        ("none.csv", None, "no such file"),
    ],
)
def test_unreadable_import_files_get_a_clear_error(cli, tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert cli(["import-events", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-16", "\t"), ("utf-16-le", ";"), ("utf-8", "|")],
)
def test_import_reads_boms_utf16_and_any_separator(cli, services, tmp_path, capsys, encoding, delimiter):
    header = ["learner", "module", "kind", "score", "timestamp", "cohort"]
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in csv_rows(services, 3)]
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    assert cli(["import-events", str(path), "--tenant", "acme"]) == 0, capsys.readouterr().err
    Worker(services).run(burst=True)
    assert services.learners.cohort_learners("acme", "workshop-3") == ["hr-0", "hr-1", "hr-2"]


def test_every_bad_row_is_named_with_its_line_and_never_a_traceback(cli, services, tmp_path, capsys):
    quiz = csv_rows(services, 1)[0][1]
    path = tmp_path / "messy.csv"
    path.write_text(
        "learner,module,kind,score,timestamp,cohort\n"
        f"hr-1,{quiz},graded,0.5,{NOW_ISO},c,surplus\n"  # a field too many
        f"hr-2,{quiz},graded\n"  # too few
        f"hr-3,{quiz},graded,lots,{NOW_ISO},c\n"  # a bad cell: line and column
        f'hr-4,{quiz},graded,0.5,{NOW_ISO},"open quote\n'
    )
    assert cli(["import-events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{path}:2: has 7 fields, more than the header's 6 (separator: comma)" in err
    assert f"{path}:3: has 3 fields, fewer than the header's 6" in err
    assert f"{path}:4:4: score:" in err
    assert f"{path}:5: cannot be read as CSV" in err and "quote" in err
    assert all(services.redis.xlen(services.keys.stream(p)) == 0 for p in range(services.settings.partitions))


def test_a_file_in_another_encoding_is_refused_with_its_line(cli, tmp_path, capsys):
    path = tmp_path / "latin1.csv"
    path.write_bytes("learner,module,kind,timestamp\nhr-1,m,viewed,1\nJosé,m,viewed,1\n".encode("latin-1"))
    assert cli(["import-events", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 3: not utf-8 text" in err and "Traceback" not in err


def test_export_then_import_elsewhere_rebuilds_the_same_learners(cli, services, settings, tmp_path, monkeypatch):
    write_csv(tmp_path / "a.csv", csv_rows(services, 5))
    cli(["import-events", str(tmp_path / "a.csv"), "--tenant", "acme"])
    out = tmp_path / "log.ndjson.gz"
    assert cli(["export-events", "--out", str(out)]) == 0
    lines = [orjson.loads(line) for line in gzip.open(out).read().splitlines()]
    assert len(lines) == 5 and {line["tenant"] for line in lines} == {"acme"}
    assert cli(["export-events", "--out", str(tmp_path / "none.gz"), "--tenant", "globex"]) == 0
    assert gzip.open(tmp_path / "none.gz").read() == b""
    # into a second deployment (another key prefix): the same events, the same ids
    copy_prefix = settings.key_prefix + "-copy"
    monkeypatch.setenv("SKILLGAP_KEY_PREFIX", copy_prefix)
    try:
        assert cli(["import-events", str(out)]) == 0
        copy = build_services(settings.replace(key_prefix=copy_prefix), services.redis)
        Worker(copy).run(burst=True)
        Worker(services).run(burst=True)
        a, b = services.learners.get("acme", "hr-2"), copy.learners.get("acme", "hr-2")
        assert a.events == b.events == 1 and (a.state == b.state).all()
    finally:
        delete_prefix(services.redis, copy_prefix)


def test_replay_check_and_replay_from_the_command_line(cli, services, tmp_path, capsys):
    write_csv(tmp_path / "a.csv", csv_rows(services, 4))
    cli(["import-events", str(tmp_path / "a.csv"), "--tenant", "acme"])
    Worker(services).run(burst=True)
    assert cli(["replay", "--check"]) == 0
    out = capsys.readouterr().out
    assert "lost: 0\nduplicated: 0\n" in out and "learners: 4" in out
    assert cli(["replay"]) == 0
    assert "Replayed 4 events into 4 learners." in capsys.readouterr().err


def test_parameter_versions_from_the_command_line(cli, services, tmp_path, capsys):
    module = services.catalog.modules[0]
    point = next(iter(module.coverage))
    path = tmp_path / "params.json"
    path.write_bytes(orjson.dumps({"schema": 1, "source": "hand-made", "learn": {module.id: {point: 0.4}}}))
    assert cli(["params", "add", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert cli(["params", "add", str(path), "--activate"]) == 0
    capsys.readouterr()
    assert cli(["params", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("1\thand-made") and listed[1].startswith("2 *\thand-made")
    assert cli(["params", "activate", "7"]) == 2
    assert "no parameter version 7" in capsys.readouterr().err
    path.write_text("{broken")
    assert cli(["params", "add", str(path)]) == 2
