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

from engine.fit import fit, observations, predict
from engine.simulate import simulate_observations
from skillgap.bkt_csv import CsvError, read_bkt_csv
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
        {"order_id": int(o) + 1, "user_id": f"u{i}", "skill_name": f"skill {p}", "correct": int(c), "template_id": f"t{r}"}
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
    assert_allclose([float(r["correct_predictions"]) for r in written], expected, atol=5e-7)
    assert all(0.0 <= float(r["state_predictions"]) <= 1.0 for r in written)


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


def test_predict_unknown_skill(tmp_path, capsys):
    history = tmp_path / "history.csv"
    write_history(history, n_learners=20)
    params = tmp_path / "params.json"
    assert main(["fit", "--csv", str(history), "--out", str(params)]) == 0
    other = tmp_path / "other.csv"
    other.write_text("user_id,skill_name,correct\nu1,skill 0,1\nu1,skill 9,0\n")
    err = run_error(["predict", "--csv", str(other), "--params", str(params), "--out", str(tmp_path / "o.csv")], capsys)
    assert "skills with no fitted parameters" in err and "'skill 9'" in err


def test_predict_rejects_a_file_that_is_not_parameters(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text('{"skills": []}')
    history = tmp_path / "h.csv"
    history.write_text("user_id,skill_name,correct\nu1,a,1\n")
    err = run_error(["predict", "--csv", str(history), "--params", str(params), "--out", str(tmp_path / "o.csv")], capsys)
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


names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',"'), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, st.sampled_from(["a", "b", "c,d"]), st.sampled_from([0, 1])), min_size=1, max_size=30),
       st.booleans())  # fmt: skip
def test_reader_agrees_with_the_csv_module(rows, crlf):
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n" if crlf else "\n").writerows([("user_id", "skill_name", "correct"), *rows])
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.csv"
        path.write_bytes(text.getvalue().encode())
        table = read_bkt_csv(path)
    assert [table.learners[c] for c in table.learner] == [r[0] for r in rows]
    assert [table.skills[c] for c in table.skill] == [r[1] for r in rows]
    assert list(table.correct) == [float(r[2]) for r in rows]


def test_csv_error_is_a_user_error():
    from skillgap.errors import UserError

    assert issubclass(CsvError, UserError)


def test_reader_splits_work_at_line_breaks_even_with_long_lines(tmp_path):
    path = tmp_path / "long.csv"
    learners = [f"learner-{i}-" + "x" * (3000 + 7919 * i % 20000) for i in range(40)]
    path.write_text("user_id,skill_name,correct\n" + "".join(f"{u},s{i % 3},{i % 2}\n" for i, u in enumerate(learners)))
    table = read_bkt_csv(path)
    assert [table.learners[c] for c in table.learner] == learners
    assert [table.skills[c] for c in table.skill] == [f"s{i % 3}" for i in range(40)]
    assert list(table.correct) == [float(i % 2) for i in range(40)]
