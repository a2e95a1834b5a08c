"""Which catalog module an LMS activity belongs to.

An activity is named by its IRI: the xAPI statement's object id, or the URL the Moodle sync
builds for a course module (`{site}/mod/{modname}/view.php?id={cmid}`, the same IRI Moodle's
log store sends). A module claims activities by its `url` and its `xapi_activities`
(exact IRIs, or patterns where '*' stands for any run of characters).
"""

from __future__ import annotations

import re

from core.catalog.model import Catalog

MAX_REMEMBERED = 100_000


def _normal(iri: str) -> str:
    """Compare ids without a trailing slash: LMSs differ on it for the same page."""
    return iri.removesuffix("/")


class ActivityMatcher:
    """Built once per catalog; `module_for` is a dict lookup for every activity seen before."""

    def __init__(self, catalog: Catalog):
        self._exact: dict[str, str] = {}
        patterns: list[tuple[str, str]] = []
        for module in catalog.modules:
            for iri in ((module.url,) if module.url else ()) + module.xapi_activities:
                if "*" in iri:
                    patterns.append((iri, module.id))
                else:
                    self._exact.setdefault(_normal(iri), module.id)
        self._pattern_modules = [module for _, module in patterns]
        alternatives = "|".join(
            f"({'.*'.join(re.escape(part) for part in _normal(iri).split('*'))})" for iri, _ in patterns
        )
        self._patterns = re.compile(f"(?:{alternatives})/?\\Z") if patterns else None
        self._seen: dict[str, str | None] = {}

    def module_for(self, activity: str) -> str | None:
        try:
            return self._seen[activity]
        except KeyError:
            pass
        module = self._exact.get(_normal(activity))
        if module is None and self._patterns is not None:
            match = self._patterns.match(activity)
            if match:
                module = self._pattern_modules[match.lastindex - 1]
        if len(self._seen) < MAX_REMEMBERED:
            self._seen[activity] = module
        return module
