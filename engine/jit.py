"""Numba flags for every kernel, set in one place."""

from numba import njit

# fastmath without 'nnan'/'ninf': kernels test scores for NaN (no score) and
# half-lives for inf (no forgetting), which those two flags would optimise away.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

kernel = njit(cache=True, nogil=True, fastmath=FASTMATH)
parallel_kernel = njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
# Small helpers called in hot loops: inlined at Numba's level, so no call passes arrays
# (each array argument costs reference counting at the call).
inline = njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
