"""bench.versus: the engine's hot paths against another revision, in a worktree it removes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def versus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.versus", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def worktrees() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout


def figures(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines())


def test_a_quick_run_against_head_prints_both_sides_and_removes_its_worktree():
    before = worktrees()
    done = versus("HEAD", "--quick")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout)
    for side in ("here", "rev"):
        assert float(got[f"{side}_single_event_us"]) > 0 and float(got[f"{side}_ranking_cpu_us_per_learner"]) > 0
    # HEAD's engine on both sides of a clean checkout: ratios near 1, each side measured apart.
    assert 0.3 < float(got["ranking_ratio_here_over_rev"]) < 3
    assert 0.3 < float(got["single_event_ratio_here_over_rev"]) < 3
    assert worktrees() == before


def test_an_unknown_revision_is_refused_in_one_line():
    done = versus("no-such-revision-anywhere")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"python -m bench.versus: no commit named 'no-such-revision-anywhere' in {ROOT}"


def test_rounds_below_one_are_a_usage_error():
    done = versus("HEAD", "--rounds", "0")
    assert done.returncode == 2 and "--rounds must be at least 1" in done.stderr and "Traceback" not in done.stderr
