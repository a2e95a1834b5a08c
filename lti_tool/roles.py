"""LMS roles: who sees the instructor view, and which catalog role (and so which targets) a
member of a course gets: for learners the `skillgap_role` custom parameter first (set on the
activity, it describes the course's learners, so a roster sync applies it to every learner of
the course), then the LMS roles through the `lti_role_map` setting, else none (the learner
keeps the role they have, or the catalog's default)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pylti1p3.roles import DesignerRole, StaffRole, TeacherRole, TeachingAssistantRole

from core.catalog import Catalog
from core.settings import SettingsError
from lti_tool import claims as c

# Administrators at any level (LTI 1.3 §A.2); Moodle's site admin launches with the institution one.
ADMINISTRATORS = frozenset(("Administrator", "SysAdmin"))


def is_instructor(roles: list[str]) -> bool:
    """Staff of the course or the institution: instructors, teaching assistants, content
    developers, administrators. They see the instructor view and are not learners."""
    body = {c.ROLES: roles}
    return any(r(body).check() for r in (TeacherRole, StaffRole, DesignerRole, TeachingAssistantRole)) or any(
        short_role(uri) in ADMINISTRATORS for uri in roles
    )


def is_learner(roles: list[str], role_map: Mapping[str, str]) -> bool:
    """Whether a member counts as a learner: not staff, unless the role map gives one of their
    LMS roles a catalog role."""
    return not is_instructor(roles) or any(short_role(uri) in role_map for uri in roles)


def short_role(uri: str) -> str:
    """`http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor` -> `Instructor`;
    sub-roles (`.../membership/Instructor#TeachingAssistant`) give the sub-role."""
    return uri.rsplit("#", 1)[-1] if "#" in uri else uri.rsplit("/", 1)[-1]


def parse_role_map(text: str, catalog: Catalog) -> dict[str, str]:
    """`Instructor=teacher,Mentor=manager` -> {LMS short role: catalog role}."""
    mapping: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        lms_role, sep, role = (s.strip() for s in pair.partition("="))
        if not sep or not lms_role or role not in catalog.role_index:
            raise SettingsError(
                f"SKILLGAP_LTI_ROLE_MAP: {pair!r} must be LMSRole=catalog-role with a role of the catalog "
                f"({', '.join(catalog.role_index)})"
            )
        mapping[lms_role] = role
    return mapping


def catalog_role(
    lms_roles: Iterable[str], custom: Mapping[str, str], catalog: Catalog, role_map: Mapping[str, str]
) -> str | None:
    lms_roles = list(lms_roles)
    wanted = custom.get(c.CUSTOM_ROLE, "").strip()
    if wanted in catalog.role_index and not is_instructor(lms_roles):
        return wanted
    for uri in lms_roles:
        mapped = role_map.get(short_role(uri))
        if mapped:
            return mapped
    return None
