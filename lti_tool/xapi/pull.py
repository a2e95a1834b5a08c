"""Reading the company's LRS into the intake: `skillgap xapi pull --lrs URL`.

Pages of its statements resource (stored after `since`, oldest first, `more` followed) are
validated like a POST (statements.py) and taken by the same Intake under an xAPI credential's
tenant, platform and issuer, so they map to the same learners. Taking is idempotent by
statement id: a statement already taken is counted `repeated`, one whose id is known with
other content `pull_conflict`, one that is not valid xAPI 1.0.3 `pull_invalid`; none stops
the pull. The `stored` time of the last statement taken is kept per tenant and LRS, so the
next pull (or the scheduled form, `--every`) goes on from there.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import UTC

from core.services import Services
from lti_tool.xapi.credentials import Credential
from lti_tool.xapi.intake import Intake, StatementConflict
from lti_tool.xapi.lrs import Lrs
from lti_tool.xapi.statements import StatementError, parse_statement, parse_timestamp

PAGE = 500


def cursor_key(services: Services, tenant: str, lrs_url: str) -> str:
    return services.keys.xapi_pull_cursor(tenant, hashlib.sha1(lrs_url.encode()).hexdigest()[:16])


def _later(stored: str | None, cursor: str | None) -> str | None:
    """The later of two `stored` times, as UTC ISO 8601 (stored times may carry any offset)."""
    if stored.__class__ is not str:
        return cursor
    try:
        moment = parse_timestamp(stored)[0].astimezone(UTC)
    except StatementError:
        return cursor
    if cursor is None or moment > parse_timestamp(cursor)[0]:
        return moment.isoformat()
    return cursor


def pull(
    services: Services,
    lrs: Lrs,
    lrs_url: str,
    credential: Credential,
    since: str | None = None,
    page_size: int = PAGE,
) -> Counter:
    """Take every statement stored after `since` (default: where the last pull stopped);
    returns the counts."""
    key = cursor_key(services, credential.tenant, lrs_url)
    if since is None:
        stored = services.redis.get(key)
        since = stored.decode() if stored else None
    intake = Intake(services)
    counts: Counter = Counter()
    cursor = since
    for page in lrs.statements(since, page_size):
        now = time.time()
        statements = []
        for data in page:
            cursor = _later(data.get("stored") if data.__class__ is dict else None, cursor)
            try:
                statements.append(parse_statement(data, credential.tenant, now))
            except StatementError:
                counts["pull_invalid"] += 1
        counts["pulled"] += len(page)
        while statements:
            try:
                counts.update(intake.take(credential, statements, now))
                break
            except StatementConflict as exc:
                counts["pull_conflict"] += len(exc.indexes)
                taken = set(exc.indexes)
                statements = [s for i, s in enumerate(statements) if i not in taken]
        if cursor is not None:
            services.redis.set(key, cursor)
    for name in ("pulled", "pull_invalid", "pull_conflict"):
        if counts[name]:
            services.redis.hincrby(services.keys.xapi_counts(credential.tenant), name, counts[name])
    return counts
