"""Say so while the engine compiles its kernels. On a machine's first run (an empty Numba cache)
a command's first call of a kernel compiles it, for seconds to minutes, and the command would
otherwise sit silent; from then on they load from the cache and nothing is said.

Listens to Numba's compile events (`numba.core.event`, Numba's public event API): a kernel loaded
from the cache raises none. Compiles nest (a kernel compiles the helpers it calls) and never
overlap (Numba compiles under one lock), so the outermost ones are counted.

`compile_kernels` compiles them all before a long-running process starts, one process at a time."""

from __future__ import annotations

import fcntl
import functools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

NOTICE_AFTER_S = 1.0
NOTICE = "Compiling the engine's kernels for this machine (the first run only{duration})..."


def to_stderr(message: str) -> None:
    """For commands whose output may be data (`skillgap plan --format csv > plan.csv`)."""
    print(message, file=sys.stderr, flush=True)


class CompileWatch:
    """A listener of Numba's compile events (registered as a `numba.core.event.Listener`, so
    that this module imports no Numba): `say`s the notice once a compile has run for
    NOTICE_AFTER_S, and adds up the seconds spent compiling."""

    def __init__(self, say: Callable[[str], None], duration: str = ""):
        self.say = say
        self.notice = NOTICE.format(duration=f": {duration}" if duration else "")
        self.depth = 0
        self.started = 0.0
        self.spent = 0.0
        self.noticed = False
        self.timer: threading.Timer | None = None

    def notify(self, event) -> None:
        if event.is_start:
            self.on_start(event)
        else:
            self.on_end(event)

    def on_start(self, event) -> None:
        self.depth += 1
        if self.depth == 1:
            self.started = time.monotonic()
            if not self.noticed:
                self.timer = threading.Timer(NOTICE_AFTER_S, self._notice)
                self.timer.daemon = True
                self.timer.start()

    def on_end(self, event) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.spent += time.monotonic() - self.started
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def _notice(self) -> None:
        if not self.noticed:
            self.noticed = True
            self.say(self.notice)


@contextmanager
def compiling_noticed(say: Callable[[str], None] = to_stderr, duration: str = "") -> Iterator[CompileWatch]:
    """While in the block, say when the engine compiles (after NOTICE_AFTER_S of it) and, at the
    end, how long it took; `duration` is how long the notice says to expect."""
    from numba.core import event

    event.Listener.register(CompileWatch)
    watch = CompileWatch(say, duration)
    event.register("numba:compile", watch)
    try:
        yield watch
    finally:
        event.unregister("numba:compile", watch)
        if watch.timer is not None:
            watch.timer.cancel()
        if watch.noticed:
            say(f"  compiled in {watch.spent:.0f} s (kept in Numba's cache for the next runs)")


def notices_compiling(handler: Callable) -> Callable:
    """A command's handler that says when the engine compiles (on stderr)."""

    @functools.wraps(handler)
    def noticed(*args, **kwargs):
        with compiling_noticed():
            return handler(*args, **kwargs)

    return noticed


def compile_kernels(say: Callable[[str], None] = to_stderr) -> None:
    """Compile the engine's kernels before anything needs them (`engine.warm`): on a machine's
    first run that takes minutes, which a worker's first batch or a first cost plan would
    otherwise spend (past the start-up wait, and an HTTP worker's timeout); later runs load
    them from Numba's cache in about a second."""
    from engine.warm import warm_up

    with one_compiler_at_a_time(say), compiling_noticed(say, duration="2-4 minutes"):
        warm_up()


@contextmanager
def one_compiler_at_a_time(say: Callable[[str], None]) -> Iterator[None]:
    """Hold the engine's cache folder's lock: Numba's cache is not safe when two processes write
    the same kernel at once (a parallel kernel's files can then mismatch: numba/numba#4807,
    #10128), as two workers started together on a cold cache would. The second waits, then
    loads what the first compiled."""
    from numba.core import config

    import engine.jit  # noqa: F401  (sets Numba's cache folder)

    try:
        folder = Path(config.CACHE_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / "compile.lock", "a")
    except OSError:  # a folder we cannot write: Numba will not cache there either
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("Waiting for another process that is compiling the engine's kernels...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
