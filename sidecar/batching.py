"""How much a worker reads at once: batches bounded by time, not by entries.

An event waits for the batch it rides in, and a stream entry may carry 1 or 500 events, so a
fixed entry count gives batches of any length. The worker instead aims at `batch_ms` of work
per batch while it keeps up (freshness), from the entry sizes and the cost per event it has
seen. When it is behind (what it reads has already waited longer than that), a batch as long
as that wait costs no freshness and drains the backlog faster (fewer, larger commits), so
batches grow up to `batch_max_ms`, capped by a third of the lease TTL (a batch must commit
before its lease, renewed between batches, runs out).

Two estimates decide how fast a worker that falls behind takes large batches:
- how long the next read's entries have waited: at least the time since the last read, if
  that read found entries (they kept arriving while the batch was processed);
- the cost per event: an average weighted by events, so that a batch's fixed costs, large in
  the first small batches of a run (new learners, each read and written), do not make the
  large batches that follow look dear and stay small.
"""

from __future__ import annotations

from core.eventlog import MAX_EVENTS_PER_ENTRY

SMOOTHING = 0.3  # weight of the latest batch in the entry size; its events' weight in the cost
FIRST_SECONDS_PER_EVENT = 20e-6  # a pessimistic guess until the first batch is timed
GROWTH = 4  # while behind, each read asks at least this many times the last one


def entry_time_ms(entry_id: bytes | str) -> int:
    """When Redis added a stream entry (its id is `<milliseconds>-<sequence>`)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


class BatchSizer:
    def __init__(self, batch_ms: int, batch_max_ms: int, lease_ttl_ms: int, max_entries: int):
        self.target_s = batch_ms / 1000
        self.max_s = max(self.target_s, min(batch_max_ms, lease_ttl_ms / 3) / 1000)
        self.max_entries = max_entries
        self.seconds_per_event = FIRST_SECONDS_PER_EVENT
        self.timed = False  # the guesses above are replaced by the first batch's figures
        self._seconds = self._events = 0.0  # the cost's running sums, older batches fading
        self.events_per_entry = float(MAX_EVENTS_PER_ENTRY)  # assume large entries until seen
        self.lag_s = 0.0  # how long the oldest entry of the last read had waited
        self.read_ms: float | None = None  # when the last read that found entries was
        self.streams = 1  # streams that had entries at the last read
        self.last_count = 0

    def waited_s(self, now_ms: float) -> float:
        """How long the next read's oldest entry has likely waited."""
        if self.read_ms is None:
            return 0.0
        return max(self.lag_s, (now_ms - self.read_ms) / 1000)

    def budget_s(self, now_ms: float) -> float:
        """The work the next batch should hold."""
        return min(max(self.target_s, self.waited_s(now_ms)), self.max_s)

    def count(self, now_ms: float) -> int:
        """Entries to ask of each stream (XREADGROUP / XAUTOCLAIM COUNT) at `now_ms` (Redis's
        clock, as entry ids)."""
        count = self._entries(self.budget_s(now_ms))
        if self.waited_s(now_ms) > self.target_s:
            # Behind: grow at least geometrically, for a small batch's cost per event overstates
            # a large one's (each learner it touches is ranked and written once per batch).
            count = min(max(count, GROWTH * self.last_count), self._entries(self.max_s))
        self.last_count = max(1, min(self.max_entries, count))
        return self.last_count

    def _entries(self, seconds: float) -> int:
        """Entries per stream holding about `seconds` of work, at the cost seen so far."""
        return round(seconds / self.seconds_per_event / self.events_per_entry / self.streams)

    def read(self, batches: dict[int, list], now_ms: float) -> None:
        """Note what a read returned: which streams had entries and how long the oldest waited."""
        if not batches:
            self.lag_s, self.read_ms = 0.0, None
            return
        self.read_ms = now_ms
        self.streams = len(batches)
        oldest_ms = min(entry_time_ms(entries[0][0]) for entries in batches.values())
        self.lag_s = max(0.0, (now_ms - oldest_ms) / 1000)

    def processed(self, entries: int, events: int, seconds: float) -> None:
        """Note a processed batch: its entries, events and the time it took."""
        if not events:
            return
        weight = SMOOTHING if self.timed else 1.0
        self.events_per_entry += weight * (max(1.0, events / entries) - self.events_per_entry)
        self._seconds = (1 - SMOOTHING) * self._seconds + seconds
        self._events = (1 - SMOOTHING) * self._events + events
        self.seconds_per_event = self._seconds / self._events
        self.timed = True
