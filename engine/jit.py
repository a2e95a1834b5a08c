"""Numba flags for every kernel, and where their compiled code is cached, set in one place."""

import hashlib
import os
from pathlib import Path

from numba import njit, parallel_chunksize
from numba.core import config

# The engine's files a kernel can compile in (its own, the helpers and constants it imports,
# and theirs); tests/test_jit.py checks that the list is complete.
KERNEL_SOURCES = (
    "jit.py",
    "model.py",
    "mastery.py",
    "recommend.py",
    "plan.py",
    "simulate.py",
    "kernels/fit.py",
    "kernels/mastery.py",
    "kernels/recommend.py",
)


def kernel_sources_fingerprint() -> str:
    root = Path(__file__).parent
    digest = hashlib.blake2b(digest_size=8)
    for name in KERNEL_SOURCES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def writable_folder(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def cache_by_kernel_sources() -> None:
    """Numba checks a cached kernel against its own file only, while a kernel compiles in the
    helpers and constants it imports from other files: after a change to one of those (an edit,
    a pull, an upgrade), the cached machine code would go on running the old ones, silently.
    Caching under a folder named after the content of every file a kernel can read turns any
    such change into a cache miss. The folder is in NUMBA_CACHE_DIR when that is set, else in
    the engine's __pycache__, else (a read-only install) in the user's cache folder."""
    if config.CACHE_DIR:
        base = Path(config.CACHE_DIR)
    elif writable_folder(Path(__file__).parent / "__pycache__"):
        base = Path(__file__).parent / "__pycache__"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "skillgap"
    config.CACHE_DIR = str(base / f"numba-{kernel_sources_fingerprint()}")


cache_by_kernel_sources()

# Threads that wait in a parallel loop (for work, or for the others at its end) sleep rather
# than spin. On a machine whose cores are shared, a spinning thread holds the core that its
# partner, or another process, needs: with one other busy process on 2 cores the CSV predict
# path took 18-36 ms spinning (best of 9, varying run to run) and 19-20 ms sleeping; on an idle
# machine both take 14 ms. Read by libgomp when Numba's OpenMP layer first loads; a value in
# the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# fastmath without 'nnan'/'ninf': kernels test scores for NaN (no score) and
# half-lives for inf (no forgetting), which those two flags would optimise away.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# error_model="numpy": a float division by zero gives inf or NaN as in numpy, with no
# zero check and branch to raise at every division of the hot loops.
FLAGS = {"cache": True, "nogil": True, "fastmath": FASTMATH, "error_model": "numpy"}

kernel = njit(**FLAGS)
parallel_kernel = njit(**FLAGS, parallel=True)
# Small helpers called in hot loops: inlined at Numba's level, so no call passes arrays
# (each array argument costs reference counting at the call).
inline = njit(**FLAGS, inline="always")
# Helpers whose body is large next to the cost of a call, or that run off the hottest loop:
# compiled once each, as a kernel is, and called. Numba's own inlining copies and types the
# callee again at every call site, and a machine's first run compiles every copy.
called = kernel


# prange iterations handed out one at a time rather than in one block per thread: the
# machine's cores are shared, and a thread slowed by another process must not hold up
# the whole call (per-point EM work is uneven too).
def dynamic_schedule():
    return parallel_chunksize(1)


def lean_cache_loads() -> None:
    """For short processes: load kernels from Numba's cache without first refreshing its typing
    and lowering registries. Numba's Cache.load_overload refreshes them before every load,
    which at the first one imports some 75 modules (cffi, numba.typed, numba.np.random,
    numpy.ma, ...) and registers every builtin's typing and lowering: 0.07-0.1 s per process,
    none of it needed to load compiled code, which needs only Numba's runtime (NRT). Compiling
    (a cache miss) still refreshes them: Numba's compiler does so itself.

    Replaces a non-public Numba method: tests/test_jit.py pins the original's source and checks
    the effect, so a Numba upgrade that changes either fails there."""
    from numba.core import caching
    from numba.core.runtime import nrt

    original = caching.Cache.load_overload
    if hasattr(original, "replaced"):
        return

    def load_overload(self, sig, target_context):
        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload.replaced = original
    caching.Cache.load_overload = load_overload
