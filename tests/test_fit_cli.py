"""`skillgap fit --csv` and `skillgap predict` on pyBKT-format files, and the CSV reader
against Python's csv module."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from bkt_csv.files import CsvError, read_bkt_csv
from engine.fit import fit, observations, predict
from engine.simulate import simulate_observations
from skillgap.cli import main

TRUTH = {
    "prior": np.array([0.2, 0.35]),
    "learn": np.array([[0.08, 0.25], [0.15, 0.05]]),
    "forget": np.array([0.03, 0.01]),
    "guess": np.array([0.2, 0.15]),
    "slip": np.array([0.1, 0.08]),
}


def write_history(path: Path, n_learners: int = 1500, seed: int = 5, shuffle: bool = True) -> list[dict]:
    sim = simulate_observations(**TRUTH, n_learners=n_learners, attempts=(8, 20), rng=np.random.default_rng(seed))
    rows = [
        {
            "order_id": int(o) + 1,
            "user_id": f"u{i}",
            "skill_name": f"skill {p}",
            "correct": int(c),
            "template_id": f"t{r}",
        }
        for o, i, p, c, r in zip(sim.order, sim.learner, sim.point, sim.correct, sim.resource)
    ]
    if shuffle:  # order_id, not the file's order, says what came first
        rows = [rows[k] for k in np.random.default_rng(seed).permutation(len(rows))]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.mark.slow
def test_fit_writes_parameters_close_to_the_truth(tmp_path, capsys):
    history = tmp_path / "history.csv"
    write_history(history)
    out = tmp_path / "params.json"
    assert main(["fit", "--csv", str(history), "--forgets", "--multilearn", "template_id", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["forgets"] is True and doc["multilearn"] == "template_id"
    for p in range(2):
        skill = doc["skills"][f"skill {p}"]
        assert skill["prior"] == pytest.approx(TRUTH["prior"][p], abs=0.05)
        assert skill["forget"] == pytest.approx(TRUTH["forget"][p], abs=0.02)
        assert skill["guess"] == pytest.approx(TRUTH["guess"][p], abs=0.03)
        assert skill["slip"] == pytest.approx(TRUTH["slip"][p], abs=0.03)
        for r in range(2):
            learn = skill["learns"][f"t{r}"]
            assert learn["rate"] == pytest.approx(TRUTH["learn"][p, r], abs=4 * learn["se"] + 0.01)
            assert learn["learners"] > 1000
    err = capsys.readouterr().err
    assert "read" in err and "fitted" in err and "wrote" in err


def test_predict_writes_every_row_in_input_order(tmp_path):
    history = tmp_path / "history.csv"
    rows = write_history(history, n_learners=60)
    params = tmp_path / "params.json"
    assert main(["fit", "--csv", str(history), "--multilearn", "template_id", "--out", str(params)]) == 0
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--csv", str(history), "--params", str(params), "--out", str(out)]) == 0
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    assert [{k: r[k] for k in rows[0]} for r in written] == [{k: str(v) for k, v in r.items()} for r in rows]

    # Same numbers as the engine's predict on the same rows (itself checked against tests/naive.py).
    table = read_bkt_csv(history, "template_id")
    data = observations(table.learner, table.skill, table.resource, table.correct, table.order)
    expected = predict(data, fit(data, forgets=False))
    assert_allclose([float(r["correct_predictions"]) for r in written], expected.correct, atol=5e-7)
    assert_allclose([float(r["state_predictions"]) for r in written], expected.mastery, atol=5e-7)


def run_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("user_id,skill_name\nu1,a\n", [], "no 'correct' column"),
        ("user_id,skill_name,correct\nu1,a,1\n", ["--multilearn", "module"], "no 'module' column"),
        ("user_id,skill_name,correct\nu1,a,1\nu1,a,2\n", [], "line 3: correct must be 0 or 1"),
        ("user_id,skill_name,correct\nu1,a,1\nu1,a,yes\n", [], "line 3: correct must be 0 or 1"),
        ("user_id,skill_name,correct\nu1,a,1\nu1,a,0.5\n", [], "line 3: correct must be 0 or 1"),
        ("user_id,skill_name,correct\nu1,a,1\nu1,a,\n", [], "line 3: correct must be 0 or 1"),
        ("", [], "the file is empty"),
        ("user_id,skill_name,correct\n\n", [], "no rows"),
        ("user_id,skill_name,correct\n", [], "no rows"),
        ("user_id,skill_name,correct", [], "no rows"),
        ("user_id,skill_name,correct,order_id\nu1,a,1,1\nu1,a\n", [], "line 3: has fewer fields"),
        ("user_id,skill_name,correct,order_id\nu1,a,1,1\nu1,a,1,x\n", [], "line 3: order_id must be an integer"),
        ("user_id,skill_name,correct,order_id\nu1,a,1,12345678901234567890\n", [], "line 2: order_id must be an"),
        ('user_id,skill_name,correct,order_id\nu1,a,1,1\n"u1,a,1,2\n', [], "line 3: has an unterminated quoted"),
    ],
)
def test_fit_bad_file(tmp_path, capsys, content, options, message):
    path = tmp_path / "h.csv"
    path.write_text(content)
    assert message in run_error(["fit", "--csv", str(path), *options, "--out", str(tmp_path / "p.json")], capsys)
    assert not (tmp_path / "p.json").exists()


def test_fit_missing_file(tmp_path, capsys):
    err = run_error(["fit", "--csv", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "p.json")], capsys)
    assert "cannot read" in err


@pytest.fixture
def small_fit(tmp_path):
    """A parameters file fitted to 20 learners' history of skills 'skill 0' and 'skill 1'."""
    history = tmp_path / "history.csv"
    write_history(history, n_learners=20)
    params = tmp_path / "params.json"
    assert main(["fit", "--csv", str(history), "--out", str(params)]) == 0
    return params


def test_predict_unknown_skill(tmp_path, capsys, small_fit):
    params = small_fit
    other = tmp_path / "other.csv"
    other.write_text("user_id,skill_name,correct\nu1,skill 0,1\nu1,skill 9,0\n")
    err = run_error(["predict", "--csv", str(other), "--params", str(params), "--out", str(tmp_path / "o.csv")], capsys)
    assert "skills with no fitted parameters" in err and "'skill 9'" in err


def test_predict_unknown_skills_with_the_default(tmp_path, capsys, small_fit):
    params = small_fit
    other = tmp_path / "other.csv"
    other.write_text("user_id,skill_name,correct\nu1,skill 0,1\nu1,skill 9,0\nu2,skill 9,1\nu1,skill 0,0\n")
    out = tmp_path / "o.csv"
    base = ["predict", "--csv", str(other), "--params", str(params), "--out", str(out)]
    capsys.readouterr()
    assert main([*base, "--unknown-skills", "default"]) == 0
    assert "2 rows of 1 skills without fitted parameters: predicted with the default 0.5" in capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["correct_predictions"] for r in rows[1:3]] == ["0.500000", "0.500000"]
    # The known skill's rows get the same predictions as in a file without the unknown skill.
    known = tmp_path / "known.csv"
    known.write_text("user_id,skill_name,correct\nu1,skill 0,1\nu1,skill 0,0\n")
    assert main(["predict", "--csv", str(known), "--params", str(params), "--out", str(tmp_path / "k.csv")]) == 0
    alone = list(csv.DictReader(io.StringIO((tmp_path / "k.csv").read_text())))
    assert [rows[0]["correct_predictions"], rows[3]["correct_predictions"]] == [r["correct_predictions"] for r in alone]
    assert float(alone[0]["correct_predictions"]) != 0.5


def test_predict_rejects_a_file_that_is_not_parameters(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text('{"skills": []}')
    history = tmp_path / "h.csv"
    history.write_text("user_id,skill_name,correct\nu1,a,1\n")
    err = run_error(
        ["predict", "--csv", str(history), "--params", str(params), "--out", str(tmp_path / "o.csv")], capsys
    )
    assert "not a parameters file" in err


def test_reader_takes_tabs_crlf_quotes_and_cognitive_tutor_names(tmp_path):
    path = tmp_path / "ct.tsv"
    path.write_bytes(
        b"Row\tAnon Student Id\tKC(Default)\tCorrect First Attempt\r\n"
        b'2\t"s ""1"""\tfractions\t1\r\n1\ts2\t"fractions"\t0\r\n\r\n3\ts2\tdecimals\t-1\r\n'
    )
    table = read_bkt_csv(path)
    assert table.learners == ['s "1"', "s2"] and table.skills == ["fractions", "decimals"]
    assert list(table.order) == [2, 1, 3]
    assert table.correct[0] == 1.0 and table.correct[1] == 0.0 and np.isnan(table.correct[2])


# ---------------------------------------------------------------- the reader against the csv module


def reference_rows(text: str, delimiter: str = ",") -> list[list[str]]:
    """What the reader should see: Python's csv module on the non-blank lines (blank: only
    spaces and CRs); a CR before a line break is not part of the last field."""
    lines = [line for line in text.split("\n") if line.strip(" \r")]
    return list(csv.reader([line[:-1] if line.endswith("\r") else line for line in lines], delimiter=delimiter))


def read_text(text: str, pieces: int | None = None, resource_column: str | None = None):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.csv"
        path.write_bytes(text.encode())
        return read_bkt_csv(path, resource_column, pieces=pieces)


# Ids of every length around the 8- and 16-byte words the keys are made of, with the
# delimiter, quotes, spaces and non-ASCII letters in them.
names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',"  '), max_size=40)
integers = st.integers(-(10**18) + 1, 10**18 - 1).map(str) | st.integers(0, 10**9).map(lambda i: f"{i}.0")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(integers, names, names, st.sampled_from(["0", "1", "-1", " 1", "1.0"]), names, st.booleans()),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
    st.booleans(),
    st.integers(1, 9),
    st.sampled_from([",", "\t"]),
)
def test_reader_agrees_with_the_csv_module(rows, crlf, last_newline, pieces, delimiter):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n" if crlf else "\n", delimiter=delimiter)
    writer.writerow(["order_id", "user_id", "skill_name", "correct", "module", "unused"])
    for order_id, learner, skill, correct, module, blank_after in rows:
        writer.writerow([order_id, learner, skill, correct, module, "x, y"])
        if blank_after:  # blank lines anywhere, pieces may start or end on them
            text.write(" \r\n" if crlf else "\n")
    content = text.getvalue() if last_newline else text.getvalue().rstrip("\r\n")
    expected = reference_rows(content, delimiter)[1:]
    table = read_text(content, pieces, "module")
    assert table.rows == len(expected)
    assert [table.learners[c] for c in table.learner] == [r[1] for r in expected]
    assert [table.skills[c] for c in table.skill] == [r[2] for r in expected]
    assert [table.resources[c] for c in table.resource] == [r[4] for r in expected]
    assert list(table.order) == [int(r[0].removesuffix(".0")) for r in expected]
    assert_allclose(table.correct, [np.nan if int(float(r[3])) == -1 else int(float(r[3])) for r in expected])
    # Codes follow first appearance, whatever the pieces.
    assert table.learners == list(dict.fromkeys(r[1] for r in expected))


def test_reader_codes_thousands_of_learners_across_pieces_and_blocks(tmp_path):
    # More distinct learners than a piece's first hash table holds (it grows), more lines
    # than a block, learners spanning the cut between pieces, and ids long enough to be hashed.
    rng = np.random.default_rng(3)
    ids = [f"learner-{i}" + "-x" * int(i % 9) for i in rng.permutation(6000)]
    rows = [(ids[i // 3], f"skill {i % 7}", i % 2) for i in range(18_000)]
    path = tmp_path / "many.csv"
    path.write_text("user_id,skill_name,correct\n" + "".join(f"{u},{s},{c}\n" for u, s, c in rows))
    for pieces in (1, 5, 64):
        table = read_bkt_csv(path, pieces=pieces)
        assert table.learners == list(dict.fromkeys(ids))
        assert [table.learners[c] for c in table.learner] == [u for u, _, _ in rows]
        assert [table.skills[c] for c in table.skill] == [s for _, s, _ in rows]
        assert list(table.correct) == [float(c) for _, _, c in rows]


def test_reader_reports_the_first_problem_of_a_block(tmp_path):
    # Columns are parsed one after another within a block of lines: the problem reported is
    # still the one on the earliest line, and on that line the leftmost.
    lines = [f"{i},u{i % 50},s,{i % 2}" for i in range(3000)]
    lines[2500] = "2500,u0,s,7"  # bad correctness
    lines[2200] = "x,u0,s,1"  # bad order, earlier
    lines[2800] = "2800,u0"  # missing fields, later
    path = tmp_path / "h.csv"
    path.write_text("order_id,user_id,skill_name,correct\n" + "\n".join(lines) + "\n")
    with pytest.raises(CsvError, match="line 2202: order_id must be an integer"):
        read_bkt_csv(path)
    lines[2200] = "x,u0,s,7"  # both of line 2202's values bad: the order comes first
    path.write_text("order_id,user_id,skill_name,correct\n" + "\n".join(lines) + "\n")
    with pytest.raises(CsvError, match="line 2202: order_id"):
        read_bkt_csv(path)
    lines[2200], lines[2500] = "2200,u0,s,1", "2500,u0,s,1"
    path.write_text("order_id,user_id,skill_name,correct\n" + "\n".join(lines) + "\n")
    with pytest.raises(CsvError, match="line 2802: has fewer fields"):
        read_bkt_csv(path)


def test_csv_error_is_a_user_error():
    from core.errors import UserError

    assert issubclass(CsvError, UserError)


def test_reader_splits_work_at_line_breaks_even_with_long_lines(tmp_path):
    path = tmp_path / "long.csv"
    learners = [f"learner-{i}-" + "x" * (3000 + 7919 * i % 20000) for i in range(40)]
    path.write_text("user_id,skill_name,correct\n" + "".join(f"{u},s{i % 3},{i % 2}\n" for i, u in enumerate(learners)))
    for pieces in (None, 3, 16):
        table = read_bkt_csv(path, pieces=pieces)
        assert [table.learners[c] for c in table.learner] == learners
        assert [table.skills[c] for c in table.skill] == [f"s{i % 3}" for i in range(40)]
        assert list(table.correct) == [float(i % 2) for i in range(40)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(names, st.sampled_from(["0", "1"]), st.sampled_from(["", "\n", " \r\n"])), min_size=1, max_size=40
    ),
    st.booleans(),
    st.booleans(),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
)
def test_predictions_keep_each_line_as_written(rows, crlf, last_newline, pieces, seed):
    # The slow reference: the input's non-blank lines, without their CR, each followed by the
    # values with six decimals.
    end = "\r\n" if crlf else "\n"
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=end)
    writer.writerow(["user_id", "skill_name", "correct"])
    for learner, correct, blank in rows:
        writer.writerow([learner, "s", correct])
        text.write(blank)
    content = text.getvalue() if last_newline else text.getvalue().rstrip("\r\n")
    values = np.random.default_rng(seed).random((2, len(rows)))
    values[:, 0] = [0.0, 1.0]
    import tempfile

    from bkt_csv.files import write_predictions

    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "h.csv", Path(folder) / "p.csv"
        source.write_bytes(content.encode())
        table = read_bkt_csv(source, pieces=pieces)
        write_predictions(out, table, {"a": values[0], "b": values[1]})
        written = out.read_bytes().decode()
    lines = [line.removesuffix("\r") for line in content.split("\n") if line.strip(" \r")]
    assert written.endswith("\n")
    header, *body = written[:-1].split("\n")
    assert header == lines[0] + ",a,b"
    assert [line.rsplit(",", 2)[0] for line in body] == lines[1:]
    got = np.array([[float(v) for v in line.rsplit(",", 2)[1:]] for line in body])
    assert all(len(v) == 8 for line in body for v in line.rsplit(",", 2)[1:])  # six decimals
    assert_allclose(got, values.T, atol=5e-7 + 1e-12)
