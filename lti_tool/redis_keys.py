"""Where the tool keeps its data in Redis; every key starts with the deployment's key prefix
(`Settings.key_prefix`), so tests isolated by prefix stay isolated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core.keys import Keys


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LtiKeys:
    keys: Keys

    @property
    def base(self) -> str:
        return f"{self.keys.prefix}:lti"

    # The tool's own signing keys: kid -> JSON, and the kid that signs now.
    @property
    def signing_keys(self) -> str:
        return f"{self.base}:signing-keys"

    @property
    def signing_kid(self) -> str:
        return f"{self.base}:signing-kid"

    # Platforms: "issuer\x1fclient_id" -> registration JSON.
    @property
    def registrations(self) -> str:
        return f"{self.base}:registrations"

    # Dynamic Registration invites (lti_tool/invites.py), by a digest of their secret.
    def invite(self, token: str) -> str:
        return f"{self.base}:invite:{digest(token)}"

    def platform_jwks(self, jwks_url: str) -> str:
        return f"{self.base}:platform-jwks:{digest(jwks_url)}"

    def platform_jwks_refetch(self, jwks_url: str) -> str:
        return f"{self.base}:platform-jwks-refetch:{digest(jwks_url)}"

    # One login's state (its nonce, platform and browser binding), then the nonces used.
    def state(self, state: str) -> str:
        return f"{self.base}:state:{digest(state)}"

    def nonce(self, issuer: str, nonce: str) -> str:
        return f"{self.base}:nonce:{digest(issuer, nonce)}"

    # A validated launch, for the links of the page it rendered (CSV export, deep linking).
    def launch(self, launch_id: str) -> str:
        return f"{self.base}:launch:{digest(launch_id)}"

    # Resource link -> catalog module, per tenant.
    def module_links(self, tenant: str) -> str:
        return f"{self.base}:module-links:{tenant}"

    # The course binding (course_binding.py): a course's items (item id -> JSON), every bound
    # item of the tenant (item id -> module), and the courses that have items.
    def course_items(self, tenant: str, cohort: str) -> str:
        return f"{self.base}:course-items:{tenant}:{digest(cohort)}"

    def bound_items(self, tenant: str) -> str:
        return f"{self.base}:bound-items:{tenant}"

    def bound_courses(self, tenant: str) -> str:
        return f"{self.base}:bound-courses:{tenant}"

    # Learners known to be staff of a course (from their launches and roster syncs): their xAPI
    # statements make no learner events.
    def staff(self, tenant: str) -> str:
        return f"{self.base}:staff:{tenant}"

    # Unmapped course items seen in statements: item id -> the cohort it was seen in.
    def unmapped_courses(self, tenant: str) -> str:
        return f"{self.base}:unmapped-courses:{tenant}"

    # Platform access tokens, cached until they expire.
    def access_token(self, issuer: str, client_id: str, scopes: str) -> str:
        return f"{self.base}:access-token:{digest(issuer, client_id, scopes)}"

    # AGS: scores waiting to be posted (job id -> JSON) and when each is due (sorted set).
    @property
    def score_jobs(self) -> str:
        return f"{self.base}:ags:jobs"

    @property
    def score_due(self) -> str:
        return f"{self.base}:ags:due"

    # AGS: where each learner's progress goes (job id -> JSON of the line item and LMS user id).
    @property
    def grade_targets(self) -> str:
        return f"{self.base}:ags:targets"

    def roster_synced(self, issuer: str, context: str) -> str:
        return f"{self.base}:nrps-synced:{digest(issuer, context)}"
