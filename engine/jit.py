"""Numba flags for every kernel, set in one place."""

import os
import sys

from numba import njit, parallel_chunksize

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


# prange iterations handed out one at a time rather than in one block per thread: the
# machine's cores are shared, and a thread slowed by another process must not hold up
# the whole call (per-point EM work is uneven too).
def dynamic_schedule():
    return parallel_chunksize(1)


def skip_blas_probe() -> None:
    """Numba's first call (even from its cache) imports scipy.linalg, 0.2 s of CPU, only to
    learn whether np.dot-like code it compiles may call BLAS: no kernel here does. For short
    processes: Numba's arraymath is imported now with scipy.linalg hidden (unless already
    loaded); scipy.linalg still imports normally afterwards."""
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # importing it raises ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        del sys.modules["scipy.linalg"]
