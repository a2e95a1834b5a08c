"""The command line loads only what the command needs: `skillgap --help` no command module (nor
the settings or logging), `fit` and `predict` nothing of Flask, Redis or the LMS code; and
COMMANDS says what the modules register."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillgap.cli import COMMANDS, main

SERVER_SIDE = ("flask", "werkzeug", "redis", "requests", "gunicorn", "lti_tool", "sidecar", "jwt")

PROBE = """
import sys
from skillgap.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
loaded = sorted(({{m.split(".")[0] for m in sys.modules}} | set(sys.modules)) & set({names!r}))
print("LOADED", ",".join(loaded), file=sys.stderr)
sys.exit(status)
"""


def loaded_by(*argv: str, names: tuple[str, ...] = SERVER_SIDE) -> tuple[set[str], subprocess.CompletedProcess]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(names=names), *argv], capture_output=True, text=True, timeout=300
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED"))
    return set(filter(None, line.split(" ", 1)[1].split(","))), done


def test_help_imports_no_command_module():
    loaded, done = loaded_by("--help", names=(*SERVER_SIDE, "numpy", "numba", "engine", "core.settings", "logging"))
    assert done.returncode == 0 and loaded == set()
    for name in COMMANDS:
        assert name in done.stdout


def test_fit_and_predict_load_nothing_of_the_servers(tmp_path: Path):
    history = tmp_path / "h.csv"
    history.write_text("user_id,skill_name,correct\n" + "".join(f"u{i % 7},s{i % 3},{i % 2}\n" for i in range(200)))
    params, out = tmp_path / "p.json", tmp_path / "o.csv"
    loaded, done = loaded_by("fit", "--csv", str(history), "--out", str(params))
    assert done.returncode == 0, done.stderr
    assert loaded == set()
    loaded, done = loaded_by("predict", "--csv", str(history), "--params", str(params), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert loaded == set() and out.exists()


def test_fit_and_predict_load_their_kernels_without_numbas_registries(tmp_path: Path):
    """Loaded from Numba's cache, the kernels need neither Numba's typing and lowering registries
    (cffi, numba.typed, numba.np.random, ...: engine.jit.lean_cache_loads) nor numba.np.arraymath,
    whose import probes for BLAS by importing scipy.linalg (0.2 s of a short process)."""
    history = tmp_path / "h.csv"
    history.write_text("user_id,skill_name,correct\n" + "".join(f"u{i % 5},s{i % 2},{i % 2}\n" for i in range(60)))
    names = ("scipy.linalg", "numba.np.arraymath", "cffi", "numba.typed.typeddict", "numba.np.random")
    for argv in (
        ("fit", "--csv", str(history), "--out", str(tmp_path / "p.json")),
        ("predict", "--csv", str(history), "--params", str(tmp_path / "p.json"), "--out", str(tmp_path / "o.csv")),
    ):
        for _ in range(2):  # the first run may compile and cache; the second loads from the cache
            loaded, done = loaded_by(*argv, names=names)
            assert done.returncode == 0, done.stderr
        assert loaded == set()


def test_the_command_exits_with_mains_status(tmp_path: Path):
    """`skillgap` (skillgap.cli:run, as `python -m skillgap.cli`) around main()."""
    history = tmp_path / "h.csv"
    history.write_text("user_id,skill_name,correct\nu1,s1,1\nu1,s1,0\n")
    command = [sys.executable, "-m", "skillgap.cli"]
    done = subprocess.run([*command, "fit", "--csv", str(history), "--out", str(tmp_path / "p.json")], timeout=300)
    assert done.returncode == 0 and (tmp_path / "p.json").exists()
    done = subprocess.run(
        [*command, "predict", "--csv", str(history), "--params", str(tmp_path / "none.json"), "--out", "o.csv"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "none.json: cannot read" in done.stderr and "Traceback" not in done.stderr


EXIT_PROBE = """
import atexit, sys, types
import skillgap.cli as cli


class Finalized:
    def __del__(self):
        print("finalized", flush=True)


holder = types.ModuleType("holder")  # freed, with what it holds, when the interpreter finalizes
holder.kept = Finalized()
sys.modules["holder"] = holder
del holder
atexit.register(lambda: print("atexit ran", flush=True))
cli.main = lambda: print("main's output", end="") or 3
sys.argv = ["skillgap", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.parametrize(("command", "finalized"), [("fit", ""), ("predict", ""), ("run", "finalized\n")])
def test_one_shot_commands_end_without_finalization_after_atexit_and_flushed_output(command, finalized):
    """fit and predict end the process without the interpreter's finalization (os._exit), with
    main's status, after the atexit handlers, and nothing printed is lost."""
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "main's outputatexit ran\n" + finalized


RUN_PROBE = """
import os, sys
import skillgap.cli as cli
cli.main = lambda: print(
    "OPENBLAS", os.environ.get("OPENBLAS_NUM_THREADS"), "numba" in sys.modules, "scipy" in sys.modules, file=sys.stderr
) or 0
sys.argv = ["skillgap", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["fit", "--csv", "h.csv"], "1 True False"), (["predict"], "1 True False"), (["run"], "None False False")],
)
def test_one_shot_commands_start_numpy_without_blas_threads(argv, expected):
    """fit and predict use no BLAS: numpy's OpenBLAS is kept from starting a thread per core;
    and they import Numba first, without scipy (import_numba_lean)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", RUN_PROBE, *argv], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and f"OPENBLAS {expected}" in done.stderr


LEAN_PROBE = """
import sys
import skillgap.cli as cli
cli.import_numba_lean()
import numba
print("HIDDEN", sorted(name for name in ("scipy", "yaml") if name not in sys.modules))
import importlib.util
# Nothing is left hidden: find_spec raises ValueError on a module hidden as None.
print("FINDABLE", [importlib.util.find_spec(name) is not None for name in ("scipy", "yaml")])
print("CACHE_DIR", numba.config.CACHE_DIR)
"""


def test_one_shot_commands_import_numba_without_scipy_and_yaml(tmp_path: Path):
    """Numba imports them only to check scipy's version and to read a .numba_config.yaml."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", LEAN_PROBE], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "HIDDEN ['scipy', 'yaml']" in done.stdout
    # scipy is not a dependency (bench's extra brings it): findable exactly when installed.
    assert f"FINDABLE [{importlib.util.find_spec('scipy') is not None}, True]" in done.stdout
    # With a config file in the current directory, yaml is imported and the file read.
    (tmp_path / ".numba_config.yaml").write_text(f"cache_dir: {tmp_path}\n")
    done = subprocess.run([sys.executable, "-c", LEAN_PROBE], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "HIDDEN ['scipy']" in done.stdout and f"CACHE_DIR {tmp_path}" in done.stdout


def test_an_unknown_command_is_refused_with_the_list():
    _, done = loaded_by("no-such-command")
    assert done.returncode == 2 and "invalid choice" in done.stderr and "import-events" in done.stderr


def test_commands_match_what_their_modules_register():
    for module in sorted({module for module, _ in COMMANDS.values()}):
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers()
        importlib.import_module(module).register(commands)
        registered = {action.dest: action.help for action in commands._choices_actions}
        expected = {name: help_line for name, (owner, help_line) in COMMANDS.items() if owner == module}
        assert registered == expected, module


def test_every_command_help_has_an_example(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert "\nexample:\n  skillgap " + name in text, name


@pytest.mark.parametrize(
    ("command", "module"), [("moodle", "skillgap.commands.moodle"), ("xapi", "skillgap.commands.xapi")]
)
def test_every_without_a_value_waits_what_the_setting_says(command, module):
    from skillgap.commands.every import interval_s

    parser = argparse.ArgumentParser()
    importlib.import_module(module).register(parser.add_subparsers(dest="command"))
    argv = (
        ["moodle", "sync"]
        if command == "moodle"
        else ["xapi", "pull", "--lrs", "https://lrs.example.com/", "--key", "k"]
    )
    assert parser.parse_args(argv).every is None  # once
    assert interval_s(parser.parse_args([*argv, "--every"]).every, 600.0) == 600.0
    assert interval_s(parser.parse_args([*argv, "--every", "5"]).every, 600.0) == 5.0
