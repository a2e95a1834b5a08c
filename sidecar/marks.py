"""Processed-event marks: the ids of the events a partition has applied, per tenant and event
day (ids are unique per tenant; the day lets marks expire with the log's retention).

In Redis a group's marks are one string, an id per line, that a commit APPENDs to: a batch
of thousands of events adds one argument, not thousands of set members, and Redis copies
bytes instead of hashing each. A worker keeps the groups of the partitions it owns in memory
(`KnownMarks`) and reads a group from Redis only when it does not hold it. Ids never contain a
line break (the worker's decoder turns such an event into a dead letter).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from operator import itemgetter

import redis

from core.keys import Keys
from core.settings import SECONDS_PER_DAY
from core.wire import LINE_BREAK

Group = tuple[str, int]  # (tenant, event day)
SEPARATOR = LINE_BREAK  # no event id or tenant contains one (core/wire.py)


def queue_marks(
    pipe, keys: Keys, partition: int, marks: dict[Group, Sequence[str]], retention_s: int, replace: bool = False
) -> None:
    """Queue the marks' writes: appended, or (`replace`) the group's whole set. A group lives
    until the retention after its day ends (`expires_at`): every write sets the same time, so
    a day that is still being written does not live longer with every append."""
    for (tenant, day), ids in marks.items():
        key = keys.marks(partition, tenant, day)
        text = SEPARATOR.join(ids) + SEPARATOR if ids else ""
        if replace:
            pipe.set(key, text)
        else:
            pipe.append(key, text)
        pipe.expireat(key, expires_at(day, retention_s, time.time()))  # Redis's clock, not a batch's


def expires_at(day: int, retention_s: int, now: float) -> int:
    """When a day's marks expire: the retention after the day ends, or for a day already past
    that (history imported late), after the current day ends (a time that moves once a day)."""
    return int(max(day + 1, now // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY) + retention_s


def read_marks(client: redis.Redis, keys: Keys, wanted: list[tuple[int, Group]]) -> list[set[str]]:
    """The marks Redis holds for each (partition, group), in one round trip."""
    if not wanted:
        return []
    pipe = client.pipeline(transaction=False)
    for partition, (tenant, day) in wanted:
        pipe.get(keys.marks(partition, tenant, day))
    return [parse_marks(raw) for raw in pipe.execute()]


def parse_marks(raw: bytes | None) -> set[str]:
    marks = set(raw.decode().split(SEPARATOR)) if raw else set()
    marks.discard("")
    return marks


class KnownMarks:
    """One partition's marks of the groups held in memory, each group complete."""

    def __init__(self) -> None:
        self.groups: dict[Group, set[str]] = {}
        self.size = 0

    def load(self, group: Group, marks: set[str]) -> None:
        """All the marks Redis holds for a group."""
        self.size += len(marks) - len(self.groups.get(group, ()))
        self.groups[group] = marks

    def claim(self, group: Group, ids: Sequence[str]) -> list[bool] | None:
        """Mark a group's ids (of a batch, in stream order); per id, whether it is new: not
        marked before and not repeated earlier in the list. None when all are (the common
        case: set operations only, no step per id). The group must be held (`load`)."""
        held = self.groups[group]
        before = len(held)
        if held.isdisjoint(ids):
            held.update(ids)
            self.size += len(held) - before
            return None if len(held) - before == len(ids) else _first_seen(ids, set())
        new = _first_seen(ids, held)
        self.size += len(held) - before
        return new

    def trim(self, capacity: int) -> None:
        """Drop the oldest days' groups until at most `capacity` marks are held (a group not
        held is read from Redis when a batch needs it)."""
        for group in sorted(self.groups, key=itemgetter(1, 0)):
            if self.size <= capacity:
                break
            self.size -= len(self.groups.pop(group))


def _first_seen(ids: Sequence[str], seen: set[str]) -> list[bool]:
    """Per id, whether it is not in `seen` yet; adds each."""
    new = []
    for mark in ids:
        new.append(mark not in seen)
        seen.add(mark)
    return new
