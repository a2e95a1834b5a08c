"""The engine's two hot paths against another revision, side by side in one run:
`python -m bench.versus REV` (issue 15 keeps the cohort ranking and the single-event update
within 10% of what they were).

REV is checked out in a temporary git worktree. Each round runs a probe in this checkout (its
working tree, uncommitted changes included) and in REV's, taking turns, each a fresh process
with one Numba thread and a Numba cache folder of its own: CPU time per learner of
`engine.recommend` on bench.engine's random cohort (best of 15 calls) and per
`engine.apply_event` (best of 3 streams). CPU time of one thread, because these machines are
shared: wall-clock figures on two busy cores say more about the load than about the code.
Prints `name: value` lines: each round's figures, each side's median, and the ratios of this
checkout's over REV's (above 1: slower).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import sys, time
import numpy as np
from bench.engine import catalog_model, cohort
from engine import apply_event, new_state, recommend

learners, events = int(sys.argv[1]), int(sys.argv[2])
model = catalog_model()
rng = np.random.default_rng(2026)

def best(repeats, run):
    spent = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        spent.append(time.process_time() - start)
    return min(spent)

state = new_state(model, 1000)
modules = rng.integers(0, model.n_modules, events).tolist()
who = rng.integers(0, 1000, events).tolist()
scores = rng.random(events).tolist()

def stream():
    for e in range(events):
        apply_event(state, model, who[e], modules[e], 2, scores[e], 1.7e9 + e)

stream()  # compiles or loads the kernels: not timed
single = best(3, stream) / events * 1e6
now = 1.8e9
ranked, targets = cohort(model, learners, rng, now)
recommend(ranked, targets, model, now=now)
ranking = best(15, lambda: recommend(ranked, targets, model, now=now)) / learners * 1e6
print(single, ranking)
"""


class ProbeFailed(Exception):
    pass


def say(name: str, value: object) -> None:
    print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


def probe(tree: Path, cache: Path, learners: int, events: int) -> tuple[float, float]:
    """(us per single-event update, us of CPU per learner ranked) measured in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(cache), "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(learners), str(events)], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ProbeFailed(f"the probe failed in {tree}: {last}")
    single, ranking = map(float, done.stdout.split())
    return single, ranking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.versus",
        description="The engine's ranking and single-event update, this checkout against REV, side by side.",
        epilog="example: python -m bench.versus 5238723 --rounds 5",
    )
    parser.add_argument("rev", metavar="REV", help="a git revision to compare with (a commit, tag or branch)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds taking turns; medians are printed (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one round: a smoke test")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    commit = git("rev-parse", "--verify", "--quiet", f"{args.rev}^{{commit}}")
    if commit.returncode != 0:
        print(f"python -m bench.versus: no commit named {args.rev!r} in {ROOT}", file=sys.stderr)
        return 2
    learners, events, rounds = (300, 5_000, 1) if args.quick else (5_000, 200_000, args.rounds)
    say("rev", f"{args.rev} ({commit.stdout.strip()[:12]})")
    say("load_average_1min", os.getloadavg()[0])
    figures: dict[str, list[tuple[float, float]]] = {"here": [], "rev": []}
    with tempfile.TemporaryDirectory(prefix="skillgap-versus-") as folder:
        other = Path(folder) / "rev"
        added = git("worktree", "add", "--detach", "--quiet", str(other), commit.stdout.strip())
        if added.returncode != 0:
            print(f"python -m bench.versus: git worktree add failed: {added.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            for r in range(1, rounds + 1):
                for side, tree in (("here", ROOT), ("rev", other)):
                    single, ranking = probe(tree, Path(folder) / f"numba-{side}", learners, events)
                    figures[side].append((single, ranking))
                    say(f"round_{r}_{side}_single_event_us", single)
                    say(f"round_{r}_{side}_ranking_cpu_us_per_learner", ranking)
        except ProbeFailed as failed:
            print(f"python -m bench.versus: {failed}", file=sys.stderr)
            return 1
        finally:
            git("worktree", "remove", "--force", str(other))
    medians = {side: [statistics.median(column) for column in zip(*rows)] for side, rows in figures.items()}
    for side in ("here", "rev"):
        say(f"{side}_single_event_us", medians[side][0])
        say(f"{side}_ranking_cpu_us_per_learner", medians[side][1])
    say("single_event_ratio_here_over_rev", medians["here"][0] / medians["rev"][0])
    say("ranking_ratio_here_over_rev", medians["here"][1] / medians["rev"][1])
    say("load_average_1min_end", os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
