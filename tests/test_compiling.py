"""A command says so while the engine compiles its kernels (a machine's first run), and nothing
once they load from Numba's cache (skillgap/compiling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from numba import njit
from numba.core import event

from skillgap import compiling
from skillgap.compiling import compiling_noticed, one_compiler_at_a_time

ROOT = Path(__file__).resolve().parents[1]
NOTICE = "Compiling the engine's kernels for this machine"


def test_a_compile_longer_than_the_wait_is_said_once_with_its_duration(monkeypatch):
    monkeypatch.setattr(compiling, "NOTICE_AFTER_S", 0.05)
    said: list[str] = []
    with compiling_noticed(said.append, duration="2-4 minutes") as watch:
        for _ in range(2):
            with event.trigger_event("numba:compile"):
                with event.trigger_event("numba:compile"):  # a helper compiled within the kernel
                    time.sleep(0.2)
    assert said[0] == f"{NOTICE} (the first run only: 2-4 minutes)..."
    assert said[1].startswith("  compiled in 0 s")
    assert len(said) == 2
    assert 0.35 < watch.spent < 2.0
    assert watch.depth == 0


def test_a_short_compile_and_a_cached_kernel_are_not_said(monkeypatch):
    monkeypatch.setattr(compiling, "NOTICE_AFTER_S", 5.0)
    add = njit(lambda a, b: a + b)
    said: list[str] = []
    with compiling_noticed(said.append) as watch:
        assert add(1, 2) == 3  # compiled here, in well under NOTICE_AFTER_S
        assert add(3, 4) == 7
    assert said == []
    assert watch.spent > 0.0


def test_the_listener_is_gone_after_the_block():
    said: list[str] = []
    with compiling_noticed(said.append):
        pass
    before = list(event._registered["numba:compile"])
    with event.trigger_event("numba:compile"):
        pass
    assert event._registered["numba:compile"] == before
    assert not any(isinstance(listener, compiling.CompileWatch) for listener in before)


def run_fit(cache: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    argv = ["--csv", str(ROOT / "docs/sample-history.csv"), "--out", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "skillgap.cli", "fit", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_fit_says_it_compiles_on_an_empty_cache_and_not_after(tmp_path: Path):
    first = run_fit(tmp_path / "cache", tmp_path / "first.json")
    assert first.returncode == 0, first.stderr
    assert f"{NOTICE} (the first run only)..." in first.stderr
    assert "compiled in" in first.stderr
    assert NOTICE not in first.stdout  # stdout may be data
    second = run_fit(tmp_path / "cache", tmp_path / "second.json")
    assert second.returncode == 0, second.stderr
    assert NOTICE not in second.stderr
    assert "compiled in" not in second.stderr
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()


WAITER = """
from skillgap.compiling import one_compiler_at_a_time

with one_compiler_at_a_time(lambda message: print(message, flush=True)):
    print("compiling", flush=True)
"""


def test_a_second_process_waits_for_the_one_compiling():
    """Numba's cache is not safe for two processes writing one kernel at once: the second
    waits for the lock on the engine's cache folder, says why, then goes on."""
    said: list[str] = []
    with one_compiler_at_a_time(said.append):
        waiter = subprocess.Popen(
            [sys.executable, "-c", WAITER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        first = waiter.stdout.readline()
        assert first.startswith("Waiting for another process that is compiling the engine's kernels")
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert out == "compiling\n"
    assert said == []  # the first took the lock at once


def test_the_lock_is_taken_at_once_when_free_and_released_after():
    said: list[str] = []
    with one_compiler_at_a_time(said.append):
        pass
    with one_compiler_at_a_time(said.append):
        pass
    assert said == []
