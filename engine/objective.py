"""The source document's objective: L = sum_ij max(0, T_ij - K_ij)^2 (only shortfall counts),
with its gradient dL/dK, by learner, knowledge point and group of learners (cohort, role)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupLoss:
    """The objective summed within each of G groups of learners."""

    loss: np.ndarray  # (G,)
    per_point: np.ndarray  # (G, M) loss per point within the group
    gradient: np.ndarray  # (G, M) dL_g/dK_j: change of the group's loss as all its members' K_j rise together
    learners: np.ndarray  # (G,) members


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
    def gradient_per_point(self) -> np.ndarray:
        """(M,) dL/dK_j for a rise of point j shared by every learner."""
        return self.gradient.sum(axis=0)

    @property
    def total(self) -> float:
        return float(self.per_cell.sum())

    def by_group(self, group: np.ndarray, n_groups: int | None = None) -> GroupLoss:
        """Sums per group; `group` (L,) holds each learner's group index."""
        group = np.asarray(group, dtype=np.int64)
        if group.shape != (self.per_cell.shape[0],):
            raise ValueError(f"group has shape {group.shape}, not ({self.per_cell.shape[0]},)")
        if group.size and group.min() < 0:
            raise ValueError("group indexes must be non-negative")
        n_groups = int(group.max()) + 1 if n_groups is None and group.size else (n_groups or 0)
        per_point = np.zeros((n_groups, self.per_cell.shape[1]))
        gradient = np.zeros_like(per_point)
        np.add.at(per_point, group, self.per_cell)
        np.add.at(gradient, group, self.gradient)
        return GroupLoss(per_point.sum(axis=1), per_point, gradient, np.bincount(group, minlength=n_groups))


def shortfall_loss(mastery: np.ndarray, targets: np.ndarray) -> ShortfallLoss:
    mastery = np.asarray(mastery, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if mastery.shape != targets.shape:
        raise ValueError(f"mastery {mastery.shape} and targets {targets.shape} differ in shape")
    shortfall = np.maximum(targets - mastery, 0.0)
    return ShortfallLoss(per_cell=shortfall**2, gradient=-2.0 * shortfall)
