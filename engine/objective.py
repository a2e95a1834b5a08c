"""The source document's objective: L = sum_ij max(0, T_ij - K_ij)^2, only shortfall counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShortfallLoss:
    per_cell: np.ndarray  # (L, M)
    gradient: np.ndarray  # (L, M) dL/dK = -2 max(0, T - K)

    @property
    def per_learner(self) -> np.ndarray:
        return self.per_cell.sum(axis=1)

    @property
    def per_point(self) -> np.ndarray:
        return self.per_cell.sum(axis=0)

    @property
    def total(self) -> float:
        return float(self.per_cell.sum())


def shortfall_loss(mastery: np.ndarray, targets: np.ndarray) -> ShortfallLoss:
    mastery = np.asarray(mastery, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if mastery.shape != targets.shape:
        raise ValueError(f"mastery {mastery.shape} and targets {targets.shape} differ in shape")
    shortfall = np.maximum(targets - mastery, 0.0)
    return ShortfallLoss(per_cell=shortfall**2, gradient=-2.0 * shortfall)
