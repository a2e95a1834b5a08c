"""The training catalog: knowledge points, roles with targets, and modules."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

METHODS = ("online", "offline", "lab", "drill", "quiz", "project")
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Names:
    en: str
    zh: str

    def get(self, language: str) -> str:
        return self.zh if language.lower().startswith("zh") else self.en


@dataclass(frozen=True)
class KnowledgePoint:
    id: str
    name: Names
    track: str
    prerequisites: tuple[str, ...]
    prior: float
    guess: float
    slip: float
    half_life_days: float  # inf: never forgotten


@dataclass(frozen=True)
class Role:
    id: str
    name: Names
    targets: Mapping[str, float]  # knowledge point id -> target mastery; absent means 0


@dataclass(frozen=True)
class Module:
    id: str
    title: Names
    method: str
    minutes: float
    coverage: Mapping[str, float]  # knowledge point id -> weight in (0, 1]
    learn_rate: float  # P(learn) for a fully covered point; the method's default unless set
    url: str | None = None


@dataclass(frozen=True)
class Catalog:
    id: str
    version: str
    name: Names
    default_role: str
    knowledge_points: tuple[KnowledgePoint, ...]
    roles: tuple[Role, ...]
    modules: tuple[Module, ...]

    @cached_property
    def point_index(self) -> dict[str, int]:
        return {kp.id: i for i, kp in enumerate(self.knowledge_points)}

    @cached_property
    def module_index(self) -> dict[str, int]:
        return {m.id: i for i, m in enumerate(self.modules)}

    @cached_property
    def role_index(self) -> dict[str, int]:
        return {r.id: i for i, r in enumerate(self.roles)}

    @cached_property
    def points_fingerprint(self) -> str:
        """Names the order of knowledge points that stored learner state is laid out in."""
        return hashlib.sha256("\n".join(self.point_index).encode()).hexdigest()[:16]

    def summary(self) -> str:
        return (
            f"catalog {self.id} {self.version}: {len(self.knowledge_points)} knowledge points, "
            f"{len(self.roles)} roles, {len(self.modules)} modules"
        )
