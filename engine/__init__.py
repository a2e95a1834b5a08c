"""Pure computation: mastery updates, recommendation and the gap objective.

No I/O here: arrays in, arrays out. Public wrappers validate and coerce their
inputs, then call the private Numba kernels in ``engine/kernels/``.
"""

from engine.mastery import Belief, apply_event, apply_events, decayed_belief, decayed_mastery
from engine.model import (
    EVIDENCE,
    LAST_SEEN,
    MASTERY,
    RANKING_READY_MASTERY,
    READY_MASTERY,
    STATE_FIELDS,
    Kind,
    Model,
    new_state,
)
from engine.objective import GroupLoss, ShortfallLoss, shortfall_loss
from engine.recommend import Action, Recommendations, needed_targets, recommend, recommend_as_of

__all__ = [
    "EVIDENCE",
    "LAST_SEEN",
    "MASTERY",
    "RANKING_READY_MASTERY",
    "READY_MASTERY",
    "STATE_FIELDS",
    "Action",
    "Belief",
    "GroupLoss",
    "Kind",
    "Model",
    "Recommendations",
    "ShortfallLoss",
    "apply_event",
    "apply_events",
    "decayed_belief",
    "decayed_mastery",
    "needed_targets",
    "new_state",
    "recommend",
    "recommend_as_of",
    "shortfall_loss",
]
