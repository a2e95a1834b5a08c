"""The soak (`python -m bench.chaos --soak`): steady load with no faults while the workers
snapshot and trim, sampling what Redis holds by kind of key (MEMORY USAGE of every key under
the prefix) and the workers' resident memory, then a verdict on whether memory stays bounded.

What must be flat once retention trims: the log (entries arrive and leave at one rate), the
learners (a fixed population), everything else, and the workers' resident memory apart from
their marks cache. The processed-event marks are the one part that grows by design: a day's
marks are kept until the retention after the day ends (`sidecar/marks.py`), so within a day
they grow with its events; they are judged per event instead (`marks_bytes_per_event`), and
snapshots, which copy the marks and the learners, against what they copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The parts of Redis's memory, by the key names of core/keys.py.
LOG, LEARNERS, MARKS, SNAPSHOTS, OTHER = "log", "learners", "marks", "snapshots", "other"
PARTS = (LOG, LEARNERS, MARKS, SNAPSHOTS, OTHER)
FLAT_PARTS = (LOG, LEARNERS, OTHER)
# Flat means: over the second half of the run, the fitted slope moves the part by at most this
# share of its mean, or by this many bytes (small parts wobble by allocator steps); resident
# memory, a few hundred MB of which is the interpreter and the compiled engine, more tightly.
FLAT_SHARE = 0.15
FLAT_BYTES = 1_000_000
RSS_FLAT_SHARE = 0.03
RSS_FLAT_BYTES = 8_000_000
# A mark is its id and a line break; Redis grows an appended string by doubling (up to 1 MB),
# so a group may hold up to twice its length, plus 1 MB beyond 1 MB.
MARKS_SLACK = 2.0
WORKER_MARK_BYTES = 130  # a kept mark: its str object and its share of the set's table (tracemalloc)
SNAPSHOT_COPIES = 2  # the latest and the one being taken


def part_of(key: str) -> str:
    """The part of memory a key (under the prefix) belongs to."""
    if key.endswith(":events"):
        return LOG
    if ":snapshot:" in key:
        return SNAPSHOTS
    if ":marks:" in key:
        return MARKS
    if ":learner:" in key or ":learners:" in key or ":cohort:" in key or ":cohorts:" in key:
        return LEARNERS
    return OTHER


def redis_parts(client, prefix: str) -> dict[str, int]:
    """Bytes per part: MEMORY USAGE (every nested value counted) of each key under `prefix`."""
    parts = dict.fromkeys(PARTS, 0)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    for key, size in zip(keys, pipe.execute()):
        parts[part_of(key.decode())] += size or 0
    return parts


def marks_lengths(client, prefix: str) -> int:
    """The marks' bytes as written (ids and line breaks)."""
    return sum(client.strlen(key) for key in client.scan_iter(match=f"{prefix}:*:marks:*", count=1_000))


def marks_expiries(client, prefix: str) -> dict[str, float]:
    """When each marks key expires (Redis's clock, seconds); EXPIRETIME needs Redis 7."""
    now = _redis_now(client)
    return {
        key.decode(): now + client.pttl(key) / 1000
        for key in client.scan_iter(match=f"{prefix}:*:marks:*", count=1_000)
    }


def _redis_now(client) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)


@dataclass
class Sample:
    at: float  # seconds since the soak began
    accepted: int
    used_memory: int
    parts: dict[str, int]
    marks_written: int
    marks_keys: int
    worker_rss: int
    entries: int
    trimmed: bool  # every partition trimmed at least once


@dataclass
class Soak:
    client: object
    prefix: str
    samples: list[Sample] = field(default_factory=list)
    expiries: dict[str, set[int]] = field(default_factory=dict)  # marks key -> expiry times seen

    def sample(self, at: float, accepted: int, worker_pids: list[int], entries: int, trimmed: bool) -> None:
        client = self.client
        self.samples.append(
            Sample(
                at,
                accepted,
                client.info("memory")["used_memory"],
                redis_parts(client, self.prefix),
                marks_lengths(client, self.prefix),
                len(expiries := marks_expiries(client, self.prefix)),
                sum(rss_bytes(pid) for pid in worker_pids),
                entries,
                trimmed,
            )
        )
        for key, expiry in expiries.items():
            self.expiries.setdefault(key, set()).add(round(expiry))


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    if len(points) < 2:
        return 0.0
    at, values = np.array(points, dtype=float).T
    return float(np.polyfit(at, values, 1)[0]) * 60


@dataclass
class Verdict:
    lines: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def line(self, name: str, value) -> None:
        self.lines.append((name, value if isinstance(value, str) else f"{value:.3g}"))

    def require(self, name: str, ok: bool) -> None:
        if not ok:
            self.failures.append(name)


def judge(samples: list[Sample], cached_marks: int, expiries: dict[str, set[int]]) -> Verdict:
    """Flat or not, over the second half of the samples taken after every partition was trimmed;
    and whether each marks key kept one expiry time however often it was appended to."""
    verdict = Verdict()
    moved = max((max(seen) - min(seen) for seen in expiries.values()), default=0)
    verdict.line("marks_keys", str(len(expiries)))
    verdict.line("marks_expiry_moved_s", str(moved))
    verdict.require("marks_expiry_moved_s", bool(expiries) and moved <= 2)  # TIME and PTTL read apart
    steady = [s for s in samples if s.trimmed]
    window = steady[len(steady) // 2 :] if len(steady) >= 4 else []
    verdict.line("samples", str(len(samples)))
    verdict.line("steady_samples", str(len(window)))
    verdict.require("steady_samples", len(window) >= 2)
    if len(window) < 2:
        verdict.line("flat", "0")
        return verdict
    minutes = (window[-1].at - window[0].at) / 60
    verdict.line("window_s", f"{minutes * 60:.0f}")

    def flat(name: str, value: Callable[[Sample], float], share: float = FLAT_SHARE, least: float = FLAT_BYTES):
        slope = slope_per_min([(s.at, value(s)) for s in window])
        mean = float(np.mean([value(s) for s in window]))
        change = abs(slope) * minutes
        verdict.line(f"{name}_mb", mean / 1e6)
        verdict.line(f"{name}_slope_mb_per_min", slope / 1e6)
        verdict.require(f"{name}_slope", change <= max(share * mean, least))

    for part in FLAT_PARTS:
        flat(f"redis_{part}", lambda s, part=part: s.parts[part])
    flat("redis_without_marks_and_snapshots", lambda s: s.used_memory - s.parts[MARKS] - s.parts[SNAPSHOTS])
    # The workers keep the marks they applied, `cached_marks` at most in all (one mark per
    # accepted event): their growth is expected; the rest must be flat.
    held = lambda s: min(s.accepted, cached_marks) * WORKER_MARK_BYTES  # noqa: E731
    verdict.line("worker_rss_slope_mb_per_min", slope_per_min([(s.at, s.worker_rss) for s in window]) / 1e6)
    flat("worker_rss_without_marks", lambda s: s.worker_rss - held(s), RSS_FLAT_SHARE, RSS_FLAT_BYTES)
    last = window[-1]
    per_event = last.parts[MARKS] / max(1, last.accepted)
    written_per_event = last.marks_written / max(1, last.accepted)
    verdict.line("marks_mb", last.parts[MARKS] / 1e6)
    verdict.line("marks_bytes_per_event", per_event)
    verdict.line("marks_written_bytes_per_event", written_per_event)
    verdict.require(
        "marks_bytes_per_event", last.parts[MARKS] <= MARKS_SLACK * last.marks_written + last.marks_keys * 2**20
    )
    copied = max(s.parts[SNAPSHOTS] / max(1, s.parts[LEARNERS] + s.parts[MARKS]) for s in window)
    verdict.line("snapshots_per_copied", copied)
    verdict.require("snapshots_per_copied", copied <= SNAPSHOT_COPIES * 1.25)
    verdict.line("flat", "0" if verdict.failures else "1")
    return verdict
