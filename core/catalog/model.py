"""The training catalog: knowledge points, roles with targets, and modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from types import MappingProxyType

METHODS = ("online", "offline", "lab", "drill", "quiz", "project")
LANGUAGES = ("en", "zh")
# What an xAPI verb says happened, as an event kind; `[xapi.verbs]` in the catalog adds to or
# overrides this table ("ignore" drops a verb). Statements with other verbs are counted, not applied.
XAPI_VERB_KINDS = ("viewed", "completed", "graded", "assessed")
DEFAULT_XAPI_VERBS = MappingProxyType(
    {
        "http://id.tincanapi.com/verb/viewed": "viewed",
        "http://adlnet.gov/expapi/verbs/experienced": "viewed",
        "https://w3id.org/xapi/video/verbs/played": "viewed",
        "http://adlnet.gov/expapi/verbs/completed": "completed",
        "http://adlnet.gov/expapi/verbs/progressed": "completed",  # only with result.completion = true
        "https://w3id.org/xapi/video/verbs/completed": "completed",
        "http://adlnet.gov/expapi/verbs/attempted": "graded",
        "http://adlnet.gov/expapi/verbs/scored": "graded",
        "http://adlnet.gov/expapi/verbs/passed": "graded",
        "http://adlnet.gov/expapi/verbs/failed": "graded",
        "http://adlnet.gov/expapi/verbs/answered": "assessed",
        "https://w3id.org/xapi/acrossx/verbs/evaluated": "assessed",
        # logstore_xapi 5 (Moodle): assignment submitted and graded, quiz attempt and lesson started
        "http://activitystrea.ms/schema/1.0/submit": "completed",
        "https://w3id.org/xapi/tla/verbs/scored": "graded",
        "http://activitystrea.ms/schema/1.0/start": "viewed",
        "http://activitystrea.ms/start": "viewed",
        # event-routing-backends (Open edX): problem, subsection and course grades
        "http://id.tincanapi.com/verb/earned": "graded",
    }
)


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
class Mandatory:
    """A module the learners of `roles` (None: every role) must complete by a due date:
    `within_days` after their enrolment, or by the end of `due_date` (UTC)."""

    roles: tuple[str, ...] | None
    within_days: float | None = None
    due_date: date | None = None

    def applies_to(self, role: str) -> bool:
        return self.roles is None or role in self.roles


@dataclass(frozen=True)
class Module:
    id: str
    title: Names
    method: str
    minutes: float
    coverage: Mapping[str, float]  # knowledge point id -> weight in (0, 1]
    learn_rate: float  # P(learn) for a fully covered point; the method's default unless set
    url: str | None = None  # where it lives in the LMS; also an xAPI activity id of the module
    # xAPI activity ids of this module: exact IRIs or patterns with '*' (any run of characters)
    xapi_activities: tuple[str, ...] = ()
    # xAPI verbs that count for this module (empty: every verb of the catalog's table)
    xapi_verbs: tuple[str, ...] = ()
    # What the module is, for a learner whose course lacks it
    description: Names | None = None
    # Compliance: the roles that must complete it and by when (several rules: the earliest due wins)
    mandatory: tuple[Mandatory, ...] = ()


@dataclass(frozen=True)
class Catalog:
    id: str
    version: str
    name: Names
    default_role: str
    knowledge_points: tuple[KnowledgePoint, ...]
    roles: tuple[Role, ...]
    modules: tuple[Module, ...]
    xapi_verbs: Mapping[str, str] = field(default_factory=lambda: DEFAULT_XAPI_VERBS)  # verb IRI -> kind

    @cached_property
    def point_index(self) -> dict[str, int]:
        return {kp.id: i for i, kp in enumerate(self.knowledge_points)}

    @cached_property
    def module_index(self) -> dict[str, int]:
        return {m.id: i for i, m in enumerate(self.modules)}

    @cached_property
    def role_index(self) -> dict[str, int]:
        return {r.id: i for i, r in enumerate(self.roles)}

    def summary(self) -> str:
        return (
            f"catalog {self.id} {self.version}: {len(self.knowledge_points)} knowledge points, "
            f"{len(self.roles)} roles, {len(self.modules)} modules"
        )
