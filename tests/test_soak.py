"""Bounded memory (issue 14): a short soak on a Redis of its own (bench.chaos --soak) must
find Redis's memory and the workers' resident memory flat once retention trims, and the
verdict itself must fail on memory that grows."""

from __future__ import annotations

import pytest

from bench.chaos import main
from bench.soak import LEARNERS, LOG, MARKS, OTHER, SNAPSHOTS, Sample, judge, part_of

pytestmark = pytest.mark.slow
MB = 1_000_000


def test_a_short_soak_is_flat(capsys):
    code = main(["--soak", "--seconds", "24", "--rate", "1000", "--sample-s", "2"])
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    assert code == 0, lines
    assert lines["flat"] == "1" and lines["not_flat"] == "-"
    assert int(lines["steady_samples"]) >= 4
    assert lines["marks_expiry_moved_s"] == "0"  # one expiry per marks key, however many appends
    assert lines["server_errors"] == "0"


def samples(log=lambda t: 3 * MB, rss=lambda t: 300 * MB, snapshots=lambda t: MB, marks=lambda t: MB, rate=1_000):
    return [
        Sample(
            at=float(t),
            accepted=rate * t,
            used_memory=int(log(t) + snapshots(t) + marks(t) + MB),
            parts={LOG: int(log(t)), LEARNERS: MB, MARKS: int(marks(t)), SNAPSHOTS: int(snapshots(t)), OTHER: 0},
            marks_written=int(marks(t) * 0.8),
            marks_keys=4,
            worker_rss=int(rss(t)),
            entries=1_000,
            trimmed=t >= 4,
        )
        for t in range(0, 40, 2)
    ]


ONE_EXPIRY = {"k": {100}}


def test_the_verdict_is_flat_for_flat_memory():
    verdict = judge(samples(), cached_marks=0, expiries=ONE_EXPIRY)
    assert verdict.failures == [] and dict(verdict.lines)["flat"] == "1"


@pytest.mark.parametrize(
    ("growth", "failure"),
    [
        ({"log": lambda t: 3 * MB + t * 0.5 * MB}, "redis_log_slope"),
        ({"rss": lambda t: 300 * MB + t * MB}, "worker_rss_without_marks_slope"),
        ({"snapshots": lambda t: 6 * MB}, "snapshots_per_copied"),
    ],
)
def test_the_verdict_fails_on_growth(growth, failure):
    verdict = judge(samples(**growth), cached_marks=0, expiries=ONE_EXPIRY)
    assert failure in verdict.failures and dict(verdict.lines)["flat"] == "0"


def test_the_workers_marks_cache_is_expected_growth_up_to_its_capacity():
    growing = samples(rss=lambda t: 300 * MB + 10_000 * t * 130, rate=10_000)  # 130 bytes per mark kept
    assert judge(growing, cached_marks=10**9, expiries=ONE_EXPIRY).failures == []
    assert "worker_rss_without_marks_slope" in judge(growing, cached_marks=0, expiries=ONE_EXPIRY).failures


def test_a_marks_expiry_that_moves_with_appends_fails():
    verdict = judge(samples(), cached_marks=0, expiries={"k": {100, 160}})
    assert "marks_expiry_moved_s" in verdict.failures


def test_keys_fall_in_their_parts():
    assert part_of("p:{p1}:events") == LOG
    assert part_of("p:{p1}:snapshot:1-0") == SNAPSHOTS
    assert part_of("p:{p1}:marks:acme:20000") == MARKS
    assert part_of("p:{p1}:learner:acme:u") == LEARNERS
    assert part_of("p:{p1}:snapshot") == OTHER
