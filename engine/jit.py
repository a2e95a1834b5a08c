"""Numba flags for every kernel, set in one place."""

from numba import njit, parallel_chunksize

# fastmath without 'nnan'/'ninf': kernels test scores for NaN (no score) and
# half-lives for inf (no forgetting), which those two flags would optimise away.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

kernel = njit(cache=True, nogil=True, fastmath=FASTMATH)
parallel_kernel = njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
# Small helpers called in hot loops: inlined at Numba's level, so no call passes arrays
# (each array argument costs reference counting at the call).
inline = njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")

# prange iterations handed out one at a time rather than in one block per thread: the
# machine's cores are shared, and a thread slowed by another process must not hold up
# the whole call (per-point EM work is uneven too).
def dynamic_schedule():
    return parallel_chunksize(1)
